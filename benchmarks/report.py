"""
The report: tables (plain text for the terminal, Markdown for
docs/performance.md), the targets with the measured figure and ratio of
each, and everything as JSON.

Ratios are our server's figure divided by the other's, taken in the same
run: absolute numbers drift from machine to machine, ratios much less.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Callable, Sequence
from typing import Any

import twisted

#: The chat-like targets, the primary first: the targets are judged on it.
CHAT_KEYS = ("chat", "chat-nohistory", "external")
IRC_NOTE = ("IRC servers do not send a channel message back to its sender: with N clients a message "
            "makes N-1 deliveries there and N on ours and on the broadcast baseline; deliveries are "
            "counted as received, not adjusted.")


def machine() -> dict[str, Any]:
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": model, "nproc": os.cpu_count(), "kernel": platform.release(),
        "python": platform.python_version(), "twisted": twisted.__version__,
    }
    try:
        import numpy
        info["numpy"] = numpy.__version__
    except ImportError:
        info["numpy"] = None
    try:
        with open("/proc/meminfo") as f:
            info["memory_gib"] = round(int(f.readline().split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return info


def primary(results: Sequence[dict[str, Any]]) -> str | None:
    present = {r["target"] for r in results}
    return next((k for k in CHAT_KEYS if k in present), None)


def find(results: Sequence[dict[str, Any]], scenario: str, target: str) -> dict[str, Any] | None:
    return next((r for r in results if r["scenario"] == scenario and r["target"] == target), None)


def median_run(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """
    One target's rounds of one scenario (C{--repeat}, on a machine whose
    speed drifts) as the round with the median figure: deliveries/s flat out,
    p99 at a set rate, KiB per client idle.  Losses, reorderings and
    disconnections are those of every round, so a bad round is not hidden.
    """
    ok = [r for r in runs if not r.get("error")]
    if not ok:
        return dict(runs[-1])
    mode = ok[0]["mode"]

    def figure(r: dict[str, Any]) -> float | None:
        if r.get("error"):
            return None
        if mode == "idle":
            return r.get("rss_per_client_kib")
        if mode == "rate":
            return r["latency_ms"]["p99"]
        return r["deliveries_per_s"]

    measured = [r for r in ok if figure(r) is not None] or ok
    # Worst first (fewest deliveries, longest p99, most memory), so that
    # with an even number of rounds the worse middle one is reported.
    higher_is_better = mode not in ("idle", "rate")
    ranked = sorted(measured, key=lambda r: (figure(r) or 0.0) * (1 if higher_is_better else -1))
    chosen = dict(ranked[(len(ranked) - 1) // 2])
    chosen["rounds"] = [figure(r) for r in runs]
    for key in ("lost", "reordered", "disconnected"):
        if key in chosen:
            chosen[key] = sum(r.get(key) or 0 for r in ok)
    if len(ok) < len(runs):
        chosen["round_errors"] = [r["error"] for r in runs if r.get("error")]
    return chosen


def _rounds_note(rows: Sequence[dict[str, Any]]) -> str | None:
    spread = [(r["server"], [v for v in r["rounds"] if v is not None]) for r in rows if len(r.get("rounds") or ()) > 1]
    if not spread:
        return None
    what = {"idle": "KiB per client", "rate": "p99 ms"}.get(rows[0]["mode"], "deliveries/s")
    n = max(len(v) for _, v in spread)
    return (f"median of {n} rounds, the servers taking turns; {what} from lowest to highest round: "
            + "; ".join(f"{server} {min(v):,.1f} to {max(v):,.1f}" for server, v in spread if v)
            + ("." if rows[0]["mode"] == "idle" else ". Lost and reordered count every round."))


def _ok(r: dict[str, Any] | None) -> bool:
    return r is not None and not r.get("error")


def ratio(ours: float | None, theirs: float | None) -> float | None:
    if ours is None or not theirs:
        return None
    return ours / theirs


# -- targets ------------------------------------------------------------------

def judge(results: Sequence[dict[str, Any]], chat: str) -> list[dict[str, Any]]:
    """Each target of the issue: goal, figure, met (True/False/None: not measured)."""
    targets: list[dict[str, Any]] = []

    def add(name: str, met: bool | None, figure: str, note: str = "") -> None:
        targets.append({"target": name, "met": met, "measured": figure, "note": note})

    ours = find(results, "100-10", chat)
    for key, title, goal in (("broadcast", "the minimal Twisted broadcast", 0.8),
                             ("words", "twistd words", 3.0), ("ngircd", "ngIRCd", 1.0)):
        name = f"100 clients / 10 senders: deliveries/s >= {goal:g}x {title}"
        theirs = find(results, "100-10", key)
        if not _ok(ours) or not _ok(theirs):
            why = (theirs or {}).get("error") or (ours or {}).get("error") or "not measured"
            add(name, None, why)
            continue
        assert ours is not None and theirs is not None
        r = ratio(ours["deliveries_per_s"], theirs["deliveries_per_s"])
        assert r is not None
        note = ""
        if theirs.get("generator_saturated") or theirs.get("window_bound"):
            why = "the generator was saturated" if theirs.get("generator_saturated") else "the window limited it"
            note = f"{why} against {title}: its figure is a floor, so the ratio is a ceiling"
        add(name, r >= goal, f"{r:.2f}x ({ours['deliveries_per_s']:,.0f} vs {theirs['deliveries_per_s']:,.0f})", note)
    _speed_round_two(results, chat, add)
    rate = find(results, "rate-100", chat)
    name = "p99 latency < 20 ms at half our max rate, 100 clients"
    if _ok(rate):
        assert rate is not None
        p99 = rate["latency_ms"]["p99"]
        note = "the generator was saturated: latencies may include its delay" if rate.get("generator_saturated") else ""
        add(name, p99 is not None and p99 < 20, f"p99 {p99:.1f} ms at {rate['msgs_per_s']:,.0f} messages/s "
            f"({rate['deliveries_per_s']:,.0f} deliveries/s)", note)
    else:
        add(name, None, (rate or {}).get("error") or "not measured")
    idle = find(results, "idle-10000", chat)
    if _ok(idle):
        assert idle is not None
        per = idle["rss_per_client_kib"]
        add("idle memory <= 16 KiB RSS per logged-on client", per is not None and per <= 16,
            f"{per:.1f} KiB" if per is not None else "no pid: not measured")
        add("10,000 clients connected and logged on within 30 s", idle["setup_s"] <= 30, f"{idle['setup_s']:.1f} s")
    else:
        why = (idle or {}).get("error") or "not measured"
        add("idle memory <= 16 KiB RSS per logged-on client", None, why)
        add("10,000 clients connected and logged on within 30 s", None, why)
    runs = [r for r in results if r["target"] == chat and r["mode"] != "idle" and _ok(r)]
    if runs:
        lost = sum(r["lost"] for r in runs)
        reordered = sum(r["reordered"] for r in runs)
        dropped = sum(r["disconnected"] for r in runs)
        add("zero loss and reordering", lost == 0 and reordered == 0 and dropped == 0,
            f"{lost} lost, {reordered} reordered, {dropped} disconnected in "
            f"{sum(len(r.get('rounds') or [r]) for r in runs)} runs")
    else:
        add("zero loss and reordering", None, "not measured")
    return targets


def _speed_round_two(results: Sequence[dict[str, Any]], chat: str, add: Any) -> None:
    """The targets of "Speed, round two": small rooms, CPU per delivery, latency at an ordinary load, the cluster."""

    def both(scenario: str, theirs_key: str, ours_key: str = chat) -> tuple[dict[str, Any], dict[str, Any]] | str:
        ours, theirs = find(results, scenario, ours_key), find(results, scenario, theirs_key)
        if _ok(ours) and _ok(theirs):
            assert ours is not None and theirs is not None
            return ours, theirs
        return (theirs or {}).get("error") or (ours or {}).get("error") or "not measured"

    def cpu(r: dict[str, Any]) -> float | None:
        return r["server_cpu_s_per_1k"] * 1000 if r["server_cpu_s_per_1k"] is not None else None

    name = "10 clients all sending: deliveries/s >= 1.0x the minimal Twisted broadcast, history on"
    pair = both("10-all", "broadcast")
    if isinstance(pair, str):
        add(name, None, pair)
    else:
        r = ratio(pair[0]["deliveries_per_s"], pair[1]["deliveries_per_s"])
        add(name, r is not None and r >= 1.0,
            f"{r:.2f}x ({pair[0]['deliveries_per_s']:,.0f} vs {pair[1]['deliveries_per_s']:,.0f})")
    name = "100 clients / 10 senders: CPU per delivery <= 1.2x ngIRCd's"
    pair = both("100-10", "ngircd")
    if isinstance(pair, str) or cpu(pair[0]) is None or not cpu(pair[1]):
        add(name, None, pair if isinstance(pair, str) else "no CPU figure")
    else:
        r = ratio(cpu(pair[0]), cpu(pair[1]))
        note = "the generator was saturated against ngIRCd" if pair[1].get("generator_saturated") else ""
        add(name, r is not None and r <= 1.2, f"{r:.2f}x ({cpu(pair[0]):.2f} vs {cpu(pair[1]):.2f} ms per 1,000)", note)
    name = "200 messages/s to 100 clients: p50 <= 1.5x ngIRCd's, p99 <= ngIRCd's"
    pair = both("rate-200", "ngircd")
    if isinstance(pair, str):
        add(name, None, pair)
    else:
        ours_lat, theirs_lat = pair[0]["latency_ms"], pair[1]["latency_ms"]
        met = (None not in (ours_lat["p50"], ours_lat["p99"], theirs_lat["p50"], theirs_lat["p99"])
               and ours_lat["p50"] <= 1.5 * theirs_lat["p50"] and ours_lat["p99"] <= theirs_lat["p99"])
        add(name, met, f"p50 {ours_lat['p50']:.2f} vs {theirs_lat['p50']:.2f} ms, "
                       f"p99 {ours_lat['p99']:.2f} vs {theirs_lat['p99']:.2f} ms")
    name = "one cluster node + Redis: CPU per delivery <= 1.5x the single process's, 100-10"
    pair = both("100-10", chat, "cluster-1")
    if isinstance(pair, str) or cpu(pair[0]) is None or not cpu(pair[1]):
        add(name, None, pair if isinstance(pair, str) else "no CPU figure")
    else:
        r = ratio(cpu(pair[0]), cpu(pair[1]))
        add(name, r is not None and r <= 1.5, f"{r:.2f}x ({cpu(pair[0]):.2f} vs {cpu(pair[1]):.2f} ms per 1,000)")


# -- tables -------------------------------------------------------------------

def _num(v: float | None, fmt: str = ",.0f") -> str:
    return "-" if v is None else format(v, fmt)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.0f}%"


def _flat_row(r: dict[str, Any], ours: dict[str, Any] | None) -> list[str]:
    if r.get("error"):
        return [r["server"], f"error: {r['error'][:160]}"]
    lat = r["latency_ms"]
    gen = r["generator_cpu_util"]
    gen_s = "/".join(_pct(u) for u in gen) + (" (saturated)" if r["generator_saturated"] else "")
    mark = "*" if not r["echo"] else ""
    rel = ratio(ours["deliveries_per_s"], r["deliveries_per_s"]) if _ok(ours) and ours is not None else None
    return [
        r["server"] + mark, _num(r["deliveries_per_s"]), _num(rel, ".2f"), _num(r["msgs_per_s"]),
        _num(lat["p50"], ".1f"), _num(lat["p99"], ".1f"), _num(lat["max"], ".1f"),
        str(r["lost"]), str(r["reordered"]),
        _num(r["server_cpu_s_per_1k"] * 1000 if r["server_cpu_s_per_1k"] is not None else None, ".2f"),
        _pct(r["server_cpu_util"]), gen_s,
    ]


FLAT_HEAD = ["server", "deliveries/s", "chat ÷ this", "msgs/s", "p50 ms", "p99 ms", "max ms", "lost",
             "reordered", "CPU ms/1k deliveries", "server CPU", "generator CPU"]
IDLE_HEAD = ["server", "clients", "connect + log on, s", "RSS before, MiB", "RSS after, MiB", "KiB per client",
             "chat ÷ this (KiB)"]


def _idle_row(r: dict[str, Any], ours: dict[str, Any] | None) -> list[str]:
    if r.get("error"):
        return [r["server"], f"error: {r['error'][:160]}"]
    per = r["rss_per_client_kib"]
    rel = ratio(ours["rss_per_client_kib"], per) if _ok(ours) and ours is not None else None
    mib = (lambda k: _num(k / 1024 if k is not None else None, ".1f"))
    return [r["server"], f"{r['clients']:,}",
            _num(r["setup_s"], ".1f") + (f" ({r['setup_retries']} reconnects)" if r.get("setup_retries") else ""),
            mib(r["rss_before_kib"]), mib(r["rss_after_kib"]), _num(per, ".2f"),
            _num(rel, ".2f")]


def sections(results: Sequence[dict[str, Any]]) -> list[tuple[str, list[str], list[list[str]], list[str]]]:
    """(title, header, rows, notes) per scenario, in running order."""
    chat = primary(results)
    out = []
    seen: list[str] = []
    for r in results:
        if r["scenario"] not in seen:
            seen.append(r["scenario"])
    for key in seen:
        rows = [r for r in results if r["scenario"] == key]
        ours = find(results, key, chat) if chat else None
        first = rows[0]
        notes: list[str] = []
        rounds = _rounds_note(rows)
        if rounds:
            notes.append(rounds)
        if first["mode"] == "idle":
            out.append((first["title"], IDLE_HEAD, [_idle_row(r, ours) for r in rows], notes))
            continue
        title = first["title"]
        windows = sorted({int(r["window"]) for r in rows if r.get("window")})
        if first["mode"] == "flat" and windows:
            title += f"; window {'/'.join(map(str, windows))} messages per sender"
        rates = [f"{r['server']}: {r['offered_msgs_per_s']:,.0f}" for r in rows if r.get("offered_msgs_per_s")]
        if rates:
            notes.append("offered messages/s: " + ", ".join(rates))
        bound = [r["server"] for r in rows if not r.get("error") and r.get("window_bound")]
        if bound:
            notes.append(f"window-bound: neither the server's CPU nor the generator's was saturated for "
                         f"{', '.join(bound)}; the messages in flight limited the rate, so the figure is a floor.")
        saturated = [r["server"] for r in rows if not r.get("error") and r.get("generator_saturated")]
        if saturated:
            notes.append(f"generator-bound: the generator used a whole core against {', '.join(saturated)}; "
                         f"that figure is a floor (and its latencies include the generator's delays).")
        if any(not r.get("error") and not r["echo"] for r in rows):
            notes.append("* " + IRC_NOTE)
        one = next((r for r in rows if r["target"] == "cluster-1" and not r.get("error")), None)
        two = next((r for r in rows if r["target"] == "cluster-2" and not r.get("error")), None)
        if one and two and one.get("deliveries_per_s"):
            notes.append(f"cluster: two nodes deliver {ratio(two['deliveries_per_s'], one['deliveries_per_s']):.2f}x "
                         f"what one node does ({two['deliveries_per_s']:,.0f} vs {one['deliveries_per_s']:,.0f} "
                         "deliveries/s), every process sharing this machine's cores.")
        out.append((title, FLAT_HEAD, [_flat_row(r, ours) for r in rows], notes))
    return out


def _text_table(head: list[str], rows: list[list[str]]) -> str:
    full = [r for r in rows if len(r) == len(head)]
    widths = [max(len(x) for x in col) for col in zip(head, *full)]
    lines = ["  ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(head, widths)))]
    for r in rows:
        if len(r) != len(head):
            lines.append(f"{r[0].ljust(widths[0])}  {' '.join(r[1:])}")
        else:
            lines.append("  ".join(x.rjust(w) if i else x.ljust(w) for i, (x, w) in enumerate(zip(r, widths))))
    return "\n".join(lines)


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in rows:
        cells = r if len(r) == len(head) else [r[0], " ".join(r[1:])] + [""] * (len(head) - 2)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def _targets_rows(report: dict[str, Any]) -> list[list[str]]:
    word = {True: "met", False: "MISSED", None: "not measured"}
    return [[t["target"], word[t["met"]], t["measured"] + (f" ({t['note']})" if t["note"] else "")]
            for t in report["targets"]]


def render(report: dict[str, Any], markdown: bool = False) -> str:
    table: Callable[[list[str], list[list[str]]], str] = _md_table if markdown else _text_table
    heading = (lambda s: f"### {s}") if markdown else (lambda s: f"== {s}")
    out: list[str] = []
    m = report["machine"]
    cap = report.get("counter_capacity") or {}
    out.append(f"Machine: {m['cpu']}, {m['nproc']} CPUs, Linux {m['kernel']}, Python {m['python']}, "
               f"Twisted {m['twisted']}, numpy {m.get('numpy') or 'none'}")
    if cap:
        out.append(f"Generator's counter ({cap['counter']}): {cap['deliveries_per_cpu_s']:,.0f} deliveries per CPU "
                   f"second ({cap['receivers']} sockets x {cap['frames_per_read']} frames per read)")
    s = report["settings"]
    out.append(f"Each flat or rate run: {s['warmup']:g} s warm-up, then {s['duration']:g} s measured; "
               f"{s['generators']} generator process(es); {s['text_bytes']}-byte texts; "
               f"server pinned to one CPU: {'yes' if s['pin'] else 'no'}"
               + (f"; median of {s['repeat']} rounds per server" if s.get("repeat", 1) > 1 else ""))
    for key, why in report["unavailable"].items():
        out.append(f"{key}: {why}")
    for title, version in report["versions"].items():
        out.append(f"{title}: {version}")
    for warning in report.get("warnings", []):
        out.append(f"WARNING: {warning}")
    for title, head, rows, notes in sections(report["results"]):
        out.append("")
        out.append(heading(title))
        if markdown:
            out.append("")
        out.append(table(head, rows))
        for n in notes:
            out.append(("\n" if markdown else "") + n)
    if report["targets"]:
        out.append("")
        out.append(heading(f"Targets (judged on '{report['primary']}')"))
        if markdown:
            out.append("")
        out.append(table(["target", "result", "measured"], _targets_rows(report)))
    for prof in report.get("profile") or []:
        out.append("")
        out.append(heading(f"Profile: {prof['target']} in {prof['scenario']} (py-spy, share of busy samples)"))
        summary = prof["summary"]
        if "error" in summary:
            out.append(summary["error"])
            continue
        run = prof.get("run") or {}
        if markdown:
            out.append("")
        out.append(f"{summary['samples']} samples; that run: {_num(run.get('deliveries_per_s'))} deliveries/s, "
                   f"{_num(run.get('msgs_per_s'))} msgs/s, server CPU {_pct(run.get('server_cpu_util'))}.")
        for kind, label in (("self", "self %"), ("ours_total", "total % (our code)"), ("files", "self % by file")):
            out.append("")
            out.append(table([label, "function" if kind != "files" else "file"],
                             [[f"{e['share'] * 100:.1f}", e["function"]] for e in summary.get(kind, [])]))
    return "\n".join(out)


def build(results: list[dict[str, Any]], settings: dict[str, Any], unavailable: dict[str, str],
          versions: dict[str, str], capacity: dict[str, Any] | None, profile: list[dict[str, Any]] | None) -> dict[str, Any]:
    chat = primary(results)
    return {
        "command": " ".join([os.path.basename(sys.executable), "-m", "benchmarks", *sys.argv[1:]]),
        "machine": machine(),
        "settings": settings,
        "counter_capacity": capacity,
        "versions": versions,
        "unavailable": unavailable,
        "primary": chat,
        "results": results,
        "targets": judge(results, chat) if chat else [],
        "profile": profile,
        "notes": [IRC_NOTE],
        "warnings": [],
    }
