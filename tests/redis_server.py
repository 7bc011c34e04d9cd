"""
A real C{redis-server} (Debian's package, version 7) for the cluster tests,
on a loopback port of its own, with its data in a directory of the test's.

If the machine has no redis-server, L{redis_binary} installs Debian's
package (the test machines run as root and reach Debian's mirrors), so that
the README's one test command works on a fresh machine; where it cannot,
the tests fail with the reason: they are never skipped.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from benchmarks.servers import free_port
from tests.processes import TIMEOUT

_installed: list[str] = []


def redis_binary() -> str:
    found = shutil.which("redis-server") or ("/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None)
    if found:
        return found
    if _installed:
        return _installed[0]
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise RuntimeError("the cluster tests need redis-server 7: apt-get install redis-server")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "redis-server"]
    if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=True)
        subprocess.run(install, env=env, capture_output=True, check=True)
    found = shutil.which("redis-server") or "/usr/bin/redis-server"
    _installed.append(found)
    return found


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
