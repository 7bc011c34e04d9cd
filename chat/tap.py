"""
The twistd plugin's options and service: C{twistd -n chat --port 0}.
"""

from __future__ import annotations

import errno
import re
import resource
import socket
from collections.abc import Callable, Sequence
from pathlib import Path

from twisted.application import service
from twisted.cred import credentials, strcred
from twisted.internet import defer
from twisted.internet.interfaces import IReactorCore
from twisted.application.internet import TimerService
from twisted.logger import Logger
from twisted.python import usage

from chat.accounts import Accounts
from chat.cluster.address import RedisAddress
from chat.limits import Limits
from chat.listening import FrontEndService
from chat.core.ledger import ILedger
from chat.core.service import ChatService
from chat.local import LocalLedger
from chat.message import BASE_PORT, MAX_PORT_NUMBER
from chat.frontend import AddressCounts
from chat.history import StoreError, check_store
from chat.irc import IRCFactory
from chat.server import ChatServerFactory
from chat.state import MAX_NEW_ROOMS, MAX_ROOMS_PER_USER


def _quote(value: str) -> str:
    """Escape a value for a strports description."""
    return value.replace("\\", "\\\\").replace(":", "\\:").replace("=", "\\=")


#: Connections the kernel queues before they are accepted (Twisted's default, 50,
#: makes a burst of connects wait for SYN retries).
BACKLOG = 1024


def endpoint_for(port_number: int, interface: str = "") -> str:
    """The strports description of the seed's "port number" N: TCP 1500+N."""
    description = f"tcp:{BASE_PORT + port_number}:backlog={BACKLOG}"
    if interface:
        description += ":interface=" + _quote(interface)
    return description


def tls_endpoint_for(port: int, cert: str, key: str, interface: str = "") -> str:
    """The strports description of a TLS listener (pyOpenSSL under Twisted's ssl: endpoint)."""
    description = f"ssl:{port}:privateKey={_quote(key)}:certKey={_quote(cert)}:backlog={BACKLOG}"
    if interface:
        description += ":interface=" + _quote(interface)
    return description


