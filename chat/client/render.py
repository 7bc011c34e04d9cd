"""
How received events look: safe text, colours, and the two renderings (a
styled one for terminals, a plain one for pipes).  Pure: no terminal I/O.
"""

from __future__ import annotations

import functools
import time
import unicodedata
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from chat.names import fold

#: SGR foreground codes for the palette of docs/protocol.md.
SGR = {
    "default": 39, "red": 31, "green": 32, "yellow": 33, "blue": 34, "magenta": 35,
    "cyan": 36, "white": 37, "bright-red": 91, "bright-green": 92, "bright-yellow": 93,
    "bright-blue": 94, "bright-magenta": 95, "bright-cyan": 96,
}
NICK_COLORS = ("red", "green", "yellow", "blue", "magenta", "cyan",
               "bright-red", "bright-green", "bright-yellow", "bright-blue", "bright-magenta", "bright-cyan",
               # and from the 256-colour palette, readable on dark and light backgrounds:
               "x166", "x172", "x142", "x70", "x37", "x26", "x62", "x91", "x127", "x168", "x130", "x29")


def sanitize(text: str) -> str:
    """
    Make remote text harmless on a terminal: control characters (C0, DEL,
    C1: the start of every escape sequence), format characters (bidi
    overrides, zero-width) and line separators become visible placeholders.
    """
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable() or ch == " ":
            out.append(ch)
            continue
        o = ord(ch)
        if ch == "\t":
            out.append(" ")
        elif o < 0x20:
            out.append(chr(0x2400 + o))  # the Control Pictures block: ␛ ␊ ␇ ...
        elif o == 0x7F:
            out.append("\u2421")
        elif unicodedata.category(ch).startswith("Z"):
            out.append(" ")  # other spaces (no-break space, ...) are harmless
        else:
            out.append(f"<U+{o:04X}>")
    return "".join(out)


def nick_color(nick: str) -> str:
    """A colour per nickname that is the same in every session."""
    return NICK_COLORS[zlib.crc32(fold(nick).encode()) % len(NICK_COLORS)]


class NickColors:
    """
    Nick colours for one session: each nickname keeps its own colour
    (L{nick_color}) unless someone seen earlier has it, and then takes the
    next one free, so that the people one talks with look different.
    """

    def __init__(self) -> None:
        self._of: dict[str, str] = {}
        self._taken: set[str] = set()

    def __call__(self, nick: str) -> str:
        key = fold(nick)
        color = self._of.get(key)
        if color is None:
            first = NICK_COLORS.index(nick_color(nick))
            free = [NICK_COLORS[(first + i) % len(NICK_COLORS)] for i in range(len(NICK_COLORS))]
            color = next((c for c in free if c not in self._taken), free[0])
            self._of[key] = color
            self._taken.add(color)
        return color


@dataclass(frozen=True)
class Event:
    """
    One thing to show.  C{kind} is C{chat}, C{private}, C{event} (joins,
    leaves, renames: dimmed), C{notice} (from the server), C{info} (local)
    or C{error}.
    """

    kind: str
    text: str
    room: str | None = None
    nick: str | None = None
    to: str | None = None
    color: str | None = None
    ts: int | None = None
    action: bool = False
    history: bool = False
    highlight: bool = False  # it mentions you, or is a private message to you: marked, and the bell rings
    mine: bool = False  # said by you
    older: bool = False  # from a page of older history, fetched by scrolling back: it goes above what is shown


def mentions(text: str, words: Sequence[str]) -> bool:
    """Whether C{text} holds one of C{words} as a word of its own, in any case (C{bob} is not in C{bobcat})."""
    folded = fold(text)
    for word in words:
        key = fold(word)
        start = folded.find(key)
        while start >= 0:
            end = start + len(key)
            before = folded[start - 1] if start else " "
            after = folded[end] if end < len(folded) else " "
            if not (before.isalnum() or before == "_") and not (after.isalnum() or after == "_"):
                return True
            start = folded.find(key, start + 1)
    return False


@dataclass(frozen=True)
class Span:
    text: str
    color: str | None = None
    bold: bool = False
    dim: bool = False
    reverse: bool = False


def _clock(ts: int | None) -> str:
    return time.strftime("%H:%M", time.localtime(ts / 1000 if ts is not None else time.time()))


