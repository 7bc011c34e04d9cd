"""
The IRC front end: standard IRC clients (irssi, WeeChat, bots) in the same
rooms as everyone else.  Rooms are channels (room C{lobby} is C{#lobby}),
nicknames are the chat's own; each IRC command becomes a call on the chat
service and each event the service delivers becomes IRC lines (Modern IRC,
modern.ircdocs.horse; RFC 2812).
"""

from __future__ import annotations

import socket
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from twisted.internet import defer, interfaces
from twisted.logger import Logger
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure
from zope.interface import implementer

from chat.event import Event
from chat.frontend import SHUTDOWN_TEXT, Connection, FrontEndFactory
from chat.ircformat import MAX_LINE, MAX_TAGS, colour_of, coloured, parse, split_text, strip_formatting
from chat.message import CMsg, Code
from chat.names import MAX_NICK, MAX_ROOM
from chat.service import SERVER_ERROR, ChatError, IClient, Members

#: Numerics (RFC 2812 and Modern IRC), by name.
RPL_WELCOME, RPL_YOURHOST, RPL_CREATED, RPL_MYINFO, RPL_ISUPPORT = "001", "002", "003", "004", "005"
RPL_UMODEIS, RPL_LUSERCLIENT, RPL_LUSERME = "221", "251", "255"
RPL_UNAWAY, RPL_NOWAWAY, RPL_ENDOFWHO, RPL_LISTSTART, RPL_LIST, RPL_LISTEND = "305", "306", "315", "321", "322", "323"
RPL_CHANNELMODEIS, RPL_NOTOPIC, RPL_WHOREPLY, RPL_NAMREPLY, RPL_ENDOFNAMES = "324", "331", "352", "353", "366"
ERR_NOSUCHNICK, ERR_NOSUCHCHANNEL, ERR_CANNOTSENDTOCHAN, ERR_TOOMANYCHANNELS = "401", "403", "404", "405"
ERR_NORECIPIENT, ERR_NOTEXTTOSEND, ERR_INPUTTOOLONG, ERR_UNKNOWNCOMMAND, ERR_NOMOTD = "411", "412", "417", "421", "422"
ERR_NONICKNAMEGIVEN, ERR_ERRONEUSNICKNAME, ERR_NICKNAMEINUSE, ERR_NOTONCHANNEL = "431", "432", "433", "442"
ERR_NOTREGISTERED, ERR_NEEDMOREPARAMS, ERR_ALREADYREGISTERED, ERR_PASSWDMISMATCH = "451", "461", "462", "464"
ERR_USERSDONTMATCH = "502"

#: Chat error slugs as numerics, for errors about a nickname, a channel, or a message.
_NICK_ERRORS = {"bad-nick": ERR_ERRONEUSNICKNAME, "nick-in-use": ERR_NICKNAMEINUSE,
                "password-required": ERR_PASSWDMISMATCH, "bad-password": ERR_PASSWDMISMATCH,
                "not-registered": ERR_PASSWDMISMATCH}
_CHANNEL_ERRORS = {"bad-room": ERR_NOSUCHCHANNEL, "no-such-room": ERR_NOSUCHCHANNEL,
                   "too-many-rooms": ERR_TOOMANYCHANNELS, "not-in-room": ERR_NOTONCHANNEL}
_MESSAGE_ERRORS = {"not-in-room": ERR_CANNOTSENDTOCHAN, "no-such-nick": ERR_NOSUCHNICK,
                   "empty-text": ERR_NOTEXTTOSEND, "text-too-long": ERR_INPUTTOOLONG}


def channel(room: str) -> str:
    """The IRC channel of a room: C{lobby} is C{#lobby} (and C{#dev} is C{##dev})."""
    return "#" + room


def room_of(target: str) -> str | None:
    """The room a channel names, or None if C{target} is not a channel."""
    return target[1:] if target.startswith("#") else None


def _mask(nick: str) -> str:
    return f"{nick}!{nick}@chat"


