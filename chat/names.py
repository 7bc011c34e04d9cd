"""
Rules for nicknames, room names and message text (documented in
docs/protocol.md).  Pure functions: each returns the canonical form or raises
L{ChatError} with a stable slug.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from twisted.python.failure import Failure

MAX_NICK = 24
MAX_ROOM = 32
MAX_TEXT = 2000
MAX_TOPIC = 300

#: Default-ignorable code points that are letters or marks by category, so
#: that the category rules below would let them in: they show as nothing
#: (Hangul fillers, variation selectors...).  From Unicode's
#: DerivedCoreProperties.txt (Default_Ignorable_Code_Point); the rest of that
#: property is Cf, Cc or unassigned, which no name may hold anyway.
_INVISIBLE = re.compile("[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u3164\ufe00-\ufe0f\uffa0"
                        "\U000e0100-\U000e01ef]")

#: Control characters (Unicode's Cc: C0, DEL, C1) but tab and newline: a NUL, an ESC
#: sequence, a BEL or a CTCP request (\x01VERSION\x01) from one front end must not reach
#: another's clients raw.  Stripped from all text at the service.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_OR_NEWLINE = re.compile("[\x00-\x1f\x7f-\x9f]")

#: Combining marks one base letter may carry (enough for every script's
#: writing; a pile of them is "zalgo" text that overflows the line).
MAX_MARKS = 4


def _name_ok(name: str, first_may_be_digit: bool) -> bool:
    """
    Letters of any script with their combining marks, digits, underscore,
    and - and . after the first character, which is a letter or underscore
    (or, for a room, a digit).  Control and format characters (escapes, bidi
    overrides) and invisible letters never pass.
    """
    if not name or _INVISIBLE.search(name):
        return False
    marks, after_letter = 0, False
    for i, ch in enumerate(name):
        kind = unicodedata.category(ch)
        if kind[0] == "M":  # a mark belongs to the letter before it
            marks += 1
            if not after_letter or marks > MAX_MARKS:
                return False
            continue
        marks, after_letter = 0, kind[0] == "L"
        if kind[0] == "L" or ch == "_" or (kind[0] == "N" and (i or first_may_be_digit)):
            continue
        if i and ch in ".-":
            continue
        return False
    return True


class ChatError(Exception):
    """A well-formed request the chat refuses; the connection stays."""

    def __init__(self, slug: str, text: str) -> None:
        super().__init__(text)
        self.slug = slug
        self.text = text


@functools.lru_cache(maxsize=4096)
def fold(name: str) -> str:
    """
    The key under which names are unique: case-insensitive, NFKC.  Cached:
    every message folds its room's name, and names repeat.
    """
    return unicodedata.normalize("NFKC", name).casefold()


#: The nickname of the server's account service on IRC (folded): nobody may take it.
NICKSERV_KEY = "nickserv"


def check_nick(nick: str) -> str:
    """Return C{nick} in NFC if it is a valid nickname."""
    nick = unicodedata.normalize("NFC", nick)
    if not 1 <= len(nick) <= MAX_NICK:
        raise ChatError("bad-nick", f"a nickname has 1 to {MAX_NICK} characters")
    if fold(nick) == NICKSERV_KEY:
        raise ChatError("bad-nick", "NickServ is the server's account service: choose another nickname")
    if not _name_ok(nick, first_may_be_digit=False):
        raise ChatError(
            "bad-nick",
            "a nickname starts with a letter or _ and holds only letters (with their accents), digits, _ - and .",
        )
    return nick


def check_room(room: str) -> str:
    """Return C{room} in NFC if it is a valid room name."""
    room = unicodedata.normalize("NFC", room)
    if not 1 <= len(room) <= MAX_ROOM:
        raise ChatError("bad-room", f"a room name has 1 to {MAX_ROOM} characters")
    if not _name_ok(room[1:] if room.startswith("#") else room, first_may_be_digit=True):
        raise ChatError(
            "bad-room",
            "a room name is an optional # then letters, digits, _ - and ., not starting with - or .",
        )
    return room


def plain(text: str) -> str:
    """C{text} without control characters, but tabs and newlines (L{_CONTROL})."""
    return _CONTROL.sub("", text) if _CONTROL.search(text) else text


def plain_line(text: str) -> str:
    """C{text} on one line: newlines become spaces, and no control character is left."""
    return _CONTROL_OR_NEWLINE.sub("", text.replace("\r\n", " ").replace("\n", " ").replace("\r", " "))


def _one_line(text: str, what: str, slug: str) -> str:
    """At most L{MAX_TOPIC} characters on one line, without the spaces around them or control characters."""
    if len(text) > MAX_TOPIC:
        raise ChatError("text-too-long", f"{what} has at most {MAX_TOPIC} characters")
    if "\n" in text or "\r" in text:
        raise ChatError(slug, f"{what} is one line")
    return plain_line(text).strip()


def check_topic(text: str) -> str:
    """A room's topic ("" clears it)."""
    return _one_line(text, "a topic", "bad-topic")


def check_away(text: str) -> str:
    """An away message ("" means back)."""
    return _one_line(text, "an away message", "bad-away")


def refusal(failure: Failure) -> ChatError | None:
    """The L{ChatError} a request failed with, or None if it failed for another reason (a bug, an outage)."""
    value = failure.value
    return value if isinstance(value, ChatError) else None


def check_text(text: str) -> str:
    """Message text without control characters (L{plain}); refuse it empty or over-long."""
    text = plain(text)
    if not text.strip():
        raise ChatError("empty-text", "the message text is empty")
    if len(text) > MAX_TEXT:
        raise ChatError("text-too-long", f"a message has at most {MAX_TEXT} characters")
    return text


def reason_text(why: str) -> str:
    """Why someone left the chat, as its rooms are told: one line, one space between words, no control characters."""
    return " ".join(plain_line(why).split())
