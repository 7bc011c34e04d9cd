"""
python -m benchmarks: measure the chat server's fan-out against baselines
started in the same run, and report ratios (docs/performance.md).

    python -m benchmarks                                  # the default set, about four minutes
    python -m benchmarks --scenario 100-10 --targets chat,broadcast
    python -m benchmarks --target 127.0.0.1:1500          # a chat server already running
    python -m benchmarks --json results.json --markdown table.md --plot docs/performance.png
    python -m benchmarks --profile profiles/              # and py-spy the chat server in 100-10
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import counting, plot, report, scenarios
from benchmarks.payload import MAX_SENDERS, new_tag
from benchmarks.profile import Profiler
from benchmarks.runner import Run, Settings
from benchmarks.servers import ExternalTarget, Target, all_targets, code_fingerprint

DEFAULT_TARGETS = "chat,chat-nohistory,chat-irc,broadcast,ngircd"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=scenarios.__doc__)
    p.add_argument("--scenario", default="default",
                   help="comma-separated scenarios (default: %(default)s; see below)")
    p.add_argument("--targets", default=DEFAULT_TARGETS,
                   help="servers to start and measure, in this order (default: %(default)s)")
    p.add_argument("--target", metavar="HOST:PORT", help="measure a chat server already running there instead")
    p.add_argument("--target-pid", type=int, help="its process id, for CPU and memory figures")
    p.add_argument("--server-arg", action="append", default=[], metavar="ARG",
                   help="one more argument for the chat servers started (repeatable)")
    p.add_argument("--duration", type=float, default=5.0, help="seconds measured per run (default: %(default)s)")
    p.add_argument("--repeat", type=int, default=1,
                   help="rounds of each scenario, the servers taking turns; the median round is reported "
                        "(for a machine whose speed drifts; default: %(default)s)")
    p.add_argument("--warmup", type=float, default=0.5, help="seconds of sending before the measurement")
    p.add_argument("--window", type=int, default=None,
                   help="messages each sender may have in flight (default: enough for --inflight deliveries)")
    p.add_argument("--inflight", type=int, default=200_000,
                   help="deliveries in flight across all senders when flat out (default: %(default)s)")
    p.add_argument("--rate", type=float, default=None,
                   help="messages/s for every rate scenario, instead of half of each server's maximum")
    p.add_argument("--generators", type=int, default=1, help="load generator processes (default: %(default)s)")
    p.add_argument("--text-bytes", type=int, default=100, help="bytes of text per message (default: %(default)s)")
    p.add_argument("--counter", choices=("auto", "numpy", "python"), default="auto",
                   help="how generators count deliveries (default: numpy if installed)")
    p.add_argument("--concurrency", type=int, default=50, help="clients setting up at once per generator")
    p.add_argument("--setup-timeout", type=float, default=120.0, help="seconds for all clients to set up")
    p.add_argument("--drain-timeout", type=float, default=10.0,
                   help="seconds to wait for the last messages after the senders stop")
    p.add_argument("--no-pin", action="store_true", help="do not pin the server and the generators to CPUs")
    p.add_argument("--json", metavar="FILE", help="write every figure as JSON to FILE ('-': stdout, no table)")
    p.add_argument("--markdown", metavar="FILE", help="write the report as Markdown tables to FILE")
    p.add_argument("--plot", metavar="PNG", help="draw deliveries/s and latency against clients (matplotlib)")
    p.add_argument("--profile", metavar="DIR",
                   help="afterwards, run --profile-scenario again with py-spy on the chat server; stacks go to DIR")
    p.add_argument("--profile-scenario", default="100-10",
                   help="comma-separated scenarios to profile (default: %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return p.parse_args(argv)


def raise_fd_limit() -> int:
    """Children inherit the limit: 10,000 clients need 10,000 descriptors on each side."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def progress(quiet: bool, text: str) -> None:
    if not quiet:
        print(text, file=sys.stderr, flush=True)


