"""
What the chat tells its users, as typed values (Joined, Said, Quit...), and
the L{Event} that carries one to its recipients, rendered once per form.

The values are the chat's meaning, not any wire's text: the native form
(the CMsg of docs/protocol.md, with its English "alice has joined lobby")
is derived from them here, once per event; IRC renders them as commands
(L{chat.irc}); the store keeps them as versioned records (L{record_body},
L{from_record}).  Nobody parses English back out of a message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar, TypeVar, Union

import attrs
import orjson

from chat.message import MAX_FRAME, CMsg, Code, ProtocolError, decode, frame, framed, encode

_R = TypeVar("_R")

#: The version of the stored record (L{record_body}).  Version 0 was the native CMsg's JSON.
RECORD_VERSION = 1


def _strings(names: Iterable[str]) -> tuple[str, ...]:
    """A list of names as the tuple an event holds."""
    return tuple(names)


@attrs.frozen
class Joined:
    """C{nick} joined C{room}; C{account}: the account it is logged in to, if any; C{realname}: its client's."""

    kind: ClassVar[str] = "joined"
    room: str
    nick: str
    account: str | None = None
    realname: str = ""

    def native(self) -> CMsg:
        return CMsg(Code.JOINING_CHAT, text=f"{self.nick} has joined {self.room}", nick=self.nick, room=self.room)


@attrs.frozen
class Left:
    """C{nick} left C{room}, with its C{reason} (maybe "")."""

    kind: ClassVar[str] = "left"
    room: str
    nick: str
    reason: str = ""

    def native(self) -> CMsg:
        text = f"{self.nick} has left {self.room}"
        return CMsg(Code.LEAVING_CHAT, text=f"{text}: {self.reason}" if self.reason else text,
                    nick=self.nick, room=self.room)


@attrs.frozen
class Quit:
    """
    C{nick} left the chat; C{room} is told, one of C{rooms} (every room the
    user was in, so that a front end that shows a quit once, not per room,
    knows which one to show).  C{why} is what the room is told after the
    nickname ("has quit: bye", "has lost the connection").
    """

    kind: ClassVar[str] = "quit"
    room: str
    nick: str
    why: str
    rooms: tuple[str, ...] = attrs.field(default=(), converter=_strings)

    def native(self) -> CMsg:
        return CMsg(Code.LEAVING_CHAT, text=f"{self.nick} {self.why}", nick=self.nick, room=self.room)


@attrs.frozen
class Renamed:
    """C{old} is now known as C{new}; told to C{room}, one of C{rooms} (as for L{Quit})."""

    kind: ClassVar[str] = "renamed"
    room: str
    old: str
    new: str
    rooms: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    #: The account the user is logged in to under the new nickname, and was under the old one.
    account: str | None = None
    was: str | None = None

    def native(self) -> CMsg:
        return CMsg(Code.SENDING_NICKNAME, text=self.new, nick=self.old, room=self.room)


@attrs.frozen
class Said:
    """A line said in a room: the hot path.  C{history}: it comes from the store (a replay, a page)."""

    kind: ClassVar[str] = "said"
    room: str
    nick: str
    text: str
    id: int
    ts: int
    color: str = "default"
    action: bool = False
    notice: bool = False
    history: bool = False
    account: str | None = None  # the sender's (IRCv3 account-tag); not in the native frame

    def native(self) -> CMsg:
        return CMsg(Code.NORMAL_MESSAGE, text=self.text, nick=self.nick, room=self.room, color=self.color,
                    id=self.id, ts=self.ts, action=self.action, notice=self.notice, history=self.history)


@attrs.frozen
class Private:
    """A private line from C{nick} to C{to}, given to both."""

    kind: ClassVar[str] = "private"
    nick: str
    to: str
    text: str
    ts: int
    color: str = "default"
    action: bool = False
    notice: bool = False
    history: bool = False
    account: str | None = None  # the sender's (IRCv3 account-tag); not in the native frame

    def native(self) -> CMsg:
        return CMsg(Code.PRIVATE_MESSAGE, text=self.text, nick=self.nick, to=self.to, color=self.color,
                    ts=self.ts, action=self.action, notice=self.notice, history=self.history)


@attrs.frozen
class AccountChanged:
    """C{nick} logged in to C{account} (registered it), or out of its account (None: dropped it); told as L{Quit}."""

    kind: ClassVar[str] = "account"
    room: str
    nick: str
    account: str | None = None
    rooms: tuple[str, ...] = attrs.field(default=(), converter=_strings)

    def native(self) -> CMsg:
        return CMsg(Code.REGISTER, text=self.account or "", nick=self.nick, room=self.room)


@attrs.frozen
class AwayChanged:
    """C{nick} is away (C{away}: its message) or back (None); told to each of its rooms, as L{Quit}."""

    kind: ClassVar[str] = "away"
    room: str
    nick: str
    away: str | None = None
    rooms: tuple[str, ...] = attrs.field(default=(), converter=_strings)

    def native(self) -> CMsg:
        return CMsg(Code.MEMBER_AWAY, text=self.away or "", nick=self.nick, room=self.room)


