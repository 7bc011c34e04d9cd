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
from operator import attrgetter
from typing import Any

from twisted.internet import defer, interfaces
from twisted.logger import Logger
from twisted.protocols.basic import Int32StringReceiver
from twisted.python.failure import Failure
from zope.interface import implementer

from chat.core.events import Event
from chat.frontend import SHUTDOWN_TEXT, Connection, FrontEndFactory
from chat.message import MAX_FRAME, PROTOCOL_VERSION, CMsg, Code, ProtocolError, decode, frame
from chat.names import MAX_NICK, MAX_ROOM, MAX_TEXT, MAX_TOPIC, refusal
from chat.limits import NAMES_PER_TOKEN, PAGE_PER_TOKEN, TEXT_PER_TOKEN
from chat.service import MAX_PAGE, SERVER_ERROR, ChatError, IClient, Members, Page

__all__ = ["SHUTDOWN_TEXT", "ChatServerFactory", "ChatServerProtocol", "CMsgConnection"]


#: Longest ERROR text: a refusal may quote what was asked (a 16 KiB nickname...).
MAX_ERROR_TEXT = 300


@implementer(interfaces.IPushProducer, IClient)
class CMsgConnection(Connection):
    """
    One client of the native protocol, whatever carries its frames: a
    frame's body in (L{stringReceived}), calls on the chat service, frames
    out (L{framed} says how they are carried).
    """

    log = Logger()

    factory: ChatServerFactory

    render = staticmethod(attrgetter("frame"))

    def connectionMade(self) -> None:
        super().connectionMade()
        # The hot path of every broadcast: one append per recipient; the
        # event's frame (encoded once) is taken when the outbox is written.
        self.deliver = self.outbox.push  # type: ignore[method-assign,assignment]

    def refuse(self, slug: str, text: str) -> None:
        self.close_with(CMsg(Code.ERROR, close=True, error=slug, text=text))

    def send_ping(self) -> None:
        self.send(CMsg(Code.PING, text="keepalive"))

    def goodbye(self) -> None:
        self.close_with(CMsg(Code.NORMAL_MESSAGE, text=SHUTDOWN_TEXT, close=True))

    # -- IClient: what the chat service delivers ------------------------------

    def deliver(self, event: Event) -> None:
        """Replaced by the outbox's own push once connected (L{connectionMade})."""
        self.outbox.push(event)

    def reserve(self) -> Callable[[Sequence[Event]], None]:
        return self.outbox.reserve()

    def disconnect(self, error: ChatError) -> None:
        self.user = None  # the chat has forgotten this user already
        self.quit_reason = ""
        self.close_with(CMsg(Code.ERROR, close=True, error=error.slug, text=error.text))

    def framed(self, msg: CMsg) -> bytes:
        """C{msg} as this connection's wire carries it (here, one length-prefixed frame)."""
        return frame(msg)

    def send(self, msg: CMsg) -> None:
        self.outbox.push(self.framed(msg))

    def close_with(self, msg: CMsg) -> None:
        """Send a last frame, then close once it has been written."""
        self.close_with_data(self.framed(msg))

    # -- requests ----------------------------------------------------------

    def lengthLimitExceeded(self, length: int) -> None:
        self.log.info("{peer} sent an oversized frame ({length} bytes)", peer=self.peer(), length=length)
        self.quit_reason = "was disconnected: oversized frame"
        self.close_with(CMsg(
            Code.ERROR, close=True, error="frame-too-large",
            text=f"a frame holds at most {MAX_FRAME} bytes; this one announced {length}",
        ))

    def stringReceived(self, data: bytes) -> None:
        if self.closing or not self.heard():
            return
        try:
            msg = decode(data)
        except ProtocolError as e:
            self.log.info("{peer} sent a bad frame: {slug}", peer=self.peer(), slug=e.slug)
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

    def _error(self, reply_to: int, slug: str, text: str) -> None:
        if len(text) > MAX_ERROR_TEXT:  # it may quote the request: keep the frame small
            text = text[:MAX_ERROR_TEXT - 1] + "…"
        self.send(CMsg(Code.ERROR, text=text, error=slug, reply_to=reply_to))

    def _refused(self, failure: Failure, code: int) -> None:
        """A request the service failed: its ERROR, on this connection only."""
        error = refusal(failure)
        if error is not None:
            if error.slug in ("password-required", "bad-password") and self.user is None:
                self.asked_for_password()
            self._error(code, error.slug, error.text)
        else:
            self.log.failure("a request (code {code}) failed", failure, code=code)
            self._error(code, "server-error", SERVER_ERROR)

    def _waiting_for(self, code: int, d: defer.Deferred[Any]) -> None:
        self.waiting_for(d, lambda f: self._refused(f, code))

    def do_nickname(self, msg: CMsg) -> None:
        # Checking a password may take a while (and a wrong one takes long on
        # purpose): read nothing more from this client until it is answered.
        self._waiting_for(msg.code, defer.Deferred.fromCoroutine(self._take_nickname(msg)))

    async def _take_nickname(self, msg: CMsg) -> None:
        service = self.factory.service
        if self.user is None:
            user = await service.logon(msg.text, self, msg.password)
            if self.closing:  # gone while the service answered
                self.quit(user)
                return
            self.user = user
            self.log.info("{peer} logged on as {nick}", peer=self.peer(), nick=user.nick)
            self.send(CMsg(Code.SENDING_NICKNAME, text=user.nick, nick=user.nick))
            return
        old = self.user.nick
        answer = self.outbox.reserve()  # the renamer hears its answer before its rooms' announcement
        try:
            await service.rename(self.me, msg.text, msg.password)
        except BaseException:
            answer(())
            raise
        if self.user is None:
            answer(())
            return
        self.log.info("{old} is now {nick}", old=old, nick=self.user.nick)
        answer([self.framed(CMsg(Code.SENDING_NICKNAME, text=self.user.nick, nick=self.user.nick))])

    def do_join(self, msg: CMsg) -> None:
        self._waiting_for(msg.code, self.factory.service.join(self.me, msg.target_room))
        self.charge(self.factory.join_cost)

    def do_history(self, msg: CMsg) -> None:
        d = self.factory.service.history(self.me, msg.target_room, msg.before, msg.after, msg.limit or 50)

        def send(page: Page) -> None:
            for event in page.events:
                self.outbox.push(event)
            self.send(CMsg(Code.HISTORY, room=page.room, more=page.more, before=msg.before, after=msg.after))
            self.charge(len(page.events) / PAGE_PER_TOKEN)

        self._waiting_for(msg.code, d.addCallback(send))

    def do_leave(self, msg: CMsg) -> None:
        if msg.close:
            self.quit_with(msg.text)
            goodbye = CMsg(Code.LEAVING_CHAT, close=True, text="Goodbye.")
            # Let the quitter see its last lines relayed before the goodbye.
            self.hold()

            def bye(_: object) -> None:
                self.leave_chat()
                self.close_with(goodbye)

            self.factory.service.barrier().addBoth(bye)
            return
        if self.user is None:
            raise ChatError("not-logged-on", "send your nickname (code 4) first")
        self._waiting_for(msg.code, self.factory.service.leave(self.me, msg.target_room, msg.text))

    def do_chatters(self, msg: CMsg) -> None:
        d = self.factory.service.members(msg.target_room)

        def send(members: Members) -> None:
            self.send(CMsg(Code.SENDING_CHATTERS_LIST, room=members.room, names=members.names))
            self.charge(len(members.names) / NAMES_PER_TOKEN)

        self._waiting_for(msg.code, d.addCallback(send))

    def do_message(self, msg: CMsg) -> None:
        # Not held: the service keeps each sender's messages in order.
        d = self.factory.service.say(self.me, msg.target_room, msg.text, msg.color, msg.action, msg.notice)
        d.addErrback(self._refused, msg.code)
        self.in_flight(d)
        self.sent(len(msg.text))
        self.charge(len(msg.text) / TEXT_PER_TOKEN)

    def do_private(self, msg: CMsg) -> None:
        if msg.to is None:
            raise ChatError("no-target", "a private message needs 'to'")
        d = self.factory.service.private(self.me, msg.to, msg.text, msg.color, msg.action, msg.notice)
        to = msg.to

        def away(text: str | None) -> None:
            if text is not None:  # the target is away: say so, after the echo
                self.send(CMsg(Code.AWAY, nick=to, text=text))

        d.addCallbacks(away, self._refused, errbackArgs=(msg.code,))
        self.in_flight(d)
        self.sent(len(msg.text))
        self.charge(len(msg.text) / TEXT_PER_TOKEN)

    def do_away(self, msg: CMsg) -> None:
        """Mark oneself away (with text) or back (without); answered with the same code."""
        assert self.user is not None
        user = self.user
        d = self.factory.service.set_away(user, msg.text)
        self._waiting_for(msg.code, d.addCallback(lambda _: self.send(CMsg(Code.AWAY, nick=user.nick, text=msg.text.strip()))))

    def do_room_list(self, msg: CMsg) -> None:
        d = self.factory.service.room_list()

        def send(names: tuple[str, ...]) -> None:
            self.send(CMsg(Code.ROOM_LIST, names=names))
            self.charge(len(names) / NAMES_PER_TOKEN)

        self._waiting_for(msg.code, d.addCallback(send))

    def do_topic(self, msg: CMsg) -> None:
        """With text: set the topic of a room one is in; without: ask for a room's topic."""
        service = self.factory.service
        if msg.text:
            self._waiting_for(msg.code, service.set_topic(self.me, msg.target_room, msg.text))
        else:
            d = service.topic(msg.target_room)
            self._waiting_for(msg.code, d.addCallback(self.outbox.push))

    def do_info(self, msg: CMsg) -> None:
        """What this server is and allows (docs/protocol.md, code 14): asked for, as a client needs it."""
        self.send(CMsg(Code.INFO, text=self.factory.info))

    def do_register(self, msg: CMsg) -> None:
        """Register the present nickname (docs/protocol.md, code 15); the answer names the account."""
        if not msg.password:
            raise ChatError("bad-request", "registering needs the new account's 'password'")
        d = self.factory.service.register(self.me, msg.password)
        self._waiting_for(msg.code, d.addCallback(lambda name: self.send(CMsg(Code.REGISTER, text=name))))

    def do_set_password(self, msg: CMsg) -> None:
        """A new password for the account the user is logged in to (code 16), once the current one is proved."""
        if not msg.password or not msg.new_password:
            raise ChatError("bad-request", "changing a password needs 'password' (the current one) and 'new_password'")
        d = self.factory.service.change_password(self.me, msg.password, msg.new_password)
        self._waiting_for(msg.code, d.addCallback(lambda _: self.send(CMsg(Code.SET_PASSWORD))))

    def do_drop_account(self, msg: CMsg) -> None:
        """Forget the user's account (code 17), once its password is proved."""
        if not msg.password:
            raise ChatError("bad-request", "dropping an account needs its 'password'")
        account = self.me.account
        d = self.factory.service.drop_account(self.me, msg.password)
        self._waiting_for(msg.code, d.addCallback(lambda _: self.send(CMsg(Code.DROP_ACCOUNT, text=account or ""))))

    def do_ping(self, msg: CMsg) -> None:
        self.send(CMsg(Code.PONG, text=msg.text))

    def do_nothing(self, msg: CMsg) -> None:
        """Replies a client may send back (PONG, ERROR) need no answer."""

    _handlers: dict[int, Callable[[CMsgConnection, CMsg], None]] = {
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
        Code.TOPIC: do_topic,
        Code.AWAY: do_away,
        Code.INFO: do_info,
        Code.REGISTER: do_register,
        Code.SET_PASSWORD: do_set_password,
        Code.DROP_ACCOUNT: do_drop_account,
        Code.ERROR: do_nothing,
    }
    _before_logon = frozenset({Code.SENDING_NICKNAME, Code.PING, Code.PONG, Code.LEAVING_CHAT, Code.ERROR,
                               Code.INFO})


