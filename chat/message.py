"""
The CMsg, its codes, and its wire encoding (docs/protocol.md is the contract).

The seed's CMsg carried a code, a text and a close flag; ours is a JSON object
with those keys and a few more, framed by a 4-byte big-endian length
(Twisted's C{Int32StringReceiver}).  This module is pure: it knows nothing of
sockets, rooms or users, and its decoder raises nothing but L{ProtocolError}.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import Any

import orjson

PROTOCOL_VERSION = 1

#: Default room for any request that names none: the seed's one chat room.
DEFAULT_ROOM = "lobby"

#: The seed's servers listened on port 1500 + N, N from 0 to 1499.
BASE_PORT = 1500
MAX_PORT_NUMBER = 1499

#: Largest frame body (after the 4-byte prefix) either side accepts.
MAX_FRAME = 16 * 1024


class Code(IntEnum):
    """
    Message codes.  1, 2, 4 and 5 are the seed article's numbers; 3 is the
    seed client's SENDING_CHATTERS_LIST; the rest are ours.
    """

    JOINING_CHAT = 1
    LEAVING_CHAT = 2
    SENDING_CHATTERS_LIST = 3
    SENDING_NICKNAME = 4
    NORMAL_MESSAGE = 5
    PRIVATE_MESSAGE = 6
    ROOM_LIST = 7
    ERROR = 8
    PING = 9
    PONG = 10
    HISTORY = 11
    TOPIC = 12
    AWAY = 13
    INFO = 14
    REGISTER = 15
    SET_PASSWORD = 16
    DROP_ACCOUNT = 17
    MEMBER_AWAY = 18


#: Colours a sender may attach to its text; clients map them to the terminal.
PALETTE: tuple[str, ...] = (
    "default",
    "red",
    "green",
    "yellow",
    "blue",
    "magenta",
    "cyan",
    "white",
    "bright-red",
    "bright-green",
    "bright-yellow",
    "bright-blue",
    "bright-magenta",
    "bright-cyan",
)


class ProtocolError(Exception):
    """
    A frame that cannot be decoded into a CMsg.  C{slug} is the stable
    C{error} value sent back to the peer; C{args[0]} is for people.
    """

    def __init__(self, slug: str, text: str) -> None:
        super().__init__(text)
        self.slug = slug
        self.text = text


@dataclass(slots=True)
class CMsg:
    """
    One message on the wire.  C{None} means "absent": absent keys are not
    encoded.  C{room} absent in a request means L{DEFAULT_ROOM}.  Treated
    as a value and never changed once made (L{dataclasses.replace} makes
    another); not frozen, because a frozen dataclass costs five times as
    much to make, and two are made per message.
    """

    code: int
    text: str = ""
    close: bool = False
    room: str | None = None
    nick: str | None = None
    to: str | None = None
    color: str | None = None
    id: int | None = None
    ts: int | None = None
    names: tuple[str, ...] | None = None
    error: str | None = None
    reply_to: int | None = None
    action: bool = False
    notice: bool = False
    password: str | None = field(default=None, repr=False)  # never in logs
    new_password: str | None = field(default=None, repr=False)  # never in logs
    history: bool = False
    more: bool = False
    before: int | None = None
    after: int | None = None
    limit: int | None = None
    away: tuple[str, ...] | None = None  # on code 3: those of the names who are away

    @property
    def target_room(self) -> str:
        """The room a request is about, with the documented default."""
        return DEFAULT_ROOM if self.room is None else self.room


_STR_KEYS = ("text", "room", "nick", "to", "color", "error", "password", "new_password")
_INT_KEYS = ("id", "ts", "reply_to", "before", "after", "limit")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_header = struct.Struct("!I")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose keys are all different: parsers disagree on which duplicate wins, so none does."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise _DuplicateKey(f"the key {twice[:40]!r} appears twice")
    return obj


_decoder = json.JSONDecoder(parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)


#: More brackets than this and the exact reader decides (orjson nests deeper than it).
_DEEP = 256

#: Where a key ends (its closing quote, JSON white space, the colon): at least once per key written.
_KEY_END = re.compile(rb'"[ \t\n\r]*:')


class _Inexact(Exception):
    """orjson read an integer too big for 64 bits as a float: the exact reader must decide."""


def _parse_exactly(payload: bytes) -> Any:
    """The body's JSON value by the standard library's reader, which says precisely what is wrong."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProtocolError("bad-utf8", f"frame is not valid UTF-8 (byte {e.start})") from None
    try:
        return _decoder.decode(text)
    except _DuplicateKey as e:
        raise ProtocolError("bad-json", f"frame has a duplicate key: {e}") from None
    except (ValueError, RecursionError) as e:
        raise ProtocolError("bad-json", f"frame is not JSON: {str(e)[:80]}") from None


def _parse(payload: bytes) -> tuple[Any, bool]:
    """
    The body's JSON value, and whether orjson read it.  orjson (ten times
    quicker) reads what is plainly valid; anything it refuses, and any
    object where a key may be written twice (orjson would keep the last),
    goes to the exact reader, for the documented error.  orjson refuses
    invalid UTF-8 and unpaired surrogate escapes itself.
    """
    if payload.count(b"[") + payload.count(b"{") > _DEEP:
        return _parse_exactly(payload), False  # the two readers nest to different depths
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return _parse_exactly(payload), False
    # Every key written ends with a match: as many matches as keys kept means
    # no key twice (and no object nested in an unknown key).  Anything but an
    # object is an error either way: the exact reader says which.
    if type(obj) is not dict or len(_KEY_END.findall(payload)) != len(obj):
        return _parse_exactly(payload), False
    return obj, True