class Options(usage.Options, strcred.AuthOptionMixin):
    synopsis = "[options]"
    longdesc = (
        "Run the chat server.  --port N listens on TCP port 1500+N as the original "
        "ChatServer did; --endpoint takes any Twisted server endpoint description "
        "(tcp:0 for a port the system picks, ssl:... for TLS) and may be repeated."
    )
    _limits = Limits()
    optParameters = [
        ["port", "p", 0, f"port number N from 0 to {MAX_PORT_NUMBER}: listen on TCP {BASE_PORT}+N", int],
        ["interface", "i", "", "address to listen on (default: every interface)"],
        ["data-dir", "d", "chat-data", "directory for the message history (SQLite)"],
        ["history-replay", None, 50, "messages of history sent to whoever joins a room (0: none)", int],
        ["history-keep", None, 10000, "messages each room keeps (0: all)", int],
        ["history-days", None, 0, "days a message is kept (0: for ever)", float],
        ["private-days", None, 7, "days a private message is kept (0: for ever)", float],
        ["tls-port", None, None, "also listen for TLS on this TCP port (needs --tls-cert and --tls-key)", int],
        ["tls-cert", None, None, "PEM certificate (chain) for TLS; python -m chat.certs HOST makes a test one"],
        ["tls-key", None, None, "PEM private key for TLS"],
        ["max-rooms", None, MAX_ROOMS_PER_USER, "rooms one client may be in at once", int],
        ["max-new-rooms", None, MAX_NEW_ROOMS, "rooms one nickname may create in an hour (0: no limit)", int],
        ["room-days", None, 0, "days an empty room keeps its topic (0: as long as its history)", float],
        ["max-outgoing", None, _limits.max_outgoing, "bytes a client may leave unread before it is dropped", int],
        ["max-queued", None, _limits.max_queued,
         "bytes all clients of a front end may leave unread together; past it no client is read until they catch up, "
         "and one that stays behind is dropped (0: off)", int],
        ["max-clients", None, _limits.max_clients, "clients connected at once (0: no limit)", int],
        ["max-per-address", None, _limits.max_per_address, "connections from one IP address, every front end together (0: no limit)", int],
        ["logon-timeout", None, _limits.logon_timeout, "seconds to send a nickname before being closed (0: none)", float],
        ["idle-timeout", None, _limits.idle_timeout, "seconds of silence before the server PINGs a client (0: never)", float],
        ["ping-timeout", None, _limits.ping_timeout, "seconds to answer a PING before being dropped", float],
        ["flood-rate", None, _limits.flood_rate, "frames per second a client may send on average (0: no flood control)", float],
        ["flood-burst", None, _limits.flood_burst, "frames a client may send at once before being slowed", int],
        ["irc-port", None, None, "also speak IRC (plain TCP) on this port, for IRC clients and bots", int],
        ["web-port", None, None, "also serve the chat page and its WebSocket (plain HTTP) on this port", int],
        ["redis", None, None, "join a cluster of nodes sharing the chat through this Redis, e.g. redis://127.0.0.1:6379/0"],
        ["advertise", None, None, "address:port other nodes and operators see for this node (default: its first listening address)"],
        ["cluster-ttl", None, 10.0, "seconds without a heartbeat before the cluster takes a node for dead", float],
        ["min-password-length", None, 8, "the shortest password an account may get", int],
        ["registration", None, "open", "open: people register their nicknames themselves (kept with the history, "
         "or in Redis); closed: only the operator's accounts (--auth)"],
        ["flood-kick", None, _limits.flood_kick, "a client slowed down in more than this many consecutive seconds is dropped", int],
    ]
    optFlags = [
        ["require-accounts", None, "accept only nicknames registered with --auth"],
        ["no-history", None, "keep no history: nothing is written to disk"],
    ]
    supportedInterfaces = [credentials.IUsernamePassword]
    _non_negative = ("history-replay", "history-keep", "history-days", "private-days", "max-queued", "max-clients", "max-new-rooms", "room-days", "max-per-address", "logon-timeout", "idle-timeout", "flood-rate")
    _positive = ("min-password-length", "cluster-ttl", "max-rooms", "max-outgoing", "ping-timeout", "flood-burst", "flood-kick")

    def __init__(self) -> None:
        super().__init__()
        self["endpoint"] = []
        self["irc-endpoint"] = []
        self["web-endpoint"] = []
        self["web-origin"] = []
        self["web-host"] = []
        self["oper"] = []

    def opt_oper(self, account: str) -> None:
        """an account with the server operator's rights (repeatable)"""
        self["oper"].append(account)

    def opt_oper_file(self, path: str) -> None:
        """a file of accounts with the server operator's rights, one a line (# starts a comment)"""
        try:
            with open(path, encoding="utf-8") as f:
                lines = [line.split("#", 1)[0].strip() for line in f]
        except OSError as e:
            raise usage.UsageError(f"--oper-file: cannot read {path}: {e.strerror}") from None
        self["oper"].extend(line for line in lines if line)

    def opt_web_endpoint(self, description: str) -> None:
        """also serve the chat page and its WebSocket on this server endpoint, e.g. tcp:8080 or ssl:8443:privateKey=...:certKey=... (repeatable)"""
        self["web-endpoint"].append(description)

    def opt_web_origin(self, origin: str) -> None:
        """a page origin (scheme://host[:port], or *) allowed to open the WebSocket (repeatable; default: the page's own)"""
        if origin != "*" and not ("://" in origin and origin.split("://", 1)[1]):
            raise usage.UsageError(f"--web-origin takes scheme://host[:port] or *; got {origin!r}")
        self["web-origin"].append(origin)

    def opt_web_host(self, name: str) -> None:
        """a host name the page may be reached by (repeatable; .example.org for it and its subdomains, * for any; always: IP addresses, localhost and this machine's names)"""
        if not name or any(c in name for c in "/ :@"):
            raise usage.UsageError(f"--web-host takes a host name (example.org, .example.org or *); got {name!r}")
        self["web-host"].append(name)

    def opt_irc_endpoint(self, description: str) -> None:
        """also speak IRC on this server endpoint, e.g. tcp:6667 or ssl:6697:privateKey=...:certKey=... (repeatable)"""
        self["irc-endpoint"].append(description)

    def opt_endpoint(self, description: str) -> None:
        """server endpoint description, e.g. tcp:0:interface=127.0.0.1 (overrides --port and --interface; repeatable)"""
        self["endpoint"].append(description)

    def _port_to_endpoint(self, front_end: str) -> None:
        """--irc-port or --web-port P: one more endpoint, TCP port P (on --interface if given)."""
        port = self[f"{front_end}-port"]
        if port is None:
            return
        if not 0 <= port <= 65535:
            raise usage.UsageError(f"--{front_end}-port must be a TCP port from 0 to 65535; got {port}")
        description = f"tcp:{port}:backlog={BACKLOG}"
        if self["interface"]:
            description += ":interface=" + _quote(self["interface"])
        self[f"{front_end}-endpoint"].append(description)

    #: Set once parsing failed: twistd then prints our usage before the error, which is kept to a line.
    _failed = False

    def parseOptions(self, options: Sequence[str] | None = None) -> None:
        try:
            super().parseOptions(options)
        except usage.UsageError:
            self._failed = True
            raise

    def getUsage(self, width: int | None = None) -> str:
        """The whole help, unless parsing failed: then one line that says where it is (not 60 lines)."""
        if self._failed:
            return "Usage: twistd [options] chat [options]  (twistd chat --help lists every option)"
        return super().getUsage(width)

    def postOptions(self) -> None:
        self._check_numbers()
        self._check_combinations()
        self._make_endpoints()
        for description in (*self["endpoint"], *self["irc-endpoint"], *self["web-endpoint"]):
            why = port_in_use(description)
            if why is not None:
                raise usage.UsageError(why)
        if self["redis"] is None and not self["no-history"]:
            # The data directory, its lock and its database, checked before
            # twistd daemonizes: what is wrong is said in one line.
            try:
                check_store(Path(self["data-dir"]))
            except StoreError as e:
                raise usage.UsageError(str(e)) from None

    def _check_numbers(self) -> None:
        if not 0 <= self["port"] <= MAX_PORT_NUMBER:
            raise usage.UsageError(
                f"--port must be from 0 to {MAX_PORT_NUMBER} (the server listens on {BASE_PORT}+N); "
                f"got {self['port']}.  Use --endpoint tcp:PORT for any other port."
            )
        for name in self._positive:
            if self[name] <= 0:
                raise usage.UsageError(f"--{name} must be more than 0")
        for name in self._non_negative:
            if self[name] < 0:
                raise usage.UsageError(f"--{name} must be 0 (off) or more")

    def _check_combinations(self) -> None:
        if self["redis"] is not None:
            try:
                RedisAddress.parse(self["redis"])
            except ValueError as e:
                raise usage.UsageError(f"--redis: {e}") from None
        if self["registration"] not in ("open", "closed"):
            raise usage.UsageError(f"--registration must be open or closed; got {self['registration']}")
        if self["require-accounts"] and not self.get("credCheckers"):
            raise usage.UsageError("--require-accounts needs --auth (e.g. --auth file:passwords.txt)")
        tls = (self["tls-port"], self["tls-cert"], self["tls-key"])
        if any(v is not None for v in tls) and not all(v is not None for v in tls):
            raise usage.UsageError("TLS needs all of --tls-port, --tls-cert and --tls-key")

    def _make_endpoints(self) -> None:
        if not self["endpoint"]:
            self["endpoint"] = [endpoint_for(self["port"], self["interface"])]
        for front_end in ("irc", "web"):
            self._port_to_endpoint(front_end)
        if self["tls-port"] is not None:
            self["endpoint"].append(tls_endpoint_for(self["tls-port"], self["tls-cert"], self["tls-key"], self["interface"]))


