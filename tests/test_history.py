"""The history store and group commit on a temporary SQLite database, on the real reactor."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest_twisted
from twisted.internet import defer

from chat.history import MAX_PAGE, SCHEMA, GroupCommit, History
from chat.message import CMsg, Code


def line(room: str, id: int, text: str = "", ts: int = 1000) -> CMsg:
    return CMsg(Code.NORMAL_MESSAGE, text=text or f"m{id}", room=room, nick="n", color="default", id=id, ts=ts)


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
        assert newest[0] == CMsg(Code.NORMAL_MESSAGE, text="m71", room="Lobby", nick="n", color="default",
                                 id=71, ts=1000, history=True)
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
async def test_group_commit_batches_and_relays_in_order_after_commit(tmp_path: Path) -> None:
    store = History(tmp_path)
    batches: list[int] = []
    original = store.append

    def counting(msgs: list[CMsg]) -> defer.Deferred[None]:
        batches.append(len(msgs))
        return original(msgs)

    store.append = counting  # type: ignore[method-assign]
    commit = GroupCommit(store)
    relayed: list[int] = []

    def relay(i: int) -> None:
        relayed.append(i)

    try:
        for i in range(1, 501):
            commit.accept(line("busy", i), lambda i=i: relay(i))
        assert relayed == [], "nothing is relayed before it is stored"
        await commit.flushed()
        assert relayed == list(range(1, 501))
        assert batches == [1, 499], "a busy room costs one transaction per batch"
        msgs, _ = await store.page("busy", limit=200)
        assert msgs[-1].id == 500
    finally:
        store.close()


@pytest_twisted.ensureDeferred
async def test_announcements_keep_their_place_among_messages_being_stored(tmp_path: Path) -> None:
    store = History(tmp_path)
    commit = GroupCommit(store)
    relayed: list[str] = []
    try:
        commit.then(lambda: relayed.append("idle"))
        assert relayed == ["idle"], "with nothing being stored, an announcement goes at once"
        for i in range(1, 4):
            commit.accept(line("r", i), lambda i=i: relayed.append(f"m{i}"))
        commit.then(lambda: relayed.append("bob has left"))
        commit.accept(line("r", 4), lambda: relayed.append("m4"))
        assert relayed == ["idle"]
        await commit.flushed()
        assert relayed == ["idle", "m1", "m2", "m3", "bob has left", "m4"]
    finally:
        store.close()


@pytest_twisted.ensureDeferred
async def test_a_batch_that_cannot_be_stored_is_refused_not_relayed(tmp_path: Path) -> None:
    store = History(tmp_path)
    commit = GroupCommit(store)
    relayed: list[str] = []
    refused: list[str] = []
    try:
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
    finally:
        store.close()
