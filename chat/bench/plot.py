"""
The picture: deliveries per second against the number of clients, and
latency, for every server of the run.  matplotlib is optional (pip install
matplotlib): without it the benchmark still prints its tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def plot(results: Sequence[dict[str, Any]], path: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    flat = [r for r in results if r["mode"] == "flat" and not r.get("error")]
    rate = [r for r in results if r["mode"] == "rate" and not r.get("error")]
    servers: list[str] = []
    for r in results:
        if r["server"] not in servers and r["mode"] != "idle":
            servers.append(r["server"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    for i, server in enumerate(servers):
        color = f"C{i}"
        points = sorted((r["clients"], r) for r in flat if r["server"] == server)
        if points:
            xs = [c for c, _ in points]
            left.plot(xs, [r["deliveries_per_s"] for _, r in points], "o-", color=color, label=server)
            right.plot(xs, [r["latency_ms"]["p99"] for _, r in points], "o-", color=color,
                       label=f"{server}, p99 flat out")
            right.plot(xs, [r["latency_ms"]["p50"] for _, r in points], "o:", color=color, alpha=0.6)
        for r in rate:
            if r["server"] == server and r["latency_ms"]["p99"] is not None:
                right.plot([r["clients"]], [r["latency_ms"]["p99"]], "*", color=color, markersize=14,
                           label=f"{server}, p99 at {r['msgs_per_s']:,.0f} msg/s")
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("clients in the room")
    left.set_ylabel("deliveries per second")
    left.set_title("Throughput, flat out")
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=8)
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("clients in the room")
    right.set_ylabel("latency, ms (solid p99, dotted p50)")
    right.set_title("Latency: flat out (lines), half the max rate (stars)")
    right.grid(True, which="both", alpha=0.3)
    right.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
