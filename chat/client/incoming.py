"""
What the lines, lists, pages, topics and away notes the server sends mean
to the person: shown once each (a line seen again after a reconnect is
not), lists put together from their frames, history pages followed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from chat.client.render import Event, mentions
from chat.message import CMsg, Code
from chat.names import fold

if TYPE_CHECKING:
    from chat.client.app import View


class Incoming:
    """Messages from the server to a L{chat.client.app.ChatClient} (its state is the client's)."""

    view: View
    nick: str
    highlights: list[str]
    members: dict[str, dict[str, str]]
    server_closing: bool
    seen: dict[str, set[int]]
    newest: dict[str, int]
    oldest: dict[str, int]
    _older: set[str]
    _list_parts: dict[tuple[int, str | None], list[str]]
    _last_history_id: dict[str, int]
    _send: Callable[[CMsg], bool]
    _is_me: Callable[[str | None], bool]

    def _whole_list(self, msg: CMsg) -> list[str] | None:
        """The names of a list reply once its last frame is in, else None."""
        key = (msg.code, msg.room)
        names = self._list_parts.pop(key, []) + list(msg.names or ())
        if msg.more:
            self._list_parts[key] = names
            return None
        return names

    def _on_3(self, msg: CMsg) -> None:  # SENDING_CHATTERS_LIST
        names = self._whole_list(msg)
        if names is not None:
            if msg.room is not None:
                self.members[fold(msg.room)] = {fold(n): n for n in names}
            self.view.show(Event("info", f"in {msg.room} ({len(names)}): {', '.join(names)}", room=msg.room))

    def _on_5(self, msg: CMsg) -> None:  # NORMAL_MESSAGE
        if msg.nick is None:
            self.view.show(Event("notice", msg.text, room=msg.room, ts=msg.ts))
            if msg.close:
                self.server_closing = True
            return
        if msg.id is not None and msg.room is not None:
            if msg.history:
                self._last_history_id[fold(msg.room)] = msg.id
            if not self._first_sight(fold(msg.room), msg.id):
                return
        highlight = not msg.history and not self._is_me(msg.nick) and mentions(msg.text, [self.nick, *self.highlights])
        older = msg.history and msg.room is not None and fold(msg.room) in self._older
        self.view.show(Event("chat", msg.text, room=msg.room, nick=msg.nick, color=msg.color, ts=msg.ts,
                             action=msg.action, history=msg.history, highlight=highlight, mine=self._is_me(msg.nick),
                             older=older))

    def _first_sight(self, key: str, id: int) -> bool:
        seen = self.seen.setdefault(key, set())
        if id in seen:
            return False
        seen.add(id)
        self.newest[key] = max(id, self.newest.get(key, id))
        self.oldest[key] = min(id, self.oldest.get(key, id))
        return True

    def _on_11(self, msg: CMsg) -> None:  # HISTORY: the end of a page
        if msg.room is not None and fold(msg.room) in self._older and msg.before is not None:
            self._older.discard(fold(msg.room))
            if not msg.more:
                self.view.show(Event("info", f"that is the first message of {msg.room}", room=msg.room, older=True))
            return
        if msg.after is not None and msg.more and msg.room is not None:
            # Still catching up after a reconnect: the next page.
            after = self._last_history_id.get(fold(msg.room), msg.after)
            self._send(CMsg(Code.HISTORY, room=msg.room, after=after, limit=200))
        elif msg.before is not None and not msg.more:
            self.view.show(Event("info", f"that is the first message of {msg.room}", room=msg.room))

    def _on_12(self, msg: CMsg) -> None:  # TOPIC
        if msg.history:  # the topic as it stands (on joining, or asked for)
            text = f"topic of {msg.room}: {msg.text}" if msg.text else f"{msg.room} has no topic"
        elif msg.text:
            text = f"{msg.nick} set the topic of {msg.room}: {msg.text}"
        else:
            text = f"{msg.nick} cleared the topic of {msg.room}"
        self.view.show(Event("event", text, room=msg.room, ts=msg.ts))

    def _on_13(self, msg: CMsg) -> None:  # AWAY: one's own, or that of someone written to
        if self._is_me(msg.nick):
            text = f"you are away: {msg.text}" if msg.text else "you are back"
        else:
            text = f"{msg.nick} is away: {msg.text}"
        self.view.show(Event("info", text))

    def _on_15(self, msg: CMsg) -> None:  # REGISTER: done; with a room, someone's account changed (not shown)
        if msg.room is not None:
            return
        self.view.show(Event("info", f"registered: {msg.text} is your account, and you are logged in to it; "
                                     "logging on as it now needs the password"))

    def _on_16(self, msg: CMsg) -> None:  # SET_PASSWORD: done
        self.view.show(Event("info", "your password is changed"))

    def _on_17(self, msg: CMsg) -> None:  # DROP_ACCOUNT: done
        self.view.show(Event("info", f"the account {msg.text} is dropped: the nickname is anyone's again"))

    def _on_6(self, msg: CMsg) -> None:  # PRIVATE_MESSAGE
        self.view.show(Event("private", msg.text, nick=msg.nick, to=msg.to, color=msg.color,
                             ts=msg.ts, action=msg.action, highlight=not self._is_me(msg.nick),
                             mine=self._is_me(msg.nick)))

    def _on_7(self, msg: CMsg) -> None:  # ROOM_LIST
        names = self._whole_list(msg)
        if names is not None:
            self.view.show(Event("info", "rooms: " + (", ".join(names) or "none")))
