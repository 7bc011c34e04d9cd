"""
What every front end's connections share, whatever their wire format: the
outbox, flood control, holding a client's input while a request is answered,
keepalive and logon timeouts, dropping a reader that stops reading, closing
with last words; and the factory that counts connections and says goodbye to
all of them.  A front end (the native CMsg protocol, IRC) adds only the
translation between its wire and the chat service.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet import defer, interfaces
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.python.failure import Failure

from chat.accounts import Accounts
from chat.limits import MAX_IN_FLIGHT, PAGE_PER_TOKEN, Limits, TokenBucket
from chat.adapters import hold_input, socket_writer
from chat.outbox import Outbox, QueueBudget, TurnFlusher
from chat.service import IChatService, IUser

SHUTDOWN_TEXT = "The server is shutting down."

#: Characters of a quit reason that reach the room (keeps every frame small).
QUIT_REASON_MAX = 200

#: Seconds a closing connection has to take its last words before it is cut.
CLOSE_GRACE = 10.0

#: Seconds between looks at what all clients left unread, while it is over the budget.
BUDGET_CHECK = 1.0

#: Bytes of text said in the last LATELY to 2 x LATELY seconds that make a
#: client one of those not read while the budget is over (and a tenth of the
#: most anyone said): far more than anyone types.
LOUD = 2 * 1024
LATELY = 5.0

#: How many logon timeouts a client may spend typing passwords in all.
MAX_PASSWORD_PROMPTS = 4


class Connection:
    """
    The front-end-independent half of a client connection, mixed into a
    receiver that stops handing over input while C{paused} (Twisted's
    C{IntNStringReceiver} and C{LineReceiver} both do).  It is registered as
    the push producer of its own transport only to learn when the
    transport's buffer is full: its L{Outbox} then counts what it queues,
    and past C{max_outgoing} the connection is dropped.
    """

    log = Logger()

    factory: FrontEndFactory
    transport: Any
    paused: bool
    dataReceived: Callable[[bytes], None]  # the receiver's
    user: IUser | None = None
    outbox: Outbox
    closing = False
    lost = False
    # At most one of each timer per connection (a list of them grew with every throttle).
    _unthrottle_call: interfaces.IDelayedCall | None = None
    _abort_call: interfaces.IDelayedCall | None = None
    quit_reason = "has lost the connection"
    bucket: TokenBucket | None = None
    holds = 0
    inflight = 0
    lately = 0  # bytes of text said in this period (see L{sent}) ...
    before = 0  # ... and in the one before
    lately_at = 0.0
    throttled = False
    ping_sent: float | None = None
    logon_started = 0.0
    host = ""
    #: The real name the client gave (IRC's USER; the native protocol has none).
    realname = ""

    # -- what a front end provides -------------------------------------------

    #: How the outbox turns a queued item that is not bytes into bytes (None: only bytes are queued).
    render: Callable[[Any], bytes] | None = None

    def refuse(self, slug: str, text: str) -> None:
        """Close the connection with an error the client can read."""
        raise NotImplementedError

    def send_ping(self) -> None:
        raise NotImplementedError

    def goodbye(self) -> None:
        """The server is shutting down: last words, then close."""
        raise NotImplementedError

    # -- connection ---------------------------------------------------------------

    def connectionMade(self) -> None:
        set_nodelay = getattr(self.transport, "setTcpNoDelay", None)
        if set_nodelay is not None:
            set_nodelay(True)
        self.transport.registerProducer(self, True)
        factory, limits = self.factory, self.factory.limits
        self.outbox = Outbox(factory.flusher, socket_writer(self.transport), limits.max_outgoing,
                             self.drop_slow_consumer, self.render, factory.budget)
        self.connected_at = self.last_heard = self.logon_started = factory.clock.seconds()
        if limits.flood_rate > 0:
            self.bucket = TokenBucket(self.connected_at, limits.flood_rate, limits.flood_burst, limits.flood_kick)
        self.host = str(getattr(self.transport.getPeer(), "host", ""))
        refusal = factory.connection_made(self)
        if refusal is not None:
            self.refuse(*refusal)

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.closing = self.lost = True
        self.outbox.close()
        for timer in (self._unthrottle_call, self._abort_call):
            if timer is not None and timer.active():
                timer.cancel()
        user, self.user = self.user, None
        if user is not None:
            # The reason a user typed is message text: it is not logged.
            why = "has quit" if self.quit_reason.startswith("has quit") else self.quit_reason
            self.log.info("{nick} disconnected: {why}", nick=user.nick, why=why)
            self.quit(user)
        self.factory.connection_lost(self)

    @property
    def me(self) -> IUser:
        """The logged-on user: a request that needs one is refused before logon, so it is never asked for sooner."""
        if self.user is None:
            raise RuntimeError("a request that needs a logged-on user was carried out before logon")
        return self.user

    def leave_chat(self) -> None:
        """
        A clean quit: the rooms hear it now, not once the transport is
        closed (a TLS close waits for the other side, which may never come).
        """
        user, self.user = self.user, None
        if user is not None:
            self.log.info("{nick} quit", nick=user.nick)
            self.quit(user)

    def quit(self, user: IUser) -> None:
        d = self.factory.service.quit(user, self.quit_reason)
        d.addErrback(lambda f: self.log.failure("announcing that {nick} left", f, nick=user.nick))

    def quit_with(self, reason: str) -> None:
        """The quit reason a user gave, as the rooms will read it."""
        reason = reason.strip()[:QUIT_REASON_MAX]
        self.quit_reason = f"has quit: {reason}" if reason else "has quit"

    def close_with_data(self, data: bytes) -> None:
        """Write what is queued and C{data}, then close once it has been written."""
        if self.closing:
            return
        self.outbox.drain()  # last words: what is queued goes now, replays or not
        self.outbox.close()
        self.transport.write(data)
        self.closing = True
        self.transport.unregisterProducer()
        self.transport.loseConnection()
        self._abort_call = self.factory.clock.callLater(CLOSE_GRACE, self._abort_if_open)

    def _abort_if_open(self) -> None:
        if not self.lost:
            self.transport.abortConnection()

    def drop_slow_consumer(self) -> None:
        if self.lost:
            return
        self.log.warn("dropping {peer}: not reading ({n} bytes queued)", peer=self.peer(), n=self.outbox.backlog)
        self.quit_reason = "was disconnected: not reading its messages"
        self.closing = True
        self.outbox.close()
        self.transport.abortConnection()

    def peer(self) -> str:
        peer = self.transport.getPeer()
        return f"{getattr(peer, 'host', peer)}:{getattr(peer, 'port', '')}"

    # -- IPushProducer: our transport tells us when its buffer is full ------

    def pauseProducing(self) -> None:
        self.outbox.pause()

    def resumeProducing(self) -> None:
        self.outbox.resume()

    def stopProducing(self) -> None:
        self.closing = True

    # -- input ------------------------------------------------------------------

    def sent(self, size: int) -> None:
        """
        C{size} bytes of text this client said.  Counted per period of
        L{LATELY} seconds: on the per-message path, an addition and a
        comparison, no more.
        """
        now = self.factory.clock.seconds()
        if now - self.lately_at >= LATELY:
            self._roll(now)
        self.lately += size

    def _roll(self, now: float) -> None:
        """A new period: the last one's count is kept, older ones are forgotten."""
        recent = now - self.lately_at < 2 * LATELY
        self.before = self.lately if recent else 0
        self.lately, self.lately_at = 0, now

    def said_lately(self, now: float) -> int:
        """Bytes of text said in this period and the one before (between LATELY and twice that)."""
        if now - self.lately_at >= LATELY:
            self._roll(now)
        return self.lately + self.before

    def charge(self, cost: float) -> None:
        """
        Flood control for what a request costs beyond its frame (long text,
        a big page or list): a costly client is read more slowly.
        """
        if self.bucket is None or cost < 1 or self.closing:
            return
        delay = self.bucket.charge(self.factory.clock.seconds(), cost)
        if delay:
            self._throttle(delay)

    def in_flight(self, d: defer.Deferred[Any]) -> None:
        """
        A message accepted but not yet relayed (the store or the cluster has
        it): past L{MAX_IN_FLIGHT} of them, read nothing more from this
        client until they are, so a sender can only go as fast as they land.
        """
        if d.called:
            return
        self.inflight += 1
        if self.inflight == MAX_IN_FLIGHT:
            self.hold()
        d.addBoth(self._landed)

    def _landed(self, result: object) -> object:
        self.inflight -= 1
        if self.inflight == MAX_IN_FLIGHT - 1:
            self.release()
        return result

    def asked_for_password(self) -> None:
        """
        The nickname is registered: a person is now typing its password, so
        the logon timeout starts again (a few times at most: the attempts
        themselves are rate-limited per account).
        """
        now = self.factory.clock.seconds()
        if now - self.connected_at < MAX_PASSWORD_PROMPTS * self.factory.limits.logon_timeout:
            self.logon_started = now

    def heard(self) -> bool:
        """
        A whole request arrived: note the time, and charge flood control.
        False if the client has flooded for too long and is being closed.
        """
        self.last_heard = now = self.factory.clock.seconds()
        self.ping_sent = None
        return self.requests(1, now)

    def requests(self, n: int, now: float | None = None) -> bool:
        """
        Charge flood control for C{n} requests, each as a frame of its own
        would be (an IRC line naming several targets is that many requests;
        so is a WebSocket message in several fragments).  False if the
        client has flooded for too long and is being closed.
        """
        bucket = self.bucket
        if bucket is None or self.closing:
            return not self.closing
        if now is None:
            now = self.factory.clock.seconds()
        delay = bucket.take(now)
        for _ in range(n - 1):
            delay = bucket.take(now)
        if delay:
            if bucket.flooding:
                self.log.info("dropping {peer}: flooding", peer=self.peer())
                self.quit_reason = "was disconnected: flooding"
                self.refuse("flood", "too many messages for too long: disconnected")
                return False
            self._throttle(delay)
        return True

    def hold(self) -> None:
        """Read nothing more from this client until L{release}: TCP pushes back on it."""
        self.holds += 1
        if self.holds == 1:
            hold_input(self, True)  # the receiver stops handing us input
            self.transport.pauseProducing()

    def release(self) -> None:
        """Read on; never called from inside the receiver's callback (it re-enters the parser)."""
        self.holds -= 1
        if self.holds or self.closing:
            return
        hold_input(self, False)
        self.transport.resumeProducing()
        self.read_on()

    def read_on(self) -> None:
        """Handle the input that waited while reading was held (what a receiver kept in its buffer)."""
        self.dataReceived(b"")

    def waiting_for(self, d: defer.Deferred[Any], refused: Callable[[Failure], None]) -> None:
        """
        Read nothing more from this client until C{d} is answered, so that
        its requests keep their order; C{refused} answers a failure.
        """
        d.addErrback(refused)
        if not d.called:
            self.hold()
            d.addBoth(lambda _: self.release())

    def _throttle(self, delay: float) -> None:
        """Stop reading this client for C{delay} seconds."""
        if not self.throttled:
            self.throttled = True
            self.hold()
            self._unthrottle_call = self.factory.clock.callLater(delay, self._unthrottle)

    def _unthrottle(self) -> None:
        self.throttled = False
        self.release()

    def keepalive(self, now: float) -> None:
        """Called now and then by the factory: logon timeout and idle PINGs."""
        limits = self.factory.limits
        if self.closing:
            return
        if self.user is None and limits.logon_timeout and now - self.logon_started > limits.logon_timeout:
            self.quit_reason = ""
            self.refuse("logon-timeout", f"not logged on within {limits.logon_timeout:g} seconds")
        elif limits.idle_timeout and now - self.last_heard > limits.idle_timeout:
            if self.ping_sent is None:
                self.ping_sent = now
                self.send_ping()
            elif now - self.ping_sent > limits.ping_timeout:
                self.log.info("dropping {peer}: no answer to PING", peer=self.peer())
                self.quit_reason = "was disconnected: no answer to PING"
                self.closing = True
                self.transport.abortConnection()