def summary_line(r: dict[str, Any]) -> str:
    if r.get("error"):
        return f"error: {r['error'][:300]}"
    if r["mode"] == "idle":
        per = r["rss_per_client_kib"]
        return f"set up in {r['setup_s']:.1f} s, {per:.2f} KiB per client" if per is not None else \
            f"set up in {r['setup_s']:.1f} s"
    gen = "/".join(f"{u * 100:.0f}%" for u in r["generator_cpu_util"] if u is not None)
    p99 = r["latency_ms"]["p99"]
    return (f"{r['deliveries_per_s']:,.0f} deliveries/s, {r['msgs_per_s']:,.0f} msgs/s, "
            f"p99 {p99 if p99 is None else round(p99, 1)} ms, lost {r['lost']}, reordered {r['reordered']}, "
            f"generator CPU {gen}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        chosen = scenarios.needs(scenarios.parse(args.scenario))
    except ValueError as e:
        print(f"python -m benchmarks: {e}", file=sys.stderr)
        return 2
    hard = raise_fd_limit()
    biggest = max(s.clients for s in chosen)
    if hard < biggest + 200:
        print(f"python -m benchmarks: {biggest:,} clients need a descriptor limit above {biggest + 200:,}; "
              f"the hard limit is {hard:,} (ulimit -Hn)", file=sys.stderr)
        return 2
    if any(s.senders > MAX_SENDERS for s in chosen):
        print(f"python -m benchmarks: at most {MAX_SENDERS - 1} senders", file=sys.stderr)
        return 2

    targets: list[Target]
    unavailable: dict[str, str] = {}
    versions: dict[str, str] = {}
    if args.target:
        host, _, port = args.target.rpartition(":")
        targets = [ExternalTarget(host or "127.0.0.1", int(port), args.target_pid)]
    else:
        wanted = [k.strip() for k in args.targets.split(",") if k.strip()]
        known = all_targets(args.server_arg, wanted)
        targets = []
        for key in wanted:
            if key not in known:
                print(f"python -m benchmarks: unknown target {key!r}; choose from {', '.join(known)}", file=sys.stderr)
                return 2
            target = known[key]
            why = target.missing()
            if why:
                unavailable[target.title] = why
            else:
                targets.append(target)
                versions[target.title] = target.version()

    settings = Settings(
        duration=args.duration, warmup=args.warmup, window=args.window, inflight=args.inflight,
        generators=args.generators, text_bytes=args.text_bytes, counter=args.counter,
        concurrency=args.concurrency, setup_timeout=args.setup_timeout, drain_timeout=args.drain_timeout,
        pin=not args.no_pin, tag=new_tag(),
    )
    capacity = counting.capacity(args.counter)
    progress(args.quiet, f"counter: {capacity['counter']}, {capacity['deliveries_per_cpu_s']:,.0f} deliveries per CPU second")
    for title, why in unavailable.items():
        progress(args.quiet, f"{title}: {why}")

    results: list[dict[str, Any]] = []
    started = time.monotonic()
    fingerprint = code_fingerprint()
    for scenario in chosen:
        rounds: dict[str, list[dict[str, Any]]] = {target.key: [] for target in targets}
        for round_no in range(max(1, args.repeat)):
            for target in targets:
                rate = None
                if scenario.mode == "rate":
                    rate = args.rate or scenario.rate
                    if rate is None:
                        base = report.find(results, scenario.half_of or "", target.key)
                        if base is None or base.get("error"):
                            rounds[target.key].append({
                                "scenario": scenario.key, "title": scenario.title, "target": target.key,
                                "server": target.title, "clients": scenario.clients,
                                "senders": scenario.senders, "mode": scenario.mode,
                                "error": f"no maximum measured in {scenario.half_of} to halve"})
                            continue
                        rate = base["msgs_per_s"] / 2
                which = f" (round {round_no + 1})" if args.repeat > 1 else ""
                progress(args.quiet, f"[{time.monotonic() - started:5.0f} s] {scenario.key} on {target.title}{which} ...")
                result = Run(target, scenario, settings, rate=rate).execute()
                rounds[target.key].append(result)
                progress(args.quiet, f"        {summary_line(result)}")
        for target in targets:
            runs = rounds[target.key]
            results.append(report.median_run(runs) if len(runs) > 1 else runs[0])

    profile = None
    if args.profile:
        profile = [run_profile(args, key, targets, settings, results)
                   for key in args.profile_scenario.split(",") if key.strip()]

    settings_out = {
        "scenarios": [s.key for s in chosen], "duration": settings.duration, "warmup": settings.warmup,
        "window": settings.window, "inflight": settings.inflight, "generators": settings.generators,
        "text_bytes": settings.text_bytes, "counter": capacity["counter"], "pin": settings.pin,
        "rate": args.rate, "server_args": args.server_arg, "repeat": args.repeat,
    }
    rep = report.build(results, settings_out, unavailable, versions, capacity, profile)
    rep["elapsed_s"] = time.monotonic() - started
    if code_fingerprint() != fingerprint:
        rep["warnings"].append("the server's code in the checkout changed during the run: "
                               "the figures mix two versions; run again")
    if args.json:
        text = json.dumps(rep, indent=2, default=str)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    if args.json != "-":
        print(report.render(rep))
    if args.markdown:
        Path(args.markdown).write_text(report.render(rep, markdown=True) + "\n")
    if args.plot:
        if plot.available():
            plot.plot(results, Path(args.plot), f"{rep['machine']['cpu']}, {rep['machine']['nproc']} CPUs")
        else:
            progress(False, "no plot: matplotlib is not installed (pip install matplotlib)")
    chat_failed = any(r.get("error") for r in results if r["target"] in report.CHAT_KEYS)
    return 1 if chat_failed else 0


def run_profile(args: argparse.Namespace, key: str, targets: list[Target], settings: Settings,
                results: list[dict[str, Any]]) -> dict[str, Any]:
    """Run one scenario again on the chat server with py-spy attached: its figures are not reported."""
    chat = next((t for t in targets if t.key in report.CHAT_KEYS), None)
    if chat is None:
        return {"target": "-", "scenario": key, "summary": {"error": "no chat server measured"}}
    scenario = scenarios.parse(key.strip())[0]
    rate = None
    if scenario.mode == "rate":
        base = report.find(results, scenario.half_of or "", chat.key)
        rate = args.rate or scenario.rate or (base["msgs_per_s"] / 2 if base and not base.get("error") else None)
    out = Path(args.profile) / f"{chat.key}-{scenario.key.replace(':', '_')}.txt"
    profiler = Profiler(out)
    progress(args.quiet, f"profiling {scenario.key} on {chat.title} with py-spy ...")
    result = Run(chat, scenario, settings, rate=rate, profiler=profiler).execute()
    summary = profiler.summary() if not result.get("error") else {"error": result["error"]}
    return {"target": chat.title, "scenario": scenario.key, "stacks": str(out), "summary": summary,
            "run": {k: result.get(k) for k in ("deliveries_per_s", "msgs_per_s", "server_cpu_util", "error")}}


if __name__ == "__main__":
    sys.exit(main())
