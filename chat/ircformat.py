"""
IRC lines and text, as pure functions: parsing a client's line, the chat's
colours as mIRC colour codes and back, IRC formatting stripped for native
clients, and long chat lines cut to fit IRC's 512 bytes.
"""

from __future__ import annotations

import re

#: A line's limit without its tags, CR-LF included (RFC 1459, Modern IRC).
MAX_LINE = 512
#: Room for the tags a client may send before the line (IRCv3 message-tags).
MAX_TAGS = 8191

#: The chat's palette (chat.message.PALETTE) as mIRC colour numbers.
TO_MIRC: dict[str, str] = {
    "red": "05", "green": "03", "yellow": "07", "blue": "02", "magenta": "06", "cyan": "10", "white": "15",
    "bright-red": "04", "bright-green": "09", "bright-yellow": "08", "bright-blue": "12",
    "bright-magenta": "13", "bright-cyan": "11",
}
FROM_MIRC: dict[int, str] = {int(v): k for k, v in TO_MIRC.items()}
FROM_MIRC.update({0: "white", 14: "white", 1: "default"})

# Bold, colour (with up to two numbers), hex colour, reset, monospace, reverse, italics, strike, underline.
_FORMATTING = re.compile(r"\x03(?:\d{1,2}(?:,\d{1,2})?)?|\x04(?:[0-9a-fA-F]{6}(?:,[0-9a-fA-F]{6})?)?|[\x02\x0f\x11\x16\x1d\x1e\x1f]")
_LEADING_COLOUR = re.compile(r"\x03(\d{1,2})")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class Line:
    """One parsed client line: its command (upper case) and its parameters."""

    __slots__ = ("command", "params", "tags")

    def __init__(self, command: str, params: list[str], tags: str = "") -> None:
        self.command = command
        self.params = params
        self.tags = tags

    def __repr__(self) -> str:
        return f"<Line {self.command} {self.params!r}>"


def parse(text: str) -> Line | None:
    """
    A client's line (CR-LF already gone) as a L{Line}; C{None} for an
    empty one.  A prefix from a client is ignored, as servers do.
    """
    tags = ""
    if text.startswith("@"):
        tags, _, text = text.partition(" ")
        tags = tags[1:]
    text = text.lstrip(" ")
    if text.startswith(":"):
        _, _, text = text.partition(" ")
    head, sep, trailing = text.partition(" :")
    params = head.split()
    if not params:
        return None
    if sep:
        params.append(trailing)
    return Line(params[0].upper(), params[1:], tags)


def strip_formatting(text: str) -> str:
    """IRC formatting codes removed, and any other control byte too (never sent to a terminal)."""
    return _CONTROLS.sub("", _FORMATTING.sub("", text))


def colour_of(text: str) -> str | None:
    """The chat colour of a line that starts with an mIRC colour code (the sender's colour)."""
    m = _LEADING_COLOUR.match(text)
    if m is None:
        return None
    return FROM_MIRC.get(int(m.group(1)))


def coloured(text: str, colour: str | None) -> str:
    """C{text} in the chat colour C{colour}, as mIRC codes."""
    code = TO_MIRC.get(colour or "")
    return f"\x03{code}{text}\x03" if code else text


def split_text(text: str, budget: int) -> list[str]:
    """
    C{text} cut into pieces of at most C{budget} UTF-8 bytes each, at
    line breaks and character boundaries (IRC carries neither CR nor LF).
    """
    pieces: list[str] = []
    for part in text.replace("\r", "").split("\n"):
        data = part.encode("utf-8")
        while len(data) > budget:
            cut = budget
            while cut and (data[cut] & 0xC0) == 0x80:  # not inside a character
                cut -= 1
            pieces.append(data[:cut].decode("utf-8"))
            data = data[cut:]
        if data:
            pieces.append(data.decode("utf-8"))
    return pieces or [""]
