"""
Hostile and broken clients against the real server on loopback.  Each test
checks what the attacker got, and that a well-behaved client in the same
room saw every message, in order.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import TIMEOUT, ServerProcess, WireClient, pack

#: Server RSS growth allowed while one client never reads and others chat
#: hard (documented in docs/operations.md next to --max-outgoing).
RSS_BOUND = 64 * 1024 * 1024


@pytest.fixture
def strict_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """Short timeouts, so that the limits show within a test."""
    server = ServerProcess(tmp_path, [
        "--endpoint", "tcp:0:interface=127.0.0.1", "--logon-timeout", "2", "--idle-timeout", "2",
        "--ping-timeout", "2", "--max-per-address", "0", "--flood-kick", "3",
    ])
    yield server
    server.kill()


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class Witness:
    """A well-behaved member of lobby that sends numbered lines and checks it hears them all."""

    def __init__(self, server: ServerProcess, nick: str = "witness") -> None:
        self.client = WireClient(server.host, server.port).logon(nick)
        self.nick = nick
        self.sent = 0
        self.heard: list[str] = []
        self.others: list[dict] = []

    def _take(self, msg: dict | None) -> None:
        assert msg is not None, "the witness was disconnected"
        if msg["code"] == 5 and msg.get("nick") == self.nick:
            self.heard.append(msg["text"])
        elif msg["code"] == 9:
            self.client.send(code=10, text=msg.get("text", ""))
        else:
            self.others.append(msg)

    def drain(self) -> None:
        """Read whatever has arrived, without waiting."""
        while True:
            try:
                self._take(self.client.recv(timeout=0.01))
            except TimeoutError:
                return

    def leaves(self) -> list[str]:
        return [m["text"] for m in self.others if m["code"] == 2]

    def say(self, n: int = 1) -> None:
        for _ in range(n):
            self.client.send(code=5, text=f"{self.nick} {self.sent}")
            self.sent += 1

    def check_all_heard(self) -> None:
        while len(self.heard) < self.sent:
            self._take(self.client.recv())
        assert self.heard == [f"{self.nick} {i}" for i in range(self.sent)]


def test_slowloris_is_closed_by_the_logon_timeout(strict_server: ServerProcess) -> None:
    witness = Witness(strict_server)
    loris = socket.create_connection((strict_server.host, strict_server.port))
    frame = pack({"code": 4, "text": "loris"})
    closed_after = None
    start = time.monotonic()
    for byte in frame:
        try:
            loris.sendall(bytes([byte]))
        except OSError:
            closed_after = time.monotonic() - start
            break
        witness.say()
        time.sleep(0.5)
        loris.settimeout(0.01)
        try:
            data = loris.recv(65536)
        except TimeoutError:
            continue
        if data:
            assert b"logon-timeout" in data
            closed_after = time.monotonic() - start
            break
    assert closed_after is not None and closed_after < 6, "a byte-a-while client is not kept"
    witness.check_all_heard()


def test_hundreds_of_silent_connections(strict_server: ServerProcess) -> None:
    witness = Witness(strict_server)
    silent = [socket.create_connection((strict_server.host, strict_server.port)) for _ in range(300)]
    witness.say(20)
    witness.check_all_heard()
    deadline = time.monotonic() + TIMEOUT
    closed = 0
    for s in silent:
        s.settimeout(max(0.1, deadline - time.monotonic()))
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        assert b"logon-timeout" in data
        closed += 1
        s.close()
    assert closed == 300
    witness.say(5)
    witness.check_all_heard()


def test_half_open_client_is_dropped_by_keepalive(strict_server: ServerProcess) -> None:
    witness = Witness(strict_server)
    ghost = WireClient(strict_server.host, strict_server.port).logon("ghost")  # never answers PING
    witness.client.recv_until(lambda m: m["code"] == 1 and m["nick"] == "ghost")
    deadline = time.monotonic() + TIMEOUT
    leave = None
    while leave is None and time.monotonic() < deadline:
        msg = witness.client.recv()
        assert msg is not None
        if msg["code"] == 9:
            witness.client.send(code=10, text=msg.get("text", ""))
        elif msg["code"] == 2:
            leave = msg
    assert leave is not None and leave["text"] == "ghost was disconnected: no answer to PING"
    pings = []
    while True:
        msg = ghost.recv(timeout=2)
        if msg is None:
            break
        pings.append(msg["code"])
    assert 9 in pings


def test_flooder_is_slowed_then_dropped_and_loses_nothing_accepted(strict_server: ServerProcess) -> None:
    witness = Witness(strict_server)
    flooder = WireClient(strict_server.host, strict_server.port).logon("flooder")
    witness.client.recv_until(lambda m: m["code"] == 1 and m["nick"] == "flooder")
    stop = threading.Event()

    def flood() -> None:
        i = 0
        try:
            while not stop.is_set():
                flooder.sock.settimeout(1)
                flooder.raw(b"".join(pack({"code": 5, "text": f"flood {i + k}"}) for k in range(10)))
                i += 10
                time.sleep(0.01)
        except OSError:
            pass  # blocked (the server stopped reading) or closed: both expected

    thread = threading.Thread(target=flood, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not witness.leaves():
        witness.say()  # about 3 lines a second: well within the limit
        time.sleep(0.3)
        witness.drain()
    stop.set()
    flooder.sock.close()
    thread.join(TIMEOUT)
    witness.check_all_heard()
    assert witness.leaves() == ["flooder was disconnected: flooding"]
    # What the server accepted from the flooder reached the room complete and in order.
    floods = [m["text"] for m in witness.others if m["code"] == 5 and m.get("nick") == "flooder"]
    assert floods == [f"flood {i}" for i in range(len(floods))]
    assert len(floods) >= 20


def test_reader_that_never_reads_is_dropped_and_memory_stays_bounded(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, ["--endpoint", "tcp:0:interface=127.0.0.1", "--flood-rate", "0",
                                      "--max-outgoing", str(1024 * 1024)])
    try:
        witness = Witness(server)
        sleeper = socket.create_connection((server.host, server.port))
        sleeper.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sleeper.sendall(pack({"code": 4, "text": "sleeper"}) + pack({"code": 1, "room": "lobby"}))
        witness.client.recv_until(lambda m: m["code"] == 1 and m["nick"] == "sleeper")
        chatters = [WireClient(server.host, server.port).logon(f"chatty{i}") for i in range(3)]
        before = rss(server.process.pid)
        peak = before
        text = "x" * 1500
        for _ in range(400):
            for c in chatters:
                c.raw(pack({"code": 5, "text": text}) * 10)
            witness.say()
            for c in chatters:  # everyone but the sleeper keeps reading
                c.sock.settimeout(0.01)
                try:
                    while c.sock.recv(1 << 20):
                        pass
                except (BlockingIOError, TimeoutError):
                    pass
            witness.drain()
            peak = max(peak, rss(server.process.pid))
            if witness.leaves():
                break
        witness.check_all_heard()
        assert witness.leaves() == ["sleeper was disconnected: not reading its messages"]
        assert peak - before < RSS_BOUND, f"RSS grew by {(peak - before) / 1e6:.1f} MB"
    finally:
        server.kill()


def test_truncated_frame_then_close_harms_nobody(strict_server: ServerProcess) -> None:
    witness = Witness(strict_server)
    for data in (struct.pack("!I", 100) + b'{"code":', b"\x00\x00", b"\xff" * 64):
        s = socket.create_connection((strict_server.host, strict_server.port))
        s.sendall(data)
        s.close()
    witness.say(10)
    witness.check_all_heard()
