"""
The native front end: the CMsg protocol of docs/protocol.md over
C{Int32StringReceiver}.  It only translates: a frame becomes a call on the
chat service (L{chat.service.IChatService}), what the service answers or
delivers becomes frames.  One connection misbehaving never reaches anyone
else: its bad frames are answered on its own connection, and its slowness is
bounded by an outgoing limit past which it alone is dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from twisted.internet import defer, interfaces
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.protocols.basic import Int32StringReceiver
from twisted.python.failure import Failure
from zope.interface import implementer

from chat.accounts import Accounts
from chat.event import Event
from chat.limits import Limits, TokenBucket
from chat.message import MAX_FRAME, CMsg, Code, ProtocolError, decode, frame
from chat.outbox import Outbox, TurnFlusher
from chat.service import SERVER_ERROR, ChatError, IChatService, IClient, IUser, Page

SHUTDOWN_TEXT = "The server is shutting down."

#: Characters of a quit reason that reach the room (keeps every frame small).
QUIT_REASON_MAX = 200

#: Seconds a closing connection has to take its last frame before it is cut.
CLOSE_GRACE = 10.0


@implementer(interfaces.IPushProducer, IClient)
class ChatServerProtocol(Int32StringReceiver):
    """
    One client.  It is registered as the push producer of its own transport
    only to learn when the transport's buffer is full (C{pauseProducing}):
    its L{Outbox} then counts what it queues, and past C{max_outgoing} the
    connection is dropped instead of buffering without bound.
    """

    MAX_LENGTH = MAX_FRAME
    log = Logger()

    factory: ChatServerFactory
    user: IUser | None = None
    outbox: Outbox
    closing = False
    lost = False
    _timers: list[interfaces.IDelayedCall] = []  # replaced per connection in connectionMade
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
        self.outbox = Outbox(factory.flusher, self.transport.write, limits.max_outgoing, self._drop_slow_consumer)
        self.connected_at = self.last_heard = factory.clock.seconds()
        self._timers = []
        if limits.flood_rate > 0:
            self.bucket = TokenBucket(self.connected_at, limits.flood_rate, limits.flood_burst, limits.flood_kick)
        self.host = str(getattr(self.transport.getPeer(), "host", ""))
        refusal = factory.connection_made(self)
        if refusal is not None:
            self.close_with(CMsg(Code.ERROR, close=True, error=refusal[0], text=refusal[1]))

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self.closing = self.lost = True
        self.outbox.close()
        for timer in self._timers:
            if timer.active():
                timer.cancel()
        user, self.user = self.user, None
        if user is not None:
            # The reason a user typed is message text: it is not logged.
            why = "has quit" if self.quit_reason.startswith("has quit") else self.quit_reason
            self.log.info("{nick} disconnected: {why}", nick=user.nick, why=why)
            self._quit(user)
        self.factory.connection_lost(self)

    def _quit(self, user: IUser) -> None:
        d = self.factory.service.quit(user, self.quit_reason)
        d.addErrback(lambda f: self.log.failure("announcing that {nick} left", f, nick=user.nick))

    # -- IClient: what the chat service delivers ------------------------------

    def deliver(self, event: Event) -> None:
        self.outbox.push(event.frame)

    def reserve(self) -> Callable[[Sequence[Event]], None]:
        fill = self.outbox.reserve()
        return lambda events: fill([event.frame for event in events])

    def disconnect(self, error: ChatError) -> None:
        self.user = None  # the chat has forgotten this user already
        self.quit_reason = ""
        self.close_with(CMsg(Code.ERROR, close=True, error=error.slug, text=error.text))

    def send(self, msg: CMsg) -> None:
        self.outbox.push(frame(msg))

    def _drop_slow_consumer(self) -> None:
        self.log.warn("dropping {peer}: not reading ({n} bytes queued)", peer=self._peer(), n=self.outbox.backlog)
        self.quit_reason = "was disconnected: not reading its messages"
        self.closing = True
        self.transport.abortConnection()

    def close_with(self, msg: CMsg) -> None:
        """Send a last frame, then close once it has been written."""
        if self.closing:
            return
        self.outbox.drain()  # last words: what is queued goes now, replays or not
        self.outbox.close()
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
        self.outbox.pause()

    def resumeProducing(self) -> None:
        self.outbox.resume()

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

    def _refused(self, failure: Failure, code: int) -> None:
        """A request the service failed: its ERROR, on this connection only."""
        if failure.check(ChatError):
            self._error(code, failure.value.slug, failure.value.text)
        else:
            self.log.failure("a request (code {code}) failed", failure, code=code)
            self._error(code, "server-error", SERVER_ERROR)

    def _waiting_for(self, code: int, d: defer.Deferred[Any]) -> None:
        """
        Read nothing more from this client until C{d} is answered, so that
        its requests keep their order; a refusal is the client's ERROR.
        """
        d.addErrback(self._refused, code)
        if not d.called:
            self._hold()
            d.addBoth(lambda _: self._release())

    def do_nickname(self, msg: CMsg) -> None:
        # Checking a password may take a while (and a wrong one takes long on
        # purpose): read nothing more from this client until it is answered.
        self._waiting_for(msg.code, defer.Deferred.fromCoroutine(self._take_nickname(msg)))

    async def _take_nickname(self, msg: CMsg) -> None:
        accounts = self.factory.accounts
        if accounts is not None and accounts.active:
            try:
                await accounts.check(msg.text, msg.password)
            except ChatError:
                raise
            except Exception as e:
                self.log.failure("checking the password of {nick}", nick=msg.text)
                raise ChatError("accounts-unavailable", "accounts cannot be checked now; try again later") from e
        if self.closing:
            return
        service = self.factory.service
        if self.user is None:
            user = await service.logon(msg.text, self)
            if self.closing:  # gone while the service answered
                self._quit(user)
                return
            self.user = user
            self.log.info("{peer} logged on as {nick}", peer=self._peer(), nick=user.nick)
        else:
            old = self.user.nick
            await service.rename(self.user, msg.text)
            if self.user is None:
                return
            self.log.info("{old} is now {nick}", old=old, nick=self.user.nick)
        self.send(CMsg(Code.SENDING_NICKNAME, text=self.user.nick, nick=self.user.nick))

    def do_join(self, msg: CMsg) -> None:
        self._waiting_for(msg.code, self.factory.service.join(self.user, msg.target_room))

    def do_history(self, msg: CMsg) -> None:
        if msg.before is not None and msg.after is not None:
            raise ChatError("bad-request", "give 'before' or 'after', not both")
        d = self.factory.service.history(self.user, msg.target_room, msg.before, msg.after, msg.limit or 50)

        def send(page: Page) -> None:
            for event in page.events:
                self.outbox.push(event.frame)
            self.send(CMsg(Code.HISTORY, room=page.room, more=page.more, before=msg.before, after=msg.after))

        self._waiting_for(msg.code, d.addCallback(send))

    def do_leave(self, msg: CMsg) -> None:
        if msg.close:
            reason = msg.text.strip()[:QUIT_REASON_MAX]
            self.quit_reason = f"has quit: {reason}" if reason else "has quit"
            goodbye = CMsg(Code.LEAVING_CHAT, close=True, text="Goodbye.")
            # Let the quitter see its last lines relayed before the goodbye.
            self._hold()
            self.factory.service.barrier().addBoth(lambda _: self.close_with(goodbye))
            return
        if self.user is None:
            raise ChatError("not-logged-on", "send your nickname (code 4) first")
        self._waiting_for(msg.code, self.factory.service.leave(self.user, msg.target_room))

    def do_chatters(self, msg: CMsg) -> None:
        d = self.factory.service.members(msg.target_room)
        self._waiting_for(msg.code, d.addCallback(
            lambda members: self.send(CMsg(Code.SENDING_CHATTERS_LIST, room=members.room, names=members.names))))

    def do_message(self, msg: CMsg) -> None:
        # Not held: the service keeps each sender's messages in order.
        d = self.factory.service.say(self.user, msg.target_room, msg.text, msg.color, msg.action)
        d.addErrback(self._refused, msg.code)

    def do_private(self, msg: CMsg) -> None:
        if msg.to is None:
            raise ChatError("no-target", "a private message needs 'to'")
        d = self.factory.service.private(self.user, msg.to, msg.text, msg.color, msg.action)
        d.addErrback(self._refused, msg.code)

    def do_room_list(self, msg: CMsg) -> None:
        d = self.factory.service.room_list()
        self._waiting_for(msg.code, d.addCallback(lambda names: self.send(CMsg(Code.ROOM_LIST, names=names))))

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
    """Every live connection of the native front end (to count them, and to say goodbye)."""

    protocol = ChatServerProtocol
    log = Logger()

    noisy = False

    def __init__(self, service: IChatService, clock: interfaces.IReactorTime, limits: Limits | None = None,
                 accounts: Accounts | None = None) -> None:
        self.service = service
        self.clock = clock
        self.limits = limits or Limits()
        self.accounts = accounts
        self.flusher = TurnFlusher(clock)
        self.connections: set[ChatServerProtocol] = set()
        self.per_address: dict[str, int] = {}
        self._all_gone: defer.Deferred[None] | None = None

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

    def shutdown(self, grace: float = 5.0) -> defer.Deferred[None]:
        """
        Relay what was accepted, then tell every client the server is going
        (code 5 with close), close each connection once that frame is
        flushed, and fire when all are closed; connections still open after
        C{grace} seconds are aborted.
        """
        d = self.service.barrier()
        d.addErrback(lambda f: self.log.failure("relaying before the goodbyes", f))
        d.addCallback(lambda _: self._goodbye(grace))
        return d

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

