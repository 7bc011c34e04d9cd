"""
What a person types, parsed into commands: pure, so that every command is
tested without a terminal or a server.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

HELP = """\
/join ROOM        join ROOM and make it the current room
/leave [ROOM]     leave ROOM (default: the current room); also /part
/rooms            list the rooms on the server; also /list
/who [ROOM]       list who is in ROOM (default: the current room); also /names
/msg NICK TEXT    send TEXT to NICK alone
/query [NICK]     send what you type to NICK alone from now on; with no NICK, to the room again
/nick NEW         change your nickname
/topic [TEXT]     show the current room's topic, or set it to TEXT
/away [TEXT]      mark yourself away with TEXT; with no TEXT, back
/window N         show window N (1 is the status window; every room and
                  private conversation has its own); also Alt-1..9, Alt-Left/Right
Keys: PageUp/PageDown scroll back and forth, TAB completes nicknames, commands
and rooms, Ctrl-A/E Ctrl-U/K/W Alt-B/F edit the line, Ctrl-L draws it all again
/register         register your nickname as an account (the password is asked for, unseen)
/identify NICK    log in to your account NICK (you take that nickname; its password is asked for)
/password         change your account's password (the current and new ones are asked for)
/color [NAME]     colour your text; with no NAME, list the colours; also /colour
/me ACTION        say that you do ACTION
/history [N]      show N earlier lines of the current room (default 20)
/quit [REASON]    leave the chat; also /exit
/help             this list
//TEXT            send a line that starts with /
Anything else is sent to the current room."""


@dataclass(frozen=True)
class Say:
    text: str
    action: bool = False


@dataclass(frozen=True)
class Join:
    room: str


@dataclass(frozen=True)
class Leave:
    room: str | None


@dataclass(frozen=True)
class Rooms:
    pass


@dataclass(frozen=True)
class Who:
    room: str | None


@dataclass(frozen=True)
class Msg:
    nick: str
    text: str
    action: bool = False


@dataclass(frozen=True)
class Topic:
    text: str


@dataclass(frozen=True)
class Query:
    """Talk to NICK alone from now on (until /join or /query with no one)."""

    nick: str | None


@dataclass(frozen=True)
class Window:
    number: int


@dataclass(frozen=True)
class Away:
    text: str


@dataclass(frozen=True)
class Nick:
    nick: str


@dataclass(frozen=True)
class Color:
    name: str | None


@dataclass(frozen=True)
class Quit:
    reason: str


@dataclass(frozen=True)
class History:
    count: int


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Register:
    """Register one's nickname; without a password on the line, it is asked for (unseen)."""

    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Identify:
    """Log in to the account NICK: take the nickname with its password."""

    nick: str
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class SetPassword:
    """Change one's account's password; without them on the line, both are asked for (unseen)."""

    current: str | None = field(default=None, repr=False)
    new: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Invalid:
    """A line that is a mistake; C{why} is shown locally, nothing is sent."""

    why: str


Command = (Say | Join | Leave | Rooms | Who | Msg | Query | Nick | Topic | Away | Window | Color | History | Quit | Help
           | Register | Identify | SetPassword | Invalid)


def _one_word(name: str, rest: str, usage: str) -> str | Invalid:
    words = rest.split()
    if len(words) != 1:
        return Invalid(f"usage: /{name} {usage}")
    return words[0]


def _join(name: str, rest: str) -> Command:
    room = _one_word(name, rest, "ROOM")
    return room if isinstance(room, Invalid) else Join(room)


def _leave(name: str, rest: str) -> Command:
    return Leave(rest or None) if len(rest.split()) <= 1 else Invalid("usage: /leave [ROOM]")


def _who(name: str, rest: str) -> Command:
    return Who(rest or None) if len(rest.split()) <= 1 else Invalid("usage: /who [ROOM]")


def _msg(name: str, rest: str) -> Command:
    nick, _, text = rest.partition(" ")
    if name == "query" and not text.strip():
        return Query(nick or None)
    if not nick or not text.strip():
        return Invalid(f"usage: /{name} NICK TEXT")
    return Msg(nick, text.strip())


def _nick(name: str, rest: str) -> Command:
    nick = _one_word(name, rest, "NEW")
    return nick if isinstance(nick, Invalid) else Nick(nick)


def _color(name: str, rest: str) -> Command:
    return Color(rest or None) if len(rest.split()) <= 1 else Invalid("usage: /color [NAME]")


def _window(name: str, rest: str) -> Command:
    return Window(int(rest)) if rest.isdigit() else Invalid("usage: /window N (Alt-N does the same)")


def _me(name: str, rest: str) -> Command:
    return Say(rest, action=True) if rest else Invalid("usage: /me ACTION")


def _history(name: str, rest: str) -> Command:
    if not rest:
        return History(20)
    if not rest.isdigit() or not 1 <= int(rest) <= 200:
        return Invalid("usage: /history [N], N from 1 to 200")
    return History(int(rest))


