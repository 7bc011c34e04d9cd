"""The per-connection outbox: one write per reactor turn, places kept for replays, a bound on what waits."""

from __future__ import annotations

from twisted.internet.task import Clock

from chat.outbox import Outbox, QueueBudget, TurnFlusher


def outbox(limit: int = 1000) -> tuple[Outbox, Clock, list[bytes], list[str]]:
    clock = Clock()
    writes: list[bytes] = []
    events: list[str] = []
    box = Outbox(TurnFlusher(clock), writes.append, limit, lambda: events.append("overflow"))
    return box, clock, writes, events


def test_what_is_pushed_in_one_turn_is_written_once_at_its_end() -> None:
    box, clock, writes, _ = outbox()
    for data in (b"a", b"b", b"c"):
        box.push(data)
    assert writes == []
    clock.advance(0)
    assert writes == [b"abc"]
    box.push(b"d")
    clock.advance(0)
    assert writes == [b"abc", b"d"]


def test_one_flush_per_turn_for_every_outbox() -> None:
    clock = Clock()
    flusher = TurnFlusher(clock)
    writes: list[bytes] = []
    boxes = [Outbox(flusher, writes.append, 1000, lambda: None) for _ in range(3)]
    for box in boxes:
        box.push(b"x")
        box.push(b"y")
    assert len(clock.getDelayedCalls()) == 1
    clock.advance(0)
    assert writes == [b"xy"] * 3


def test_a_reserved_place_holds_back_what_comes_after_it_until_filled() -> None:
    box, clock, writes, _ = outbox()
    box.push(b"join ")
    fill = box.reserve()
    box.push(b"live1 ")
    clock.advance(0)
    assert writes == [b"join "]  # what came before the place goes at once
    box.push(b"live2 ")
    clock.advance(0)
    assert writes == [b"join "]
    fill([b"old1 ", b"old2 "])
    clock.advance(0)
    assert writes == [b"join ", b"old1 old2 live1 live2 "]


def test_places_are_filled_in_any_order_and_each_keeps_its_position() -> None:
    box, clock, writes, _ = outbox()
    first = box.reserve()
    box.push(b"a ")
    second = box.reserve()
    box.push(b"b ")
    second([b"B "])
    clock.advance(0)
    assert writes == []
    first([b"A "])
    clock.advance(0)
    assert writes == [b"A a B b "]
    first([b"again"])  # a place is filled once
    clock.advance(0)
    assert writes == [b"A a B b "]


def test_two_places_reserved_one_after_the_other_keep_their_order_whichever_is_filled_first() -> None:
    """Found in review: the IRC answers of PRIVMSG x,y take two places at one spot; the second filled first came out first."""
    box, clock, writes, _ = outbox()
    box.push(b"A")
    first, second = box.reserve(), box.reserve()
    box.push(b"PONG")
    second([b"401-y"])
    first([b"301-x"])
    clock.advance(0)
    assert writes == [b"A301-x401-yPONG"]


def test_an_empty_fill_frees_the_place() -> None:
    box, clock, writes, _ = outbox()
    fill = box.reserve()
    box.push(b"x")
    fill([])
    clock.advance(0)
    assert writes == [b"x"]


def test_drain_writes_everything_places_or_not_and_close_stops_queueing() -> None:
    box, clock, writes, _ = outbox()
    fill = box.reserve()
    box.push(b"x")
    box.drain()
    assert writes == [b"x"]
    box.close()
    box.push(b"y")
    fill([b"late"])
    clock.advance(0)
    assert writes == [b"x"]


def test_a_reader_that_stops_reading_overflows_past_the_limit_and_a_resumed_one_is_kept() -> None:
    box, clock, writes, events = outbox(limit=100)
    box.pause()
    for _ in range(9):
        box.push(b"x" * 10)
        clock.advance(0)
    assert len(b"".join(writes)) == 90 and box.backlog == 90, "under a slice, written to the full transport, counted"
    box.resume()
    assert events == [] and box.backlog == 0
    box.pause()
    for _ in range(11):
        box.push(b"x" * 10)
        clock.advance(0)
    assert events == ["overflow"]
    assert box.closed and len(b"".join(writes)) == 190  # the frame that went over was not written


