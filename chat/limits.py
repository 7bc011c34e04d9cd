"""
Every per-client limit with its default (declared once, here: the twistd
options and docs/operations.md take them from L{Limits}), and flood control
as pure arithmetic on times the caller passes in (so tests need no clock and
the server needs no timer per client).
"""

from __future__ import annotations

import attrs

#: Frames per second a client may send on average, and how many at once.
FLOOD_RATE = 10.0
FLOOD_BURST = 20
#: A client slowed down in this many consecutive seconds is flooding.
FLOOD_KICK = 10

#: Bytes a client may leave unread in its outgoing queue, beyond the
#: transport's own buffer, before it is dropped as a slow consumer.
MAX_OUTGOING = 1024 * 1024


@attrs.frozen
class Limits:
    """Every per-client limit of the server.  Zero turns a limit off."""

    max_outgoing: int = MAX_OUTGOING
    max_clients: int = 10000
    max_per_address: int = 100
    logon_timeout: float = 30.0
    idle_timeout: float = 60.0
    ping_timeout: float = 30.0
    flood_rate: float = FLOOD_RATE
    flood_burst: int = FLOOD_BURST
    flood_kick: int = FLOOD_KICK


class TokenBucket:
    """
    A token bucket of C{burst} tokens refilled at C{rate} per second.  Each
    frame takes a token; a frame that finds none is not refused but
    delayed: L{take} says how long to stop reading.  A client slowed down in
    more than C{kick} consecutive seconds is flooding (a pasted paragraph is
    slowed for a second or two; a bot that never stops, for ever).
    """

    __slots__ = ("burst", "kick", "last_second", "rate", "stamp", "streak", "tokens")

    def __init__(self, now: float, rate: float = FLOOD_RATE, burst: int = FLOOD_BURST,
                 kick: int = FLOOD_KICK) -> None:
        self.rate = rate
        self.burst = burst
        self.kick = kick
        self.tokens = float(burst)
        self.stamp = now
        self.streak = 0
        self.last_second = -2

    def take(self, now: float) -> float:
        """Take one token; return the seconds to wait before reading on (0 if none)."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate) - 1
        self.stamp = now
        if self.tokens >= 0:
            return 0.0
        second = int(now)
        if second == self.last_second + 1:
            self.streak += 1
        elif second != self.last_second:
            self.streak = 1
        self.last_second = second
        return -self.tokens / self.rate

    @property
    def flooding(self) -> bool:
        return self.streak > self.kick
