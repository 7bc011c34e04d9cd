"""The real `twistd chat` over real loopback sockets, driven as a foreign client would."""

from __future__ import annotations

import os
import re
import signal
import struct
import subprocess
import time
from pathlib import Path

from tests.processes import (
    ROOT,
    TIMEOUT,
    TWISTD,
    ServerProcess,
    WireClient,
    free_port_number,
    pack,
    source_env,
)


def test_two_clients_chat_through_rooms(server: ServerProcess) -> None:
    alice = WireClient(server.host, server.port).logon("alice")
    bob = WireClient(server.host, server.port).logon("bob")
    assert alice.recv() == {"code": 1, "text": "bob has joined lobby", "nick": "bob", "room": "lobby"}

    bob.send(code=5, text="hello alice", color="cyan")
    for c in (alice, bob):
        msg = c.recv()
        assert msg is not None
        assert (msg["code"], msg["nick"], msg["text"], msg["color"], msg["id"]) == (5, "bob", "hello alice", "cyan", 1)
        assert abs(msg["ts"] / 1000 - time.time()) < 60

    alice.send(code=6, to="bob", text="secret")
    assert bob.recv()["text"] == "secret"  # type: ignore[index]
    assert alice.recv()["to"] == "bob"  # type: ignore[index]

    bob.send(code=1, room="#side")
    bob.recv_until(lambda m: m["code"] == 11)
    bob.send(code=7)
    assert bob.recv() == {"code": 7, "names": ["#side", "lobby"]}

    bob.send(code=2, close=True, text="bye")
    assert bob.recv() == {"code": 2, "close": True, "text": "Goodbye."}
    assert bob.recv() is None
    assert alice.recv() == {"code": 2, "text": "bob has quit: bye", "nick": "bob", "room": "lobby"}
    assert b"Traceback" not in server.output


def test_info_tells_a_client_what_the_running_server_keeps(server: ServerProcess) -> None:
    client = WireClient(server.host, server.port)
    client.send(code=14)
    info = client.recv()
    assert info is not None and info["code"] == 14
    tokens = info["text"].split()
    assert {"PROTOCOL=1", "HISTORY", "REPLAY=50", "ROOMS=20", "FLOOD=10/20"} <= set(tokens), tokens
    # Accounts are on by default, and people may register (issue 24); not a cluster.
    assert {"ACCOUNTS", "REGISTER"} <= set(tokens) and "CLUSTER" not in tokens and "ACCOUNTS-REQUIRED" not in tokens


def test_bad_frames_hurt_only_their_sender(server: ServerProcess) -> None:
    alice = WireClient(server.host, server.port).logon("alice")
    attacks = [
        (struct.pack("!I", 2**31) + b"x" * 100, "frame-too-large"),
        (pack(b"\xc3\x28"), "bad-utf8"),
        (pack(b"{code: 5}"), "bad-json"),
        (pack(b"[]"), "not-an-object"),
        (pack(b'{"text":"no code"}'), "bad-code"),
    ]
    for n, (data, slug) in enumerate(attacks):
        bad = WireClient(server.host, server.port).logon(f"bad{n}")
        alice.recv_until(lambda m: m["code"] == 1)
        bad.raw(data)
        error = bad.recv()
        assert error is not None and (error["code"], error["error"], error["close"]) == (8, slug, True)
        assert bad.recv() is None, "the server closes after a bad frame"
        alice.recv_until(lambda m: m["code"] == 2)
        alice.send(code=5, text=f"after {slug}")
        assert alice.recv()["text"] == f"after {slug}"  # type: ignore[index]
    garbage = WireClient(server.host, server.port)
    garbage.raw(os.urandom(3))
    garbage.close()
    alice.send(code=9, text="alive")
    assert alice.recv() == {"code": 10, "text": "alive"}
    assert b"Traceback" not in server.output


def test_shutdown_tells_every_client_first(server: ServerProcess) -> None:
    clients = [WireClient(server.host, server.port).logon(f"u{i}") for i in range(5)]
    clients.append(WireClient(server.host, server.port))  # connected, never logged on
    for c in clients[:-1]:
        c.send(code=9)
        c.recv_until(lambda m: m["code"] == 10)
    # twistd ends by re-raising the signal once it has shut down cleanly.
    assert server.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    for c in clients:
        msg = c.recv()
        assert msg == {"code": 5, "text": "The server is shutting down.", "close": True}
        assert c.recv() is None
    assert b"Traceback" not in server.output
    assert b"saying goodbye to 6 clients" in server.output
    assert b"Server Shut Down." in server.output