def render(msg: CMsg) -> list[str]:
    """
    What IRC clients are told of one chat event, as lines without CR-LF,
    the same for every IRC recipient (so computed once per event).
    """
    code, nick = msg.code, msg.nick or ""
    if code == Code.JOINING_CHAT and msg.room is not None:
        return [f":{_mask(nick)} JOIN {channel(msg.room)}"]
    if code == Code.LEAVING_CHAT and msg.room is not None:
        if msg.text == f"{nick} has left {msg.room}":
            return [f":{_mask(nick)} PART {channel(msg.room)}"]
        reason = msg.text[len(nick) + 1:] if msg.text.startswith(nick + " ") else msg.text
        return [f":{_mask(nick)} QUIT :{_one_line(reason)}"]
    if code == Code.SENDING_NICKNAME and msg.room is not None:
        return [f":{_mask(nick)} NICK :{msg.text}"]
    if code in (Code.NORMAL_MESSAGE, Code.PRIVATE_MESSAGE):
        target = msg.to if code == Code.PRIVATE_MESSAGE else channel(msg.room or "")
        if not nick:  # the server speaking to a room
            return [f":chat NOTICE {target} :{piece}" for piece in split_text(msg.text, 400)]
        prefix = f":{_mask(nick)} PRIVMSG {target} :"
        text = msg.text
        if msg.history and msg.ts:
            text = f"[{_clock(msg.ts)}] {text}"
        budget = MAX_LINE - 2 - len(prefix.encode("utf-8")) - 12  # room for colour and CTCP bytes
        lines = []
        for piece in split_text(text, budget):
            piece = coloured(piece, msg.color)
            lines.append(prefix + (f"\x01ACTION {piece}\x01" if msg.action else piece))
        return lines
    if code == Code.ERROR:
        return [f":chat NOTICE * :{_one_line(msg.text)}"]
    return []


def _clock(ts_ms: int) -> str:
    return time.strftime("%H:%M", time.gmtime(ts_ms / 1000))


def _one_line(text: str) -> str:
    return text.replace("\r", " ").replace("\n", " ")


