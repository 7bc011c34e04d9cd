"""
The receive side of the load generator: count deliveries, check each
sender's order, time them, and decode nothing.

The generator runs in one Python process on the one core the server does not
use, and must read faster than any server under test writes: about 1.2
million deliveries a second for the minimal Twisted broadcast server on this
kind of machine.  Decoding every frame (json.loads) costs several
microseconds; even walking the length prefixes in Python costs about 250 ns a
frame here, and a regular expression over the bodies 500 ns more.  So the
default counter takes everything read in one turn of the event loop from
every socket, joins it into one buffer and finds the messages with numpy: the
marker byte, the fixed-width digits at known offsets after it, one sort to
check every (receiver, sender) sequence at once.  Its cost per turn is a
few tens of microseconds plus about 0.2 us per delivery, so the busier the
generator, the more each turn carries and the cheaper each delivery becomes.

L{PythonCounter} is the plain version: it walks the length prefixes (or
finds the last newline, for IRC) so only complete frames are counted, and
runs a regular expression over them.  It is used without numpy, or with
C{--counter python}.

Both count the same things: deliveries per sender, deliveries received in
the measurement window and their latencies, and for each receiver and sender
the next sequence number expected.  A message that arrives with a higher
number than expected is a gap; one with a lower number arrived out of order
(or twice): it is counted as reordered.  Loss is decided at the end by
counts: with every sequence strictly increasing, a receiver that has as many
messages of a sender as it sent has them all.
"""

from __future__ import annotations

import re
import struct
import time
from array import array
from collections.abc import Sequence
from typing import Any

from benchmarks.dialect import ws_frames
from benchmarks.payload import (
    FIELD_LEN,
    MARK,
    SENDER_DIGITS,
    SEQ_DIGITS,
    TAG_LEN,
    TIME_DIGITS,
    Payload,
)

#: One read: (receiver index, bytes, receive time in microseconds since the epoch).
Chunk = tuple[int, bytes, int]

_header = struct.Struct("!I")
_FOREVER = 1 << 62

try:
    import numpy
except ImportError:  # pragma: no cover - numpy ships with this machine image
    numpy = None  # type: ignore[assignment]


class Counter:
    """Tables shared by both counters."""

    kind = "?"

    def __init__(self, receivers: int, senders: int, tag: str, framed: bool | str) -> None:
        self.receivers = receivers
        self.senders = senders
        self.tag = tag
        self.framed = framed
        self.rest: list[bytes] = [b""] * receivers
        self.window = (_FOREVER, _FOREVER)
        self.in_window = 0
        self.total = 0

    def feed(self, chunks: Sequence[Chunk]) -> None:
        raise NotImplementedError

    def next_expected(self, receiver: int, sender: int) -> int:
        raise NotImplementedError

    def complete(self, expected: Sequence[int]) -> bool:
        """Whether every receiver has every message: next expected == C{expected} (flat, R x S)."""
        raise NotImplementedError

    def per_sender(self) -> dict[str, list[int]]:
        raise NotImplementedError

    def latencies(self) -> Any:
        """Latencies (microseconds) of the deliveries received in the window."""
        raise NotImplementedError


class PythonCounter(Counter):
    kind = "python"

    def __init__(self, receivers: int, senders: int, tag: str, framed: bool | str) -> None:
        super().__init__(receivers, senders, tag, framed)
        self.pattern = re.compile(
            re.escape(MARK + tag.encode())
            + rb"(\d{%d})(\d{%d})(\d{%d})" % (SENDER_DIGITS, SEQ_DIGITS, TIME_DIGITS)
        )
        self.nxt = [0] * (receivers * senders)
        self.received = [0] * senders
        self.reordered = [0] * senders
        self.gaps = [0] * senders
        self.lat = array("i")

    def feed(self, chunks: Sequence[Chunk]) -> None:
        w0, w1 = self.window
        unpack = _header.unpack_from
        S, nxt, received, reordered, gaps, lat = (
            self.senders, self.nxt, self.received, self.reordered, self.gaps, self.lat)
        for rid, data, rt in chunks:
            rest = self.rest[rid]
            if rest:
                data = rest + data
            n = len(data)
            if self.framed == "websocket":
                pos = ws_frames(data)[1]
            elif self.framed:
                pos = 0
                while pos + 4 <= n:
                    end = pos + 4 + unpack(data, pos)[0]
                    if end > n:
                        break
                    pos = end
            else:
                pos = data.rfind(b"\n") + 1
            self.rest[rid] = data[pos:]
            found = self.pattern.findall(data, 0, pos)
            if not found:
                continue
            inside = w0 <= rt < w1
            base = rid * S
            for s_, q_, t_ in found:
                s = int(s_)
                if s >= S:
                    continue
                q = int(q_)
                k = base + s
                e = nxt[k]
                if q == e:
                    nxt[k] = q + 1
                elif q > e:
                    gaps[s] += 1
                    nxt[k] = q + 1
                else:
                    reordered[s] += 1
                received[s] += 1
                self.total += 1
                if inside:
                    self.in_window += 1
                    lat.append(rt - int(t_))

    def next_expected(self, receiver: int, sender: int) -> int:
        return self.nxt[receiver * self.senders + sender]

    def complete(self, expected: Sequence[int]) -> bool:
        return self.nxt == list(expected)

    def per_sender(self) -> dict[str, list[int]]:
        return {"received": list(self.received), "reordered": list(self.reordered), "gaps": list(self.gaps)}

    def latencies(self) -> array:
        return self.lat


