"""
What one connection has yet to be sent, for any front end: frames gathered
during a reactor turn go to the transport in one write at its end (a write
costs microseconds, an append a tenth of that: docs/performance.md); a
join's history replay keeps its place while it is read; a reader that stops
reading is dropped past a bound instead of being buffered for without end.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from itertools import accumulate
from typing import Any

from twisted.internet.interfaces import IReactorTime


#: Bytes of one write: a turn's frames for one connection go in slices of about this size.
SLICE = 256 * 1024


class TurnFlusher:
    """Flushes every outbox that received something, once, at the end of the reactor turn."""

    def __init__(self, clock: IReactorTime) -> None:
        self.clock = clock
        self._due: list[Outbox] = []

    def schedule(self, outbox: Outbox) -> None:
        if not self._due:
            self.clock.callLater(0, self.flush)
        self._due.append(outbox)

    def flush(self) -> None:
        due, self._due = self._due, []
        for outbox in due:
            outbox.flush()


class QueueBudget:
    """
    The bytes every outbox of a front end has queued unread, against one
    limit: C{over} is called each time a count goes past it (and picks whom
    to drop).
    """

    __slots__ = ("limit", "over", "used")

    def __init__(self, limit: int, over: Callable[[], None]) -> None:
        self.limit = limit
        self.over = over
        self.used = 0


class _Place:
    """A reserved position in an outbox, counted in frames from its head."""

    __slots__ = ("at",)

    def __init__(self, at: int) -> None:
        self.at = at


class Outbox:
    """
    Frames for one connection.  C{write} takes the bytes of one flush;
    C{overflow} is called (and nothing more is written) once more than
    C{limit} bytes were queued while the transport said its buffer was full
    (L{pause} until L{resume}).

    An item is bytes, or anything C{render} turns into bytes when it is
    written (a front end's events): so a broadcast costs each recipient one
    append, and the rendering, cached per event, is done once per flush.
    """

    __slots__ = ("_budget", "_counted", "_flusher", "_frames", "_overflow", "_places", "_render", "_scheduled", "_write",
                 "backlog", "backlogged", "closed", "limit", "paused_at")

    def __init__(self, flusher: TurnFlusher, write: Callable[[bytes], int | None], limit: int,
                 overflow: Callable[[], None], render: Callable[[Any], bytes] | None = None,
                 budget: QueueBudget | None = None) -> None:
        self._budget = budget
        self._flusher = flusher
        self._write = write
        self._render = render
        self._overflow = overflow
        self.limit = limit
        self._frames: list[Any] = []
        self._counted = 0  # frames at the head already counted as waiting unread
        self._places: list[_Place] = []
        self._scheduled = False
        self.backlogged = False
        self.paused_at = 0.0
        self.backlog = 0
        self.closed = False

    def push(self, data: Any) -> None:
        """Queue C{data} (one or more whole frames, or an item to render) for the end of this turn."""
        if self.closed:
            return
        self._frames.append(data)
        if not self._scheduled:
            self._scheduled = True
            self._flusher.schedule(self)

    def reserve(self) -> Callable[[Sequence[Any]], None]:
        """
        Keep the next place for frames that come later: what is pushed
        meanwhile is written only after them.  Returns the function that
        fills the place (an empty sequence frees it).
        """
        place = _Place(len(self._frames))
        self._places.append(place)

        def fill(frames: Sequence[Any]) -> None:
            places = self._places
            if place not in places:
                return  # filled already, or drained by a close
            i = places.index(place)
            del places[i]
            if frames:
                self._frames[place.at:place.at] = frames
                # Places are in the order they were reserved, which is their order in the outbox: only
                # those reserved after this one move (one reserved before it at the same spot stays first).
                for other in places[i:]:
                    other.at += len(frames)
            if self._frames and not self.closed and not self._scheduled:
                self._scheduled = True
                self._flusher.schedule(self)

        return fill

    def flush(self) -> None:
        """
        Write what is ready (everything up to the first place still
        waiting), in slices of at most L{SLICE} bytes, while the transport
        takes them.  Once it says its buffer is full, the rest stays here,
        as references to the events' shared bytes, counted as unread, and
        goes when the transport drains (L{resume}): a fan-out burst is never
        joined whole for each recipient, nor copied into Twisted's buffers.
        """
        self._scheduled = False
        if self.closed:
            return
        frames, places = self._frames, self._places
        if places:
            ready = places[0].at
            if not ready:
                return
        else:
            ready = len(frames)
        backlogged = self.backlogged
        if backlogged and self.backlog >= SLICE:
            # A slice waits unread in the transport already: the rest waits here, as references.
            self._count_waiting(ready)
            return
        if ready == len(frames):
            batch, self._frames = frames, []
        else:
            batch = frames[:ready]
            del frames[:ready]
        if places:
            for place in places:
                place.at -= ready
        if self._counted:
            self._counted = 0
        render = self._render
        if render is not None:
            batch = [f if type(f) is bytes else render(f) for f in batch]
        data = batch[0] if len(batch) == 1 else b"".join(batch)
        if len(data) > SLICE and len(batch) > 1:
            # Past a slice (a burst): written slice by slice (this join, made once at a time, is dropped).
            self._flush_slices(batch, ready, places)
            return
        if backlogged:  # the transport is full: all of it waits unread (past the limit, not written)
            self._count(len(data))
            if not self.closed:
                self._write(data)
            return
        left = self._write(data)
        if self.backlogged:
            # This write filled the transport's buffer (it paused us from
            # inside write): what the socket did not take waits unread, so it counts.
            self._count(len(data) if left is None else left)

    def _flush_slices(self, batch: list[bytes], ready: int, places: list[_Place]) -> None:
        """A turn's frames past a slice: written slice by slice; what the full transport does not take waits."""
        written = self._write_slices(batch)
        if written < ready and not self.closed:
            # The transport is full: the rest goes back to the head, to wait (and be counted) there.
            rest = batch[written:]
            self._frames[0:0] = rest
            for place in places:
                place.at += len(rest)
            self._count_waiting(len(rest))

    def _write_slices(self, batch: list[bytes]) -> int:
        """
        Write C{batch} in slices of about L{SLICE} bytes until the transport
        is full: how many frames went.  The slices' ends are found by
        bisecting the running total of sizes (no Python step per frame).
        """
        ends = list(accumulate(map(len, batch)))
        start, done, count = 0, 0, len(batch)
        while start < count and not self.backlogged:
            end = min(bisect_left(ends, done + SLICE, start) + 1, count)
            data = batch[start] if end == start + 1 else b"".join(batch[start:end])
            start, done = end, ends[end - 1]
            left = self._write(data)
            if self.backlogged:  # what the socket did not take of the slice that filled the buffer waits unread
                self._count(len(data) if left is None else left)
        return start

    def _count_waiting(self, ready: int) -> None:
        """The first C{ready} frames wait while the transport is full: count those not counted yet."""
        counted, frames, render = self._counted, self._frames, self._render
        if ready <= counted:
            return
        new = frames[counted:ready]
        if render is not None:  # rendered once: the event's own bytes, no copy
            new = frames[counted:ready] = [f if type(f) is bytes else render(f) for f in new]
        self._counted = ready
        self._count(sum(map(len, new)))

    def _count(self, size: int) -> None:
        """C{size} more bytes wait unread: past this client's limit it is dropped; past all's, someone is."""
        self.backlog += size
        budget = self._budget
        if budget is not None:
            budget.used += size
        if self.backlog > self.limit:
            self.closed = True
            self._overflow()  # it may read the backlog, to say how much
            self.close()
        elif budget is not None and budget.used > budget.limit:
            budget.over()

    def drain(self) -> None:
        """Write everything queued now, places or not, full transport or not: a connection's last words."""
        self._places = []
        frames, self._frames = self._frames, []
        if frames and not self.closed:
            render = self._render
            self._write(b"".join(f if type(f) is bytes else render(f) for f in frames))  # type: ignore[misc]

    def close(self) -> None:
        """Queue nothing more (and what was counted unread is no longer anyone's)."""
        self.closed = True
        self._frames = []
        self._places = []
        self._uncount()

    def _uncount(self) -> None:
        if self._budget is not None:
            self._budget.used -= self.backlog
        self.backlog = 0

    def pause(self) -> None:
        """
        The transport's buffer is full: from now on, count what is queued.
        (Twisted says so again at every write while it is full: the first
        time is when the client stopped keeping up.)
        """
        if not self.backlogged:
            self.backlogged = True
            self.paused_at = self._flusher.clock.seconds()

    def resume(self) -> None:
        """The transport wrote out its buffer: nothing waits unread, and what waits here goes."""
        self.backlogged = False
        self._uncount()
        self._counted = 0
        if self._frames and not self.closed:
            self.flush()  # now: the transport asks for more (a producer may write in resumeProducing)
