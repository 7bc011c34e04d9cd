"""
Several real `twistd chat --redis` nodes and a real redis-server on
loopback: clients on different nodes share one chat (docs/architecture.md).
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.servers import free_port
from tests.processes import TIMEOUT, TWISTD, ServerProcess, WireClient, source_env
from tests.redis_server import RedisProcess

TTL = 1.0  # --cluster-ttl: a dead node is removed after about 2 x TTL
JOINED = re.compile(rb"joined the cluster at")


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisProcess]:
    process = RedisProcess(tmp_path / "redis")
    yield process
    process.kill()


def node(tmp_path: Path, redis: RedisProcess, *extra: str) -> ServerProcess:
    process = ServerProcess(tmp_path, ["--endpoint", "tcp:0:interface=127.0.0.1", "--redis", redis.url,
                                       "--cluster-ttl", str(TTL), *extra])
    process.wait_for_output(JOINED)
    return process


def chat_lines(frames: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    return [(m["nick"], m["text"], m["id"]) for m in frames if m["code"] == 5 and "nick" in m]


def test_clients_on_three_nodes_share_rooms_nicknames_and_history(tmp_path: Path, redis: RedisProcess) -> None:
    a, b, c = (node(tmp_path, redis) for _ in range(3))
    alice = WireClient(a.host, a.port).logon("alice")
    bob = WireClient(b.host, b.port).logon("bob")
    carol = WireClient(c.host, c.port).logon("carol")
    assert alice.recv_until(lambda m: m.get("nick") == "carol")[0]["text"] == "bob has joined lobby"
    bob.recv_until(lambda m: m.get("nick") == "carol")

    # Nicknames are unique across the cluster, case-insensitively.
    dup = WireClient(c.host, c.port)
    dup.send(code=4, text="ALICE")
    assert dup.recv()["error"] == "nick-in-use"  # type: ignore[index]

    # Member lists and the room list answer for the whole cluster.
    carol.send(code=3, room="lobby")
    assert carol.recv() == {"code": 3, "room": "lobby", "names": ["alice", "bob", "carol"]}

    # Three senders on three nodes: every member sees one order, ids 1..n.
    for i in range(20):
        for who, client in (("alice", alice), ("bob", bob), ("carol", carol)):
            client.send(code=5, text=f"{who} {i}")
    seen = [chat_lines(c.recv_until(lambda m: m.get("id") == 60)) for c in (alice, bob, carol)]
    assert seen[0] == seen[1] == seen[2]
    assert [line[2] for line in seen[0]] == list(range(1, 61))
    for who in ("alice", "bob", "carol"):  # each sender's own order is kept
        assert [t for n, t, _ in seen[0] if n == who] == [f"{who} {i}" for i in range(20)]

    # A rename on one node is announced on the others.
    # (In a cluster the renamer's answer and the room's announcement may come
    # in either order: docs/protocol.md.)
    bob.send(code=4, text="robert")
    announcement = {"code": 4, "text": "robert", "nick": "bob", "room": "lobby"}
    answers = [bob.recv(), bob.recv()]
    assert sorted(answers, key=len) == [{"code": 4, "text": "robert", "nick": "robert"}, announcement]
    for client in (alice, carol):
        assert client.recv_until(lambda m: m["code"] == 4)[-1] == announcement

    # Private messages cross nodes; the sender gets its echo.
    carol.send(code=6, to="Robert", text="psst")
    for client in (bob, carol):
        assert client.recv_until(lambda m: m["code"] == 6)[-1]["to"] == "robert"
    carol.send(code=6, to="nobody", text="?")
    assert carol.recv()["error"] == "no-such-nick"  # type: ignore[index]

    # Rooms: a room made on one node is listed on another.
    alice.send(code=1, room="#dev")
    alice.recv_until(lambda m: m["code"] == 11)
    carol.send(code=7)
    assert carol.recv() == {"code": 7, "names": ["#dev", "lobby"]}

    # History is shared: a newcomer on any node gets the room's recent lines,
    # and can page back to the first one.
    dave = WireClient(a.host, a.port)
    dave.send(code=4, text="dave")
    dave.recv()
    dave.send(code=1, room="lobby")
    frames = dave.recv_until(lambda m: m["code"] == 11)
    history = [m for m in frames if m.get("history")]
    assert [m["id"] for m in history] == list(range(11, 61))
    assert frames[-1]["more"] is True
    dave.send(code=11, room="lobby", before=11, limit=200)
    older = dave.recv_until(lambda m: m["code"] == 11)
    assert [m["id"] for m in older[:-1]] == list(range(1, 11)) and "more" not in older[-1]
    for m in older[:-1] + history:
        assert (m["nick"], m["text"], m["id"]) in seen[0]

    # A clean quit on one node is announced on the others.
    alice.send(code=2, close=True, text="lunch")
    assert carol.recv_until(lambda m: m["code"] == 2 and m["room"] == "lobby")[-1]["text"] == "alice has quit: lunch"
    for server in (a, b, c):
        assert b"Traceback" not in server.output


def test_a_killed_node_has_its_users_removed_once_and_can_come_back(tmp_path: Path, redis: RedisProcess) -> None:
    a, b = node(tmp_path, redis), node(tmp_path, redis)
    alice = WireClient(a.host, a.port).logon("alice")
    bob = WireClient(b.host, b.port).logon("bob")
    alice.recv_until(lambda m: m.get("nick") == "bob")
    bob.send(code=5, text="before the crash")
    alice.recv_until(lambda m: m["code"] == 5)

    b.process.send_signal(signal.SIGKILL)
    b.process.wait(10)
    started = time.monotonic()
    leave = alice.recv(timeout=10 * TTL + 5)
    assert leave == {"code": 2, "room": "lobby", "nick": "bob",
                     "text": "bob has lost the connection (its server stopped answering)"}
    assert time.monotonic() - started < 5 * TTL + 2  # documented: within 2 x --cluster-ttl, plus a beat
    with pytest.raises(TimeoutError):  # announced once, though every node reaps
        alice.recv(timeout=3 * TTL)

    # The nickname is free again, on a new node.
    b2 = node(tmp_path, redis)
    bob2 = WireClient(b2.host, b2.port).logon("bob")
    assert alice.recv()["text"] == "bob has joined lobby"  # type: ignore[index]
    bob2.send(code=5, text="back")
    assert alice.recv()["text"] == "back"  # type: ignore[index]


def test_redis_restarted_under_a_chatting_cluster(tmp_path: Path, redis: RedisProcess) -> None:
    """
    While Redis is away, messages are refused with an ERROR (never taken and
    lost); once it is back, the nodes reconnect by themselves and the chat
    goes on, with the ids and history it had.
    """
    a, b = node(tmp_path, redis), node(tmp_path, redis)
    alice = WireClient(a.host, a.port).logon("alice")
    bob = WireClient(b.host, b.port).logon("bob")
    alice.recv_until(lambda m: m.get("nick") == "bob")
    for i in range(5):
        alice.send(code=5, text=f"before {i}")
    before = chat_lines(bob.recv_until(lambda m: m.get("id") == 5))

    redis.stop()
    time.sleep(0.3)
    alice.send(code=5, text="while redis is down")
    refused = alice.recv_until(lambda m: m["code"] == 8)[-1]
    assert refused["error"] == "cluster-unavailable" and refused["reply_to"] == 5

    redis.start()
    deadline = time.monotonic() + 20
    delivered = None
    while delivered is None and time.monotonic() < deadline:
        alice.send(code=5, text="after")
        reply = alice.recv()
        assert reply is not None
        if reply["code"] == 5:
            delivered = reply
        else:
            assert reply["error"] == "cluster-unavailable", reply
            time.sleep(0.3)
    assert delivered is not None and delivered["id"] == 6, delivered
    got = bob.recv_until(lambda m: m.get("text") == "after")
    assert [m for m in got if m["code"] == 5] == [delivered]
    # The same users on the same nodes: presence survived.
    bob.send(code=3, room="lobby")
    assert bob.recv_until(lambda m: m["code"] == 3)[-1]["names"] == ["alice", "bob"]
    bob.send(code=11, room="lobby")
    history = bob.recv_until(lambda m: m["code"] == 11)
    assert chat_lines(history) == before + [("alice", "after", 6)]


def _client_ids(redis: RedisProcess) -> set[str]:
    """The ids of Redis's clients, but for the test's own connection."""
    listing = redis.command("CLIENT", "LIST").decode(errors="replace")
    return {m.group(1) for line in listing.splitlines() if "cmd=client" not in line
            for m in [re.search(r"\bid=(\d+)", line)] if m}


def test_a_node_cut_off_from_redis_delivers_what_it_missed_when_it_is_back(tmp_path: Path, redis: RedisProcess) -> None:
    a = node(tmp_path, redis)
    before = _client_ids(redis)
    b = node(tmp_path, redis)
    b_connections = _client_ids(redis) - before
    assert len(b_connections) == 2  # its commands and its reader
    alice = WireClient(a.host, a.port).logon("alice")
    bob = WireClient(b.host, b.port).logon("bob")
    alice.recv_until(lambda m: m.get("nick") == "bob")

    # Node B freezes, and Redis drops its connections meanwhile; alice chats on.
    b.process.send_signal(signal.SIGSTOP)
    try:
        for connection in b_connections:
            redis.command("CLIENT", "KILL", "ID", connection)
        for i in range(5):
            alice.send(code=5, text=f"while b was away {i}")
        assert [m["id"] for m in alice.recv_until(lambda m: m.get("id") == 5) if m["code"] == 5] == [1, 2, 3, 4, 5]
    finally:
        b.process.send_signal(signal.SIGCONT)
    # B reconnects by itself and reads on from the last entry it delivered.
    got = bob.recv_until(lambda m: m.get("id") == 5)
    assert [m["text"] for m in got if m["code"] == 5] == [f"while b was away {i}" for i in range(5)]
    b.wait_for_output(re.compile(rb"reading from the cluster failed"))


def _addresses(redis: RedisProcess, ids: set[str]) -> set[str]:
    """The host:port each of the given Redis clients connects from."""
    listing = redis.command("CLIENT", "LIST").decode(errors="replace")
    return {m.group(2) for line in listing.splitlines()
            for m in [re.search(r"\bid=(\d+) addr=(\S+)", line)] if m and m.group(1) in ids}


def test_a_node_reads_only_the_rooms_its_clients_are_in(tmp_path: Path, redis: RedisProcess) -> None:
    """Traffic of a room with no local member never reaches a node (Redis MONITOR shows its reads)."""
    a = node(tmp_path, redis)
    before = _client_ids(redis)
    b = node(tmp_path, redis)
    b_addresses = _addresses(redis, _client_ids(redis) - before)
    a_addresses = _addresses(redis, before)
    assert len(b_addresses) == 2 and len(a_addresses) == 2
    alice = WireClient(a.host, a.port).logon("alice")
    bob = WireClient(b.host, b.port).logon("bob")
    alice.send(code=1, room="secret")
    alice.recv_until(lambda m: m["code"] == 11 and m.get("room") == "secret")

    monitor = socket.create_connection((redis.host, redis.port), timeout=TIMEOUT)
    monitor.sendall(b"*1\r\n$7\r\nMONITOR\r\n")
    assert monitor.recv(5) == b"+OK\r\n"
    for i in range(20):
        alice.send(code=5, room="secret", text=f"only for secret {i}")
        alice.send(code=5, room="lobby", text=f"for everyone {i}")
    bob_got = bob.recv_until(lambda m: m.get("text") == "for everyone 19")
    assert [t for _, t, _ in chat_lines(bob_got)] == [f"for everyone {i}" for i in range(20)]
    alice.recv_until(lambda m: m.get("text") == "for everyone 19")
    # Both nodes read again with their new cursors well within a second.
    seen, deadline = b"", time.monotonic() + 1.5
    monitor.settimeout(0.5)
    while time.monotonic() < deadline:
        try:
            chunk = monitor.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        seen += chunk
    monitor.close()
    reads: dict[str, list[str]] = {"a": [], "b": []}
    for line in seen.decode(errors="replace").splitlines():
        m = re.match(r'\+?[\d.]+ \[\d+ (\S+)\] "XREAD"(.*)', line)
        if m:
            reads["a" if m.group(1) in a_addresses else "b" if m.group(1) in b_addresses else "?"].append(m.group(2))
    assert reads["a"] and reads["b"], seen[-2000:]
    assert any('"chat:room:secret"' in r for r in reads["a"]), "the node with a member of secret reads it"
    assert all('"chat:room:lobby"' in r for r in reads["b"])
    assert not any("secret" in r for r in reads["b"]), [r for r in reads["b"] if "secret" in r]


def test_a_node_serves_nobody_until_it_has_joined_the_cluster(tmp_path: Path) -> None:
    """
    A client that connects while its node cannot yet reach Redis waits (its
    connection is not accepted) and is then served, instead of being told
    cluster-unavailable, as a first user trying the node the moment it starts
    was before.
    """
    redis_port = free_port()
    port = free_port()
    process = subprocess.Popen(
        [*TWISTD, "-n", "--pidfile=", "chat", "--endpoint", f"tcp:{port}:interface=127.0.0.1",
         "--redis", f"redis://127.0.0.1:{redis_port}/0", "--cluster-ttl", str(TTL)],
        cwd=tmp_path, env=source_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:  # the port is bound at start, Redis or not
            try:
                early = WireClient("127.0.0.1", port)
                break
            except OSError:
                assert time.monotonic() < deadline, "the node never bound its port"
                assert process.poll() is None, "twistd exited"
                time.sleep(0.02)
        early.send(code=4, text="early")
        time.sleep(0.5)
        RedisProcess(tmp_path / "redis", port=redis_port)
        assert early.recv() == {"code": 4, "text": "early", "nick": "early"}
        early.close()
    finally:
        process.kill()
        process.wait(TIMEOUT)