class NumpyCounter(Counter):
    kind = "numpy"

    def __init__(self, receivers: int, senders: int, tag: str, framed: bool | str) -> None:
        super().__init__(receivers, senders, tag, framed)
        np = numpy
        self.mark = MARK[0]
        self.tag_row = np.frombuffer(tag.encode(), np.uint8)
        #: Offsets after the marker of the tag and digits.
        self.offsets = np.arange(1, FIELD_LEN, dtype=np.intp)
        digits = SENDER_DIGITS + SEQ_DIGITS + TIME_DIGITS
        weights = np.zeros((digits, 3))
        col = 0
        for j, width in enumerate((SENDER_DIGITS, SEQ_DIGITS, TIME_DIGITS)):
            weights[col:col + width, j] = 10.0 ** np.arange(width - 1, -1, -1)
            col += width
        self.weights = weights
        self.bias = 48.0 * weights.sum(axis=0)  # the digits are ASCII
        self.nxt = np.zeros(receivers * senders, np.int64)
        self.received = np.zeros(senders, np.int64)
        self.reordered = np.zeros(senders, np.int64)
        self.gaps = np.zeros(senders, np.int64)
        self.lat: list[Any] = []

    def feed(self, chunks: Sequence[Chunk]) -> None:
        # Reads of one socket must be taken in turn (each continues what
        # the previous left): a socket read twice in one turn goes in layers.
        seen: set[int] = set()
        layer: list[Chunk] = []
        later: list[Chunk] = []
        for chunk in chunks:
            if chunk[0] in seen:
                later.append(chunk)
            else:
                seen.add(chunk[0])
                layer.append(chunk)
        if layer:
            self._feed_layer(layer)
        if later:
            self.feed(later)

    def _feed_layer(self, chunks: Sequence[Chunk]) -> None:
        np = numpy
        parts, ends, rids, rts = [], [], [], []
        size = 0
        for rid, data, rt in chunks:
            rest = self.rest[rid]
            if rest:
                data = rest + data
            parts.append(data)
            size += len(data)
            ends.append(size)
            rids.append(rid)
            rts.append(rt)
        buf = b"".join(parts) if len(parts) > 1 else parts[0]
        a = np.frombuffer(buf, np.uint8)
        seg_end = np.array(ends, np.int64)
        seg_start = np.empty_like(seg_end)
        seg_start[0] = 0
        seg_start[1:] = seg_end[:-1]
        # A field cut by the end of a read stays for the next read.
        tail = np.maximum(seg_end - (FIELD_LEN - 1), seg_start)
        cand = np.flatnonzero(a == self.mark)
        if cand.size:
            seg = np.searchsorted(seg_end, cand, side="right")
            whole = cand + FIELD_LEN <= seg_end[seg]
            if not whole.all():
                cand, seg = cand[whole], seg[whole]
        if cand.size:
            last = np.flatnonzero(np.append(seg[1:] != seg[:-1], True))
            tail[seg[last]] = np.maximum(tail[seg[last]], cand[last] + FIELD_LEN)
            self._account(a, cand, seg, np.array(rids, np.int64), np.array(rts, np.int64))
        for rid, start, end in zip(rids, tail.tolist(), ends):
            self.rest[rid] = buf[start:end] if start < end else b""

    def _account(self, a: Any, cand: Any, seg: Any, rids: Any, rts: Any) -> None:
        np = numpy
        S = self.senders
        fields = a[cand[:, None] + self.offsets]
        mine = (fields[:, :TAG_LEN] == self.tag_row).all(axis=1)
        values = (fields[:, TAG_LEN:].astype(np.float64) @ self.weights - self.bias).astype(np.int64)
        sid, seq, sent = values[:, 0], values[:, 1], values[:, 2]
        mine &= sid < S
        if not mine.all():
            sid, seq, sent, seg = sid[mine], seq[mine], sent[mine], seg[mine]
            if not sid.size:
                return
        rid, rt = rids[seg], rts[seg]
        key = rid * S + sid
        order = np.argsort(key, kind="stable")  # arrival order kept per (receiver, sender)
        k, q = key[order], seq[order]
        m = k.size
        first = np.empty(m, bool)
        first[0] = True
        np.not_equal(k[1:], k[:-1], out=first[1:])
        expected = np.empty(m, np.int64)
        expected[1:] = q[:-1] + 1
        expected[first] = self.nxt[k[first]]
        if np.array_equal(q, expected):
            last = np.empty(m, bool)
            last[-1] = True
            last[:-1] = first[1:]
            self.nxt[k[last]] = q[last] + 1
        else:
            self._check_one_by_one(k.tolist(), q.tolist())
        self.received += np.bincount(sid, minlength=S)
        self.total += m
        w0, w1 = self.window
        inside = (rt >= w0) & (rt < w1)
        n = int(np.count_nonzero(inside))
        if n:
            self.in_window += n
            self.lat.append((rt - sent)[inside].astype(np.int32))

    def _check_one_by_one(self, keys: list[int], seqs: list[int]) -> None:
        """Something is out of order: classify each arrival as the plain counter does."""
        S, nxt = self.senders, self.nxt
        for k, q in zip(keys, seqs):
            e = int(nxt[k])
            if q == e:
                nxt[k] = q + 1
            elif q > e:
                self.gaps[k % S] += 1
                nxt[k] = q + 1
            else:
                self.reordered[k % S] += 1

    def next_expected(self, receiver: int, sender: int) -> int:
        return int(self.nxt[receiver * self.senders + sender])

    def complete(self, expected: Sequence[int]) -> bool:
        return bool(numpy.array_equal(self.nxt, numpy.asarray(expected, numpy.int64)))

    def per_sender(self) -> dict[str, list[int]]:
        return {"received": self.received.tolist(), "reordered": self.reordered.tolist(),
                "gaps": self.gaps.tolist()}

    def latencies(self) -> Any:
        if not self.lat:
            return numpy.zeros(0, numpy.int32)
        return numpy.concatenate(self.lat)


