"""The history store and group commit on a temporary SQLite database, on the real reactor."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task
from twisted.logger import globalLogPublisher

from chat.core.events import Private, Said, TopicIs, record_body
from chat.history import MAX_PAGE, SCHEMA, GroupCommit, History, Row, StoreError, check_store, from_body, to_row
from chat.message import ProtocolError

#: A data directory's database as the release before stored records wrote it (made with chat@4c33683:
#: five lines of Lobby, the third an action, a private line ann -> Bob, and Lobby's topic).
V0_DATABASE = Path(__file__).parent / "fixtures" / "history-v0.sqlite3"


def line(room: str, id: int, text: str = "", ts: int = 1000) -> Said:
    return Said(room, "n", text or f"m{id}", id, ts)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[History]:
    history = History(tmp_path)
    yield history
    history.close()


@pytest_twisted.ensureDeferred
async def test_pages_are_oldest_first_and_bounded(tmp_path: Path) -> None:
    store = History(tmp_path)
    try:
        await store.append([line("Lobby", i) for i in range(1, 121)] + [line("other", 1)])
        newest, more = await store.page("lobby", limit=50)
        assert [m.id for m in newest] == list(range(71, 121))
        assert more and all(m.history for m in newest)
        older, more = await store.page("LOBBY", before=71, limit=50)
        assert [m.id for m in older] == list(range(21, 71))
        assert more
        first, more = await store.page("lobby", before=21, limit=50)
        assert [m.id for m in first] == list(range(1, 21)) and not more
        after, more = await store.page("lobby", after=100, limit=10)
        assert [m.id for m in after] == list(range(101, 111)) and more
        huge, _ = await store.page("lobby", limit=10**6)
        assert len(huge) == min(120, MAX_PAGE)
        assert newest[0] == Said("Lobby", "n", "m71", 71, 1000, history=True)
    finally:
        store.close()


@pytest_twisted.ensureDeferred
async def test_ids_continue_after_reopening(tmp_path: Path) -> None:
    store = History(tmp_path)
    await store.append([line("lobby", i) for i in range(1, 8)] + [line("Dev", 3)])
    store.close()
    reopened = History(tmp_path)
    try:
        assert reopened.last_ids == {"lobby": 7, "dev": 3}
    finally:
        reopened.close()


@pytest_twisted.ensureDeferred
async def test_ids_continue_after_pruning_a_whole_room(tmp_path: Path) -> None:
    store = History(tmp_path)
    await store.append([line("quiet", i, ts=i) for i in range(1, 6)] + [line("busy", i, ts=1000 + i) for i in range(1, 4)])
    assert await store.prune(keep=0, older_than_ms=500) == 5
    assert (await store.page("quiet"))[0] == []
    await store.append([line("busy", 4, ts=2000)])
    assert await store.prune(keep=0, older_than_ms=500) == 0
    store.close()
    reopened = History(tmp_path)
    try:
        assert reopened.last_ids == {"quiet": 5, "busy": 4}
    finally:
        reopened.close()


@pytest_twisted.ensureDeferred
async def test_retention_by_count_and_age(tmp_path: Path) -> None:
    store = History(tmp_path)
    try:
        await store.append([line("a", i, ts=i) for i in range(1, 21)] + [line("b", i, ts=100 + i) for i in range(1, 6)])
        assert await store.prune(keep=10, older_than_ms=None) == 10
        msgs, more = await store.page("a", limit=100)
        assert [m.id for m in msgs] == list(range(11, 21)) and not more
        assert await store.prune(keep=0, older_than_ms=103) == 10 + 2
        assert [m.id for m in (await store.page("b"))[0]] == [3, 4, 5]
    finally:
        store.close()


@pytest_twisted.ensureDeferred
async def test_private_messages_have_a_retention_of_their_own(tmp_path: Path) -> None:
    store = History(tmp_path)
    try:
        pms = [Private("a", "b", f"pm {i}", i) for i in (10, 20, 30)]
        await store.append([*pms, line("room", 1, ts=5)])
        assert await store.prune(keep=0, older_than_ms=None, private_older_than_ms=25) == 2
        assert await store.prune(keep=0, older_than_ms=None, private_older_than_ms=25) == 0
        assert [m.id for m in (await store.page("room"))[0]] == [1], "room messages are not touched"
    finally:
        store.close()


@pytest_twisted.ensureDeferred
async def test_group_commit_batches_and_relays_in_order_after_commit(store: History) -> None:
    batches: list[int] = []
    original = store.append_rows

    def counting(rows: list[Row]) -> defer.Deferred[None]:
        batches.append(len(rows))
        return original(rows)

    store.append_rows = counting  # type: ignore[method-assign]
    commit = GroupCommit(store)
    relayed: list[int] = []

    def relay(i: int) -> None:
        relayed.append(i)

    for i in range(1, 501):
        commit.accept(line("busy", i), lambda i=i: relay(i))
    assert relayed == [], "nothing is relayed before it is stored"
    await commit.flushed()
    assert relayed == list(range(1, 501))
    # The first is written at once (nothing was being written); what comes while it is, is one batch.
    assert batches == [1, 499]
    msgs, _ = await store.page("busy", limit=200)
    assert msgs[-1].id == 500


@pytest_twisted.ensureDeferred
async def test_announcements_keep_their_place_among_messages_being_stored(store: History) -> None:
    commit = GroupCommit(store)
    relayed: list[str] = []
    commit.then(lambda: relayed.append("idle"))
    assert relayed == ["idle"], "with nothing being stored, an announcement goes at once"
    for i in range(1, 4):
        commit.accept(line("r", i), lambda i=i: relayed.append(f"m{i}"))
    commit.then(lambda: relayed.append("bob has left"))
    commit.accept(line("r", 4), lambda: relayed.append("m4"))
    assert relayed == ["idle"]
    await commit.flushed()
    assert relayed == ["idle", "m1", "m2", "m3", "bob has left", "m4"]


@pytest_twisted.ensureDeferred
async def test_a_batch_that_cannot_be_stored_is_refused_not_relayed(store: History) -> None:
    commit = GroupCommit(store)
    relayed: list[str] = []
    refused: list[str] = []
    # Break the database under the store, as a damaged file would.
    with sqlite3.connect(store.path) as db:
        db.execute("DROP TABLE messages")
    commit.accept(line("r", 1), lambda: relayed.append("m1"), lambda: refused.append("m1"))
    commit.then(lambda: relayed.append("carol joined"))
    commit.accept(line("r", 2), lambda: relayed.append("m2"), lambda: refused.append("m2"))
    await commit.flushed()
    assert relayed == ["carol joined"], "announcements still go out; unstored messages do not"
    assert refused == ["m1", "m2"]
    with sqlite3.connect(store.path) as db:
        db.executescript(SCHEMA)
    commit.accept(line("r", 3), lambda: relayed.append("m3"), lambda: refused.append("m3"))
    await commit.flushed()
    assert (relayed, refused) == (["carol joined", "m3"], ["m1", "m2"]), "the store works again once the database does"


@pytest_twisted.ensureDeferred
async def test_a_store_that_keeps_failing_logs_a_line_a_minute_not_a_traceback_a_batch(store: History) -> None:
    """A full disk failed every batch, and each logged a traceback: 461 in 20 seconds."""
    from twisted.internet.task import Clock

    clock = Clock()
    commit = GroupCommit(store, clock)
    with sqlite3.connect(store.path) as db:
        db.execute("DROP TABLE messages")
    events: list[dict] = []
    globalLogPublisher.addObserver(events.append)
    try:
        for n in range(1, 31):
            refused: list[int] = []
            commit.accept(line("r", n), lambda: None, lambda: refused.append(n))
            for _ in range(500):  # the write is in the database's thread, on the real reactor
                clock.advance(0)
                if refused:
                    break
                await task.deferLater(reactor, 0.01, lambda: None)
            assert refused == [n]
            clock.advance(5)  # a batch every 5 seconds, for 150 seconds
    finally:
        globalLogPublisher.removeObserver(events.append)
    ours = [e for e in events if "could not store" in e.get("log_format", "")]
    assert len(ours) == 3, [e["log_format"] for e in ours]  # at 0 s (with its traceback), 60 s and 120 s
    assert "log_failure" in ours[0] and "log_failure" not in ours[1]
    assert ours[1]["quiet"] == 11


@pytest_twisted.ensureDeferred
async def test_a_barrier_whose_waiter_accepts_more_waits_for_that_too(store: History) -> None:
    commit = GroupCommit(store)
    relayed: list[str] = []
    seen_by_second_barrier: list[list[str]] = []
    commit.accept(line("r", 1), lambda: relayed.append("m1"))

    def accept_more(_: None) -> defer.Deferred[None]:
        # Runs inside the first batch's completion: the next batch starts from here.
        commit.accept(line("r", 2), lambda: relayed.append("m2"))
        second = commit.flushed()
        second.addCallback(lambda _: seen_by_second_barrier.append(list(relayed)))
        return second

    await commit.flushed().addCallback(accept_more)
    assert seen_by_second_barrier == [["m1", "m2"]], "the second barrier fired only once m2 was relayed"
    commit.accept(line("r", 3), lambda: relayed.append("m3"))
    await commit.flushed()
    assert relayed == ["m1", "m2", "m3"], "the queue keeps moving afterwards"


@pytest_twisted.ensureDeferred
async def test_an_announcement_made_while_relaying_comes_after_the_whole_batch(store: History) -> None:
    commit = GroupCommit(store)
    relayed: list[str] = []

    def relay_and_announce() -> None:
        relayed.append("m1")
        commit.then(lambda: relayed.append("bob has left"))

    commit.accept(line("r", 1), relay_and_announce)
    commit.accept(line("r", 2), lambda: relayed.append("m2"))
    await commit.flushed()
    await commit.flushed()
    assert relayed == ["m1", "m2", "bob has left"]


@pytest_twisted.ensureDeferred
async def test_one_relay_or_refusal_that_raises_does_not_stop_the_others(store: History) -> None:
    commit = GroupCommit(store)
    relayed: list[str] = []
    refused: list[str] = []

    def broken() -> None:
        raise RuntimeError("a recipient's transport is gone")

    failures: list[str] = []

    def observe(event: dict) -> None:
        if "log_failure" in event and event["log_failure"].check(RuntimeError):
            failures.append(event["log_format"])

    globalLogPublisher.addObserver(observe)
    try:
        commit.accept(line("r", 1), broken)
        commit.accept(line("r", 2), lambda: relayed.append("m2"))
        await commit.flushed()
        assert relayed == ["m2"]
        with sqlite3.connect(store.path) as db:
            db.execute("DROP TABLE messages")
        commit.accept(line("r", 3), lambda: relayed.append("m3"), broken)
        commit.accept(line("r", 4), lambda: relayed.append("m4"), lambda: refused.append("m4"))
        await commit.flushed()
        assert (relayed, refused) == (["m2"], ["m4"])
    finally:
        globalLogPublisher.removeObserver(observe)
    assert len(failures) == 2, "each broken action is logged, not swallowed"


def test_a_line_is_stored_as_a_versioned_record_and_old_rows_read_back_the_same() -> None:
    said = Said("Lobby", "ann", "héllo ✓", 7, 1234, color="red", action=True)
    row = to_row(said)
    assert row[:3] == ("lobby", 7, 1234)
    assert json.loads(row[3]) == {"v": 1, "t": "said", "room": "Lobby", "nick": "ann", "text": "héllo ✓", "id": 7,
                                  "ts": 1234, "color": "red", "action": True}, "typed fields, no wire code"
    # Rows written before records (version 0) hold the native message's JSON.
    old = json.dumps({"code": 5, "text": "héllo ✓", "room": "Lobby", "nick": "ann", "color": "red", "id": 7,
                      "ts": 1234, "action": True}, ensure_ascii=False)
    assert from_body(row[3]) == from_body(old) == attrs.evolve(said, history=True)
    assert to_row(Private("ann", "Bob", "psst", 5))[:3] == ("", 0, 5)


def test_a_stored_row_is_checked_like_any_input() -> None:
    with pytest.raises(ProtocolError) as bad_type:
        from_body('{"v": 1, "t": "said", "room": "r", "nick": "n", "text": 7, "id": 1, "ts": 1}')
    assert bad_type.value.slug == "bad-type"
    with pytest.raises(ProtocolError) as lacking:
        from_body('{"v": 1, "t": "said", "room": "r", "nick": "n", "id": 1, "ts": 1}')
    assert lacking.value.slug == "bad-record"
    with pytest.raises(ProtocolError) as newer:
        from_body('{"v": 2, "t": "said"}')
    assert newer.value.slug == "bad-record"
    with pytest.raises(ProtocolError) as old_bad_type:
        from_body('{"code": 5, "text": 7}')
    assert old_bad_type.value.slug == "bad-type"
    with pytest.raises(ProtocolError):
        from_body('{"code": 5, "text": "x", "unknown": 1, "names": [1]}')
    old = from_body('{"code": 5, "text": "x", "room": "r", "nick": "n", "unknown": 1}')
    assert old == Said("r", "n", "x", 0, 0, history=True)  # unknown keys are ignored, as on the wire


@pytest_twisted.ensureDeferred
async def test_a_damaged_row_is_skipped_and_the_page_goes_on(tmp_path: Path) -> None:
    store = History(tmp_path)
    try:
        await store.append([line("lobby", i) for i in range(1, 4)])
        await store.pool.runOperation("UPDATE messages SET body = '{\"v\": 9}' WHERE id = 2")
        lines, more = await store.page("lobby", limit=10)
        assert [m.id for m in lines] == [1, 3] and not more  # type: ignore[union-attr]
    finally:
        store.close()


@pytest_twisted.ensureDeferred
async def test_a_database_of_the_release_before_records_is_migrated_and_replays_the_same(tmp_path: Path) -> None:
    shutil.copy(V0_DATABASE, tmp_path / "history.sqlite3")
    store = History(tmp_path)
    try:
        lines, more = await store.page("lobby", limit=50)
        assert not more
        assert lines == [Said("Lobby", "ann", f"line {i} ✓", i, 1_700_000_000_000 + i, "red" if i % 2 else "default",
                              action=i == 3, history=True) for i in range(1, 6)]
        assert store.last_ids == {"lobby": 5}
        assert from_body(store.topics["lobby"]) == TopicIs("Lobby", "plans for friday", "ann", 1_700_000_000_050)
    finally:
        store.close()
    connection = sqlite3.connect(tmp_path / "history.sqlite3")
    try:
        assert connection.execute("PRAGMA user_version").fetchone() == (1,)
        bodies = [json.loads(b) for (b,) in connection.execute("SELECT body FROM messages ORDER BY rowid")]
        assert [b["t"] for b in bodies] == ["said"] * 5 + ["private"], "every row is a record now"
        assert bodies[-1] == {"v": 1, "t": "private", "nick": "ann", "to": "Bob", "text": "psst",
                              "ts": 1_700_000_000_100}
    finally:
        connection.close()


def test_a_database_of_a_newer_release_is_refused_with_the_reason(tmp_path: Path) -> None:
    History(tmp_path).close()
    connection = sqlite3.connect(tmp_path / "history.sqlite3")
    connection.execute("PRAGMA user_version = 9")
    connection.commit()
    connection.close()
    with pytest.raises(StoreError, match="written by a newer release"):
        History(tmp_path)
    check_store(tmp_path)  # the lock was let go


@pytest_twisted.ensureDeferred
async def test_topics_are_kept_across_restarts_and_a_cleared_one_is_gone(tmp_path: Path) -> None:
    from twisted.internet.task import Clock

    from chat.local import local_chat

    store = History(tmp_path)
    body = record_body(TopicIs("Lobby", "plans", "ann", 5)).decode()
    await store.save_topic("lobby", body)
    await store.save_topic("dev", body)
    await store.save_topic("dev", None)
    store.close()
    reopened = History(tmp_path)
    try:
        assert reopened.topics == {"lobby": body}
        chat = local_chat(Clock(), store=reopened)
        topic = chat.ledger.state.topic("LOBBY")
        assert topic == TopicIs("Lobby", "plans", "ann", 5)
        assert topic.native().history, "a joiner gets it marked as history"
    finally:
        reopened.close()


def test_one_data_directory_is_one_servers(tmp_path: Path) -> None:
    first = History(tmp_path)
    try:
        with pytest.raises(StoreError, match=rf"the data directory {tmp_path} is in use by another chat server "
                                             rf"\(process {os.getpid()}\)"):
            History(tmp_path)
        with pytest.raises(StoreError, match="in use"):
            check_store(tmp_path)
    finally:
        first.close()
    check_store(tmp_path)  # free again once the first let go
    History(tmp_path).close()


@pytest.fixture
def immutable(tmp_path: Path) -> Iterator[Callable[[Path], None]]:
    """Makes a path immutable (chattr +i: not even root may write it), and mutable again after the test."""
    made: list[Path] = []

    def make(path: Path) -> None:
        subprocess.run(["chattr", "+i", str(path)], check=True)
        made.append(path)

    yield make
    for path in made:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_read_only_data_directory_is_called_read_only_not_damaged(tmp_path: Path, immutable: Any) -> None:
    History(tmp_path).close()  # a good history, in a directory the server may no longer write
    immutable(tmp_path)
    for check in (check_store, History):
        with pytest.raises(StoreError) as caught:
            check(tmp_path)
        assert str(caught.value) == (f"the data directory {tmp_path} is read-only: {tmp_path} is immutable "
                                     "(chattr +i); make it writable for the server's user, or choose another "
                                     "with --data-dir")


def test_a_read_only_database_is_called_read_only(tmp_path: Path, immutable: Any) -> None:
    History(tmp_path).close()
    immutable(tmp_path / "history.sqlite3")
    with pytest.raises(StoreError, match=r"is read-only: .*history.sqlite3 is immutable"):
        check_store(tmp_path)


def test_a_damaged_database_or_a_file_for_a_directory_is_said_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "history.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match=rf"the history {tmp_path / 'history.sqlite3'} is damaged"):
        History(tmp_path)
    with pytest.raises(StoreError, match="is damaged"):
        check_store(tmp_path)  # what twistd checks with the options says the same
    check_store(tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists(), "checking makes nothing (it runs before twistd changes user)"
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match=rf"the data directory {tmp_path / 'file'} is not a directory"):
        History(tmp_path / "file")


@pytest_twisted.ensureDeferred
async def test_pages_are_read_while_a_write_is_in_progress(store: History) -> None:
    """A crowd asking for history must not hold back the writes every message waits for, nor wait for them."""
    await store.append([line("lobby", 1)])
    gate = threading.Event()
    writing = store.pool.runInteraction(lambda cursor: gate.wait(10))
    try:
        page = store.page("lobby")
        page.addTimeout(5, reactor)
        msgs, _ = await page
        assert [m.id for m in msgs] == [1]
    finally:
        gate.set()
        await writing