@implementer(interfaces.IPushProducer, IClient)
class IRCServerProtocol(Connection, LineReceiver):
    """One IRC client."""

    delimiter = b"\n"  # CR-LF, or a bare LF as some clients send
    MAX_LENGTH = MAX_TAGS + MAX_LINE
    log = Logger()

    factory: IRCFactory
    _recent: deque[str] | None = None
    nick: str | None = None
    username: str | None = None
    password: str | None = None
    negotiating = False
    registering = False

    # -- Connection ---------------------------------------------------------------

    def refuse(self, slug: str, text: str) -> None:
        self.close_with(f"ERROR :{text} ({slug})")

    def send_ping(self) -> None:
        self.line(f"PING :{self.factory.server_name}")

    def goodbye(self) -> None:
        self.close_with(f"ERROR :{SHUTDOWN_TEXT}")

    def close_with(self, line: str) -> None:
        self.close_with_data((line + "\r\n").encode("utf-8"))

    # -- IClient ------------------------------------------------------------------------

    def deliver(self, event: Event) -> None:
        msg = event.msg
        if msg.code == Code.SENDING_CHATTERS_LIST:
            self._names(Members(msg.room or "", msg.names or ()))
            return
        if msg.code == Code.HISTORY:
            return  # the end of a join's replay: nothing to show
        if msg.code in (Code.NORMAL_MESSAGE, Code.PRIVATE_MESSAGE) and not msg.history and self.user is not None \
                and msg.nick == self.user.nick:
            return  # IRC clients show their own lines themselves
        lines = event.rendered("irc", render)
        if msg.code in (Code.LEAVING_CHAT, Code.SENDING_NICKNAME) and lines and " PART " not in lines[0]:
            # A quit or a rename is told once per shared room: IRC shows it once.
            if self._seen(lines[0]):
                return
        for text in lines:
            self.line(text)

    def _seen(self, line: str) -> bool:
        recent = self._recent
        if recent is None:
            recent = self._recent = deque(maxlen=8)
        if line in recent:
            return True
        recent.append(line)
        return False

    def reserve(self) -> Callable[[Sequence[Event]], None]:
        fill = self.outbox.reserve()

        def filled(events: Sequence[Event]) -> None:
            data = [(line + "\r\n").encode("utf-8") for e in events if e.msg.code != Code.HISTORY
                    for line in e.rendered("irc", render)]
            fill(data)

        return filled

    def disconnect(self, error: ChatError) -> None:
        self.user = None
        self.quit_reason = ""
        self.close_with(f"ERROR :{error.text}")

    # -- output ---------------------------------------------------------------------------

    def line(self, text: str) -> None:
        self.outbox.push((text + "\r\n").encode("utf-8"))

    def reply(self, numeric: str, *params: str) -> None:
        """A numeric to this client: its nickname (or *) first, the last parameter as trailing."""
        *middle, last = params
        head = " ".join([f":{self.factory.server_name}", numeric, self.nick or "*", *middle])
        self.line(f"{head} :{last}")

    # -- input --------------------------------------------------------------------------------

    def lineLengthExceeded(self, line: bytes) -> None:
        self.quit_reason = "was disconnected: line too long"
        self.close_with(f"ERROR :a line holds at most {self.MAX_LENGTH} bytes")

    def lineReceived(self, data: bytes) -> None:
        if self.closing:
            return
        data = data.rstrip(b"\r")
        if not data or not self.heard():
            return
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            self.line(f":{self.factory.server_name} FAIL * INVALID_UTF8 :that line was not UTF-8; it was ignored")
            return
        line = parse(text)
        if line is None:
            return
        body = text.partition(" ")[2] if text.startswith("@") else text
        if len(body.encode("utf-8")) > MAX_LINE - 2:
            self.reply(ERR_INPUTTOOLONG, "Input line was too long")
            return
        handler = getattr(self, f"irc_{line.command}", None)
        if handler is None:
            self.reply(ERR_UNKNOWNCOMMAND, line.command, "Unknown command")
            return
        if self.user is None and line.command not in self._before_registration:
            self.reply(ERR_NOTREGISTERED, "You have not registered")
            return
        handler(line.params)

    _before_registration = frozenset({"CAP", "PASS", "NICK", "USER", "PING", "PONG", "QUIT"})

    def _need(self, params: list[str], n: int, command: str) -> bool:
        if len(params) < n or not all(params[:n]):
            self.reply(ERR_NEEDMOREPARAMS, command, "Not enough parameters")
            return False
        return True

    def _failed(self, failure: Failure, errors: dict[str, str], *about: str) -> None:
        """A refused request, as the numeric IRC clients know (a NOTICE for the rest)."""
        if failure.check(ChatError):
            numeric = errors.get(failure.value.slug)
            if numeric is not None:
                self.reply(numeric, *about, failure.value.text)
            else:
                self.line(f":{self.factory.server_name} NOTICE {self.nick or '*'} :{failure.value.text}")
        else:
            self.log.failure("an IRC request failed", failure)
            self.line(f":{self.factory.server_name} NOTICE {self.nick or '*'} :{SERVER_ERROR}")

    # -- registration -------------------------------------------------------------------

    def irc_CAP(self, params: list[str]) -> None:
        sub = params[0].upper() if params else ""
        if sub == "LS":
            if self.user is None:
                self.negotiating = True
            self.line(f":{self.factory.server_name} CAP {self.nick or '*'} LS :")
        elif sub == "LIST":
            self.line(f":{self.factory.server_name} CAP {self.nick or '*'} LIST :")
        elif sub == "REQ":
            self.line(f":{self.factory.server_name} CAP {self.nick or '*'} NAK :{params[1] if len(params) > 1 else ''}")
        elif sub == "END":
            self.negotiating = False
            self._register()
        else:
            self.reply("410", sub or "*", "Invalid CAP command")

    def irc_PASS(self, params: list[str]) -> None:
        if self.user is not None:
            self.reply(ERR_ALREADYREGISTERED, "You may not reregister")
        elif self._need(params, 1, "PASS"):
            self.password = params[0]

    def irc_USER(self, params: list[str]) -> None:
        if self.user is not None:
            self.reply(ERR_ALREADYREGISTERED, "You may not reregister")
        elif self._need(params, 4, "USER"):
            self.username = params[0]
            self._register()

    def irc_NICK(self, params: list[str]) -> None:
        if not params or not params[0]:
            self.reply(ERR_NONICKNAMEGIVEN, "No nickname given")
            return
        nick = params[0]
        if self.user is None:
            self.nick = nick
            self._register()
            return
        old = self.user.nick
        d = self.factory.service.rename(self.user, nick)

        def renamed(_: object) -> None:
            if self.user is not None and self.user.nick != old:
                self.nick = self.user.nick
                told = f":{_mask(old)} NICK :{self.user.nick}"
                if not self._seen(told):
                    self.line(told)

        d.addCallback(renamed)
        self.waiting_for(d, lambda f: self._failed(f, _NICK_ERRORS, nick))

    def _register(self) -> None:
        if self.user is not None or self.registering or self.negotiating or not (self.nick and self.username):
            return
        self.registering = True
        d = defer.Deferred.fromCoroutine(self._logon(self.nick))

        def refused(f: Failure) -> None:
            self._failed(f, _NICK_ERRORS, self.nick or "*")

        d.addBoth(lambda r: (setattr(self, "registering", False), r)[1])
        self.waiting_for(d, refused)

    async def _logon(self, nick: str) -> None:
        accounts = self.factory.accounts
        if accounts is not None and accounts.active:
            try:
                await accounts.check(nick, self.password)
            except ChatError:
                raise
            except Exception as e:
                self.log.failure("checking the password of {nick}", nick=nick)
                raise ChatError("accounts-unavailable", "accounts cannot be checked now; try again later") from e
        if self.closing:
            return
        user = await self.factory.service.logon(nick, self)
        if self.closing:
            self.quit(user)
            return
        self.user, self.nick = user, user.nick
        self.log.info("{peer} logged on as {nick} (IRC)", peer=self.peer(), nick=user.nick)
        self._welcome()

    def _welcome(self) -> None:
        server, network = self.factory.server_name, self.factory.network
        self.reply(RPL_WELCOME, f"Welcome to the {network} chat, {self.nick}")
        self.reply(RPL_YOURHOST, f"Your host is {server}, running chat")
        self.reply(RPL_CREATED, "This server speaks the chat's rooms as channels")
        self.line(f":{server} {RPL_MYINFO} {self.nick} {server} chat i n")
        self.reply(RPL_ISUPPORT, "CASEMAPPING=rfc8265", "CHANTYPES=#", f"CHANNELLEN={MAX_ROOM + 1}",
                   f"NICKLEN={MAX_NICK}", f"NETWORK={network}", "PREFIX=", "CHANMODES=,,,",
                   "UTF8ONLY", "are supported by this server")
        self.irc_LUSERS([])
        self.reply(ERR_NOMOTD, "MOTD File is missing")

    # -- keepalive and leaving ------------------------------------------------------------

    def irc_PING(self, params: list[str]) -> None:
        if self._need(params, 1, "PING"):
            self.line(f":{self.factory.server_name} PONG {self.factory.server_name} :{params[0]}")

    def irc_PONG(self, params: list[str]) -> None:
        """Any line counts as a sign of life (L{heard})."""

    def irc_QUIT(self, params: list[str]) -> None:
        self.quit_with(params[0] if params else "")
        self.hold()
        self.factory.service.barrier().addBoth(lambda _: self.close_with("ERROR :Closing link (quit)"))

    # -- channels -------------------------------------------------------------------------

    def irc_JOIN(self, params: list[str]) -> None:
        if not self._need(params, 1, "JOIN"):
            return
        for target in params[0].split(","):  # keys, if any, are ignored
            room = room_of(target)
            if room is None:
                self.reply(ERR_NOSUCHCHANNEL, target, "No such channel")
                continue
            d = self.factory.service.join(self.user, room)
            self.waiting_for(d, lambda f, target=target: None if f.check(ChatError) and f.value.slug == "already-in-room"
                             else self._failed(f, _CHANNEL_ERRORS, target))

    def irc_PART(self, params: list[str]) -> None:
        if not self._need(params, 1, "PART"):
            return
        for target in params[0].split(","):
            room = room_of(target)
            if room is None:
                self.reply(ERR_NOSUCHCHANNEL, target, "No such channel")
                continue
            d = self.factory.service.leave(self.user, room)
            self.waiting_for(d, lambda f, target=target: self._failed(f, _CHANNEL_ERRORS, target))

    def _names(self, members: Members) -> None:
        name = channel(members.room)
        names = list(members.names)
        while names:  # as many names as fit in a line
            batch: list[str] = []
            size = 0
            while names and size + len(names[0].encode("utf-8")) + 1 < 400:
                size += len(names[0].encode("utf-8")) + 1
                batch.append(names.pop(0))
            if not batch:
                batch.append(names.pop(0))
            self.reply(RPL_NAMREPLY, "=", name, " ".join(batch))
        self.reply(RPL_ENDOFNAMES, name, "End of /NAMES list")

    def irc_NAMES(self, params: list[str]) -> None:
        if not params:
            self.reply(RPL_ENDOFNAMES, "*", "End of /NAMES list")
            return
        for target in params[0].split(","):
            room = room_of(target)
            if room is None:
                self.reply(RPL_ENDOFNAMES, target, "End of /NAMES list")
                continue
            d = self.factory.service.members(room)
            d.addCallback(self._names)
            self.waiting_for(d, lambda f, target=target: self.reply(RPL_ENDOFNAMES, target, "End of /NAMES list"))

    def irc_WHO(self, params: list[str]) -> None:
        target = params[0] if params else "*"
        room = room_of(target)
        if room is None:
            self.reply(RPL_ENDOFWHO, target, "End of WHO list")
            return
        server = self.factory.server_name

        def who(members: Members) -> None:
            for nick in members.names:
                self.reply(RPL_WHOREPLY, channel(members.room), nick, "chat", server, nick, "H", f"0 {nick}")
            self.reply(RPL_ENDOFWHO, target, "End of WHO list")

        d = self.factory.service.members(room).addCallback(who)
        self.waiting_for(d, lambda f: self.reply(RPL_ENDOFWHO, target, "End of WHO list"))

    def irc_LIST(self, params: list[str]) -> None:
        async def listing() -> None:
            rooms = await self.factory.service.room_list()
            self.reply(RPL_LISTSTART, "Channel", "Users  Name")
            for room in rooms:
                try:
                    members = await self.factory.service.members(room)
                except ChatError:
                    continue  # emptied meanwhile
                self.reply(RPL_LIST, channel(members.room), str(len(members.names)), "")
            self.reply(RPL_LISTEND, "End of /LIST")

        self.waiting_for(defer.Deferred.fromCoroutine(listing()), lambda f: self._failed(f, {}))

    def irc_TOPIC(self, params: list[str]) -> None:
        if self._need(params, 1, "TOPIC"):
            self.reply(RPL_NOTOPIC, params[0], "No topic is set")

    def irc_MODE(self, params: list[str]) -> None:
        if not self._need(params, 1, "MODE"):
            return
        target = params[0]
        if room_of(target) is not None:
            self.reply(RPL_CHANNELMODEIS, target, "+")
        elif self.user is not None and target.casefold() == self.user.nick.casefold():
            self.reply(RPL_UMODEIS, "+")
        else:
            self.reply(ERR_USERSDONTMATCH, "Cannot change mode for other users")

    # -- messages -------------------------------------------------------------------------

    def irc_PRIVMSG(self, params: list[str], notice: bool = False) -> None:
        command = "NOTICE" if notice else "PRIVMSG"
        if not params:
            if not notice:
                self.reply(ERR_NORECIPIENT, f"No recipient given ({command})")
            return
        if len(params) < 2 or not params[1]:
            if not notice:
                self.reply(ERR_NOTEXTTOSEND, "No text to send")
            return
        text, action = params[1], False
        if text.startswith("\x01"):
            body = text.strip("\x01")
            if not body.startswith("ACTION "):
                return  # other CTCP requests reach nobody (native clients would see control bytes)
            text, action = body[len("ACTION "):], True
        color = colour_of(text)
        text = strip_formatting(text)
        service = self.factory.service
        for target in params[0].split(","):
            room = room_of(target)
            if room is not None:
                d = service.say(self.user, room, text, color, action)
            else:
                d = service.private(self.user, target, text, color, action)
            if notice:  # a NOTICE is never answered automatically (RFC 2812)
                d.addErrback(lambda f: None if f.check(ChatError) else self._failed(f, {}))
            else:
                d.addErrback(self._failed, _MESSAGE_ERRORS, target)

    def irc_NOTICE(self, params: list[str]) -> None:
        self.irc_PRIVMSG(params, notice=True)

    # -- about users and the server -----------------------------------------------------

    def irc_AWAY(self, params: list[str]) -> None:
        if params and params[0]:
            self.reply(RPL_NOWAWAY, "You have been marked as being away")
        else:
            self.reply(RPL_UNAWAY, "You are no longer marked as being away")

    def irc_LUSERS(self, params: list[str]) -> None:
        n = len(self.factory.connections)
        self.reply(RPL_LUSERCLIENT, f"There are {n} users on this server's IRC port")
        self.reply(RPL_LUSERME, f"I have {n} clients and 0 servers")

    def irc_MOTD(self, params: list[str]) -> None:
        self.reply(ERR_NOMOTD, "MOTD File is missing")


class IRCFactory(FrontEndFactory):
    """The IRC front end's connections."""

    protocol = IRCServerProtocol

    def __init__(self, *args: Any, server_name: str | None = None, network: str = "chat", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.server_name = server_name or socket.gethostname()
        self.network = network
