"""
One scenario against one server: start the server, start the generators,
set the clients up, measure, check, tear everything down.

The measurement window is C{duration} seconds after C{warmup} seconds of
sending.  Deliveries per second count what receivers got inside the window;
the server's CPU is read from /proc at the window's edges; latencies are
those of the deliveries received inside it.  After the senders stop, the
generators wait until every receiver has every message (or a timeout): only
then are loss and order judged.

On a machine with two cores or more the server is pinned to CPU 0 and the
generators to the others, so the two never take turns on one core.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from benchmarks import procstat
from benchmarks.profile import Profiler
from benchmarks.scenarios import Scenario
from benchmarks.servers import (
    ExternalServer,
    ExternalTarget,
    RunningServer,
    Target,
    source_env,
)

try:
    import numpy
except ImportError:  # pragma: no cover
    numpy = None  # type: ignore[assignment]

#: A generator at or above this share of one core may be what limits the rate.
SATURATED = 0.9
#: The most messages one sender may have in flight by default.  Our server
#: drops every client of a 10-client room as a slow consumer when each of 10
#: senders keeps 256 in flight (docs/performance.md); 128 keeps every server
#: here busy without that.
MAX_WINDOW = 128


@dataclass
class Settings:
    duration: float = 5.0
    warmup: float = 0.5
    #: Messages each sender may have in flight (sent, not yet seen by its
    #: watcher); None: enough for C{inflight} deliveries in all.
    window: int | None = None
    inflight: int = 200_000
    generators: int = 1
    text_bytes: int = 100
    counter: str = "auto"
    concurrency: int = 50
    setup_timeout: float = 120.0
    drain_timeout: float = 10.0
    pin: bool = True
    tag: str = "Bnc"
    epoch_ns: int = field(default_factory=time.monotonic_ns)
    workroot: Path | None = None
    #: Seconds to let a server settle before and after idle clients log on.
    settle: float = 1.0


class BenchError(Exception):
    pass


def _cpus() -> tuple[set[int], set[int]] | None:
    """(server CPUs, generator CPUs), or None on one core."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    return {cpus[0]}, set(cpus[1:])