class AddressCounts:
    """
    Connections per address, across every front end: the native port, IRC
    and the web port share one count, so C{--max-per-address} holds for
    all of them together (each once had its own: three times the limit).
    """

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def add(self, host: str) -> int:
        """One more connection from C{host}: how many it has now."""
        count = self.counts[host] = self.counts.get(host, 0) + 1
        return count

    def remove(self, host: str) -> None:
        left = self.counts.get(host, 1) - 1
        if left > 0:
            self.counts[host] = left
        else:
            self.counts.pop(host, None)


class FrontEndFactory(Factory):
    """Every live connection of one front end (to count them, and to say goodbye)."""

    log = Logger()
    noisy = False

    #: Whether this factory counts its connections per address (the web's are counted by its port, L{chat.web}).
    counts_addresses = True

    def __init__(self, service: IChatService, clock: interfaces.IReactorTime, limits: Limits | None = None,
                 addresses: AddressCounts | None = None) -> None:
        #: The chat service (which checks every logon and rename against its accounts).
        self.service = service
        self.clock = clock
        self.limits = limits or Limits()
        #: What a join costs flood control beyond its frame: its history replay, as a page of that size would.
        self.join_cost = self.limits.replay / PAGE_PER_TOKEN
        #: The service's accounts: what this front end offers (SASL, INFO) follows them.
        self.accounts: Accounts | None = service.accounts
        self.flusher = TurnFlusher(clock)
        self.budget = QueueBudget(self.limits.max_queued, self._over_budget) if self.limits.max_queued else None
        self._held: set[Connection] | None = None  # everyone, while all together are over the budget
        self._budget_check: interfaces.IDelayedCall | None = None
        self.connections: set[Connection] = set()
        #: Connections per address, shared with the other front ends.
        self.addresses = addresses if addresses is not None else AddressCounts()
        self._all_gone: defer.Deferred[None] | None = None

    def connection_made(self, proto: Connection) -> tuple[str, str] | None:
        """Count the connection; return (slug, text) if it is over a limit."""
        self.connections.add(proto)
        count = 0  # a UNIX socket's clients are local users, with no address to share
        if proto.host and self.counts_addresses:
            count = self.addresses.add(proto.host)
        limits = self.limits
        if limits.max_clients and len(self.connections) > limits.max_clients:
            return "server-full", f"the server has its maximum of {limits.max_clients} clients"
        if limits.max_per_address and count > limits.max_per_address:
            return "too-many-connections", f"at most {limits.max_per_address} connections per address"
        return None

    def connection_lost(self, proto: Connection) -> None:
        if proto in self.connections:
            self.connections.discard(proto)
            if proto.host and self.counts_addresses:
                self.addresses.remove(proto.host)
        if not self.connections and self._all_gone is not None:
            d, self._all_gone = self._all_gone, None
            d.callback(None)

    def shutdown(self, grace: float = 5.0) -> defer.Deferred[None]:
        """
        Relay what was accepted, then tell every client the server is going,
        close each connection once that is flushed, and fire when all are
        closed; connections still open after C{grace} seconds are aborted.
        """
        d = self.service.barrier()
        d.addErrback(lambda f: self.log.failure("relaying before the goodbyes", f))
        d.addCallback(lambda _: self._goodbye(grace))
        return d

    def _goodbye(self, grace: float) -> defer.Deferred[None]:
        if not self.connections:
            return defer.succeed(None)
        self.log.info("shutting down: saying goodbye to {n} clients", n=len(self.connections))
        if self._budget_check is not None and self._budget_check.active():
            self._budget_check.cancel()
        self._all_gone = d = defer.Deferred[None]()
        for proto in list(self.connections):
            proto.quit_reason = "left: the server is shutting down"
            proto.goodbye()
        timer = self.clock.callLater(grace, self._abort_stragglers)

        def all_gone(result: object) -> object:
            if timer.active():
                timer.cancel()
            return result

        d.addBoth(all_gone)
        return d

    def _over_budget(self) -> None:
        """
        All clients together left too much unread: read no more from those
        who said the most lately (what they would say would only add to it;
        someone chatting as people do goes on) until the readers have caught
        up.  A reader that keeps up drains in a moment; those still behind a
        second later are not reading, and go.
        """
        if self._held is not None:
            return
        now = self.clock.seconds()
        lately = {p: p.said_lately(now) for p in self.connections}
        bar = max(LOUD, 0.1 * max(lately.values(), default=0))  # far above what people type, or the top few
        loud = {p for p, said in lately.items() if said >= bar}
        self.log.warn("{n} bytes wait unread: reading from {k} of the clients who said most until they are read",
                      n=self.budget.used, k=len(loud))  # type: ignore[union-attr]
        self._held = loud or set(self.connections)
        for proto in self._held:
            proto.hold()
        self._budget_check = self.clock.callLater(BUDGET_CHECK, self._check_budget)

    def _check_budget(self) -> None:
        budget = self.budget
        assert budget is not None and self._held is not None
        if budget.used > budget.limit // 2:
            # Those a second behind are not reading: dropped, the most behind
            # first, until what is left unread is under half the budget.
            now = self.clock.seconds()
            stale = sorted((p for p in self.connections if p.outbox.backlogged and not p.outbox.closed
                            and now - p.outbox.paused_at >= BUDGET_CHECK), key=lambda p: -p.outbox.backlog)
            for proto in stale:
                if budget.used <= budget.limit // 2:
                    break
                proto.drop_slow_consumer()
            if budget.used > budget.limit // 2:
                self._budget_check = self.clock.callLater(BUDGET_CHECK, self._check_budget)
                return
        held, self._held, self._budget_check = self._held, None, None
        for proto in held:
            if proto in self.connections:
                proto.release()

    def sweep(self) -> None:
        """Logon timeouts and keepalive for every connection: one timer for all."""
        now = self.clock.seconds()
        for proto in list(self.connections):
            proto.keepalive(now)

    def _abort_stragglers(self) -> None:
        for proto in list(self.connections):
            self.log.warn("aborting a client that did not take its goodbye")
            proto.transport.abortConnection()
