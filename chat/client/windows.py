"""
The terminal's windows: one per room, one per private conversation, and the
status window for what belongs to neither; each keeps its own lines and
says whether new ones (or a mention) wait unseen.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chat.client.render import Event, NickColors, Span, styled
from chat.names import fold

if TYPE_CHECKING:
    from chat.client.app import ChatClient

#: Lines kept for redrawing and scrolling back (PageUp), oldest dropped first.
SCROLLBACK = 2000


class Window:
    """
    One room, one private conversation, or the status window (what belongs
    to no room): its own lines, and whether there are new ones unseen.
    """

    __slots__ = ("key", "lines", "mention", "name", "older", "private", "unread")

    def __init__(self, name: str, key: str, private: bool = False) -> None:
        self.name, self.key, self.private = name, key, private
        self.lines: deque[list[Span]] = deque(maxlen=SCROLLBACK)
        self.older = 0  # lines of the older page being received, put above the others in order
        self.unread = 0
        self.mention = False


class Windows:
    """The windows of a L{chat.client.terminal.ChatTerminal} (its state is the terminal's)."""

    client: ChatClient | None
    windows: list[Window]
    active: int
    back: int
    last_error: str | None
    nick_colors: NickColors
    _followed: str | None
    terminal: Any
    _print: Callable[..., None]
    _draw_chat: Callable[[], None]
    status_changed: Callable[[], None]

    def show(self, event: Event) -> None:
        if event.kind == "error":
            self.last_error = event.text
        if event.highlight:
            self.terminal.write(b"\x07")  # the bell: the terminal may flash or notify
        window = self._window_for(event)
        if event.older:
            # Older history, fetched by scrolling back: above the oldest line, in its order.
            if len(window.lines) < SCROLLBACK:
                window.lines.insert(window.older, styled(event, False, self.nick_colors))
                window.older += 1
            if window is self.windows[self.active] and self.back:
                self._draw_chat()
            return
        window.older = 0
        self._print(styled(event, window.key == "", self.nick_colors), window)
        if window is not self.windows[self.active] and event.kind in ("chat", "private"):
            window.unread += 1
            window.mention = window.mention or event.highlight
            self.status_changed()

    def _window_for(self, event: Event) -> Window:
        """A private line goes to the conversation's window, a room's to its own; the rest to where one is."""
        if event.kind == "private":
            mine = self.client is not None and self.client._is_me(event.nick)
            peer = (event.to if mine else event.nick) or "?"
            return self._window(peer, "@" + fold(peer), private=True)
        if event.room:
            return self._window(event.room, fold(event.room))
        return self.windows[self.active]

    def _window(self, name: str, key: str, private: bool = False) -> Window:
        for window in self.windows:
            if window.key == key:
                return window
        window = Window(name, key, private)
        self.windows.append(window)
        self.status_changed()
        return window

    def show_conversation(self, nick: str) -> None:
        """/query NICK: the private conversation's window (made if need be), in front."""
        window = self._window(nick, "@" + fold(nick), private=True)
        self.switch_window(self.windows.index(window) + 1)

    def switch_window(self, number: int) -> bool:
        """Show window C{number} (1 is the status window); the room or person there is who one talks to."""
        if not 1 <= number <= len(self.windows):
            return False
        self.active, self.back = number - 1, 0
        window = self.windows[self.active]
        window.unread, window.mention = 0, False
        client = self.client
        if client is not None and window.key:
            if window.private:
                client.query = window.name
            else:
                client.query = None
                joined = [r for r in client.rooms if fold(r) == window.key]
                if joined:
                    client.current = self._followed = joined[0]
        self._draw_chat()
        self.status_changed()
        return True

    def _follow_client(self) -> None:
        """After /join (or a leave), the window of the client's current room comes forward."""
        client = self.client
        if client is None or client.current == self._followed:
            return
        self._followed = client.current
        if client.current is not None:
            window = self._window(client.current, fold(client.current))
            if window is not self.windows[self.active]:
                self.switch_window(self.windows.index(window) + 1)

    def _activity(self) -> str:
        """The windows: the one shown in brackets, + for unread lines, ! for a mention."""
        marks = []
        for i, window in enumerate(self.windows, 1):
            mark = "!" if window.mention else "+" if window.unread else ""
            label = f"{i}:{window.name}{mark}"
            marks.append(f"[{label}]" if i - 1 == self.active else label)
        return " ".join(marks)