def _is_int(value: object) -> bool:
    return type(value) is int


def _check_str(key: str, value: object, checked: bool = False) -> str:
    if type(value) is not str:
        raise ProtocolError("bad-type", f"'{key}' must be a string")
    if not checked and _LONE_SURROGATE.search(value):
        raise ProtocolError("bad-utf8", f"'{key}' holds an unpaired surrogate escape")
    return value


def decode(payload: bytes) -> CMsg:
    """
    Decode one frame body.  Raises L{ProtocolError} for anything that is not
    a JSON object in UTF-8 with an integer C{code} and correctly typed known
    keys; unknown keys are ignored.
    """
    obj, quick = _parse(payload)
    try:
        return _message(obj, quick)
    except _Inexact:
        return _message(_parse_exactly(payload), False)


def _message(obj: Any, quick: bool) -> CMsg:
    if type(obj) is not dict:
        raise ProtocolError("not-an-object", "frame must be a JSON object")
    code = obj.get("code")
    if not _is_int(code):
        if quick and type(code) is float:
            raise _Inexact()
        raise ProtocolError("bad-code", "frame needs an integer 'code'")
    kwargs: dict[str, Any] = {"code": code}
    for key in _STR_KEYS:
        if key in obj:
            kwargs[key] = _check_str(key, obj[key], quick)
    for key in _INT_KEYS:
        if key in obj:
            value = obj[key]
            if not _is_int(value):
                if quick and type(value) is float:
                    raise _Inexact()
                raise ProtocolError("bad-type", f"'{key}' must be an integer")
            kwargs[key] = value
    for key in ("close", "action", "notice", "history", "more"):
        if key in obj:
            if type(obj[key]) is not bool:
                raise ProtocolError("bad-type", f"'{key}' must be true or false")
            kwargs[key] = obj[key]
    for key in ("names", "away"):
        if key in obj:
            names = obj[key]
            if type(names) is not list:
                raise ProtocolError("bad-type", f"'{key}' must be a list of strings")
            kwargs[key] = tuple(_check_str(key, n, quick) for n in names)
    return CMsg(**kwargs)


def to_dict(msg: CMsg) -> dict[str, Any]:
    """The JSON object for C{msg}: absent keys left out, C{close} only if true."""
    d: dict[str, Any] = {"code": int(msg.code)}
    if msg.text:
        d["text"] = msg.text
    if msg.close:
        d["close"] = True
    if msg.action:
        d["action"] = True
    if msg.notice:
        d["notice"] = True
    if msg.history:
        d["history"] = True
    if msg.more:
        d["more"] = True
    for key in ("room", "nick", "to", "color", "id", "ts", "error", "reply_to", "password", "new_password",
                "before", "after", "limit"):
        value = getattr(msg, key)
        if value is not None:
            d[key] = value
    if msg.names is not None:
        d["names"] = list(msg.names)
    if msg.away is not None:
        d["away"] = list(msg.away)
    return d


def encode(msg: CMsg) -> bytes:
    """The frame body (JSON in UTF-8, raw, as the standard library would write it) for C{msg}."""
    d = to_dict(msg)
    try:
        return orjson.dumps(d)
    except TypeError:  # an integer past 64 bits (a client's, echoed in an ERROR's reply_to)
        return _encoder.encode(d).encode("utf-8")


def framed(body: bytes) -> bytes:
    """A frame body with its length prefix."""
    return _header.pack(len(body)) + body


def frame(msg: CMsg) -> bytes:
    """
    The whole frame for C{msg}, length prefix included: what a broadcast
    encodes once and writes to every recipient.  A list too long for one
    frame comes out as several (L{_split_list}).
    """
    body = encode(msg)
    if len(body) > MAX_FRAME and msg.names:
        return _split_list(msg)
    return framed(body)


def _split_list(msg: CMsg) -> bytes:
    """
    A list of names (a room's members, the rooms) as consecutive frames of
    at most L{MAX_FRAME} bytes each, all but the last with C{"more":true},
    like the pages of a HISTORY reply.
    """
    assert msg.names is not None
    away = frozenset(msg.away or ())
    overhead = len(encode(replace(msg, names=(), away=() if away else None, more=True)))
    frames: list[bytes] = []
    chunk: list[str] = []
    size = overhead

    def part(more: bool) -> bytes:
        # Each frame names, in 'away', those of its own names who are away.
        marked = tuple(n for n in chunk if n in away) if away else None
        return framed(encode(replace(msg, names=tuple(chunk), away=marked, more=more)))

    for name in msg.names:
        cost = len(_encoder.encode(name).encode("utf-8")) + 1  # the name and a comma
        if name in away:
            cost *= 2  # in 'away' too
        if chunk and size + cost > MAX_FRAME:
            frames.append(part(True))
            chunk, size = [], overhead
        chunk.append(name)
        size += cost
    frames.append(part(False))
    return b"".join(frames)