def test_sigint_also_says_goodbye(server: ServerProcess) -> None:
    c = WireClient(server.host, server.port).logon("alice")
    # The goodbye is read as it comes, not after waiting for the server to exit: it once took
    # more than the 15 s the wait allows on a loaded machine (issue 28).
    server.process.send_signal(signal.SIGINT)
    assert c.recv()["close"] is True  # type: ignore[index]
    assert c.recv() is None
    assert server.process.wait(TIMEOUT) in (0, -signal.SIGINT)  # twistd re-raises the signal once it has stopped


def test_port_number_out_of_range_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run(TWISTD + ["-n", "chat", "--port", "1500"], cwd=tmp_path, env=source_env(),
                            capture_output=True, timeout=TIMEOUT)
    assert result.returncode != 0
    assert b"--port must be from 0 to 1499" in result.stderr + result.stdout


def test_port_number_means_1500_plus_n(tmp_path: Path) -> None:
    n = free_port_number()
    server = ServerProcess(tmp_path, ["--port", str(n), "--interface", "127.0.0.1"])
    try:
        assert server.port == 1500 + n
        WireClient("127.0.0.1", 1500 + n).logon("alice")
    finally:
        server.kill()


def test_port_in_use_fails_at_once(server: ServerProcess, tmp_path: Path) -> None:
    result = subprocess.run(
        TWISTD + ["-n", "--pidfile=", "chat", "--no-history", "--endpoint", f"tcp:{server.port}:interface=127.0.0.1"],
        cwd=tmp_path, env=source_env(), capture_output=True, timeout=TIMEOUT,
    )
    assert result.returncode != 0
    said = (result.stdout + result.stderr).decode()
    assert f"port {server.port} is in use (another server?)" in said
    assert len(said.strip().splitlines()) <= 3 and "Traceback" not in said, said  # issue 28: it was 20 lines


def test_a_bad_option_or_a_data_directory_in_use_is_said_in_three_lines(server: ServerProcess, tmp_path: Path) -> None:
    """Issue 28: the error came after 60 lines of help."""
    for args, expected in ((["--port", "1500"], "--port must be from 0 to 1499"),
                           (["--port", "x"], "invalid literal"),
                           (["--endpoint", "tcp:0:interface=127.0.0.1"], "is in use by another chat server")):
        result = subprocess.run(TWISTD + ["-n", "--pidfile=", "chat", *args], cwd=server.cwd, env=source_env(),
                                capture_output=True, timeout=TIMEOUT)
        said = (result.stdout + result.stderr).decode()
        assert result.returncode != 0 and expected in said, said
        assert len(said.strip().splitlines()) <= 3 and "Traceback" not in said, said


def test_chat_tac_runs_the_same_service(tmp_path: Path) -> None:
    env = source_env(CHAT_OPTIONS="--endpoint tcp:0:interface=127.0.0.1")
    server = ServerProcess(tmp_path, twistd_args=["-y", str(ROOT / "chat.tac")], env=env)
    try:
        a = WireClient(server.host, server.port).logon("alice")
        a.send(code=5, text="via tac")
        assert a.recv()["text"] == "via tac"  # type: ignore[index]
        server.stop()
        assert a.recv()["close"] is True  # type: ignore[index]
    finally:
        server.kill()


def test_daemonized_server_runs_and_stops(tmp_path: Path) -> None:
    """Without -n, twistd forks into the background with a pid file and log file."""
    result = subprocess.run(
        TWISTD + ["--pidfile", "chat.pid", "--logfile", "chat.log", "chat", "--endpoint", "tcp:0:interface=127.0.0.1"],
        cwd=tmp_path, env=source_env(), capture_output=True, timeout=TIMEOUT,
    )
    assert result.returncode == 0, result
    pid_file, log_file = tmp_path / "chat.pid", tmp_path / "chat.log"
    deadline = time.monotonic() + TIMEOUT
    match = None
    while time.monotonic() < deadline and match is None:
        if log_file.exists():
            match = re.search(rb"listening on ([\d.]+):(\d+)", log_file.read_bytes())
        time.sleep(0.05)
    assert match, "the daemon never logged its address"
    pid = int(pid_file.read_text())
    try:
        c = WireClient(match.group(1).decode(), int(match.group(2))).logon("daemon-user")
        os.kill(pid, signal.SIGTERM)
        assert c.recv()["close"] is True  # type: ignore[index]
        while time.monotonic() < deadline and pid_file.exists():
            time.sleep(0.05)
        assert not pid_file.exists()
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
