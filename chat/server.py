"""
The listener and the per-client protocol: bytes in, L{ChatState} calls, frames
out.  One connection misbehaving never reaches anyone else: its bad frames
are answered on its own connection, and its slowness is bounded by an
outgoing limit past which it alone is dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from twisted.internet import defer, interfaces
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.protocols.basic import Int32StringReceiver
from twisted.python.failure import Failure
from zope.interface import implementer

from chat.accounts import Accounts
from chat.cluster.node import ClusterNode
from chat.history import MAX_PAGE, GroupCommit, History
from chat.limits import TokenBucket
from chat.message import MAX_FRAME, CMsg, Code, ProtocolError, decode, encode, frame, framed
from chat.names import ChatError
from chat.state import ChatState, Delivery, User

#: Bytes a client may leave unread in its outgoing queue, beyond the
#: transport's own buffer, before it is dropped as a slow consumer.
MAX_OUTGOING = 1024 * 1024

SHUTDOWN_TEXT = "The server is shutting down."

#: Characters of a quit reason that reach the room (keeps every frame small).
QUIT_REASON_MAX = 200

#: Seconds a closing connection has to take its last frame before it is cut.
CLOSE_GRACE = 10.0


class Limits:
    """
    Every per-client limit of the server, with its documented default
    (docs/operations.md).  Zero turns a limit off.
    """

    __slots__ = (
        "flood_burst",
        "flood_kick",
        "flood_rate",
        "idle_timeout",
        "logon_timeout",
        "max_clients",
        "max_outgoing",
        "max_per_address",
        "ping_timeout",
    )

    def __init__(self, max_outgoing: int = MAX_OUTGOING, max_clients: int = 10000,
                 max_per_address: int = 100, logon_timeout: float = 30.0,
                 idle_timeout: float = 60.0, ping_timeout: float = 30.0,
                 flood_rate: float = 10.0, flood_burst: int = 20, flood_kick: int = 10) -> None:
        self.max_outgoing = max_outgoing
        self.max_clients = max_clients
        self.max_per_address = max_per_address
        self.logon_timeout = logon_timeout
        self.idle_timeout = idle_timeout
        self.ping_timeout = ping_timeout
        self.flood_rate = flood_rate
        self.flood_burst = flood_burst
        self.flood_kick = flood_kick


def fan_out(deliveries: list[Delivery]) -> None:
    """Encode each message once and write the same frame to every recipient."""
    for recipients, msg in deliveries:
        deliver(recipients, frame(msg))


def deliver(recipients: Iterable[User], data: bytes) -> None:
    """The per-recipient loop of every broadcast: one buffer append each."""
    for user in recipients:
        user.session.send_frame(data)


@implementer(interfaces.IPushProducer)
class ChatServerProtocol(Int32StringReceiver):
    """
    One client.  It is registered as the push producer of its own transport
    only to learn when the transport's buffer is full (C{pauseProducing}):
    from then on it counts what it queues, and past C{max_outgoing} it drops
    the connection instead of buffering without bound.
    """

    MAX_LENGTH = MAX_FRAME
    log = Logger()

    factory: ChatServerFactory
    user: User | None = None
    outbox: list[bytes] | None = None
    # Joins whose history is still being read: where in the outbox each goes.
    _replays: list[list[int]] | None = None
    closing = False
    lost = False
    _timers: list[interfaces.IDelayedCall] = []  # replaced per connection in connectionMade
    backlogged = False
    backlog = 0
    quit_reason = "has lost the connection"
    bucket: TokenBucket | None = None
    holds = 0
    throttled = False
    ping_sent: float | None = None
    host = ""

    # -- connection --------------------------------------------------------

    def connectionMade(self) -> None:
        set_nodelay = getattr(self.transport, "setTcpNoDelay", None)
        if set_nodelay is not None:
            set_nodelay(True)
        self.transport.registerProducer(self, True)
        factory, limits = self.factory, self.factory.limits
        self.connected_at = self.last_heard = factory.clock.seconds()
        self._timers: list[interfaces.IDelayedCall] = []
        if limits.flood_rate > 0:
            self.bucket = TokenBucket(self.connected_at, limits.flood_rate, limits.flood_burst, limits.flood_kick)
        self.host = str(getattr(self.transport.getPeer(), "host", ""))
        refusal = factory.connection_made(self)
        if refusal is not None:
            self.close_with(CMsg(Code.ERROR, close=True, error=refusal[0], text=refusal[1]))

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self.closing = self.lost = True
        for timer in self._timers:
            if timer.active():
                timer.cancel()
        user, self.user = self.user, None
        cluster = self.factory.cluster
        if user is not None and cluster is not None:
            cluster.quit(user, self.quit_reason)
        elif user is not None and self.factory.stopping:
            self.factory.state.quit(user, self.quit_reason)  # everyone is leaving: no announcements
        elif user is not None:
            # The reason a user typed is message text: it is not logged.
            why = "has quit" if self.quit_reason.startswith("has quit") else self.quit_reason
            self.log.info("{nick} disconnected: {why}", nick=user.nick, why=why)
            self.factory.announce(self.factory.state.quit(user, self.quit_reason))
        self.factory.connection_lost(self)

    def send_frame(self, data: bytes) -> None:
        """
        Queue one encoded frame; the per-recipient step of every broadcast.
        Frames wait in an outbox until the end of this reactor turn and go
        to the transport in one write: a write costs microseconds, an
        append a tenth of that (docs/performance.md).
        """
        if self.closing:
            return
        outbox = self.outbox
        if outbox is None:
            self.outbox = [data]
            self.factory.schedule_flush(self)
        else:
            outbox.append(data)

    def flush(self) -> None:
        """Write the outbox; called once per reactor turn by the factory."""
        if self._replays:
            return  # a join's history goes first; written once it is read
        outbox, self.outbox = self.outbox, None
        if outbox is None or self.closing:
            return
        data = outbox[0] if len(outbox) == 1 else b"".join(outbox)
        if self.backlogged:
            self.backlog += len(data)
            if self.backlog > self.factory.limits.max_outgoing:
                self._drop_slow_consumer()
                return
        self.transport.write(data)

    def send(self, msg: CMsg) -> None:
        self.send_frame(frame(msg))

    def _drop_slow_consumer(self) -> None:
        self.log.warn("dropping {peer}: not reading ({n} bytes queued)", peer=self._peer(), n=self.backlog)
        self.quit_reason = "was disconnected: not reading its messages"
        self.closing = True
        self.transport.abortConnection()

    def close_with(self, msg: CMsg) -> None:
        """Send a last frame, then close once it has been written."""
        if self.closing:
            return
        self._replays = None  # last words: what is queued goes now, replays or not
        self.flush()
        self.transport.write(frame(msg))
        self.closing = True
        self.transport.unregisterProducer()
        self.transport.loseConnection()
        self._timers.append(self.factory.clock.callLater(CLOSE_GRACE, self._abort_if_open))

    def _abort_if_open(self) -> None:
        if not self.lost:
            self.transport.abortConnection()

    def _peer(self) -> str:
        peer = self.transport.getPeer()
        return f"{getattr(peer, 'host', peer)}:{getattr(peer, 'port', '')}"

    # -- IPushProducer: our transport tells us when its buffer is full ------

    def pauseProducing(self) -> None:
        self.backlogged = True

    def resumeProducing(self) -> None:
        self.backlogged = False
        self.backlog = 0

    def stopProducing(self) -> None:
        self.closing = True

    # -- requests ----------------------------------------------------------

    def lengthLimitExceeded(self, length: int) -> None:
        self.log.info("{peer} sent an oversized frame ({length} bytes)", peer=self._peer(), length=length)
        self.quit_reason = "was disconnected: oversized frame"
        self.close_with(CMsg(
            Code.ERROR, close=True, error="frame-too-large",
            text=f"a frame holds at most {self.MAX_LENGTH} bytes; this one announced {length}",
        ))

    def stringReceived(self, data: bytes) -> None:
        if self.closing:
            return
        self.last_heard = now = self.factory.clock.seconds()
        self.ping_sent = None
        if self.bucket is not None:
            delay = self.bucket.take(now)
            if delay:
                if self.bucket.flooding:
                    self.log.info("dropping {peer}: flooding", peer=self._peer())
                    self.quit_reason = "was disconnected: flooding"
                    self.close_with(CMsg(Code.ERROR, close=True, error="flood",
                                         text="too many messages for too long: disconnected"))
                    return
                self._throttle(delay)
        try:
            msg = decode(data)
        except ProtocolError as e:
            self.log.info("{peer} sent a bad frame: {slug}", peer=self._peer(), slug=e.slug)
            self.quit_reason = f"was disconnected: {e.text}"
            self.close_with(CMsg(Code.ERROR, close=True, error=e.slug, text=e.text))
            return
        handler = self._handlers.get(msg.code)
        if handler is None:
            self._error(msg.code, "unknown-code", f"unknown code {msg.code}")
            return
        if self.user is None and msg.code not in self._before_logon:
            self._error(msg.code, "not-logged-on", "send your nickname (code 4) first")
            return
        try:
            handler(self, msg)
        except ChatError as e:
            self._error(msg.code, e.slug, e.text)

    def _hold(self) -> None:
        """Read nothing more from this client until L{_release}: TCP pushes back on it."""
        self.holds += 1
        if self.holds == 1:
            self.paused = True  # IntNStringReceiver stops handing us frames
            self.transport.pauseProducing()

    def _release(self) -> None:
        """Read on; never called from inside L{stringReceived} (it re-enters the parser)."""
        self.holds -= 1
        if self.holds or self.closing:
            return
        self.paused = False
        self.transport.resumeProducing()
        self.dataReceived(b"")  # the frames that waited in the buffer

    def _throttle(self, delay: float) -> None:
        """Stop reading this client for C{delay} seconds."""
        if not self.throttled:
            self.throttled = True
            self._hold()
            self._timers.append(self.factory.clock.callLater(delay, self._unthrottle))

    def _unthrottle(self) -> None:
        self.throttled = False
        self._release()

    def keepalive(self, now: float) -> None:
        """Called now and then by the factory: logon timeout and idle PINGs."""
        limits = self.factory.limits
        if self.closing:
            return
        if self.user is None and limits.logon_timeout and now - self.connected_at > limits.logon_timeout:
            self.quit_reason = ""
            self.close_with(CMsg(Code.ERROR, close=True, error="logon-timeout",
                                 text=f"no nickname within {limits.logon_timeout:g} seconds"))
        elif limits.idle_timeout and now - self.last_heard > limits.idle_timeout:
            if self.ping_sent is None:
                self.ping_sent = now
                self.send(CMsg(Code.PING, text="keepalive"))
            elif now - self.ping_sent > limits.ping_timeout:
                self.log.info("dropping {peer}: no answer to PING", peer=self._peer())
                self.quit_reason = "was disconnected: no answer to PING"
                self.closing = True
                self.transport.abortConnection()

    def _error(self, reply_to: int, slug: str, text: str) -> None:
        self.send(CMsg(Code.ERROR, text=text, error=slug, reply_to=reply_to))

    def do_nickname(self, msg: CMsg) -> None:
        accounts = self.factory.accounts
        if self.factory.cluster is not None:
            self._waiting_for(msg.code, defer.Deferred.fromCoroutine(self._checked_nickname(msg)))
            return
        if accounts is None or not accounts.active:
            self._take_nickname(msg.text)
            return
        # Checking a password may take a while (and a wrong one takes long on
        # purpose): read nothing more from this client until it is answered.
        d = defer.Deferred.fromCoroutine(self._checked_nickname(msg))
        d.addErrback(lambda f: self.log.failure("checking a nickname", f))
        if not d.called:
            self._hold()
            d.addBoth(lambda _: self._release())

    def _waiting_for(self, code: int, d: defer.Deferred[object]) -> None:
        """
        Read nothing more from this client until C{d} (a request to the
        cluster, or to the history store) is answered, so that its requests
        keep their order; a refusal is the client's ERROR.
        """
        def refused(f: Failure) -> None:
            if f.check(ChatError):
                self._error(code, f.value.slug, f.value.text)
            elif self.factory.cluster is not None:
                self.log.failure("a cluster request failed", f)
                self._error(code, "cluster-unavailable", "the server cannot reach the rest of the chat now; try again soon")
            else:
                self.log.failure("a request failed", f)
                self._error(code, "server-error", "the server could not carry out this request; try again later")

        d.addErrback(refused)
        if not d.called:
            self._hold()
            d.addBoth(lambda _: self._release())

    async def _checked_nickname(self, msg: CMsg) -> None:
        accounts = self.factory.accounts
        if accounts is not None and accounts.active:
            try:
                await accounts.check(msg.text, msg.password)
            except ChatError as e:
                self._error(msg.code, e.slug, e.text)
                return
            except Exception:
                self.log.failure("checking the password of {nick}", nick=msg.text)
                self._error(msg.code, "accounts-unavailable", "accounts cannot be checked now; try again later")
                return
        if self.factory.cluster is not None:
            await self._take_cluster_nickname(msg.text)
            return
        try:
            self._take_nickname(msg.text)
        except ChatError as e:
            self._error(msg.code, e.slug, e.text)

    def _take_nickname(self, nick: str) -> None:
        if self.closing:
            return
        state = self.factory.state
        if self.user is None:
            self.user = state.logon(nick, self)
            self.log.info("{peer} logged on as {nick}", peer=self._peer(), nick=self.user.nick)
            self.send(CMsg(Code.SENDING_NICKNAME, text=self.user.nick, nick=self.user.nick))
            return
        old = self.user.nick
        announcements = state.rename(self.user, nick)
        self.log.info("{old} is now {nick}", old=old, nick=self.user.nick)
        self.send(CMsg(Code.SENDING_NICKNAME, text=self.user.nick, nick=self.user.nick))
        self.factory.announce(announcements)

    async def _take_cluster_nickname(self, nick: str) -> None:
        cluster = self.factory.cluster
        assert cluster is not None
        if self.closing:
            return
        if self.user is None:
            user = await cluster.logon(nick, self)
            if self.closing:  # gone while the cluster answered
                cluster.quit(user, self.quit_reason)
                return
            self.user = user
            self.log.info("{peer} logged on as {nick}", peer=self._peer(), nick=user.nick)
        else:
            old = self.user.nick
            await cluster.rename(self.user, nick)
            self.log.info("{old} is now {nick}", old=old, nick=self.user.nick)
        self.send(CMsg(Code.SENDING_NICKNAME, text=self.user.nick, nick=self.user.nick))

    def do_join(self, msg: CMsg) -> None:
        assert self.user is not None
        if self.factory.cluster is not None:
            self._waiting_for(msg.code, self.factory.cluster.join(self.user, msg.target_room))
            return
        deliveries = self.factory.state.join(self.user, msg.target_room)
        self.log.info("{nick} joined {room}", nick=self.user.nick, room=msg.target_room)
        commit = self.factory.commit
        if commit is None or not self.factory.replay:
            self.factory.announce(deliveries)
            return
        # The replay is the room's messages up to the join (none of which was
        # relayed to the joiner), read once they are all stored.  It goes
        # right after the join and the member list; what the room says
        # meanwhile waits behind it (the slot).
        room = self.factory.state.member_room(self.user, deliveries[0][1].room or msg.target_room)
        upto, slot = room.last_id, [0]

        def announced() -> None:
            fan_out(deliveries)
            slot[0] = len(self.outbox or ())
            self._replays = [*(self._replays or ()), slot]

        commit.then(announced)
        replay = self.factory.replay
        commit.flushed().addCallback(
            lambda _: self.closing or self._send_history(room.name, None, None, replay, upto=upto, slot=slot))

    def do_history(self, msg: CMsg) -> None:
        assert self.user is not None
        room = self.factory.state.member_room(self.user, msg.target_room)
        if self.factory.store is None and self.factory.cluster is None:
            raise ChatError("no-history", "this server keeps no history")
        if msg.before is not None and msg.after is not None:
            raise ChatError("bad-request", "give 'before' or 'after', not both")
        self._send_history(room.name, msg.before, msg.after, msg.limit or 50)

    def _send_history(self, room: str, before: int | None, after: int | None, limit: int,
                      upto: int | None = None, slot: list[int] | None = None) -> None:
        """
        Messages from the store, oldest first, then the end marker (code 11).
        A join's replay (C{upto}: the room's last id at the join) goes into
        its C{slot} of the outbox, ahead of what was queued after it.
        """
        d: defer.Deferred[tuple[list[CMsg], bool]]
        if self.factory.cluster is not None:
            d = defer.Deferred.fromCoroutine(self.factory.cluster.history(room, before, after, min(limit, MAX_PAGE)))
        else:
            assert self.factory.store is not None
            d = self.factory.store.page(room, before=before if upto is None else upto + 1, after=after,
                                        limit=min(limit, MAX_PAGE))

        def send(page: tuple[list[CMsg], bool]) -> None:
            msgs, more = page
            frames = [frame(m) for m in msgs]
            frames.append(frame(CMsg(Code.HISTORY, room=room, more=more, before=before, after=after)))
            if slot is None:
                for data in frames:
                    self.send_frame(data)
            elif not self.closing:
                if self.outbox is None:
                    self.outbox = []
                self.outbox[slot[0]:slot[0]] = frames
                for other in self._replays or ():
                    if other is not slot and other[0] >= slot[0]:
                        other[0] += len(frames)

        def done(result: object) -> object:
            if slot is not None and self._replays and slot in self._replays:
                self._replays = [s for s in self._replays if s is not slot] or None
                if self._replays is None and self.outbox:
                    self.factory.schedule_flush(self)
            return result

        d.addCallback(send)
        d.addBoth(done)
        self._waiting_for(Code.HISTORY, d)

    def do_leave(self, msg: CMsg) -> None:
        if msg.close:
            reason = msg.text.strip()[:QUIT_REASON_MAX]
            self.quit_reason = f"has quit: {reason}" if reason else "has quit"
            goodbye = CMsg(Code.LEAVING_CHAT, close=True, text="Goodbye.")
            if self.factory.cluster is not None:
                self._hold()
                self.factory.cluster.barrier().addCallback(lambda _: self.close_with(goodbye))
            elif self.factory.commit is None:
                self.close_with(goodbye)
            else:
                # Let the quitter see its last lines relayed before the goodbye.
                self._hold()
                self.factory.commit.flushed().addCallback(lambda _: self.close_with(goodbye))
            return
        if self.user is None:
            raise ChatError("not-logged-on", "send your nickname (code 4) first")
        if self.factory.cluster is not None:
            self._waiting_for(msg.code, self.factory.cluster.leave(self.user, msg.target_room))
            return
        self.factory.announce(self.factory.state.leave(self.user, msg.target_room))

    def do_chatters(self, msg: CMsg) -> None:
        if self.factory.cluster is not None:
            d = defer.Deferred.fromCoroutine(self.factory.cluster.members(msg.target_room))
            self._waiting_for(msg.code, d.addCallback(self.send))
            return
        self.send(self.factory.state.members(msg.target_room))

    def do_message(self, msg: CMsg) -> None:
        assert self.user is not None
        cluster = self.factory.cluster
        if cluster is not None:
            # Not held: messages keep their order on the one Redis connection.
            cluster.say(self.user, msg.target_room, msg.text, msg.color, msg.action).addErrback(
                self._cluster_refused, msg.code)
            return
        recipients, out = self.factory.state.say(self.user, msg.target_room, msg.text, msg.color, msg.action)
        self._accepted(recipients, out, msg.code)

    def do_private(self, msg: CMsg) -> None:
        assert self.user is not None
        if msg.to is None:
            raise ChatError("no-target", "a private message needs 'to'")
        cluster = self.factory.cluster
        if cluster is not None:
            cluster.private(self.user, msg.to, msg.text, msg.color, msg.action).addErrback(
                self._cluster_refused, msg.code)
            return
        self._accepted(*self.factory.state.private(self.user, msg.to, msg.text, msg.color, msg.action), msg.code)

    def _accepted(self, recipients: Iterable[User], out: CMsg, code: int) -> None:
        """
        Relay an accepted message: at once, or, with history on, once it is
        stored, to the members it had when it was accepted.
        """
        body = encode(out)  # once: relayed to every recipient, and stored
        data = framed(body)
        commit = self.factory.commit
        if commit is None:
            deliver(recipients, data)
        else:
            members = tuple(recipients)
            commit.accept(out, lambda: deliver(members, data), lambda: self._error(
                code, "server-error", "the server could not store this message, so it was not delivered; try again later"),
                body)

    def _cluster_refused(self, f: Failure, code: int) -> None:
        if f.check(ChatError):
            self._error(code, f.value.slug, f.value.text)
        else:
            self.log.failure("a cluster request failed", f)
            self._error(code, "cluster-unavailable",
                        "the server lost the rest of the chat while sending this; it may not have been delivered")

    def do_room_list(self, msg: CMsg) -> None:
        if self.factory.cluster is not None:
            d = defer.Deferred.fromCoroutine(self.factory.cluster.room_list())
            self._waiting_for(msg.code, d.addCallback(self.send))
            return
        self.send(self.factory.state.room_list())

    def do_ping(self, msg: CMsg) -> None:
        self.send(CMsg(Code.PONG, text=msg.text))

    def do_nothing(self, msg: CMsg) -> None:
        """Replies a client may send back (PONG, ERROR) need no answer."""

    _handlers: dict[int, Callable[[ChatServerProtocol, CMsg], None]] = {
        Code.SENDING_NICKNAME: do_nickname,
        Code.JOINING_CHAT: do_join,
        Code.LEAVING_CHAT: do_leave,
        Code.SENDING_CHATTERS_LIST: do_chatters,
        Code.NORMAL_MESSAGE: do_message,
        Code.PRIVATE_MESSAGE: do_private,
        Code.ROOM_LIST: do_room_list,
        Code.PING: do_ping,
        Code.PONG: do_nothing,
        Code.HISTORY: do_history,
        Code.ERROR: do_nothing,
    }
    _before_logon = frozenset({Code.SENDING_NICKNAME, Code.PING, Code.PONG, Code.LEAVING_CHAT, Code.ERROR})


class ChatServerFactory(Factory):
    """Owns the chat state and every live connection (to say goodbye)."""

    protocol = ChatServerProtocol
    log = Logger()

    noisy = False

    def __init__(self, state: ChatState, clock: interfaces.IReactorTime, limits: Limits | None = None,
                 accounts: Accounts | None = None, store: History | None = None, replay: int = 50,
                 cluster: ClusterNode | None = None) -> None:
        self.cluster = cluster
        if cluster is not None:
            cluster.lost_contact = self._lost_contact
        self.store = store
        self.commit = GroupCommit(store, clock) if store is not None else None
        self.replay = replay
        self.state = state
        self.clock = clock
        self.limits = limits or Limits()
        self.accounts = accounts
        self.stopping = False
        self._to_flush: list[ChatServerProtocol] = []
        self.connections: set[ChatServerProtocol] = set()
        self.per_address: dict[str, int] = {}
        self._all_gone: defer.Deferred[None] | None = None

    def schedule_flush(self, proto: ChatServerProtocol) -> None:
        """One flush of every outbox per reactor turn, however many frames."""
        if not self._to_flush:
            self.clock.callLater(0, self.flush)
        self._to_flush.append(proto)

    def flush(self) -> None:
        protos, self._to_flush = self._to_flush, []
        for proto in protos:
            proto.flush()

    def connection_made(self, proto: ChatServerProtocol) -> tuple[str, str] | None:
        """Count the connection; return (slug, text) if it is over a limit."""
        self.connections.add(proto)
        count = 0  # a UNIX socket's clients are local users, with no address to share
        if proto.host:
            count = self.per_address[proto.host] = self.per_address.get(proto.host, 0) + 1
        limits = self.limits
        if limits.max_clients and len(self.connections) > limits.max_clients:
            return "server-full", f"the server has its maximum of {limits.max_clients} clients"
        if limits.max_per_address and count > limits.max_per_address:
            return "too-many-connections", f"at most {limits.max_per_address} connections per address"
        return None

    def connection_lost(self, proto: ChatServerProtocol) -> None:
        if proto in self.connections:
            self.connections.discard(proto)
            if proto.host:
                left = self.per_address[proto.host] - 1
                if left:
                    self.per_address[proto.host] = left
                else:
                    del self.per_address[proto.host]
        if not self.connections and self._all_gone is not None:
            d, self._all_gone = self._all_gone, None
            d.callback(None)

    def announce(self, deliveries: list[Delivery]) -> None:
        """
        Relay joins, leaves and renames in their place in the order: after
        the messages accepted before them, which may still be being stored.
        """
        if self.commit is None:
            fan_out(deliveries)
        else:
            self.commit.then(lambda: fan_out(deliveries))

    def _lost_contact(self) -> None:
        """The cluster dropped this node: every client must log on again."""
        for proto in list(self.connections):
            proto.user = None
            proto.quit_reason = ""
            proto.close_with(CMsg(Code.ERROR, close=True, error="cluster-unavailable", text=(
                "this server lost contact with the rest of the chat for too long; connect again")))

    def shutdown(self, grace: float = 5.0) -> defer.Deferred[None]:
        self.stopping = True
        return self._shutdown(grace)

    def _shutdown(self, grace: float) -> defer.Deferred[None]:
        """
        Tell every client the server is going (code 5 with close), close each
        connection once that frame is flushed, and fire when all are closed;
        connections still open after C{grace} seconds are aborted.
        """
        if self.commit is not None:
            # Relay what was accepted before saying goodbye.
            d = self.commit.flushed()
            d.addCallback(lambda _: self._goodbye(grace))
            return d
        return self._goodbye(grace)

    def _goodbye(self, grace: float) -> defer.Deferred[None]:
        if not self.connections:
            return defer.succeed(None)
        self.log.info("shutting down: saying goodbye to {n} clients", n=len(self.connections))
        self._all_gone = d = defer.Deferred()
        goodbye = CMsg(Code.NORMAL_MESSAGE, text=SHUTDOWN_TEXT, close=True)
        for proto in list(self.connections):
            proto.quit_reason = "left: the server is shutting down"
            proto.close_with(goodbye)
        timer = self.clock.callLater(grace, self._abort_stragglers)
        d.addBoth(lambda r: (timer.cancel() if timer.active() else None, r)[1])
        return d

    def sweep(self) -> None:
        """Logon timeouts and keepalive for every connection: one timer for all."""
        now = self.clock.seconds()
        for proto in list(self.connections):
            proto.keepalive(now)

    def _abort_stragglers(self) -> None:
        for proto in list(self.connections):
            self.log.warn("aborting a client that did not take its goodbye")
            proto.transport.abortConnection()