class FillingTransport:
    """A transport whose buffer holds C{size} bytes: a write past that pauses its producer from inside write."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.buffered = 0
        self.box: Outbox | None = None

    def write(self, data: bytes) -> None:
        self.buffered += len(data)
        if self.buffered > self.size and self.box is not None and not self.box.backlogged:
            self.box.pause()

    def drained(self) -> None:
        self.buffered = 0
        assert self.box is not None
        self.box.resume()


def test_a_burst_that_fills_the_transport_counts_toward_the_bound() -> None:
    """Counting only after a pause missed the one big write that caused it (a fan-out burst)."""
    clock = Clock()
    transport = FillingTransport(size=100)
    events: list[str] = []
    box = transport.box = Outbox(TurnFlusher(clock), transport.write, 1000, lambda: events.append("overflow"))
    box.push(b"x" * 600)
    clock.advance(0)
    assert (box.backlog, events) == (600, [])
    box.push(b"y" * 600)
    clock.advance(0)
    assert events == ["overflow"] and box.closed


def test_a_fan_out_burst_goes_in_slices_and_waits_as_references_while_the_transport_is_full() -> None:
    """Issue 22: with --flood-rate 0, a burst joined whole per recipient grew memory by hundreds of MB."""
    from chat.outbox import SLICE

    clock = Clock()
    transport = FillingTransport(size=2 * SLICE)
    writes: list[bytes] = []

    def write(data: bytes) -> None:
        writes.append(data)
        transport.write(data)

    events: list[str] = []
    box = transport.box = Outbox(TurnFlusher(clock), write, 20 * SLICE, lambda: events.append("overflow"))
    shared = b"m" * 1024  # one event's frame, the same bytes for every recipient
    frames = 16 * SLICE // 1024  # sixteen slices' worth in one turn
    for _ in range(frames):
        box.push(shared)
    clock.advance(0)
    per_slice = SLICE // 1024
    assert [len(w) for w in writes] == [SLICE, SLICE, SLICE], "slices, until the transport said it was full"
    waiting = frames - 3 * per_slice
    assert box.backlog == SLICE + waiting * 1024 and events == []  # the slice that filled it, and what waits
    assert len(box._frames) == waiting and all(f is shared for f in box._frames), "what waits is references"
    transport.drained()
    assert [len(w) for w in writes] == [SLICE] * 6 and box.backlog == SLICE + (waiting - 3 * per_slice) * 1024
    for _ in range(6):
        transport.drained()
    assert sum(map(len, writes)) == frames * 1024 and box._frames == [] and events == []


def test_every_outbox_together_has_a_budget_and_the_heaviest_is_told_first() -> None:
    clock = Clock()
    flusher = TurnFlusher(clock)
    over: list[int] = []
    budget = QueueBudget(1500, lambda: over.append(budget.used))
    transports = [FillingTransport(size=10) for _ in range(3)]
    boxes = []
    for t in transports:
        box = t.box = Outbox(flusher, t.write, 1000, lambda: None, budget=budget)
        boxes.append(box)
    for box in boxes:
        box.push(b"z" * 600)
    clock.advance(0)
    assert budget.used == 1800 and over == [1800]  # the third went past the budget
    transports[0].drained()
    assert budget.used == 1200
    boxes[1].close()
    assert budget.used == 600


def test_being_told_again_that_the_buffer_is_full_does_not_restart_the_clock() -> None:
    """Twisted calls pauseProducing at every write to a full transport: behind since the first call."""
    box, clock, _, _ = outbox()
    clock.advance(10)
    box.pause()
    clock.advance(1)
    box.pause()
    assert box.paused_at == 10
    box.resume()
    box.pause()
    assert box.paused_at == 11
