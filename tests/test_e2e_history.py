"""History end to end with the real twistd: restarts, kill -9, paging, catching up."""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from tests.processes import TIMEOUT, TWISTD, ServerProcess, WireClient, pack, source_env

ARGS = ["--endpoint", "tcp:0:interface=127.0.0.1", "--flood-rate", "0"]


def history(client: WireClient, **request: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    client.send(code=11, room="lobby", **request)
    got = client.recv_until(lambda m: m["code"] == 11)
    return [m for m in got if m["code"] == 5], got[-1]


def everything_after(client: WireClient, after: int, limit: int) -> list[dict[str, Any]]:
    """Page forward with HISTORY until the end marker says there is no more."""
    collected: list[dict[str, Any]] = []
    while True:
        msgs, end = history(client, after=after, limit=limit)
        collected += msgs
        if not end.get("more", False):
            return collected
        after = msgs[-1]["id"]


def join_replay(client: WireClient, nick: str) -> list[dict[str, Any]]:
    client.send(code=4, text=nick)
    client.recv()
    client.send(code=1, room="lobby")
    got = client.recv_until(lambda m: m["code"] == 11)
    return [m for m in got if m["code"] == 5]


def test_history_survives_a_restart_and_ids_keep_growing(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, ARGS)
    alice = WireClient(server.host, server.port).logon("alice")
    for i in range(60):
        alice.send(code=5, text=f"line {i}")
    said = [m for m in alice.recv_until(lambda m: m.get("text") == "line 59") if m["code"] == 5]
    server.stop(signal.SIGTERM)
    server = ServerProcess(tmp_path, ARGS)
    try:
        bob = WireClient(server.host, server.port)
        replay = join_replay(bob, "bob")
        assert [m["id"] for m in replay] == [m["id"] for m in said][-50:]
        assert all(m["history"] for m in replay)
        assert replay == [dict(m, history=True) for m in said][-50:]
        bob.send(code=5, text="after the restart")
        fresh = bob.recv_until(lambda m: m["code"] == 5)[-1]
        assert fresh["id"] == said[-1]["id"] + 1
        # Paging back over more than one page reaches the first message.
        pages, before = [], replay[0]["id"]
        while True:
            msgs, end = history(bob, before=before, limit=4)
            pages.append(msgs)
            if not end.get("more", False):
                break
            before = msgs[0]["id"]
        older = [m for page in reversed(pages) for m in page]
        assert [m["text"] for m in older] == [f"line {i}" for i in range(10)]
        assert len(pages) == 3
    finally:
        server.kill()


def test_kill_9_loses_nothing_that_anyone_received(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, ARGS)
    senders = [WireClient(server.host, server.port).logon(f"s{i}") for i in range(3)]
    watcher = WireClient(server.host, server.port).logon("watcher")
    received: list[dict[str, Any]] = []

    def watch() -> None:
        while True:
            try:
                msg = watcher.recv(timeout=10)
            except (TimeoutError, OSError):
                return
            if msg is None:
                return
            if msg["code"] == 5:
                received.append(msg)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    stop = threading.Event()

    def burst(client: WireClient, name: str) -> None:
        i = 0
        try:
            while not stop.is_set():
                client.send(code=5, text=f"{name} {i}")
                i += 1
        except OSError:
            pass

    threads = [threading.Thread(target=burst, args=(c, f"s{i}"), daemon=True) for i, c in enumerate(senders)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + TIMEOUT
    while len(received) < 500 and time.monotonic() < deadline:
        thread.join(0.01)
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(10)
    stop.set()
    thread.join(15)
    assert len(received) >= 500
    # Keep everything: the senders may get more than --history-keep (10,000)
    # messages stored before the kill, and the restart's first prune would then
    # rightly drop the oldest ones, which are the ones the watcher has read.
    server = ServerProcess(tmp_path, ARGS + ["--history-keep", "0"])
    try:
        reader = WireClient(server.host, server.port).logon("reader")
        stored = everything_after(reader, 0, 200)
        by_id = {m["id"]: m["text"] for m in stored}
        missing = [m for m in received if by_id.get(m["id"]) != m["text"]]
        assert missing == [], (
            f"{len(missing)} of {len(received)} relayed messages are not in the history "
            f"({len(stored)} stored, ids {stored[0]['id'] if stored else None}..{stored[-1]['id'] if stored else None})\n"
            + server.output.decode(errors="replace")[-2000:])
        ids = [m["id"] for m in stored]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        reader.send(code=5, text="after the crash")
        assert reader.recv_until(lambda m: m["code"] == 5)[-1]["id"] == ids[-1] + 1
    finally:
        server.kill()


def test_reconnecting_client_fetches_what_it_missed(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, ARGS)
    try:
        alice = WireClient(server.host, server.port).logon("alice")
        alice.send(code=5, text="before")
        last_seen = alice.recv_until(lambda m: m["code"] == 5)[-1]["id"]
        alice.close()
        bob = WireClient(server.host, server.port).logon("bob")
        for i in range(120):
            bob.send(code=5, text=f"missed {i}")
        bob.recv_until(lambda m: m.get("text") == "missed 119")
        again = WireClient(server.host, server.port).logon("alice")
        caught_up = everything_after(again, last_seen, 50)
        assert [m["text"] for m in caught_up] == [f"missed {i}" for i in range(120)]
    finally:
        server.kill()


def test_no_history_option_writes_nothing(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, ARGS + ["--no-history"])
    try:
        alice = WireClient(server.host, server.port).logon("alice")
        alice.send(code=11, room="lobby")
        assert alice.recv()["error"] == "no-history"  # type: ignore[index]
        assert not (tmp_path / "chat-data").exists()
    finally:
        server.kill()


def test_retention_prunes_at_start(tmp_path: Path) -> None:
    """A room over --history-keep loses its oldest messages when the server starts again."""
    keep = ARGS + ["--history-keep", "5"]
    server = ServerProcess(tmp_path, keep)
    alice = WireClient(server.host, server.port).logon("alice")
    for i in range(8):
        alice.send(code=5, text=f"line {i}")
    alice.recv_until(lambda m: m.get("text") == "line 7")
    server.stop(signal.SIGTERM)
    server = ServerProcess(tmp_path, keep)
    try:
        server.wait_for_output(re.compile(rb"pruned 3 old messages"))
        bob = WireClient(server.host, server.port).logon("bob")
        assert [m["text"] for m in everything_after(bob, 0, 50)] == [f"line {i}" for i in range(3, 8)]
    finally:
        server.kill()


def test_last_words_come_before_the_leave(tmp_path: Path) -> None:
    """Messages still being stored are relayed before a later leave or lost connection."""
    server = ServerProcess(tmp_path, ARGS)
    try:
        bob = WireClient(server.host, server.port).logon("bob")
        for round in range(20):
            alice = WireClient(server.host, server.port).logon(f"alice{round}")
            bob.recv_until(lambda m: m["code"] == 1)
            if round % 2:
                # Words and the leave in one write, then the connection goes too.
                alice.raw(pack({"code": 5, "text": "see you"}) + pack({"code": 2, "room": "lobby"}))
                leave = f"alice{round} has left lobby"
            else:
                alice.send(code=5, text="see you")
                leave = f"alice{round} has lost the connection"
            alice.close()
            got = bob.recv_until(lambda m: m["code"] == 2)
            assert [m.get("text") for m in got] == ["see you", leave], got
    finally:
        server.kill()


def test_a_message_the_store_refuses_is_not_relayed_and_its_sender_is_told(tmp_path: Path) -> None:
    """An operator holding the database's write lock: messages fail, then flow again."""
    server = ServerProcess(tmp_path, ARGS)
    try:
        alice = WireClient(server.host, server.port).logon("alice")
        bob = WireClient(server.host, server.port).logon("bob")
        alice.recv_until(lambda m: m["code"] == 1)
        alice.send(code=5, text="before")
        first = bob.recv_until(lambda m: m["code"] == 5)[-1]
        operator = sqlite3.connect(tmp_path / "chat-data" / "history.sqlite3", isolation_level=None)
        operator.execute("BEGIN IMMEDIATE")  # held longer than SQLite's 5 s busy timeout
        try:
            alice.send(code=5, text="while locked")
            got = alice.recv_until(lambda m: m["code"] in (5, 8) and m.get("text") != "before")
            assert got[-1]["code"] == 8 and got[-1]["error"] == "server-error" and got[-1]["reply_to"] == 5, got
        finally:
            operator.execute("ROLLBACK")
            operator.close()
        alice.send(code=5, text="after")
        got = bob.recv_until(lambda m: m["code"] == 5)
        assert [m["text"] for m in got] == ["after"], "bob never saw the refused message"
        assert got[-1]["id"] == first["id"] + 2, "the refused message's id is skipped"
        stored = everything_after(bob, 0, 50)
        assert [m["text"] for m in stored] == ["before", "after"]
    finally:
        server.kill()


def test_a_joiner_gets_history_then_live_messages_in_order_in_a_busy_room(tmp_path: Path) -> None:
    """Join, member list, the replay up to the join, its end marker, then what was said since: no repeats, no gaps."""
    server = ServerProcess(tmp_path, ARGS)
    try:
        talkers = [WireClient(server.host, server.port).logon(f"t{i}") for i in range(3)]
        stop = threading.Event()

        def talk(client: WireClient, name: str) -> None:
            i = 0
            while not stop.is_set():
                client.send(code=5, text=f"{name} {i}")
                i += 1
                time.sleep(0.0005)

        threads = [threading.Thread(target=talk, args=(c, f"t{i}"), daemon=True) for i, c in enumerate(talkers)]
        for t in threads:
            t.start()
        try:
            for round in range(10):
                time.sleep(0.05)
                joiner = WireClient(server.host, server.port)
                joiner.send(code=4, text=f"joiner{round}")
                joiner.recv()
                joiner.send(code=1, room="lobby")
                got = joiner.recv_until(lambda m: m["code"] == 11)
                assert [m["code"] for m in got[:2]] == [1, 3], got[:2]
                replay = got[2:-1]
                assert replay and all(m["code"] == 5 and m.get("history") for m in replay), replay
                live = [m for m in joiner.recv_until(lambda m: m["code"] == 5 and m["id"] >= replay[-1]["id"] + 20)
                        if m["code"] == 5]
                assert not any(m.get("history") for m in live)
                ids = [m["id"] for m in replay + live]
                assert ids == list(range(ids[0], ids[0] + len(ids))), "history then live: every id once, in order"
                joiner.close()
        finally:
            stop.set()
            for t in threads:
                t.join(5)
    finally:
        server.kill()


def test_a_second_server_in_the_same_data_directory_refuses_to_start(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, ARGS)
    try:
        second = subprocess.run(TWISTD + ["-n", "--pidfile=", "chat", *ARGS], cwd=tmp_path, env=source_env(),
                                capture_output=True, timeout=TIMEOUT)
        assert second.returncode == 1
        last = (second.stdout + second.stderr).decode().strip().splitlines()[-1]
        assert last.endswith(f"the data directory chat-data is in use by another chat server "
                             f"(process {server.process.pid}); give each server a --data-dir of its own"), last
        alice = WireClient(server.host, server.port).logon("alice")
        alice.send(code=5, text="still stored")
        assert alice.recv_until(lambda m: m.get("text") == "still stored")[-1]["id"] == 1
    finally:
        server.kill()
