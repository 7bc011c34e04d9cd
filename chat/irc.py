"""
The IRC front end: standard IRC clients (irssi, WeeChat, bots) in the same
rooms as everyone else.  Rooms are channels (room C{lobby} is C{#lobby}),
nicknames are the chat's own; each IRC command becomes a call on the chat
service and each event the service delivers becomes IRC lines (Modern IRC,
modern.ircdocs.horse; RFC 2812).
"""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

from twisted.internet import defer, interfaces
from twisted.logger import Logger
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure
from zope.interface import implementer

from chat.core.events import (Event, Joined, Left, MemberList, Private, Problem, Quit, Renamed, ReplayEnd,
                              RoomNotice, Said, TopicIs, TopicSet, What)
from chat.frontend import SHUTDOWN_TEXT, Connection, FrontEndFactory
from chat.ircformat import MAX_LINE, MAX_TAGS, colour_of, coloured, parse, split_text, strip_formatting
from chat.limits import NAMES_PER_TOKEN, PAGE_PER_TOKEN, TEXT_PER_TOKEN
from chat.names import MAX_NICK, MAX_ROOM, fold
from chat.service import MAX_LOOKUP, MAX_PAGE, SERVER_ERROR, ChatError, IClient, Members, Page, Presence

#: Numerics (RFC 2812 and Modern IRC), by name.
RPL_WELCOME, RPL_YOURHOST, RPL_CREATED, RPL_MYINFO, RPL_ISUPPORT = "001", "002", "003", "004", "005"
RPL_UMODEIS, RPL_LUSERCLIENT, RPL_LUSERME = "221", "251", "255"
RPL_AWAY, RPL_UNAWAY, RPL_NOWAWAY, RPL_ENDOFWHO, RPL_LISTSTART, RPL_LIST, RPL_LISTEND = "301", "305", "306", "315", "321", "322", "323"
RPL_CHANNELMODEIS, RPL_NOTOPIC, RPL_WHOREPLY, RPL_NAMREPLY, RPL_ENDOFNAMES = "324", "331", "352", "353", "366"
RPL_TOPIC, RPL_TOPICWHOTIME = "332", "333"
RPL_USERHOST, RPL_ISON, RPL_WHOISUSER, RPL_WHOISSERVER, RPL_ENDOFWHOIS = "302", "303", "311", "312", "318"
ERR_NOSUCHNICK, ERR_NOSUCHCHANNEL, ERR_CANNOTSENDTOCHAN, ERR_TOOMANYCHANNELS = "401", "403", "404", "405"
ERR_NORECIPIENT, ERR_NOTEXTTOSEND, ERR_INPUTTOOLONG, ERR_UNKNOWNCOMMAND, ERR_NOMOTD = "411", "412", "417", "421", "422"
ERR_NONICKNAMEGIVEN, ERR_ERRONEUSNICKNAME, ERR_NICKNAMEINUSE, ERR_NOTONCHANNEL = "431", "432", "433", "442"
ERR_NOTREGISTERED, ERR_NEEDMOREPARAMS, ERR_ALREADYREGISTERED, ERR_PASSWDMISMATCH = "451", "461", "462", "464"
ERR_UNKNOWNMODE, RPL_ENDOFBANLIST, ERR_UMODEUNKNOWNFLAG, ERR_USERSDONTMATCH = "472", "368", "501", "502"

#: Targets one command may name (advertised as ISUPPORT TARGMAX); each costs flood control what a line would.
TARGMAX = {"PRIVMSG": 4, "NOTICE": 4, "JOIN": 10, "PART": 10, "NAMES": 10}
ERR_TOOMANYTARGETS = "407"

#: Bytes of an AUTHENTICATE piece (IRCv3 sasl): a longer answer comes in several.
SASL_CHUNK = 400

#: Bytes of tags a client may send (IRCv3 message-tags), without the @ and the space.
MAX_CLIENT_TAGS = 4094

#: Chat error slugs as numerics, for errors about a nickname, a channel, or a message.
_NICK_ERRORS = {"bad-nick": ERR_ERRONEUSNICKNAME, "nick-in-use": ERR_NICKNAMEINUSE,
                "password-required": ERR_PASSWDMISMATCH, "bad-password": ERR_PASSWDMISMATCH,
                "not-registered": ERR_PASSWDMISMATCH}
