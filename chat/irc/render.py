"""
Chat events as IRC lines (pure): channels and nicknames, what each typed
event looks like to IRC clients, and the IRCv3 tags (server-time, msgid).
Every function gives the same lines for every client of one capability set,
so they are computed once per event (L{chat.core.events.Event.rendered}).
"""

from __future__ import annotations

import time

from chat.core.events import (Joined, Left, Private, Problem, Quit, Renamed, RoomNotice, Said, TopicSet, What)
from chat.ircformat import MAX_LINE, coloured, split_text
from chat.names import fold


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


def mask(nick: str) -> str:
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
        return [f":{mask(what.nick)} JOIN {channel(what.room)}"]
    if isinstance(what, Left):
        part = f":{mask(what.nick)} PART {channel(what.room)}"
        return [f"{part} :{one_line(what.reason)}" if what.reason else part]
    if isinstance(what, Quit):
        return [f":{mask(what.nick)} QUIT :{one_line(what.why)}"]
    if isinstance(what, Renamed):
        return [f":{mask(what.old)} NICK :{irc_nick(what.new)}"]
    if isinstance(what, TopicSet):
        return [f":{mask(what.nick)} TOPIC {channel(what.room)} :{what.text}"]
    if isinstance(what, RoomNotice):
        return [f":chat NOTICE {channel(what.room)} :{piece}" for piece in split_text(what.text, 400)]
    if isinstance(what, Problem):
        return [f":chat NOTICE * :{one_line(what.text)}"]
    return []  # a member list, a topic, a replay's end: answered as numerics, or nothing to show


def _said(line: Said | Private, stamp_history: bool) -> list[str]:
    target = irc_nick(line.to) if isinstance(line, Private) else channel(line.room)
    prefix = f":{mask(line.nick)} {'NOTICE' if line.notice else 'PRIVMSG'} {target} :"
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


def one_line(text: str) -> str:
    return text.replace("\r", " ").replace("\n", " ")
