"""
Where the server's time goes: py-spy attached to it during a measurement,
summarised per function.

py-spy samples the server's Python stacks from outside (no code change, no
restart) with C{--nonblocking}, so the server is never paused; idle samples
(the reactor waiting in epoll) are left out, so the shares are of the time
the server was busy.  The collapsed stacks are kept; the summary gives each
function's share of samples on top of the stack (self) and anywhere in it
(total).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def py_spy() -> str | None:
    return shutil.which("py-spy")


def _short(path: str) -> str:
    for marker in ("site-packages/", "lib/python3"):
        if marker in path:
            return path.split(marker, 1)[1]
    for marker in ("/chat/", "/benchmarks/"):
        if marker in path:
            return marker.strip("/") + "/" + path.split(marker, 1)[1]
    return path


def _name(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    return f"{match['func']} ({_short(match['file'])})"


class Profiler:
    """Records one process for a while into C{output} (collapsed stacks)."""

    def __init__(self, output: Path, rate: int = 250) -> None:
        self.output = output
        self.rate = rate
        self.process: subprocess.Popen[bytes] | None = None
        self.error: str | None = None

    def start(self, pid: int, seconds: float) -> None:
        binary = py_spy()
        if binary is None:
            self.error = "py-spy is not installed (pip install py-spy)"
            return
        self.output.parent.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [binary, "record", "--pid", str(pid), "--duration", str(max(1, int(seconds))),
             "--rate", str(self.rate), "--format", "raw", "--nonblocking", "--output", str(self.output)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )

    def wait(self) -> None:
        if self.process is None:
            return
        try:
            _, err = self.process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        if self.process.returncode != 0 or not self.output.exists():
            self.error = f"py-spy failed ({self.process.returncode}): {err.decode(errors='replace')[-500:]}"

    def summary(self, top: int = 15) -> dict[str, Any]:
        if self.error is not None:
            return {"error": self.error}
        return summarise(self.output.read_text(), top)


def summarise(collapsed: str, top: int = 15) -> dict[str, Any]:
    """
    From py-spy's raw (collapsed) stacks: each function's share of busy
    samples on top of the stack (self), the share under each of our own
    functions (total, chat/ only: the framework's outer frames are in every
    sample and say nothing), and self time per file.
    """
    own: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    files: Counter[str] = Counter()
    samples = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        # The first frame may be the process/thread label, not code.
        frames = [_name(f) for f in stack.split(";") if "(" in f]
        if not frames:
            continue
        samples += n
        own[frames[-1]] += n
        files[frames[-1].rsplit("(", 1)[1].rstrip(")")] += n
        for name in set(frames):
            if "(chat/" in name:
                ours[name] += n

    def share(c: Counter[str]) -> list[dict[str, Any]]:
        return [{"function": f, "share": n / samples} for f, n in c.most_common(top)] if samples else []

    return {"samples": samples, "self": share(own), "ours_total": share(ours), "files": share(files)}
