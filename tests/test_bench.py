"""
The benchmark (python -m benchmarks) on a tiny scenario, against the real
chat server and the broadcast baseline: it must count real deliveries and
find none lost or out of order.  No figure is asserted on: speeds vary.
The counters are also checked on their own, on bytes cut at awkward places.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys

import pytest

from benchmarks import counting
from benchmarks.payload import FIELD_LEN, Payload
from tests.processes import ROOT, source_env


def _bench(*args: str, scenario: str = "flat:4:2") -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--scenario", scenario, "--duration", "1", "--warmup", "0.2",
         "--json", "-", "--quiet", *args],
        cwd=ROOT, env=source_env(), capture_output=True, timeout=50, check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    return json.loads(done.stdout)


def test_benchmark_counts_every_delivery_from_our_server_and_the_baseline() -> None:
    report = _bench("--targets", "chat,chat-irc,chat-web,broadcast")
    results = {r["target"]: r for r in report["results"]}
    assert set(results) == {"chat", "chat-irc", "chat-web", "broadcast"}
    for r in results.values():
        assert r["error"] is None, r["error"]
        assert r["deliveries_in_window"] > 0
        assert r["deliveries_total"] == r["deliveries_expected"] > 0
        assert (r["lost"], r["reordered"], r["disconnected"]) == (0, 0, 0)
        assert r["latency_ms"]["samples"] == r["deliveries_in_window"]
    assert report["targets"][-1]["met"] is True  # zero loss and reordering


def test_small_rooms_hear_only_their_own_members() -> None:
    """8 clients in 2 rooms of 4, all sending: each message reaches its room (4 on ours, 3 over IRC), no more."""
    report = _bench("--targets", "chat,chat-irc,broadcast", scenario="rooms:8:2:flat")
    results = {r["target"]: r for r in report["results"]}
    assert results["broadcast"]["error"] == "not run: the broadcast baseline has no rooms"
    for key, recipients in (("chat", 4), ("chat-irc", 3)):
        r = results[key]
        assert r["error"] is None, r["error"]
        assert r["recipients_per_message"] == recipients
        assert r["deliveries_total"] == r["deliveries_expected"] == r["sent"] * recipients > 0
        assert (r["lost"], r["reordered"], r["disconnected"]) == (0, 0, 0)


def test_plain_python_counter_walks_the_frames_too() -> None:
    report = _bench("--targets", "chat,chat-web", "--counter", "python")
    assert [r["target"] for r in report["results"]] == ["chat", "chat-web"]
    for r in report["results"]:
        assert r["counter"] == "python"
        assert r["deliveries_total"] == r["deliveries_expected"] > 0
        assert (r["lost"], r["reordered"]) == (0, 0)


def test_websocket_frames_are_cut_where_they_end() -> None:
    from benchmarks.dialect import WebSocketDialect, ws_message

    dialect = WebSocketDialect()
    long = json.dumps({"code": 5, "text": "y" * 300}).encode()
    server = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
              + bytes((0x81, 10)) + b'{"code":4')
    units, rest = dialect.split(server)
    assert units == ["upgraded"] and rest == bytes((0x81, 10)) + b'{"code":4'
    units, rest = dialect.split(bytes((0x81, 10)) + b'{"code":4}' + bytes((0x81, 126)) + len(long).to_bytes(2, "big")
                                + long + bytes((0x81, 126, 1)))
    assert units == [{"code": 4}, {"code": 5, "text": "y" * 300}] and rest == bytes((0x81, 126, 1))
    assert ws_message(b"hi") == bytes((0x81, 0x82, 0, 0, 0, 0)) + b"hi"


def _frames(payload: Payload, messages: list[tuple[int, int]]) -> bytes:
    out = b""
    for sid, seq in messages:
        body = b'{"code":5,"text":"%s","room":"lobby","nick":"b%d","id":1}' % (payload.text(sid, seq, 5), sid)
        out += struct.pack("!I", len(body)) + body
    return out


@pytest.mark.parametrize("kind", ["python", "numpy"])
def test_counters_agree_on_bytes_cut_anywhere(kind: str) -> None:
    if kind == "numpy" and counting.numpy is None:
        pytest.skip("numpy is not installed")
    payload = Payload("Tst")
    data = _frames(payload, [(0, 0), (1, 0), (0, 1), (1, 1), (0, 2)])
    counter = counting.make_counter(kind, receivers=2, senders=2, tag="Tst", framed=True)
    counter.window = (0, 10)
    # Receiver 0 gets everything in 7-byte reads (fields cut in two), receiver 1 in one read.
    for i in range(0, len(data), 7):
        counter.feed([(0, data[i:i + 7], 8)])
    counter.feed([(1, data, 20)])
    assert counter.per_sender() == {"received": [6, 4], "reordered": [0, 0], "gaps": [0, 0]}
    assert counter.complete([3, 2, 3, 2])
    assert counter.in_window == 5  # receiver 0's, read at 8 us; receiver 1 read after the window
    assert sorted(int(x) for x in counter.latencies()) == [3] * 5
    assert FIELD_LEN > 7


@pytest.mark.parametrize("kind", ["python", "numpy"])
def test_counters_see_gaps_and_reordering(kind: str) -> None:
    if kind == "numpy" and counting.numpy is None:
        pytest.skip("numpy is not installed")
    payload = Payload("Tst")
    counter = counting.make_counter(kind, receivers=1, senders=1, tag="Tst", framed=True)
    counter.feed([(0, _frames(payload, [(0, 0), (0, 2), (0, 1), (0, 3)]), 1)])
    assert counter.per_sender() == {"received": [4], "reordered": [1], "gaps": [1]}


def test_cluster_mode_spreads_the_clients_over_two_nodes_and_loses_nothing() -> None:
    from tests.redis_server import redis_binary

    redis_binary()  # installs Debian's redis-server where it is missing
    report = _bench("--targets", "cluster-1,cluster-2")
    results = {r["target"]: r for r in report["results"]}
    assert set(results) == {"cluster-1", "cluster-2"}
    for r in results.values():
        assert r["error"] is None, r["error"]
        assert r["deliveries_total"] == r["deliveries_expected"] > 0
        assert (r["lost"], r["reordered"], r["disconnected"]) == (0, 0, 0)


def test_rounds_are_reported_as_the_median_round_with_every_loss_counted() -> None:
    from benchmarks.report import median_run, sections

    def flat(per_s: float, lost: int = 0) -> dict:
        return {"scenario": "100-10", "title": "t", "target": "chat", "server": "chat", "mode": "flat",
                "deliveries_per_s": per_s, "lost": lost, "reordered": 0, "disconnected": 0, "echo": True,
                "latency_ms": {"p50": 1.0, "p99": 2.0, "max": 3.0}, "msgs_per_s": per_s / 10,
                "generator_cpu_util": [0.5], "generator_saturated": False, "server_cpu_s_per_1k": 0.001,
                "server_cpu_util": 1.0}

    chosen = median_run([flat(900.0), flat(500.0, lost=2), flat(700.0)])
    assert chosen["deliveries_per_s"] == 700.0
    assert chosen["rounds"] == [900.0, 500.0, 700.0]
    assert chosen["lost"] == 2, "a round that lost messages is not hidden by the median"
    failed = median_run([flat(800.0), {**flat(0.0), "error": "server died"}])
    assert failed["deliveries_per_s"] == 800.0 and failed["round_errors"] == ["server died"]
    assert median_run([flat(900.0), flat(500.0)])["deliveries_per_s"] == 500.0, "of two, the worse"
    slow = {**flat(100.0), "mode": "rate", "latency_ms": {"p50": 1.0, "p99": 30.0, "max": 40.0}}
    fast = {**slow, "latency_ms": {"p50": 1.0, "p99": 10.0, "max": 40.0}}
    unmeasured = {**slow, "latency_ms": {"p50": None, "p99": None, "max": None}}
    assert median_run([fast, slow])["latency_ms"]["p99"] == 30.0, "of two, the longer p99"
    assert median_run([unmeasured, fast])["latency_ms"]["p99"] == 10.0, "a round that measured nothing is not chosen"
    notes = sections([chosen])[0][3]
    assert any("median of 3 rounds" in n and "500.0 to 900.0" in n for n in notes), notes
