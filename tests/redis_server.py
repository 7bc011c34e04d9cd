"""
A real C{redis-server} (Debian's package, version 7) for the cluster tests,
on a loopback port of its own, with its data in a directory of the test's.

If the machine has no redis-server, Debian's package is installed first
(L{tests.debian}).
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from benchmarks.servers import free_port
from tests.debian import debian_program
from tests.processes import TIMEOUT

def redis_binary() -> str:
    return debian_program("redis-server")


class RedisProcess:
    """redis-server with append-only persistence (fsync on every write), on a free port."""

    started: list[RedisProcess] = []

    def __init__(self, data_dir: Path, host: str = "127.0.0.1", port: int | None = None,
                 netns: str | None = None) -> None:
        self.data_dir = data_dir
        self.host = host
        self.port = port or free_port()
        self.netns = netns
        data_dir.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None
        RedisProcess.started.append(self)
        self.start()

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self) -> None:
        command = [
            redis_binary(), "--port", str(self.port), "--bind", self.host, "--dir", str(self.data_dir),
            "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--protected-mode", "no",
            "--logfile", str(self.data_dir / "redis.log"),
        ]
        if self.netns:
            command = ["ip", "netns", "exec", self.netns, *command]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if self.ping():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        log = (self.data_dir / "redis.log").read_text(errors="replace") if (self.data_dir / "redis.log").exists() else ""
        raise AssertionError(f"redis-server did not start on {self.host}:{self.port}:\n{log[-2000:]}")

    def command(self, *args: str) -> bytes:
        """One command over a raw socket (RESP), for tests to look inside."""
        request = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode()) for a in args)
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        if prefix:
            out = subprocess.run([*prefix, "redis-cli", "-h", self.host, "-p", str(self.port), *args],
                                 capture_output=True, timeout=TIMEOUT, check=True)
            return out.stdout
        with socket.create_connection((self.host, self.port), timeout=2) as s:
            s.sendall(request)
            time.sleep(0.05)
            return s.recv(65536)

    def ping(self) -> bool:
        try:
            return b"PONG" in self.command("PING")
        except (OSError, subprocess.SubprocessError):
            return False

    def stop(self) -> None:
        """A clean shutdown (SIGTERM): Redis writes its data and exits."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(TIMEOUT)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(TIMEOUT)
