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
#: Bytes all clients together may leave unread (so a crowd of readers that
#: each stay under MAX_OUTGOING still cannot take the server's memory): past
#: it, the server reads no more from those who said the most lately until
#: the readers catch up, and a second later drops the clients still behind,
#: the most behind first, until less than half of it is left unread.
MAX_QUEUED = 32 * 1024 * 1024
#: Messages one client may have accepted but not yet relayed (waiting for
#: the store or the cluster): past it, its input is not read until they are.
MAX_IN_FLIGHT = 64
#: What costs one more flood-control token beyond the frame itself: this
#: many characters of text, messages of a history page, names of a list.
TEXT_PER_TOKEN = 250
PAGE_PER_TOKEN = 50
NAMES_PER_TOKEN = 100


@attrs.frozen
class Limits:
    """Every per-client limit of the server.  Zero turns a limit off."""

    max_outgoing: int = MAX_OUTGOING
    max_queued: int = MAX_QUEUED
    max_clients: int = 10000
    max_per_address: int = 100
    logon_timeout: float = 30.0
    idle_timeout: float = 60.0
    ping_timeout: float = 30.0
    flood_rate: float = FLOOD_RATE
    flood_burst: int = FLOOD_BURST
    flood_kick: int = FLOOD_KICK
    #: Messages a join's history replay holds at most (what a join costs flood control: L{PAGE_PER_TOKEN}).
    replay: int = 50


class TokenBucket:
    """
    A token bucket of C{burst} tokens refilled at C{rate} per second.  Each
    frame takes a token; a frame that finds none is not refused but
    delayed: L{take} says how long to stop reading.  A client slowed down in
    more than C{kick} consecutive seconds is flooding (a pasted paragraph is
    slowed for a second or two; a bot that never stops, for ever).
    """

    __slots__ = ("burst", "cost_stamp", "cost_tokens", "kick", "last_second", "rate", "stamp", "streak", "tokens")

    def __init__(self, now: float, rate: float = FLOOD_RATE, burst: int = FLOOD_BURST,
                 kick: int = FLOOD_KICK) -> None:
        self.rate = rate
        self.burst = burst
        self.kick = kick
        self.tokens = float(burst)
        self.stamp = now
        # Costs (long text, pages, lists) have a bucket of their own, so
        # that paying for them never looks like flooding.
        self.cost_tokens = float(burst)
        self.cost_stamp = now
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

    def charge(self, now: float, cost: float) -> float:
        """
        Take C{cost} more tokens for a costly request (long text, a big page
        or list): the seconds to wait before reading on.  Costly requests
        slow a client down but never count as flooding on their own.
        """
        self.cost_tokens = min(self.burst, self.cost_tokens + (now - self.cost_stamp) * self.rate) - cost
        self.cost_stamp = now
        return 0.0 if self.cost_tokens >= 0 else -self.cost_tokens / self.rate

    def available(self, now: float) -> float:
        """The tokens there are now (nothing is taken)."""
        return min(self.burst, self.tokens + (now - self.stamp) * self.rate)

    def give_back(self) -> None:
        """A token taken for what did not happen after all."""
        self.tokens = min(self.burst, self.tokens + 1)

    @property
    def flooding(self) -> bool:
        return self.streak > self.kick


class BucketTable:
    """
    A token bucket per key (an account's password attempts, a nickname's new
    rooms), at most C{max_keys} of them: a full table forgets the buckets
    that are whole again, then the oldest, never everyone's at once.
    """

    __slots__ = ("_buckets", "burst", "max_keys", "rate")

    def __init__(self, rate: float, burst: int, max_keys: int) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: dict[object, TokenBucket] = {}

    def __call__(self, key: object, now: float) -> TokenBucket:
        """The bucket of C{key}, made whole if it had none."""
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._forget_some(now)
            bucket = self._buckets[key] = TokenBucket(now, self.rate, self.burst)
        return bucket

    def forget(self, key: object) -> None:
        self._buckets.pop(key, None)

    def _forget_some(self, now: float) -> None:
        for key in [k for k, b in self._buckets.items() if b.available(now) >= b.burst]:
            del self._buckets[key]
        while len(self._buckets) >= self.max_keys:
            del self._buckets[next(iter(self._buckets))]
