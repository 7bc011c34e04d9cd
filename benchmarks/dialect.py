"""
What a benchmark client says to a server, apart from counting what it hears.

A dialect describes the setup of one client as stages (send these bytes,
then wait for the unit that says it worked), how to cut a setup buffer into
units, and how to write a batch of messages.  Setup is the slow path: it
decodes every frame or line.  Once a client is set up, what it receives
goes to L{benchmarks.counting} instead, which decodes nothing.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Sequence
from typing import Any

_header = struct.Struct("!I")
ROOM = "lobby"

#: A decoded setup unit: a JSON object (framed dialects) or a line (IRC).
Unit = Any


class Stage:
    """Send C{data}; the stage is over at the first unit for which C{done} holds."""

    __slots__ = ("data", "done")

    def __init__(self, data: bytes, done: Callable[[Unit], bool]) -> None:
        self.data = data
        self.done = done


class Dialect:
    """The protocol of one kind of server, seen from a benchmark client."""

    #: Short name used in reports.
    name = "?"
    #: Whether a sender receives its own messages (our server and the
    #: broadcast baseline echo; IRC servers do not).
    echoes = True
    #: Whether the stream is length-prefixed frames (else CRLF lines, or "websocket" messages).
    framed: bool | str = True

    def stages(self, nick: str, join: bool, sender: bool, room: str = ROOM) -> Sequence[Stage]:
        raise NotImplementedError

    def split(self, buffer: bytes) -> tuple[list[Unit], bytes]:
        """Complete units at the start of C{buffer}, and what is left."""
        raise NotImplementedError

    def refusal(self, unit: Unit) -> str | None:
        """Why the server refused this client, if C{unit} says it did."""
        return None

    def answer(self, unit: Unit) -> bytes | None:
        """What to answer to C{unit} during setup (a PING), if anything."""
        return None

    def messages(self, texts: Sequence[bytes], room: str = ROOM) -> bytes:
        """The bytes that send each text to C{room}, in order."""
        raise NotImplementedError


def frame(obj: dict[str, Any]) -> bytes:
    body = json.dumps(obj, separators=(",", ":")).encode()
    return _header.pack(len(body)) + body


class Framed(Dialect):
    """Length-prefixed JSON frames (docs/protocol.md)."""

    def split(self, buffer: bytes) -> tuple[list[Unit], bytes]:
        units = []
        pos, n = 0, len(buffer)
        while pos + 4 <= n:
            (length,) = _header.unpack_from(buffer, pos)
            end = pos + 4 + length
            if end > n:
                break
            units.append(json.loads(buffer[pos + 4:end]))
            pos = end
        return units, buffer[pos:]

    def messages(self, texts: Sequence[bytes], room: str = ROOM) -> bytes:
        # "text" first: the relayed frame keeps it near the front.
        parts = []
        where = room.encode()
        for text in texts:
            body = b'{"code":5,"text":"%s","room":"%s"}' % (text, where)
            parts.append(_header.pack(len(body)) + body)
        return b"".join(parts)


class ChatDialect(Framed):
    """Our server: log on (code 4), join the lobby (code 1), say (code 5)."""

    name = "chat"

    def stages(self, nick: str, join: bool, sender: bool, room: str = ROOM) -> Sequence[Stage]:
        stages = [Stage(frame({"code": 4, "text": nick}),
                        lambda m: m.get("code") == 4 and "room" not in m)]
        if join:
            # The chatters list follows the joiner's own join announcement.
            stages.append(Stage(frame({"code": 1, "room": room}), lambda m: m.get("code") == 3))
        return stages

    def refusal(self, unit: Unit) -> str | None:
        if unit.get("code") == 8 or unit.get("close"):
            return f"{unit.get('error', 'closed')}: {unit.get('text', '')}"
        return None

    def answer(self, unit: Unit) -> bytes | None:
        if unit.get("code") == 9:
            return frame({"code": 10, "text": unit.get("text", "")})
        return None


class BroadcastDialect(Framed):
    """
    The minimal broadcast server of benchmarks/: no logon and no rooms; its
    greeting frame says the connection is in the set that hears broadcasts.
    """

    name = "broadcast"

    def stages(self, nick: str, join: bool, sender: bool, room: str = ROOM) -> Sequence[Stage]:
        return [Stage(b"", lambda m: True)]


#: The opening handshake of a benchmark client (no Origin: not a browser; any key will do).
UPGRADE = (b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: YmVuY2htYXJrY2xpZW50IQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
UPGRADED = "upgraded"


def ws_message(body: bytes) -> bytes:
    """
    A client's WebSocket text message (RFC 6455): masked, as clients must,
    with the all-zero key, so the body goes as it is.
    """
    n = len(body)
    if n < 126:
        return bytes((0x81, 0x80 | n)) + b"\0\0\0\0" + body
    return bytes((0x81, 0x80 | 126)) + n.to_bytes(2, "big") + b"\0\0\0\0" + body


def ws_frames(buffer: bytes, pos: int = 0) -> tuple[list[tuple[int, bytes]], int]:
    """The server's (unmasked) WebSocket frames at C{pos}: (opcode, payload) each, and where the rest starts."""
    frames, n = [], len(buffer)
    while pos + 2 <= n:
        opcode, size, at = buffer[pos] & 0x0F, buffer[pos + 1] & 0x7F, pos + 2
        if size == 126:
            if at + 2 > n:
                break
            size, at = int.from_bytes(buffer[at:at + 2], "big"), at + 2
        elif size == 127:
            if at + 8 > n:
                break
            size, at = int.from_bytes(buffer[at:at + 8], "big"), at + 8
        if at + size > n:
            break
        frames.append((opcode, buffer[at:at + size]))
        pos = at + size
    return frames, pos


class WebSocketDialect(ChatDialect):
    """Our server's browser front end: the same CMsg bodies, one per WebSocket message, after an HTTP upgrade."""

    name = "chat-web"
    framed = "websocket"  # type: ignore[assignment]

    def stages(self, nick: str, join: bool, sender: bool, room: str = ROOM) -> Sequence[Stage]:
        chat = [Stage(ws_message(stage.data[4:]), stage.done) for stage in super().stages(nick, join, sender, room)]
        return [Stage(UPGRADE, lambda u: u == UPGRADED), *chat]

    def split(self, buffer: bytes) -> tuple[list[Unit], bytes]:
        units: list[Unit] = []
        pos = 0
        if buffer.startswith(b"HTTP/"):
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return [], buffer
            status = buffer[:buffer.find(b"\r\n")].decode("latin-1")
            units.append(UPGRADED if " 101 " in status else {"code": 8, "error": "http", "text": status})
            pos = end + 4
        frames, pos = ws_frames(buffer, pos)
        for opcode, payload in frames:
            if opcode in (1, 2):
                units.append(json.loads(payload))
            elif opcode == 8:
                units.append({"code": 0, "close": True, "text": payload[2:].decode(errors="replace")})
        return units, buffer[pos:]

    def refusal(self, unit: Unit) -> str | None:
        return None if unit == UPGRADED else super().refusal(unit)

    def answer(self, unit: Unit) -> bytes | None:
        if unit != UPGRADED and unit.get("code") == 9:
            return ws_message(json.dumps({"code": 10, "text": unit.get("text", "")}).encode())
        return None

    def messages(self, texts: Sequence[bytes], room: str = ROOM) -> bytes:
        where = room.encode()
        return b"".join(ws_message(b'{"code":5,"text":"%s","room":"%s"}' % (text, where)) for text in texts)
