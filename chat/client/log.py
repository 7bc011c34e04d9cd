"""
C{--log-dir}: each room's lines, and each private conversation's, in a
plain-text file of its own, as irssi's autolog keeps them.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from collections.abc import Callable
from typing import IO, Any

from chat.client.render import Event, plain
from chat.names import fold

_UNSAFE = re.compile(r"[^\w.#-]")


def log_name(name: str) -> str:
    """A file name for a room or a nickname: folded, and nothing a file system could take for a path."""
    return _UNSAFE.sub("_", fold(name)).lstrip(".") or "_"


class LoggedView:
    """A view (the terminal, or the pipe) that also writes what it shows to the log directory."""

    def __init__(self, view: Any, directory: Path, me: str = "") -> None:
        self._view = view
        self.directory = directory
        self.me_of: Callable[[], str] = lambda: me
        directory.mkdir(parents=True, exist_ok=True)
        self._files: dict[str, IO[str]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._view, name)

    def show(self, event: Event) -> None:
        self._view.show(event)
        name = self._file_of(event)
        if name is not None:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event.ts / 1000 if event.ts else time.time()))
            f = self._files.get(name)
            if f is None:
                f = self._files[name] = open(self.directory / f"{name}.log", "a", encoding="utf-8")
            f.write(f"{stamp} {plain(event)}\n")
            f.flush()

    def _file_of(self, event: Event) -> str | None:
        if event.kind == "private":
            other = event.to if event.nick and fold(event.nick) == fold(self.me_of()) else event.nick
            return log_name(other or "private")
        if event.room and event.kind in ("chat", "event", "notice"):
            return log_name(event.room)
        return None

    def finish(self, code: int) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()
        self._view.finish(code)