class ChatServerProtocol(CMsgConnection, Int32StringReceiver):
    """The native protocol over TCP: each frame a 4-byte length and its body (C{Int32StringReceiver})."""

    MAX_LENGTH = MAX_FRAME


class ChatServerFactory(FrontEndFactory):
    """The native front end's connections."""

    protocol = ChatServerProtocol  # type: ignore[assignment]  # Factory's protocol is typed by its generic

    #: What the backend adds to the server's code 14 answer (HISTORY, REPLAY=N, CLUSTER).
    features: tuple[str, ...] = ()

    @property
    def info(self) -> str:
        """The server's features and limits as C{NAME} and C{NAME=VALUE} tokens (docs/protocol.md, code 14)."""
        limits, accounts = self.limits, self.accounts
        tokens = [f"PROTOCOL={PROTOCOL_VERSION}", f"FRAME={MAX_FRAME}", f"NICK={MAX_NICK}", f"ROOM={MAX_ROOM}",
                  f"TEXT={MAX_TEXT}", f"TOPIC={MAX_TOPIC}", f"PAGE={MAX_PAGE}", "TOPICS", "AWAY", "NOTICES"]
        if limits.flood_rate:
            tokens.append(f"FLOOD={limits.flood_rate:g}/{limits.flood_burst}")
        if accounts is not None and accounts.active:
            tokens.append("ACCOUNTS-REQUIRED" if accounts.required else "ACCOUNTS")
            if accounts.registration_open:
                tokens.append("REGISTER")
        return " ".join([*tokens, *self.features])
