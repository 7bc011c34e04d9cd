"""
The picture: deliveries per second against the number of clients, and
latency, for every server of the run.  matplotlib is optional (pip install
matplotlib): without it the benchmark still prints its tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.scenarios import parse


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _rooms(r: dict[str, Any]) -> int:
    """How many rooms the run's clients were spread over (from its scenario)."""
    try:
        return parse(r["scenario"])[0].rooms
    except ValueError:
        return 1


def plot(results: Sequence[dict[str, Any]], path: Path, title: str = "") -> None:
    """
    Four panels: deliveries/s against clients in one room (flat out), p99
    and p50 latency against clients (flat out: queueing behind the window),
    deliveries/s in many small rooms, and p50/p99 at each set rate (half
    each server's maximum, or an ordinary rate), the latency that matters.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    flat = [r for r in results if r["mode"] == "flat" and not r.get("error") and _rooms(r) == 1]
    rooms = [r for r in results if r["mode"] == "flat" and not r.get("error") and _rooms(r) > 1]
    rate = [r for r in results if r["mode"] == "rate" and not r.get("error") and r["latency_ms"]["p99"] is not None]
    servers: list[str] = []
    for r in results:
        if r["server"] not in servers and r["mode"] != "idle":
            servers.append(r["server"])
    color = {server: f"C{i}" for i, server in enumerate(servers)}
    fig, (left, middle, small, right) = plt.subplots(1, 4, figsize=(22, 7),
                                                     gridspec_kw={"width_ratios": [1, 1, 0.8, 1.2]})
    for server in servers:
        points = sorted(((r["clients"], r) for r in flat if r["server"] == server), key=lambda p: p[0])
        if not points:
            continue
        xs = [c for c, _ in points]
        left.plot(xs, [r["deliveries_per_s"] for _, r in points], "o-", color=color[server], label=server)
        middle.plot(xs, [r["latency_ms"]["p99"] for _, r in points], "o-", color=color[server], label=server)
        middle.plot(xs, [r["latency_ms"]["p50"] for _, r in points], "o:", color=color[server], alpha=0.6)
    for ax in (left, middle):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("clients in one room")
        ax.grid(True, which="both", alpha=0.3)
    left.set_ylabel("deliveries per second")
    left.set_title("Throughput, flat out")
    left.legend(fontsize=8)
    middle.set_ylabel("latency, ms")
    middle.set_title("Latency flat out (solid p99, dotted p50)")
    if rooms:
        names = [f"{r['server']}\n{r['scenario']}" for r in rooms]
        small.barh(range(len(rooms)), [r["deliveries_per_s"] for r in rooms], color=[color[r["server"]] for r in rooms])
        small.set_yticks(list(range(len(rooms))))
        small.set_yticklabels(names, fontsize=8)
        small.invert_yaxis()
        small.set_xlabel("deliveries per second")
        small.set_title("1,000 clients in rooms of 10, all sending, flat out")
        small.grid(True, axis="x", alpha=0.3)
    else:
        small.set_axis_off()
    if rate:
        names = [f"{r['server']}: {r['scenario']}, {r['msgs_per_s']:,.0f} msg/s" for r in rate]
        ys = range(len(rate))
        right.barh([y + 0.2 for y in ys], [r["latency_ms"]["p99"] for r in rate], height=0.4,
                   color=[color[r["server"]] for r in rate], label="p99")
        right.barh([y - 0.2 for y in ys], [r["latency_ms"]["p50"] for r in rate], height=0.4,
                   color=[color[r["server"]] for r in rate], alpha=0.45, label="p50")
        right.set_yticks(list(ys))
        right.set_yticklabels(names, fontsize=8)
        right.invert_yaxis()
        right.axvline(20, color="k", linestyle="--", linewidth=1)
        right.set_xscale("log")
        right.text(20, len(rate) - 0.5, " p99 < 20 ms", fontsize=8, va="bottom")
        right.set_xlabel("latency, ms (dark p99, light p50)")
        right.set_title("At a set rate (half each server's max, or 200 msg/s)")
        right.grid(True, axis="x", alpha=0.3)
    else:
        right.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