class GeneratorProcess:
    """A C{python -m benchmarks.generator} child and the events it prints."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.generator"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            # One thread: numpy's BLAS would otherwise start a worker per core
            # that spins between calls, on the generator's own core.
            stderr=subprocess.PIPE, env=source_env(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
                                                   MKL_NUM_THREADS="1"),
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.stderr = b""
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        self.send(config)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in iter(self.process.stdout.readline, b""):
            try:
                self.events.put(json.loads(line))
            except ValueError:
                self.events.put({"event": "error", "message": f"bad line from a generator: {line[:200]!r}"})
        self.events.put({"event": "exited"})

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        self.stderr = self.process.stderr.read()

    def send(self, obj: dict[str, Any]) -> None:
        stdin: IO[bytes] | None = self.process.stdin
        assert stdin is not None
        try:
            stdin.write(json.dumps(obj).encode() + b"\n")
            stdin.flush()
        except BrokenPipeError:
            pass

    def expect(self, name: str, timeout: float) -> dict[str, Any]:
        try:
            event = self.events.get(timeout=timeout)
        except queue.Empty:
            raise BenchError(f"no '{name}' from a generator within {timeout:g} s") from None
        if event["event"] == name:
            return event
        if event["event"] == "error":
            raise BenchError(event["message"])
        if event["event"] == "exited":
            self.process.wait(5)
            raise BenchError(f"a generator exited ({self.process.returncode}) waiting for '{name}': "
                             f"{self.stderr.decode(errors='replace')[-1500:]}")
        raise BenchError(f"a generator said {event['event']!r}, not {name!r}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.send({"cmd": "quit"})
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def _sleep_until(epoch_ns: int, us: int) -> None:
    delay = (epoch_ns + us * 1000 - time.monotonic_ns()) / 1e9
    if delay > 0:
        time.sleep(delay)


def _now_us(epoch_ns: int) -> int:
    return (time.monotonic_ns() - epoch_ns) // 1000


def percentiles(latencies_us: Any) -> dict[str, float | int | None]:
    n = len(latencies_us)
    if not n:
        return {"p50": None, "p99": None, "max": None, "samples": 0}
    if numpy is not None:
        p50, p99 = numpy.percentile(latencies_us, [50, 99])
        top = int(latencies_us.max())
    else:
        ordered = sorted(latencies_us)
        p50, p99, top = ordered[(n - 1) // 2], ordered[min(n - 1, int(0.99 * (n - 1) + 0.5))], ordered[-1]
    return {"p50": float(p50) / 1000, "p99": float(p99) / 1000, "max": top / 1000, "samples": n}


def _read_latencies(paths: list[Path]) -> Any:
    if numpy is not None:
        parts = [numpy.fromfile(p, numpy.int32) for p in paths if p.exists()]
        return numpy.concatenate(parts) if parts else numpy.zeros(0, numpy.int32)
    values = array("i")
    for p in paths:
        if p.exists():
            with p.open("rb") as f:
                values.frombytes(f.read())
    return values


class Run:
    """One scenario against one target."""

    def __init__(self, target: Target, scenario: Scenario, settings: Settings,
                 rate: float | None = None, profiler: Profiler | None = None) -> None:
        self.target = target
        self.scenario = scenario
        self.settings = settings
        self.rate = rate
        self.profiler = profiler
        self.server: RunningServer | ExternalServer | None = None
        self.generators: list[GeneratorProcess] = []
        self.setup_retries = 0
        self.workdir = Path(tempfile.mkdtemp(prefix=f"bench-{target.key}-", dir=settings.workroot))

    def execute(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "scenario": self.scenario.key, "title": self.scenario.title, "target": self.target.key,
            "server": self.target.title, "clients": self.scenario.clients, "senders": self.scenario.senders,
            "mode": self.scenario.mode, "error": None,
        }
        try:
            result.update(self._execute())
            result["setup_retries"] = self.setup_retries
        except BenchError as e:
            result["error"] = str(e)
        except Exception as e:  # noqa: BLE001 - one failed run must not lose the others' figures
            result["error"] = f"{type(e).__name__}: {e}"
        finally:
            self._teardown(result)
        return result

    def window_for(self, clients: int, senders: int) -> int:
        """
        Per-sender window: what keeps about C{inflight} deliveries queued in
        the server (busy, never buried) whatever the room size.
        """
        if self.settings.window:
            return self.settings.window
        if not senders:
            return 0
        return max(4, min(MAX_WINDOW, -(-self.settings.inflight // (senders * clients))))

    # -- the steps ------------------------------------------------------------

    def _start_server(self) -> None:
        if isinstance(self.target, ExternalTarget):
            self.server = ExternalServer(self.target)
            return
        self.server = self.target.start(self.workdir)
        cpus = _cpus() if self.settings.pin and len(self._pids()) == 1 else None
        if cpus:
            procstat.pin(self.server.pid, cpus[0])

    def _start_generators(self) -> None:
        assert self.server is not None
        s, sc = self.settings, self.scenario
        n = sc.clients
        count = max(1, min(s.generators, n // 2 if sc.mode != "idle" else n))
        senders = {k * n // sc.senders: k for k in range(sc.senders)} if sc.senders else {}
        self.window = self.window_for(sc.room_size, sc.senders)
        for g in range(count):
            clients = list(range(g * n // count, (g + 1) * n // count))
            config = {
                "host": self.server.host, "port": self.server.port, "dialect": self.target.dialect,
                "addresses": getattr(self.server, "addresses", None),
                "clients": clients, "senders": {str(i): senders[i] for i in clients if i in senders},
                "total_senders": sc.senders, "join": sc.mode != "idle", "tag": s.tag,
                "rooms": sc.rooms, "senders_everywhere": {str(i): k for i, k in senders.items()},
                "nick_prefix": s.tag, "text_bytes": s.text_bytes, "epoch_ns": s.epoch_ns,
                "window": self.window, "counter": s.counter,
                "concurrency": min(s.concurrency, self.target.concurrency or s.concurrency),
                "setup_timeout": s.setup_timeout, "lat_file": str(self.workdir / f"latencies-{g}.bin"),
            }
            self.generators.append(GeneratorProcess(config))
        cpus = _cpus() if s.pin and len(self._pids()) == 1 else None
        for gen in self.generators:
            gen.expect("started", 60)
            if cpus:
                procstat.pin(gen.process.pid, cpus[1])

    def _pids(self) -> list[int]:
        """The server's processes: one, or a cluster's nodes and its Redis."""
        assert self.server is not None
        return list(getattr(self.server, "pids", None) or ([self.server.pid] if self.server.pid else []))

    def _cpu_seconds(self) -> float:
        return sum(procstat.cpu_seconds(pid) for pid in self._pids())

    def _setup_clients(self) -> float:
        for gen in self.generators:
            gen.send({"cmd": "connect"})
        ready = [gen.expect("ready", self.settings.setup_timeout + 30) for gen in self.generators]
        self.setup_retries = sum(r["retries"] for r in ready)
        return max(r["setup_s"] for r in ready)

    def _execute(self) -> dict[str, Any]:
        if self.scenario.rooms > 1 and self.target.dialect["kind"] == "broadcast":
            raise BenchError("not run: the broadcast baseline has no rooms")
        self._start_server()
        assert self.server is not None
        pid = self.server.pid
        if self.scenario.mode == "idle":
            return self._idle(pid)
        self._start_generators()
        setup_s = self._setup_clients()
        return {"setup_s": setup_s, **self._measure(pid)}

    def _idle(self, pid: int | None) -> dict[str, Any]:
        time.sleep(self.settings.settle)
        before = sum(procstat.rss_kib(p) for p in self._pids()) if pid else None
        self._start_generators()
        setup_s = self._setup_clients()
        time.sleep(self.settings.settle)
        after = sum(procstat.rss_kib(p) for p in self._pids()) if pid else None
        n = self.scenario.clients
        per = (after - before) / n if before is not None and after is not None else None
        return {"setup_s": setup_s, "rss_before_kib": before, "rss_after_kib": after, "rss_per_client_kib": per}

    def _measure(self, pid: int | None) -> dict[str, Any]:
        s = self.settings
        epoch = s.epoch_ns
        start = _now_us(epoch) + 300_000
        w0 = start + int(s.warmup * 1e6)
        w1 = w0 + int(s.duration * 1e6)
        stop = w1
        go = {"cmd": "go", "start_us": start, "w0_us": w0, "w1_us": w1, "stop_us": stop, "rate": self.rate}
        for gen in self.generators:
            gen.send(go)
        _sleep_until(epoch, w0)
        cpu0 = self._cpu_seconds() if pid else None
        if self.profiler is not None and pid:
            self.profiler.start(pid, s.duration)
        _sleep_until(epoch, w1)
        cpu1 = self._cpu_seconds() if pid else None
        wait = s.duration + 30
        sent: dict[int, int] = {}
        for gen in self.generators:
            for k, v in gen.expect("sent", wait)["sent"].items():
                sent[int(k)] = v
        drain = {"cmd": "drain", "sent": {str(k): v for k, v in sent.items()}, "timeout_s": s.drain_timeout}
        for gen in self.generators:
            gen.send(drain)
        results = [gen.expect("result", s.drain_timeout + 30) for gen in self.generators]
        if self.profiler is not None:
            self.profiler.wait()
        return self._figures(sent, results, cpu0, cpu1, (stop - start) / 1e6)

    def _figures(self, sent: dict[int, int], results: list[dict[str, Any]], cpu0: float | None,
                 cpu1: float | None, sending_s: float) -> dict[str, Any]:
        s, sc = self.settings, self.scenario
        echoes = self.target.dialect["kind"] != "irc"
        recipients = sc.room_size if echoes else sc.room_size - 1
        S = sc.senders
        received = [sum(r["received"][k] for r in results) for k in range(S)]
        reordered = [sum(r["reordered"][k] for r in results) for k in range(S)]
        expected = [sent.get(k, 0) * recipients for k in range(S)]
        lost = [max(0, e - got) for e, got in zip(expected, received)]
        extra = [max(0, got - e) for e, got in zip(expected, received)]
        in_window = sum(r["in_window"] for r in results)
        latencies = _read_latencies([self.workdir / f"latencies-{g}.bin" for g in range(len(self.generators))])
        gen_util = [r["cpu_s"] / r["cpu_window_s"] if r["cpu_window_s"] else None for r in results]
        server_cpu = cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else None
        return {
            "window": self.window,
            "echo": echoes,
            "recipients_per_message": recipients,
            "offered_msgs_per_s": self.rate,
            "msgs_per_s": sum(sent.values()) / sending_s,
            "sent": sum(sent.values()),
            "deliveries_per_s": in_window / s.duration,
            "deliveries_in_window": in_window,
            "deliveries_total": sum(received),
            "deliveries_expected": sum(expected),
            "latency_ms": percentiles(latencies),
            "lost": sum(lost),
            "reordered": sum(reordered) + sum(extra),
            "lost_per_sender": lost,
            "reordered_per_sender": [a + b for a, b in zip(reordered, extra)],
            "drained": all(r["drained"] for r in results),
            "disconnected": sum(r["n_disconnected"] for r in results),
            "disconnect_reasons": [why for r in results for why in r["disconnected"]][:5],
            "server_cpu_s": server_cpu,
            "server_cpu_util": server_cpu / s.duration if server_cpu is not None else None,
            "server_cpu_s_per_1k": server_cpu / in_window * 1000 if server_cpu is not None and in_window else None,
            "generator_cpu_util": gen_util,
            "generator_saturated": any(u is not None and u >= SATURATED for u in gen_util),
            # Neither side busy: the window, not a CPU, set the rate.
            "window_bound": (sc.mode == "flat" and server_cpu is not None and server_cpu / s.duration < 0.85
                             and not any(u is not None and u >= SATURATED for u in gen_util)),
            "counter": results[0]["counter"] if results else None,
        }

    def _teardown(self, result: dict[str, Any]) -> None:
        for gen in self.generators:
            gen.stop()
        if self.server is not None:
            if not self.server.alive() and result.get("error") is None:
                result["error"] = f"the server died: {self.server.tail()}"
            result["server_tracebacks"] = self.server.tracebacks()
            if result["server_tracebacks"] or result.get("disconnected") or result.get("lost") or result.get("error"):
                result["server_log_tail"] = self.server.tail(3000)
            self.server.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
