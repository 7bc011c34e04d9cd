"""
Real processes and real sockets for end-to-end tests: a C{twistd chat}
server on a loopback port the OS picks, and a blocking wire client.  Every
wait is bounded, so a broken server fails a test instead of hanging it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 15.0
LISTENING = re.compile(rb"chat server listening on ([\d.]+):(\d+)")
TWISTD = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()"]


def source_env(**extra: str) -> dict[str, str]:
    """Environment that runs this checkout's code (and its twisted/plugins)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


class ServerProcess:
    """
    C{twistd -n ... chat ...} (or any twistd command line) as a child
    process; its output is collected by a thread so it can never block.
    """

    #: Every server started, so that a failed test leaves none running (conftest).
    started: list[ServerProcess] = []

    def __init__(self, cwd: Path, args: list[str] | None = None, twistd_args: list[str] | None = None,
                 env: dict[str, str] | None = None, prefix: list[str] | None = None) -> None:
        if args is None:
            args = ["--endpoint", "tcp:0:interface=127.0.0.1"]
        command = TWISTD + ["-n", "--pidfile=", *(twistd_args or []), "chat", *args]
        if twistd_args and "-y" in twistd_args:
            command = TWISTD + ["-n", "--pidfile=", *twistd_args]
        command = [*(prefix or []), *command]  # e.g. ip netns exec HOST
        self.cwd = cwd
        self.output = b""
        self._lock = threading.Lock()
        self.process = subprocess.Popen(
            command, cwd=cwd, env=env or source_env(), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        ServerProcess.started.append(self)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            self.host, self.port = self.wait_for_listening()
        except BaseException:
            self.kill()
            raise

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in iter(self.process.stdout.readline, b""):
            with self._lock:
                self.output += line

    def wait_for_output(self, pattern: re.Pattern[bytes], timeout: float = TIMEOUT) -> re.Match[bytes]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                match = pattern.search(self.output)
            if match:
                return match
            if self.process.poll() is not None:
                time.sleep(0.2)
                raise AssertionError(f"server exited ({self.process.returncode}):\n{self.output.decode(errors='replace')}")
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {pattern.pattern!r}:\n{self.output.decode(errors='replace')}")

    def wait_for_listening(self) -> tuple[str, int]:
        match = self.wait_for_output(LISTENING)
        return match.group(1).decode(), int(match.group(2))

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(TIMEOUT)
        finally:
            self._reader.join(TIMEOUT)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(TIMEOUT)


def free_port_number() -> int:
    """An N whose port 1500+N is free on loopback, as the seed's logon form wants."""
    for n in range(900, 1499):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", 1500 + n))
            except OSError:
                continue
            return n
    raise RuntimeError("no free port from 2400 to 2998")


def pack(obj: Any) -> bytes:
    body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return struct.pack("!I", len(body)) + body


class WireClient:
    """A client that speaks docs/protocol.md over a blocking socket."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = b""

    def send(self, **msg: Any) -> None:
        self.sock.sendall(pack(msg))

    def raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv(self, timeout: float = TIMEOUT) -> dict[str, Any] | None:
        """The next frame, or None when the server closed the connection."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self._buffer) >= 4:
                (n,) = struct.unpack("!I", self._buffer[:4])
                if len(self._buffer) >= 4 + n:
                    body, self._buffer = self._buffer[4:4 + n], self._buffer[4 + n:]
                    return json.loads(body)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no frame from the server")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return None
            if not chunk:
                return None
            self._buffer += chunk

    def recv_until(self, predicate: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """Frames up to and including the first that matches."""
        seen = []
        while True:
            msg = self.recv()
            if msg is None:
                raise AssertionError(f"connection closed; saw {seen}")
            seen.append(msg)
            if predicate(msg):
                return seen

    def logon(self, nick: str, room: str | None = "lobby") -> WireClient:
        """Log on and join C{room}, reading up to the end of the history replay (its marker comes in any case)."""
        self.send(code=4, text=nick)
        reply = self.recv()
        assert reply == {"code": 4, "text": nick, "nick": nick}, reply
        if room:
            self.send(code=1, room=room)
            self.recv_until(lambda m: m["code"] == 11)
        return self

    def close(self) -> None:
        self.sock.close()
