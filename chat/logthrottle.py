"""
Logging that a loop of failures cannot flood: at most one line per kind of
failure (or per address) per interval, saying how many like it were kept
quiet.  A full disk once logged 461 tracebacks in 20 seconds; a loop of bad
web requests grew the log by megabytes a second.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

#: Seconds between two lines of the same kind.
INTERVAL = 60.0
#: Kinds remembered at most (forgotten all at once past it: a line more, never unbounded memory).
MAX_KINDS = 10_000


class LogThrottle:
    """Says, per kind, whether to log now, and how many lines were kept quiet since the last one."""

    __slots__ = ("_clock", "_kinds", "interval")

    def __init__(self, clock: Callable[[], float], interval: float = INTERVAL) -> None:
        self._clock = clock
        self.interval = interval
        self._kinds: dict[Hashable, tuple[float, int]] = {}

    def allow(self, kind: Hashable) -> int | None:
        """
        None to keep this one quiet; else the number kept quiet since the
        last line of its kind (0 the first time).
        """
        now = self._clock()
        last = self._kinds.get(kind)
        if last is not None and now - last[0] < self.interval:
            self._kinds[kind] = (last[0], last[1] + 1)
            return None
        if len(self._kinds) >= MAX_KINDS:
            self._kinds.clear()
        self._kinds[kind] = (now, 0)
        return 0 if last is None else last[1]

    def seen(self, kind: Hashable) -> bool:
        """Whether a line of this kind was logged before (and is remembered)."""
        return kind in self._kinds