def make_counter(kind: str, receivers: int, senders: int, tag: str, framed: bool | str) -> Counter:
    """C{kind}: "numpy", "python", or "auto" (numpy when it is installed)."""
    if kind == "auto":
        kind = "numpy" if numpy is not None else "python"
    if kind == "numpy":
        if numpy is None:
            raise RuntimeError("--counter numpy needs numpy (pip install numpy)")
        return NumpyCounter(receivers, senders, tag, framed)
    return PythonCounter(receivers, senders, tag, framed)


def capacity(kind: str = "auto", receivers: int = 100, senders: int = 10, per_read: int = 20,
             turns: int = 30) -> dict[str, Any]:
    """
    Deliveries per CPU second this counter handles, on frames shaped like our
    server's relays, C{per_read} frames per read from each of C{receivers}
    sockets per turn: what one generator core can take before the generator,
    not the server, is what is measured.
    """
    tag = "Cap"
    payload = Payload(tag)
    counter = make_counter(kind, receivers, senders, tag, framed=True)
    plan = []
    for t in range(turns):
        frames = []
        for j in range(t * per_read, (t + 1) * per_read):  # message j: sender j % S, its number j // S
            s, q = j % senders, j // senders
            body = (b'{"code":5,"text":"%s","room":"lobby","nick":"b%d","color":"default",'
                    b'"id":%d,"ts":1764054203123}' % (payload.text(s, q, 0), s, j))
            frames.append(_header.pack(len(body)) + body)
        data = b"".join(frames)
        plan.append([(r, data, 1) for r in range(receivers)])
    counter.window = (0, _FOREVER)
    cpu0 = time.process_time()
    for turn in plan:
        counter.feed(turn)
    cpu = time.process_time() - cpu0
    ok = counter.total == turns * receivers * per_read and not any(counter.per_sender()["reordered"])
    return {"counter": counter.kind, "receivers": receivers, "frames_per_read": per_read,
            "deliveries": counter.total, "cpu_s": cpu, "checked": ok,
            "deliveries_per_cpu_s": counter.total / cpu if cpu > 0 else 0.0}