@attrs.frozen
class TopicSet:
    """C{nick} set C{room}'s topic to C{text} ("" cleared it)."""

    kind: ClassVar[str] = "topic-set"
    room: str
    nick: str
    text: str
    ts: int

    def native(self) -> CMsg:
        return CMsg(Code.TOPIC, room=self.room, text=self.text, nick=self.nick, ts=self.ts)

    def standing(self) -> TopicIs:
        """The topic as a joiner will get it."""
        return TopicIs(self.room, self.text, self.nick, self.ts)


@attrs.frozen
class TopicIs:
    """C{room}'s topic as it stands, for a joiner (no C{text}: there is none)."""

    kind: ClassVar[str] = "topic"
    room: str
    text: str = ""
    nick: str | None = None
    ts: int | None = None

    def native(self) -> CMsg:
        return CMsg(Code.TOPIC, room=self.room, text=self.text, nick=self.nick, ts=self.ts, history=True)


@attrs.frozen
class MemberList:
    """C{room}'s members, for the joiner."""

    kind: ClassVar[str] = "members"
    room: str
    names: tuple[str, ...] = attrs.field(converter=_strings)
    #: Those of them who are away.
    away: tuple[str, ...] = attrs.field(default=(), converter=_strings)

    def native(self) -> CMsg:
        return CMsg(Code.SENDING_CHATTERS_LIST, room=self.room, names=self.names, away=self.away or None)


@attrs.frozen
class ReplayEnd:
    """The end of a join's history replay; C{more}: older lines are kept than were replayed."""

    kind: ClassVar[str] = "replay-end"
    room: str
    more: bool = False

    def native(self) -> CMsg:
        return CMsg(Code.HISTORY, room=self.room, more=self.more)


@attrs.frozen
class RoomNotice:
    """The server speaking to a room (lines may have been missed...)."""

    kind: ClassVar[str] = "notice"
    room: str
    text: str

    def native(self) -> CMsg:
        return CMsg(Code.NORMAL_MESSAGE, room=self.room, text=self.text)


@attrs.frozen
class Problem:
    """A request of the user's failed on the server's side (C{error} is the slug, C{reply_to} the code)."""

    kind: ClassVar[str] = "problem"
    error: str
    text: str
    reply_to: int | None = None

    def native(self) -> CMsg:
        return CMsg(Code.ERROR, error=self.error, text=self.text, reply_to=self.reply_to)


What = Union[Joined, Left, Quit, Renamed, Said, Private, TopicSet, TopicIs, MemberList, ReplayEnd, RoomNotice,
             Problem, AccountChanged, AwayChanged]

#: Every kind of event, by its record name.
KINDS: dict[str, type[Any]] = {cls.kind: cls for cls in
                               (Joined, Left, Quit, Renamed, Said, Private, TopicSet, TopicIs, MemberList, ReplayEnd,
                                RoomNotice, Problem, AccountChanged, AwayChanged)}


class Event:
    """
    One thing users are told (C{what}), encoded for the native protocol once,
    when it is made (C{frame}: a plain attribute, read at C speed for each
    recipient), and rendered for other front ends once, on first use,
    however many of their clients receive it.
    """

    __slots__ = ("_renderings", "frame", "what")

    def __init__(self, what: What) -> None:
        self.what = what
        if type(what) is Said:  # the hot path: its object made at once, not through a CMsg
            #: The native protocol's bytes: length-prefixed; a list too long for one frame is several.
            self.frame = framed(orjson.dumps(_said_native(what)))
        else:
            msg = what.native()
            body = encode(msg)
            self.frame = frame(msg) if msg.names and len(body) > MAX_FRAME else framed(body)
        self._renderings: dict[str, object] | None = None

    @property
    def msg(self) -> CMsg:
        """The event as the native protocol's message."""
        return self.what.native()

    def rendered(self, form: str, render: Callable[[What], _R]) -> _R:
        """
        This event in another front end's form (C{render} of C{what}),
        computed once per event, however many of that front end's clients
        receive it.
        """
        renderings = self._renderings
        if renderings is not None and form in renderings:
            return renderings[form]  # type: ignore[return-value]
        return self._keep(form, render(self.what))

    def reframed(self, form: str, reframe: Callable[[bytes], bytes]) -> bytes:
        """
        This event's native frame(s) carried another way (C{reframe}: as
        WebSocket messages...), computed once per event.
        """
        renderings = self._renderings
        if renderings is not None and form in renderings:
            return renderings[form]  # type: ignore[return-value]
        return self._keep(form, reframe(self.frame))

    def _keep(self, form: str, rendering: _R) -> _R:
        if self._renderings is None:
            self._renderings = {}
        self._renderings[form] = rendering
        return rendering

    def __repr__(self) -> str:
        return f"<Event {self.what!r}>"


# -- the stored record -----------------------------------------------------------

#: Fields left out of a record when they hold their default (they are not stored).
_NOT_STORED = ("history",)