def port_in_use(description: str) -> str | None:
    """
    Why a TCP (or TLS) listening port of a strports C{description} cannot
    be used, found before twistd starts (and daemonizes): one line for the
    operator, or None if it looks free (or is not a TCP port we can try).
    """
    kind, *parts = re.split(r"(?<!\\):", description)
    if kind not in ("tcp", "ssl", "tcp6"):
        return None
    named = dict(p.split("=", 1) for p in parts if "=" in p)
    positional = [p for p in parts if "=" not in p]
    try:
        port = int(named.get("port", positional[0] if positional else "0"))
    except ValueError:
        return None
    interface = named.get("interface", "").replace("\\", "")
    if port == 0:
        return None
    family = socket.AF_INET6 if kind == "tcp6" or ":" in interface else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Twisted listens
        try:
            probe.bind((interface or ("::" if family == socket.AF_INET6 else ""), port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return (f"port {port} is in use (another server?): stop it, or choose another "
                        f"(--port N for 1500+N, or --endpoint tcp:PORT)")
            if e.errno == errno.EACCES:
                return f"port {port} needs privileges this user lacks: choose one above 1023"
            return f"cannot listen on {description}: {e.strerror}"
    return None


#: Seconds between checks of logon timeouts and idle connections.
SWEEP_INTERVAL = 1.0
#: Seconds between prunings of the history.
PRUNE_INTERVAL = 600.0


#: File descriptors the server needs beyond one per client (listening ports, the database, Redis, logs).
SPARE_FDS = 64


def raise_fd_limit() -> tuple[int, int]:
    """
    Raise this process's soft limit on open files to its hard limit (each
    client is a file descriptor; many systems start processes at 1,024).
    Returns the limit before and after.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        wanted = 1 << 20 if hard == resource.RLIM_INFINITY else hard
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            return soft, wanted
        except (ValueError, OSError):
            pass
    return soft, soft


class ChatServer(service.MultiService):
    """
    The whole server: the backend first, then what uses it.  Children stop
    one after the other in reverse order, each once the one after it has
    stopped: the listeners say goodbye to every client before the backend
    stores the last messages and closes its database or leaves the cluster.
    """

    log = Logger()

    #: Clients the server may have at once (--max-clients, per front end; 0: no limit).
    max_clients = 0
    front_ends = 1

    def privilegedStartService(self) -> None:
        before, after = raise_fd_limit()
        needed = self.max_clients * self.front_ends + SPARE_FDS
        if after != before:
            self.log.info("open files: limit raised from {before} to {after}", before=before, after=after)
        if self.max_clients and needed > after:
            self.log.warn("open files: the limit is {limit}, but {clients} clients on {n} front ends need about "
                          "{needed}: raise the hard limit (ulimit -Hn, or LimitNOFILE= in a systemd unit)",
                          limit=after, clients=self.max_clients, n=self.front_ends, needed=needed)
        super().privilegedStartService()

    def stopService(self) -> defer.Deferred[None]:
        service.Service.stopService(self)
        return defer.Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        for child in reversed(list(self)):
            await defer.maybeDeferred(child.stopService)


def limits_from(options: Options) -> Limits:
    return Limits(
        max_outgoing=options["max-outgoing"], max_queued=options["max-queued"], max_clients=options["max-clients"],
        max_per_address=options["max-per-address"], logon_timeout=options["logon-timeout"],
        idle_timeout=options["idle-timeout"], ping_timeout=options["ping-timeout"],
        flood_rate=options["flood-rate"], flood_burst=options["flood-burst"], flood_kick=options["flood-kick"],
        replay=options["history-replay"] if options["redis"] is not None or not options["no-history"] else 0,
    )


def ledger_from(options: Options, reactor: IReactorCore, address: Callable[[], str]) -> ILedger:
    """
    What keeps the chat: a node of a Redis cluster (--redis), which says it
    is at C{address} unless told --advertise; or this process's memory and
    history, pruned every L{PRUNE_INTERVAL}.
    """
    if options["redis"] is not None:
        # Imported only here: a single-process server never loads txredisapi.
        from chat.cluster.node import ClusterNode

        # The cluster's history lives in Redis, shared by every node.
        return ClusterNode(reactor, RedisAddress.parse(options["redis"]), options["advertise"] or "",  # type: ignore[arg-type]
                           ttl=options["cluster-ttl"], replay=options["history-replay"],
                           keep=options["history-keep"], advertise_from=address)
    return LocalLedger(reactor, None if options["no-history"] else Path(options["data-dir"]),  # type: ignore[arg-type]
                       replay=options["history-replay"], keep=options["history-keep"],
                       days=options["history-days"], private_days=options["private-days"],
                       room_days=options["room-days"], prune_every=PRUNE_INTERVAL)


log = Logger()


def makeService(options: Options, reactor: IReactorCore | None = None) -> service.IService:
    if reactor is None:
        from twisted.internet import reactor as default_reactor

        reactor = default_reactor
    server = ChatServer()
    server.max_clients = options["max-clients"]
    server.front_ends = 1 + bool(options["irc-endpoint"]) + bool(options["web-endpoint"])
    # The native listeners, once made: a cluster node told no --advertise says it is where they listen.
    native: list[FrontEndService] = []
    ledger = ledger_from(options, reactor, lambda: native[0].address() if native else "")
    accounts = Accounts(options.get("credCheckers", []), reactor, required=options["require-accounts"],  # type: ignore[arg-type]
                        store=lambda: ledger.account_store, registration=options["registration"] == "open",
                        opers=options["oper"], min_password=options["min-password-length"])
    if options["redis"] is None and options["no-history"] and options["registration"] == "open":
        log.warn("accounts people register last until the server stops (--no-history keeps nothing on disk)")
    chat = ChatService(ledger, reactor, accounts, max_rooms_per_user=options["max-rooms"],  # type: ignore[arg-type]
                       max_new_rooms=options["max-new-rooms"])
    chat.setServiceParent(server)
    addresses = AddressCounts()  # --max-per-address holds for every front end together
    factory = ChatServerFactory(chat, reactor, limits_from(options), addresses)  # type: ignore[arg-type]
    features = [f"ROOMS={options['max-rooms']}"]
    if options["redis"] is not None or not options["no-history"]:
        features += ["HISTORY", f"REPLAY={options['history-replay']}"]
    if options["redis"] is not None:
        features.append("CLUSTER")
    factory.features = tuple(features)
    listeners = FrontEndService(reactor, options["endpoint"], factory, chat.when_ready)
    listeners.setServiceParent(server)
    native.append(listeners)
    if options["irc-endpoint"]:
        irc = IRCFactory(chat, reactor, limits_from(options), addresses)
        FrontEndService(reactor, options["irc-endpoint"], irc, chat.when_ready, "IRC front end").setServiceParent(server)
        irc_sweeper = TimerService(SWEEP_INTERVAL, irc.sweep)
        irc_sweeper.clock = reactor
        irc_sweeper.setServiceParent(server)
    if options["web-endpoint"]:
        # Imported only here: Autobahn and twisted.web are loaded only for a server with a web port.
        from chat.web import WebChatFactory, web_site

        web = WebChatFactory(chat, reactor, limits_from(options), addresses)  # type: ignore[arg-type]
        web.features = factory.features
        FrontEndService(reactor, options["web-endpoint"], web, chat.when_ready, "web front end",
                         listen_with=web_site(web, options["web-origin"], options["web-host"])).setServiceParent(server)
        web_sweeper = TimerService(SWEEP_INTERVAL, web.sweep)
        web_sweeper.clock = reactor
        web_sweeper.setServiceParent(server)
    sweeper = TimerService(SWEEP_INTERVAL, factory.sweep)
    sweeper.clock = reactor
    sweeper.setServiceParent(server)
    return server