def _register(name: str, rest: str) -> Command:
    words = rest.split()
    if len(words) > 1:
        return Invalid("usage: /register (the password is asked for), or /register PASSWORD")
    return Register(words[0] if words else None)


def _identify(name: str, rest: str) -> Command:
    words = rest.split()
    if not 1 <= len(words) <= 2:
        return Invalid("usage: /identify NICK (its password is asked for), or /identify NICK PASSWORD")
    return Identify(words[0], words[1] if len(words) == 2 else None)


def _set_password(name: str, rest: str) -> Command:
    words = rest.split()
    if len(words) not in (0, 2):
        return Invalid("usage: /password (both are asked for), or /password CURRENT NEW")
    return SetPassword(*words) if words else SetPassword()


def holds_secret(line: str) -> bool:
    """Whether a typed line carries a password (kept out of the input history)."""
    command = parse(line) if line.startswith("/") else None
    return (isinstance(command, Register) and command.password is not None
            or isinstance(command, Identify) and command.password is not None
            or isinstance(command, SetPassword) and command.current is not None)


#: Each command's parser (of its name as typed and the rest of the line), aliases included.
_PARSERS: dict[str, Callable[[str, str], Command]] = {
    "join": _join, "leave": _leave, "part": _leave, "who": _who, "names": _who, "msg": _msg, "query": _msg,
    "nick": _nick, "color": _color, "colour": _color, "window": _window, "me": _me, "history": _history,
    "rooms": lambda name, rest: Rooms(), "list": lambda name, rest: Rooms(),
    "topic": lambda name, rest: Topic(rest), "away": lambda name, rest: Away(rest),
    "quit": lambda name, rest: Quit(rest), "exit": lambda name, rest: Quit(rest),
    "help": lambda name, rest: Help(), "?": lambda name, rest: Help(),
    "register": _register, "identify": _identify, "password": _set_password,
}


def parse(line: str) -> Command | None:
    """The command for one input line; C{None} for a blank line."""
    if not line.strip():
        return None
    if not line.startswith("/"):
        return Say(line)
    if line.startswith("//"):
        return Say(line[1:])
    name, _, rest = line[1:].partition(" ")
    name = name.lower()
    parser = _PARSERS.get(name)
    if parser is None:
        return Invalid(f"unknown command /{name}: /help lists the commands, // sends a line starting with /")
    return parser(name, rest.strip())


#: The commands TAB completes (aliases included).
COMMANDS = ("away", "color", "colour", "exit", "help", "history", "identify", "join", "leave", "list", "me", "msg",
            "names", "nick", "part", "password", "query", "quit", "register", "rooms", "topic", "who", "window")


def _choices(before: list[str], start: int, nicks: Sequence[str], rooms: Sequence[str]) -> tuple[list[str], str]:
    """What the word being completed may be, and what follows a completion, by the words before it."""
    command = before[0].lower() if len(before) == 1 else None
    if command in ("/join", "/leave", "/part", "/who", "/names"):
        return list(rooms), " "
    if command in ("/msg", "/query"):
        return list(nicks), " "
    return list(nicks), (": " if start == 0 else " ")


def _common_beginning(word: str, found: list[str]) -> str:
    """The longest beginning all of C{found} share (case-insensitively), written as typed so far."""
    common = found[0]
    for other in found[1:]:
        while not other.casefold().startswith(common.casefold()):
            common = common[:-1]
    return word + common[len(word):] if len(common) > len(word) else word


def complete(line: str, cursor: int, nicks: Sequence[str], rooms: Sequence[str]) -> tuple[str, int, list[str]]:
    """
    TAB: the word before C{cursor} completed as a command (the first word,
    after /), a room (after /join and the like) or a nickname (anywhere
    else; at the start of the line followed by C{": "}).  Returns the new
    line, the new cursor and, when several fit, all of them (the line then
    has their common beginning).
    """
    if not line.strip():
        return line, cursor, []  # TAB on an empty line: nothing (not every nickname of the room)
    start = cursor
    while start and not line[start - 1].isspace():
        start -= 1
    word = line[start:cursor]
    if start == 0 and word.startswith("/"):
        choices, suffix = ["/" + name for name in COMMANDS], " "
    else:
        choices, suffix = _choices(line[:start].split(), start, nicks, rooms)
    folded = word.casefold()
    found = sorted({c for c in choices if c.casefold().startswith(folded)}, key=str.casefold)
    if not found:
        return line, cursor, []
    if line[cursor:cursor + 1].isspace():
        suffix = suffix.rstrip()
    if len(found) == 1:
        done = found[0] + suffix
        return line[:start] + done + line[cursor:], start + len(done), []
    common = _common_beginning(word, found)
    return line[:start] + common + line[cursor:], start + len(common), found