def _said_native(said: Said) -> dict[str, Any]:
    """L{Said.native}'s JSON object, made directly (the keys in L{chat.message.to_dict}'s order)."""
    obj: dict[str, Any] = {"code": 5, "text": said.text}
    if said.action:
        obj["action"] = True
    if said.notice:
        obj["notice"] = True
    if said.history:
        obj["history"] = True
    obj["room"], obj["nick"], obj["color"], obj["id"], obj["ts"] = said.room, said.nick, said.color, said.id, said.ts
    return obj


def _stored_fields(cls: type[Any]) -> tuple[tuple[str, object], ...]:
    """Each stored field of a kind of event with its default (NOTHING: always stored)."""
    return tuple((f.name, f.default) for f in attrs.fields(cls) if f.name not in _NOT_STORED)


_STORED_FIELDS = {cls: _stored_fields(cls) for cls in KINDS.values()}


def record(what: What) -> dict[str, Any]:
    """C{what} as a stored record: its kind, its version, the fields that differ from their defaults."""
    if type(what) is Said:  # the hot path
        obj: dict[str, Any] = {"v": RECORD_VERSION, "t": "said", "room": what.room, "nick": what.nick,
                               "text": what.text, "id": what.id, "ts": what.ts}
        if what.color != "default":
            obj["color"] = what.color
        if what.action:
            obj["action"] = True
        if what.notice:
            obj["notice"] = True
        if what.account is not None:
            obj["account"] = what.account
        return obj
    obj = {"v": RECORD_VERSION, "t": what.kind}
    for name, default in _STORED_FIELDS[type(what)]:
        value = getattr(what, name)
        if value != default:
            obj[name] = list(value) if isinstance(value, tuple) else value
    return obj


def record_body(what: What) -> bytes:
    """The stored record as JSON (what SQLite and Redis keep)."""
    return orjson.dumps(record(what))


_FIELD_TYPES: dict[str, type[Any]] = {"str": str, "int": int, "bool": bool, "str | None": str, "int | None": int,
                                       "tuple[str, ...]": list}


def _field_types(cls: type[Any]) -> tuple[tuple[str, type[Any]], ...]:
    """Each field of a kind of event with the JSON type a record holds it as."""
    return tuple((f.name, _FIELD_TYPES[str(f.type)]) for f in attrs.fields(cls))


_FIELDS = {cls: _field_types(cls) for cls in KINDS.values()}
#: The kinds that may be marked as history (lines).
_MARKED = frozenset(cls for cls in KINDS.values() if "history" in attrs.fields_dict(cls))


def from_record(body: bytes | str, history: bool = False) -> What:
    """
    A stored record as the event it holds (marked C{history} if it has such
    a mark).  A record is input like any other: anything malformed raises
    L{ProtocolError}.  A record of version 0 (the native CMsg's JSON, as
    releases before records stored it) is read too.
    """
    data = body.encode("utf-8") if isinstance(body, str) else body
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise ProtocolError("bad-json", "a stored record is not JSON") from None
    if type(obj) is not dict:
        raise ProtocolError("not-an-object", "a stored record must be a JSON object")
    if "v" not in obj:
        return from_native(decode(data), history)
    if obj["v"] != RECORD_VERSION or obj.get("t") not in KINDS:
        raise ProtocolError("bad-record", f"unknown record (version {obj['v']!r}, kind {obj.get('t')!r})")
    cls = KINDS[obj["t"]]
    kwargs: dict[str, Any] = {}
    for name, kind in _FIELDS[cls]:
        if name not in obj:
            continue
        value = obj[name]
        if type(value) is not kind and value is not None:
            raise ProtocolError("bad-type", f"'{name}' has the wrong type")
        if kind is list and any(type(x) is not str for x in value):
            raise ProtocolError("bad-type", f"'{name}' must be a list of strings")
        kwargs[name] = value
    if history and cls in _MARKED:
        kwargs["history"] = True
    try:
        return cls(**kwargs)
    except TypeError:
        raise ProtocolError("bad-record", f"a {obj['t']} record lacks a field") from None


def from_native(msg: CMsg, history: bool = False) -> What:
    """
    The event a native message tells (version 0 records: lines, private
    lines and topics were all that was stored).
    """
    code = msg.code
    if code == Code.NORMAL_MESSAGE and msg.room is not None and msg.nick is not None:
        return Said(msg.room, msg.nick, msg.text, msg.id or 0, msg.ts or 0, msg.color or "default",
                    msg.action, msg.notice, history or msg.history)
    if code == Code.PRIVATE_MESSAGE and msg.nick is not None and msg.to is not None:
        return Private(msg.nick, msg.to, msg.text, msg.ts or 0, msg.color or "default", msg.action, msg.notice,
                       history or msg.history)
    if code == Code.TOPIC and msg.room is not None:
        return TopicIs(msg.room, msg.text, msg.nick, msg.ts)
    raise ProtocolError("bad-record", f"a stored message of code {code} is not a line or a topic")