#: A registered nickname refused to a rename: "433 <client> <nick> :<why>" (as Ergo answers), not a 464.
_RENAME_ERRORS = {**_NICK_ERRORS, "password-required": ERR_NICKNAMEINUSE, "bad-password": ERR_NICKNAMEINUSE,
                  "account-required": ERR_NICKNAMEINUSE, "try-later": ERR_NICKNAMEINUSE}
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


def irc_nick(nick: str) -> str:
    """
    A chat nickname as IRC shows it: IRC takes a name with a dot for a
    server's, so C{a.b} is C{a|b} (no chat nickname holds C{|}).
    """
    return nick.replace(".", "|")


def chat_nick(nick: str) -> str:
    """The chat nickname an IRC user means (the inverse of L{irc_nick})."""
    return nick.replace("|", ".")


def _mask(nick: str) -> str:
    nick = irc_nick(nick)
    return f"{nick}!{nick}@chat"


def render(what: What, stamp_history: bool = True) -> list[str]:
    """
    What IRC clients are told of one chat event, as lines without CR-LF and
    without tags, the same for every IRC recipient (so computed once per
    event).  A history line is stamped with its time unless the client
    gets it as a tag (C{server-time}).
    """
    if isinstance(what, (Said, Private)):
        return _said(what, stamp_history)
    if isinstance(what, Joined):
        return [f":{_mask(what.nick)} JOIN {channel(what.room)}"]
    if isinstance(what, Left):
        part = f":{_mask(what.nick)} PART {channel(what.room)}"
        return [f"{part} :{_one_line(what.reason)}" if what.reason else part]
    if isinstance(what, Quit):
        return [f":{_mask(what.nick)} QUIT :{_one_line(what.why)}"]
    if isinstance(what, Renamed):
        return [f":{_mask(what.old)} NICK :{irc_nick(what.new)}"]
    if isinstance(what, TopicSet):
        return [f":{_mask(what.nick)} TOPIC {channel(what.room)} :{what.text}"]
    if isinstance(what, RoomNotice):
        return [f":chat NOTICE {channel(what.room)} :{piece}" for piece in split_text(what.text, 400)]
    if isinstance(what, Problem):
        return [f":chat NOTICE * :{_one_line(what.text)}"]
    return []  # a member list, a topic, a replay's end: answered as numerics, or nothing to show


def _said(line: Said | Private, stamp_history: bool) -> list[str]:
    target = irc_nick(line.to) if isinstance(line, Private) else channel(line.room)
    prefix = f":{_mask(line.nick)} {'NOTICE' if line.notice else 'PRIVMSG'} {target} :"
    text = line.text
    if line.history and stamp_history:
        text = f"[{_clock(line.ts)}] {text}"
    budget = MAX_LINE - 2 - len(prefix.encode("utf-8")) - 12  # room for colour and CTCP bytes
    lines = []
    for piece in split_text(text, budget):
        piece = coloured(piece, line.color)
        lines.append(prefix + (f"\x01ACTION {piece}\x01" if line.action else piece))
    return lines