def styled(event: Event, show_room: bool, color_of: Callable[[str], str] = nick_color) -> list[Span]:
    """
    The spans of one terminal line (colours as palette names).  One's own
    nickname is shown without a colour of its own, set apart from the others'.
    """
    if event.history and event.kind == "chat":
        # Said before we were here: all of it dimmed, set apart by a bar; no other mark (the room is the
        # window's, but for the status window; the dimming says it is history).
        room = f"[{sanitize(event.room)}] " if show_room and event.room else ""
        nick, text = sanitize(event.nick or ""), sanitize(event.text)
        body = f"* {nick} {text}" if event.action else f"<{nick}> {text}"
        return [Span(f"{_clock(event.ts)} | {room}{body}", dim=True)]
    spans = [Span(_clock(event.ts) + " ", dim=True)]
    if show_room and event.room:
        spans.append(Span(f"[{sanitize(event.room)}] ", dim=True))
    text = sanitize(event.text)
    if event.kind in ("chat", "private"):
        nick = sanitize(event.nick or "?")
        if event.kind == "private":
            spans.append(Span("[private] ", color="bright-magenta", bold=True))
            if event.to:
                nick = f"{nick} -> {sanitize(event.to)}"
        if event.action:
            spans.append(Span("* ", dim=True))
            spans.append(Span(nick, color=None if event.mine else color_of(event.nick or ""), bold=True))
            spans.append(Span(" " + text, color=event.color))
        else:
            spans.append(Span("<", dim=True))
            spans.append(Span(nick, color=None if event.mine else color_of(event.nick or ""), bold=True,
                              reverse=event.highlight))
            spans.append(Span("> ", dim=True))
            spans.append(Span(text, color=event.color, bold=event.highlight))
    elif event.kind == "event":
        spans.append(Span("-- " + text, dim=True))
    elif event.kind == "error":
        spans.append(Span("!! " + text, color="red", bold=True))
    elif event.kind == "notice":
        spans.append(Span("*** " + text, color="yellow", bold=True))
    else:
        spans.append(Span(text))
    return spans


def ansi(spans: list[Span]) -> str:
    """Spans as text with SGR escapes (ours, after sanitising theirs)."""
    out = []
    for span in spans:
        codes = []
        if span.bold:
            codes.append("1")
        if span.dim:
            codes.append("2")
        if span.reverse:
            codes.append("7")
        if span.color and span.color.startswith("x"):
            codes.append(f"38;5;{span.color[1:]}")  # the 256-colour palette
        elif span.color and span.color != "default":
            codes.append(str(SGR.get(span.color, 39)))
        if codes:
            out.append(f"\x1b[{';'.join(codes)}m{span.text}\x1b[0m")
        else:
            out.append(span.text)
    return "".join(out)


def plain(event: Event) -> str:
    """
    One line for scripts: C{[room] <nick> text}; private lines as
    C{[private] <from -> to> text}; others C{[room] -- text} or C{!! text}.
    """
    text = sanitize(event.text)
    nick = sanitize(event.nick or "")
    if event.kind == "chat":
        body = f"* {nick} {text}" if event.action else f"<{nick}> {text}"
        mark = "(history) " if event.history else ""
        return f"[{sanitize(event.room or '')}] {mark}{body}"
    if event.kind == "private":
        who = f"{nick} -> {sanitize(event.to or '')}"
        return f"[private] * {who} {text}" if event.action else f"[private] <{who}> {text}"
    prefix = {"event": "--", "error": "!!", "notice": "***"}.get(event.kind, "")
    line = f"{prefix} {text}" if prefix else text
    return f"[{sanitize(event.room)}] {line}" if event.room else line


def cells(text: str) -> int:
    """
    The terminal columns C{text} takes: two for wide characters (CJK, most
    emoji), none for combining marks and format characters, one otherwise.
    """
    width = 0
    for ch in text:
        if ch < "\u0300":
            width += 1
        elif unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        else:
            width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


@functools.lru_cache(maxsize=4096)
def char_cells(ch: str) -> int:
    """L{cells} of one character, remembered: an input line asks again on every key."""
    return cells(ch)


def input_window(chars: Sequence[str], cursor: int, room: int, start: int = 0) -> tuple[int, int]:
    """
    Which of an input line's C{chars} to show in C{room} columns: the slice
    (start, end), scrolled from the previous C{start} only as far as needed
    to keep the cursor (before C{chars[cursor]}) on screen with a column free
    for it.  Work is in proportion to the room, not the line, so that a long
    paste stays quick.
    """
    room = max(1, room)
    used = 0
    for ch in chars:
        used += char_cells(ch)
        if used >= room:
            break
    else:
        start = 0  # the whole line fits
    start = min(start, cursor)
    before = sum(char_cells(ch) for ch in chars[start:cursor])
    while before > room - 1 and start < cursor:
        before -= char_cells(chars[start])
        start += 1
    end, used = start, 0
    while end < len(chars) and used + char_cells(chars[end]) <= room:
        used += char_cells(chars[end])
        end += 1
    if end == len(chars):
        # Deletions or a wider terminal freed columns: fill them from the left.
        while start > 0 and used + char_cells(chars[start - 1]) <= room - 1:
            start -= 1
            used += char_cells(chars[start])
    return start, end


def wrap(spans: list[Span], width: int) -> list[list[Span]]:
    """
    One line's spans cut into terminal rows of at most C{width} columns, as
    the terminal would wrap them: what redrawing the chat (Ctrl-L, a
    resize, scrolling back) needs to know about each line.
    """
    rows: list[list[Span]] = [[]]
    used = 0
    for span in spans:
        piece: list[str] = []
        for ch in span.text:
            w = char_cells(ch)
            if used + w > width and used:
                if piece:
                    rows[-1].append(Span("".join(piece), span.color, span.bold, span.dim, span.reverse))
                    piece = []
                rows.append([])
                used = 0
            piece.append(ch)
            used += w
        if piece:
            rows[-1].append(Span("".join(piece), span.color, span.bold, span.dim, span.reverse))
    return rows