def iso_time(ts_ms: int) -> str:
    """IRCv3 server-time: UTC, milliseconds."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts_ms // 1000)) + f".{ts_ms % 1000:03d}Z"


def with_tag(line: str, tag: str) -> str:
    """C{line} with one more message tag."""
    return f"@{tag};{line[1:]}" if line.startswith("@") else f"@{tag} {line}"


def tagged(what: What, lines: list[str], server_time: bool, msgid: bool) -> list[str]:
    """The lines of an event with the tags a client asked for (the same for every such client)."""
    tags = []
    ts = getattr(what, "ts", None)
    if server_time and ts:
        tags.append(f"time={iso_time(ts)}")
    if msgid and isinstance(what, Said):
        tags.append(f"msgid={message_id(what.id, what.room)}")
    if not tags:
        return lines
    prefix = "@" + ";".join(tags) + " "
    return [prefix + line for line in lines]


def message_id(n: int, room: str) -> str:
    """
    An IRCv3 msgid: unique in the whole chat, as the spec asks, though a
    message's id is unique only in its room.
    """
    return f"{n}-{fold(room)}"


def id_of(msgid: str, room: str) -> int:
    """
    The room's message id in an IRCv3 msgid (L{message_id}) of a message of
    C{room}; a bare number is taken too.  ValueError for another room's.
    """
    number, dash, of = msgid.partition("-")
    if dash and of != fold(room):
        raise ValueError(f"{msgid} is not a message of {room}")
    return int(number)


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
    nick: str | None = None
    username: str | None = None
    password: str | None = None
    negotiating = False
    registering = False
    caps: frozenset[str] = frozenset()
    sasl_account: str | None = None
    _sasl_mechanism: str | None = None
    _sasl_data = ""
    _batches = 0
    channels: set[str] | None = None  # folded rooms this client is in, as it was told
    _capture: list[bytes] | None = None

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

    def _lines(self, event: Event) -> list[str]:
        """The event as this client negotiated to see it (rendered once per kind of client)."""
        caps = self.caps
        server_time, msgid = "server-time" in caps, "message-tags" in caps
        if not (server_time or msgid):
            return event.rendered("irc", render)
        return event.rendered(f"irc/{server_time:d}{msgid:d}",
                              lambda m: tagged(m, render(m, not server_time), server_time, msgid))

    def _track(self, what: Joined | Left) -> None:
        """The channels this client is in, from what it is told (JOIN 0 parts them all)."""
        if self.user is None or what.nick != self.user.nick:
            return
        if self.channels is None:
            self.channels = set()
        if isinstance(what, Joined):
            self.channels.add(fold(what.room))
        else:
            self.channels.discard(fold(what.room))

    def _told_once(self, what: Quit | Renamed) -> bool:
        """
        Whether this room's copy of a quit or a rename is the one to show:
        each room it was in is told, and IRC shows it once, in the first of
        them this client shares.
        """
        mine = self.channels
        if not mine or not what.rooms:
            return True
        here = fold(what.room)
        for room in what.rooms:
            key = fold(room)
            if key in mine:
                return key == here
        return True

    def _wire(self, event: Event) -> bytes:
        """The event's lines as bytes, CR-LF included: encoded once for every client like this one."""
        caps = self.caps
        kind = f"irc-wire/{'server-time' in caps:d}{'message-tags' in caps:d}"
        return event.rendered(kind, lambda _: "".join(line + "\r\n" for line in self._lines(event)).encode("utf-8"))

    def deliver(self, event: Event) -> None:
        what = event.what
        if type(what) is Said or type(what) is Private:  # the hot path
            if what.history or self.user is None or what.nick != self.user.nick or "echo-message" in self.caps:
                self.outbox.push(self._wire(event))
            # else: IRC clients show their own lines themselves, unless they asked for the echo
            return
        if isinstance(what, (Joined, Left)):
            self._track(what)
        elif isinstance(what, MemberList):
            self._names(Members(what.room, what.names))
            return
        elif isinstance(what, TopicIs):
            self._topic_is(what)  # the topic as it stands, on joining
            return
        elif isinstance(what, (Quit, Renamed)) and not self._told_once(what):
            return
        for text in self._lines(event):
            self.line(text)

    def reserve(self) -> Callable[[Sequence[Event]], None]:
        fill = self.outbox.reserve()

        def filled(events: Sequence[Event]) -> None:
            fill([(line + "\r\n").encode("utf-8") for line in self._history_lines(events)])

        return filled

    def _history_lines(self, events: Sequence[Event], room: str | None = None) -> list[str]:
        """A history replay or page: a C{chathistory} batch where the client takes batches."""
        lines = [line for e in events for line in self._lines(e)]
        room = room or next((e.what.room for e in events if isinstance(e.what, (Said, ReplayEnd))), None)
        if "batch" not in self.caps or room is None:
            return lines
        self._batches += 1
        ref = f"h{self._batches}"
        return [f":{self.factory.server_name} BATCH +{ref} chathistory {channel(room)}",
                *(with_tag(line, f"batch={ref}") for line in lines),
                f":{self.factory.server_name} BATCH -{ref}"]

    def disconnect(self, error: ChatError) -> None:
        self.user = None
        self.quit_reason = ""
        self.close_with(f"ERROR :{error.text}")

    # -- output ---------------------------------------------------------------------------

    def line(self, text: str) -> None:
        data = (text + "\r\n").encode("utf-8")
        capture = self._capture
        if capture is not None:  # an answer that keeps its request's place (L{_in_order})
            capture.append(data)
        else:
            self.outbox.push(data)

    @property
    def target(self) -> str:
        """Whom numerics and server notices address: the nickname, or C{*} until it is accepted."""
        return self.nick if self.user is not None and self.nick else "*"

    def reply(self, numeric: str, *params: str) -> None:
        """A numeric to this client: its nickname (or *) first, the last parameter as trailing."""
        *middle, last = params
        head = " ".join([f":{self.factory.server_name}", numeric, self.target, *middle])
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
        tags, _, body = text.partition(" ") if text.startswith("@") else ("", "", text)
        if len(body.encode("utf-8")) > MAX_LINE - 2 or len(tags.encode("utf-8")) > MAX_CLIENT_TAGS + 1:
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

    _before_registration = frozenset({"CAP", "AUTHENTICATE", "PASS", "NICK", "USER", "PING", "PONG", "QUIT"})

    def _need(self, params: list[str], n: int, command: str) -> bool:
        if len(params) < n or not all(params[:n]):
            self.reply(ERR_NEEDMOREPARAMS, command, "Not enough parameters")
            return False
        return True

    def _failed(self, failure: Failure, errors: dict[str, str], *about: str) -> None:
        """A refused request, as the numeric IRC clients know (a NOTICE for the rest)."""
        if failure.check(ChatError):
            numeric = errors.get(failure.value.slug)
            if numeric == ERR_PASSWDMISMATCH:
                self.reply(numeric, failure.value.text)  # "464 <client> :<text>": about no one else
            elif numeric is not None:
                self.reply(numeric, *about, failure.value.text)
            else:
                self.line(f":{self.factory.server_name} NOTICE {self.target} :{failure.value.text}")
        else:
            self.log.failure("an IRC request failed", failure)
            self.line(f":{self.factory.server_name} NOTICE {self.target} :{SERVER_ERROR}")

    # -- registration -------------------------------------------------------------------

    def _offered(self, version_302: bool) -> dict[str, str]:
        """The capabilities this server offers, with their values (sasl only where accounts are on)."""
        offered = {"server-time": "", "message-tags": "", "echo-message": "", "batch": "", "draft/chathistory": ""}
        accounts = self.factory.accounts
        if accounts is not None and accounts.active:
            offered["sasl"] = "PLAIN" if version_302 else ""
        return offered

    def irc_CAP(self, params: list[str]) -> None:
        sub = params[0].upper() if params else ""
        me = f":{self.factory.server_name} CAP {self.target}"
        if sub == "LS":
            if self.user is None:
                self.negotiating = True
            offered = self._offered(len(params) > 1 and params[1].isdigit() and int(params[1]) >= 302)
            self.line(f"{me} LS :" + " ".join(f"{k}={v}" if v else k for k, v in offered.items()))
        elif sub == "LIST":
            self.line(f"{me} LIST :" + " ".join(sorted(self.caps)))
        elif sub == "REQ":
            if self.user is None:
                self.negotiating = True
            asked = params[1].split() if len(params) > 1 else []
            offered = self._offered(True)
            if asked and all(c.lstrip("-") in offered for c in asked):
                caps = set(self.caps)
                for c in asked:
                    caps.discard(c[1:]) if c.startswith("-") else caps.add(c)
                self.caps = frozenset(caps)
                self.line(f"{me} ACK :{' '.join(asked)}")
            else:
                self.line(f"{me} NAK :{' '.join(asked)}")
        elif sub == "END":
            self.negotiating = False
            self._register()
        else:
            self.reply("410", sub or "*", "Invalid CAP command")

    def irc_AUTHENTICATE(self, params: list[str]) -> None:
        """SASL PLAIN (IRCv3 sasl-3.1), checked against the same accounts as the native logon."""
        server = self.factory.server_name
        if self.sasl_account is not None:
            self.reply("907", "You have already authenticated using SASL")
            return
        if self.user is not None:
            self.reply(ERR_ALREADYREGISTERED, "You may not reregister")
            return
        if "sasl" not in self.caps:
            self.reply("904", "SASL authentication failed")
            return
        if not self._need(params, 1, "AUTHENTICATE"):
            return
        if params[0] == "*":
            self._sasl_mechanism, self._sasl_data = None, ""
            self.reply("906", "SASL authentication aborted")
            return
        if self._sasl_mechanism is None:
            if params[0].upper() != "PLAIN":
                self.reply("908", "PLAIN", "are available SASL mechanisms")
                self.reply("904", "SASL authentication failed")
                return
            self._sasl_mechanism = "PLAIN"
            self.line("AUTHENTICATE +")
            return
        # The answer comes in pieces of 400 bytes; a shorter piece (or "+") ends it.
        piece = "" if params[0] == "+" else params[0]
        self._sasl_data += piece
        if len(self._sasl_data) > 4 * SASL_CHUNK:
            self._sasl_mechanism, self._sasl_data = None, ""
            self.reply("905", "SASL message too long")
            return
        if len(piece) == SASL_CHUNK:
            return
        data, self._sasl_mechanism, self._sasl_data = self._sasl_data, None, ""
        try:
            identity, account, password = base64.b64decode(data, validate=True).decode("utf-8").split("\0")
        except ValueError:
            self.reply("904", "SASL authentication failed")
            return
        accounts = self.factory.accounts
        assert accounts is not None
        if not account or identity not in ("", account) or accounts.registered_name(account) is None:
            self.reply("904", "SASL authentication failed")  # only a registered nickname is an account
            return
        d = defer.Deferred.fromCoroutine(accounts.check(account, password))

        def authenticated(_: object) -> None:
            self.sasl_account, self.password = account, password
            self.line(f":{server} 900 {self.target} {_mask(self.nick or account)} {account} "
                      f":You are now logged in as {account}")
            self.reply("903", "SASL authentication successful")

        d.addCallback(authenticated)
        self.waiting_for(d, lambda f: self.reply("904", "SASL authentication failed"))

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
        if "." in nick:
            self.reply(ERR_ERRONEUSNICKNAME, nick, "an IRC nickname holds no '.' (write '|': a chat user a.b is a|b here)")
            return
        if self.user is None:
            self.nick = nick
            self._register()
            return
        if chat_nick(nick) == self.user.nick:
            return  # no change: nothing to say
        old = self.user.nick
        d = self.factory.service.rename(self.user, chat_nick(nick), self.password)

        def renamed(_: object) -> None:
            if self.user is not None and self.user.nick != old:
                self.nick = irc_nick(self.user.nick)
                if not self.channels:  # in a channel, its rooms tell the rename (L{deliver})
                    self.line(f":{_mask(old)} NICK :{self.nick}")

        d.addCallback(renamed)
        self.waiting_for(d, lambda f: self._failed(f, _RENAME_ERRORS, nick))

    def _register(self) -> None:
        if self.user is not None or self.registering or self.negotiating or not (self.nick and self.username):
            return
        self.registering = True
        d = defer.Deferred.fromCoroutine(self._logon(chat_nick(self.nick)))

        def refused(f: Failure) -> None:
            self._failed(f, _NICK_ERRORS, self.nick or "*")

        d.addBoth(lambda r: (setattr(self, "registering", False), r)[1])
        self.waiting_for(d, refused)

    async def _logon(self, nick: str) -> None:
        # The password of PASS, or of SASL: the service checks it as it does every logon's.
        user = await self.factory.service.logon(nick, self, self.password)
        if self.closing:
            self.quit(user)
            return
        self.user, self.nick = user, irc_nick(user.nick)
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
                   "UTF8ONLY", f"CHATHISTORY={MAX_PAGE}", "TARGMAX=" + ",".join(f"{k}:{v}" for k, v in TARGMAX.items()), "MSGREFTYPES=msgid", "CLIENTTAGDENY=*", "are supported by this server")
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

        def bye(_: object) -> None:
            self.leave_chat()
            self.close_with("ERROR :Closing link (quit)")

        self.factory.service.barrier().addBoth(bye)

    # -- channels -------------------------------------------------------------------------

    def irc_JOIN(self, params: list[str]) -> None:
        if not self._need(params, 1, "JOIN"):
            return
        if params[0] == "0":  # leave every channel: a PART each
            rooms = sorted(self.channels or ())
            if rooms and self.requests(len(rooms) - 1):
                leave = self.factory.service.leave
                for room in rooms:
                    self.waiting_for(leave(self.user, room, ""), lambda f, room=room: self._failed(
                        f, _CHANNEL_ERRORS, channel(room)))
            return
        # Keys, if any, are ignored; joining a channel one is in is no error in IRC.
        joined = self._each_channel(params[0], "JOIN", self.factory.service.join, ignore="already-in-room")
        self.charge(joined * self.factory.join_cost)

    def irc_PART(self, params: list[str]) -> None:
        if self._need(params, 1, "PART"):
            reason = strip_formatting(params[1]) if len(params) > 1 else ""
            leave = self.factory.service.leave
            self._each_channel(params[0], "PART", lambda user, room: leave(user, room, reason))

    def _targets(self, targets: str, command: str, key: Callable[[str], str] = fold) -> list[str]:
        """
        The targets of a comma-separated list, each once (by C{key}) and at
        most TARGMAX of them (a 407 for the rest); each one after the first
        costs flood control a line.  Empty if the client is being closed.
        """
        unique: dict[str, str] = {}
        for target in targets.split(","):
            if target:
                unique.setdefault(key(target), target)
        chosen = list(unique.values())
        limit = TARGMAX[command]
        if len(chosen) > limit:
            self.reply(ERR_TOOMANYTARGETS, chosen[limit], f"Too many targets: {command} takes at most {limit}")
            chosen = chosen[:limit]
        if len(chosen) > 1 and not self.requests(len(chosen) - 1):
            return []
        return chosen

    def _each_channel(self, targets: str, command: str, request: Callable[[Any, str], defer.Deferred[None]],
                      ignore: str | None = None) -> int:
        """C{request} (join, leave) for each channel of a comma-separated list, in order: how many were asked."""
        chosen = self._targets(targets, command)
        for target in chosen:
            room = room_of(target)
            if room is None:
                self.reply(ERR_NOSUCHCHANNEL, target, "No such channel")
                continue

            def refused(f: Failure, target: str = target) -> None:
                if not (f.check(ChatError) and f.value.slug == ignore):
                    self._failed(f, _CHANNEL_ERRORS, target)

            self.waiting_for(request(self.user, room), refused)
        return len(chosen)

    def _names(self, members: Members) -> None:
        name = channel(members.room)
        batch: list[str] = []
        size = 0
        for nick in map(irc_nick, members.names):  # as many names as fit in a line
            cost = len(nick.encode("utf-8")) + 1
            if batch and size + cost >= 400:
                self.reply(RPL_NAMREPLY, "=", name, " ".join(batch))
                batch, size = [], 0
            batch.append(nick)
            size += cost
        if batch:
            self.reply(RPL_NAMREPLY, "=", name, " ".join(batch))
        self.reply(RPL_ENDOFNAMES, name, "End of /NAMES list")

    def _names_asked(self, members: Members) -> None:
        self._names(members)
        self.charge(len(members.names) / NAMES_PER_TOKEN)

    def irc_NAMES(self, params: list[str]) -> None:
        if not params:
            self.reply(RPL_ENDOFNAMES, "*", "End of /NAMES list")
            return
        for target in self._targets(params[0], "NAMES"):
            room = room_of(target)
            if room is None:
                self.reply(RPL_ENDOFNAMES, target, "End of /NAMES list")
                continue
            d = self.factory.service.members(room)
            d.addCallback(self._names_asked)
            self.waiting_for(d, lambda f, target=target: self.reply(RPL_ENDOFNAMES, target, "End of /NAMES list"))

    def irc_WHO(self, params: list[str]) -> None:
        target = params[0] if params else "*"
        room = room_of(target)
        server = self.factory.server_name
        if room is None:
            if "*" in target or "?" in target:  # masks are not searched
                self.reply(RPL_ENDOFWHO, target, "End of WHO list")
                return

            def one(found: tuple[Presence, ...]) -> None:
                for p in found:
                    nick = irc_nick(p.nick)
                    self.reply(RPL_WHOREPLY, "*", nick, "chat", server, nick, "G" if p.away else "H", f"0 {p.nick}")
                self.reply(RPL_ENDOFWHO, target, "End of WHO list")

            self._online([target], one)
            return

        async def who() -> None:
            members = await self.factory.service.members(room)
            away: set[str] = set()
            if len(members.names) <= MAX_LOOKUP:  # here or gone: asked for rooms of ordinary size
                away = {p.nick for p in await self.factory.service.online(members.names) if p.away}
            for name in members.names:
                nick = irc_nick(name)
                here = "G" if name in away else "H"
                self.reply(RPL_WHOREPLY, channel(members.room), nick, "chat", server, nick, here, f"0 {nick}")
            self.reply(RPL_ENDOFWHO, target, "End of WHO list")

        d = defer.Deferred.fromCoroutine(who())
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
            self.charge(len(rooms) / NAMES_PER_TOKEN * 10)  # a request per room: ten times a plain list's cost

        self.waiting_for(defer.Deferred.fromCoroutine(listing()), lambda f: self._failed(f, {}))

    def _topic_is(self, topic: TopicIs) -> None:
        name = channel(topic.room)
        if not topic.text:
            self.reply(RPL_NOTOPIC, name, "No topic is set")
            return
        self.reply(RPL_TOPIC, name, topic.text)
        self.reply(RPL_TOPICWHOTIME, name, _mask(topic.nick or "chat"), str((topic.ts or 0) // 1000))

    def irc_TOPIC(self, params: list[str]) -> None:
        if not self._need(params, 1, "TOPIC"):
            return
        target = params[0]
        room = room_of(target)
        if room is None:
            self.reply(ERR_NOSUCHCHANNEL, target, "No such channel")
            return
        service = self.factory.service
        if len(params) > 1:
            d = service.set_topic(self.user, room, strip_formatting(params[1]))
        else:
            async def query() -> None:
                await service.members(room)  # for IRC, a channel nobody is in does not exist
                self._topic_is((await service.topic(room)).what)

            d = defer.Deferred.fromCoroutine(query())
        self.waiting_for(d, lambda f: self._failed(f, _CHANNEL_ERRORS, target))

    def irc_MODE(self, params: list[str]) -> None:
        if not self._need(params, 1, "MODE"):
            return
        target, change = params[0], "".join(params[1:2])
        if room_of(target) is not None:
            if not change:
                self.reply(RPL_CHANNELMODEIS, target, "+")
            elif change.lstrip("+") == "b" and len(params) < 3:  # the ban list, asked for on joining: empty
                self.reply(RPL_ENDOFBANLIST, target, "End of channel ban list")
            else:
                mode = next((c for c in change if c not in "+-"), "+")
                self.reply(ERR_UNKNOWNMODE, mode, "is not a channel mode here: rooms have no modes")
        elif self.user is not None and fold(chat_nick(target)) == self.user.key:
            if change:
                self.reply(ERR_UMODEUNKNOWNFLAG, "Unknown MODE flag: users have no modes here")
            else:
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
        for target in self._targets(params[0], command, lambda t: fold(chat_nick(t))):
            room = room_of(target)
            if room is not None:
                d = service.say(self.user, room, text, color, action, notice)
            else:
                d = service.private(self.user, chat_nick(target), text, color, action, notice)
            self._in_order(d, lambda d, target=target, room=room: self._message_answers(d, target, room, notice))
            self.in_flight(d)
            self.sent(len(text))
            self.charge(len(text) / TEXT_PER_TOKEN)

    def _message_answers(self, d: defer.Deferred[Any], target: str, room: str | None, notice: bool) -> None:
        """What a PRIVMSG is answered: a 301 for an away user, or the numeric of a refusal; a NOTICE, nothing."""
        if notice:  # a NOTICE is never answered automatically (RFC 2812)
            d.addErrback(lambda f: None if f.check(ChatError) else self._failed(f, {}))
            return
        if room is None:
            d.addCallback(self._away_reply, target)
        d.addErrback(self._failed, _MESSAGE_ERRORS, target)

    def _in_order(self, d: defer.Deferred[Any], answers: Callable[[defer.Deferred[Any]], None]) -> None:
        """
        C{answers} adds to C{d} what answers the request; its lines take the
        request's place in this client's order, however late C{d} fires, so
        replies keep command order (a PING sent after a PRIVMSG to an away
        user is answered after its 301).
        """
        if d.called:
            answers(d)
            return
        fill = self.outbox.reserve()
        captured: list[bytes] = []

        def start(result: object) -> object:
            self._capture = captured
            return result

        def end(result: object) -> object:
            self._capture = None
            fill(captured)
            return result

        d.addBoth(start)
        answers(d)
        d.addBoth(end)

    def _away_reply(self, away: str | None, target: str) -> None:
        if away is not None:
            self.reply(RPL_AWAY, target, away)

    def irc_NOTICE(self, params: list[str]) -> None:
        self.irc_PRIVMSG(params, notice=True)

    def irc_TAGMSG(self, params: list[str]) -> None:
        """A message of client-only tags alone: this server relays none (ISUPPORT C{CLIENTTAGDENY=*})."""

    # -- about users and the server -----------------------------------------------------

    def _online(self, nicks: list[str], then: Callable[[tuple[Presence, ...]], None]) -> None:
        d = self.factory.service.online([chat_nick(n) for n in nicks]).addCallback(then)
        self.waiting_for(d, lambda f: self._failed(f, {}))

    def irc_ISON(self, params: list[str]) -> None:
        asked = " ".join(params).split()
        if not asked:
            self.reply(ERR_NEEDMOREPARAMS, "ISON", "Not enough parameters")
            return
        self._online(asked, lambda found: self.reply(RPL_ISON, " ".join(irc_nick(p.nick) for p in found)))

    def irc_USERHOST(self, params: list[str]) -> None:
        if not self._need(params, 1, "USERHOST"):
            return
        def userhost(found: tuple[Presence, ...]) -> None:
            shown = (f"{irc_nick(p.nick)}={'-' if p.away else '+'}{irc_nick(p.nick)}@chat" for p in found)
            self.reply(RPL_USERHOST, " ".join(shown))

        self._online(params[:5], userhost)

    def irc_WHOIS(self, params: list[str]) -> None:
        if not params:
            self.reply(ERR_NONICKNAMEGIVEN, "No nickname given")
            return
        nick = params[-1]
        server = self.factory.server_name

        def whois(found: tuple[Presence, ...]) -> None:
            if not found:
                self.reply(ERR_NOSUCHNICK, nick, "No such nick")
                self.reply(RPL_ENDOFWHOIS, nick, "End of /WHOIS list")
                return
            shown = irc_nick(found[0].nick)
            self.reply(RPL_WHOISUSER, shown, shown, "chat", "*", found[0].nick)
            self.reply(RPL_WHOISSERVER, shown, server, "chat")
            if found[0].away is not None:
                self.reply(RPL_AWAY, shown, found[0].away)
            self.reply(RPL_ENDOFWHOIS, shown, "End of /WHOIS list")

        self._online([nick], whois)

    def irc_CHATHISTORY(self, params: list[str]) -> None:
        """IRCv3 draft chathistory: LATEST, BEFORE and AFTER, with msgid references."""
        if not self._need(params, 4, "CHATHISTORY"):
            return
        sub, target, ref, count = params[0].upper(), params[1], params[2], params[3]
        room = room_of(target)
        before = after = None
        try:
            limit = int(count)
            if sub == "LATEST" and ref != "*":
                raise ValueError(ref)
            if sub in ("BEFORE", "AFTER"):
                kind, _, value = ref.partition("=")
                if kind != "msgid":
                    raise ValueError(ref)
                number = id_of(value, room or "")
                before, after = (number, None) if sub == "BEFORE" else (None, number)
            elif sub != "LATEST":
                raise ValueError(sub)
        except ValueError:
            self.line(f":{self.factory.server_name} FAIL CHATHISTORY INVALID_PARAMS {sub} :"
                      "use LATEST * N, or BEFORE/AFTER msgid=ID N")
            return
        if room is None:
            self.line(f":{self.factory.server_name} FAIL CHATHISTORY INVALID_TARGET {sub} {target} :"
                      "history is kept for channels only")
            return

        def page(result: Page) -> None:
            for line in self._history_lines(result.events, result.room):
                self.line(line)
            self.charge(len(result.events) / PAGE_PER_TOKEN)

        d = self.factory.service.history(self.user, room, before, after, max(1, min(limit, MAX_PAGE)))
        d.addCallback(page)
        self.waiting_for(d, lambda f: self._failed(f, _CHANNEL_ERRORS, target))

    def irc_AWAY(self, params: list[str]) -> None:
        text = strip_formatting(params[0]) if params else ""
        d = self.factory.service.set_away(self.user, text)

        def marked(_: object) -> None:
            if text.strip():
                self.reply(RPL_NOWAWAY, "You have been marked as being away")
            else:
                self.reply(RPL_UNAWAY, "You are no longer marked as being away")

        self.waiting_for(d.addCallback(marked), lambda f: self._failed(f, {}))

    def irc_LUSERS(self, params: list[str]) -> None:
        n = len(self.factory.connections)
        self.reply(RPL_LUSERCLIENT, f"There are {n} users and 0 invisible on 1 servers")
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
