"""
The cluster node's pure parts: Redis URLs, stream ids, and the order in
which a joiner gets its join, the member list, the history and the room,
whichever of the two Redis connections answers first.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.python import usage

from chat.cluster.address import RedisAddress
from chat.cluster.node import ClusterNode
from chat.cluster.reader import _PendingJoin, _stream_before
from chat.core.events import Event, Joined, Said, What, record_body
from chat.state import Room, User
from chat.tap import Options


class Recorder:
    host = realname = ""

    def __init__(self) -> None:
        self.frames: list[dict[str, object]] = []

    def deliver(self, event: Event) -> None:
        self.frames.append(json.loads(event.frame[4:]))


def test_redis_urls() -> None:
    assert RedisAddress.parse("redis://10.0.0.1:6380/2") == RedisAddress("10.0.0.1", 6380, 2, None, "redis://10.0.0.1:6380/2")
    assert RedisAddress.parse("redis://:s%40cret@host").password == "s@cret"
    assert RedisAddress.parse("redis://host").port == 6379
    for bad in ("http://host", "redis://", "redis://host/x"):
        with pytest.raises(ValueError):
            RedisAddress.parse(bad)
    with pytest.raises(usage.UsageError, match="--redis"):
        Options().parseOptions(["--redis", "localhost:6379"])


def test_the_stream_id_just_before_an_entry() -> None:
    assert _stream_before("5-3") == "5-2"
    assert _stream_before("5-0") == f"4-{2**64 - 1}"
    assert _stream_before("0-1") == "0-0"


def _node_with_a_room() -> tuple[ClusterNode, Room, User, Recorder, User, Recorder]:
    node = ClusterNode(Clock(), RedisAddress.parse("redis://127.0.0.1"), "127.0.0.1:1500", node_id="n1")
    room = node.rooms["lobby"] = Room("lobby")
    old_session, new_session = Recorder(), Recorder()
    member, joiner = User("alice", old_session), User("bob", new_session)
    room.members[member.key] = member
    member.rooms["lobby"] = joiner.rooms["lobby"] = room
    node.joining["lobby"] = 1
    return node, room, member, old_session, joiner, new_session


def _entry(n: int, what: What | None = None, **extra: str) -> dict[str, str]:
    """Entry C{n} of lobby's stream, as the scripts write it: a line "entry N" unless C{what} is given."""
    what = what or Said("lobby", "x", f"entry {n}", n, 1)
    return {"m": record_body(what).decode(), "n": str(n), **extra}


def test_a_join_read_before_its_answer_waits_for_it() -> None:
    node, room, member, old, joiner, new = _node_with_a_room()
    pending = node.pending[("lobby", "bob")] = _PendingJoin(joiner, defer.Deferred())
    waiting = node._room_entry("lobby", _entry(1, Joined("lobby", "bob"), j="n1\tbob"))
    assert waiting is not None and not waiting.called and new.frames == []
    history = [["1-0", ["m", record_body(Said("lobby", "x", "old", 1, 1)).decode()]]]
    pending.names, pending.history = ["bob", "alice"], history
    pending.ready.callback(None)
    assert waiting.called
    assert [f["code"] for f in new.frames] == [1, 3, 5, 11]
    assert new.frames[1]["names"] == ["alice", "bob"] and new.frames[2]["history"] is True
    assert new.frames[3] == {"code": 11, "room": "lobby"}  # no more than the one message
    assert [f["code"] for f in old.frames] == [1]
    assert room.members == {"alice": member, "bob": joiner} and node.pending == {}


def test_a_join_waiting_for_its_answer_holds_its_own_room_only() -> None:
    """Issue 23: the read loop waited for a join's answer, stopping delivery in every room for up to 10 s."""
    node, room, member, old, joiner, new = _node_with_a_room()
    other = node.rooms["dev"] = Room("dev")
    carol_session = Recorder()
    carol = User("carol", carol_session)
    other.members[carol.key] = carol
    pending = node.pending[("lobby", "bob")] = _PendingJoin(joiner, defer.Deferred())
    node._room_entry_in_turn("lobby", _entry(1, Joined("lobby", "bob"), j="n1\tbob"))
    node._room_entry_in_turn("lobby", _entry(2))  # said after the join: waits behind it
    node._room_entry_in_turn("dev", {"m": record_body(Said("dev", "x", "meanwhile", 1, 1)).decode(), "n": "1"})
    assert [f["text"] for f in carol_session.frames] == ["meanwhile"], "another room is not held up"
    assert old.frames == [] and new.frames == []
    pending.names, pending.history = ["bob", "alice"], []
    pending.ready.callback(None)
    assert [f["code"] for f in new.frames] == [1, 3, 11, 5], "the join, its members, its end of history, then the room"
    assert [f.get("text") for f in old.frames] == ["bob has joined lobby", "entry 2"]
    assert node.held == {}


def test_entries_missing_from_a_room_are_announced_not_skipped_silently() -> None:
    node, room, member, old, joiner, new = _node_with_a_room()
    node._room_entry("lobby", _entry(7))
    node._room_entry("lobby", _entry(8))
    node._room_entry("lobby", _entry(12))
    texts = [f["text"] for f in old.frames]
    assert texts[:2] == ["entry 7", "entry 8"]
    assert texts[2].startswith("You may have missed messages in lobby") and "nick" not in old.frames[2]
    assert texts[3] == "entry 12"


def test_a_node_waiting_for_redis_polls_with_one_timer_however_many_beats() -> None:
    clock = Clock()
    node = ClusterNode(clock, RedisAddress.parse("redis://127.0.0.1"), "127.0.0.1:1500", ttl=10.0, node_id="n1")
    node.running = True  # started, but Redis never answers (node.commands is None)
    for _ in range(20):
        defer.ensureDeferred(node._beat())  # heartbeats while waiting
        clock.advance(0.05)
    assert len(clock.getDelayedCalls()) == 1


V0_REDIS = Path(__file__).parent / "fixtures" / "redis-v0.json"


@pytest_twisted.ensureDeferred
async def test_what_the_release_before_records_stored_in_redis_replays_the_same(tmp_path: Path) -> None:
    """Its history stream and topics hold the native JSON (version 0): read as they are, not rewritten."""
    from tests.redis_server import RedisProcess
    from tests.service_harness import ClusterHarness

    redis = RedisProcess(tmp_path / "redis")
    fixture = json.loads(V0_REDIS.read_text())
    for entry_id, (field, body) in fixture["history:lobby"]:
        assert entry_id.encode() in redis.command("XADD", "chat:history:lobby", entry_id, field, body)
    redis.command("HSET", "chat:topics", "lobby", fixture["topics"]["lobby"])
    redis.command("SET", "chat:lastid:lobby", fixture["lastid:lobby"])
    chat = ClusterHarness(redis.url, "chat:")
    await chat.start()
    try:
        client, bob = await chat.user("bob")
        await chat.call(chat.service.join(bob, "lobby"))
        await chat.settle()
        got = client.new()
        assert [m["code"] for m in got] == [1, 3, 12, 5, 5, 5, 11]
        assert got[2] == {"code": 12, "text": "plans for friday", "history": True, "room": "Lobby", "nick": "ann",
                          "ts": 1796686649813}
        lines = got[3:6]
        assert [(m["text"], m["color"], m.get("action", False), m.get("notice", False), m["id"]) for m in lines] == [
            ("line 1 ✓", "red", False, False, 1), ("waves", "default", True, False, 2),
            ("line 3", "default", False, True, 3)]
        assert all(m["history"] and m["nick"] == "ann" and m["room"] == "Lobby" for m in lines)
        page = await chat.call(chat.service.history(bob, "lobby", None, None, 10))
        assert [e.msg.text for e in page.events] == ["line 1 ✓", "waves", "line 3"]
        await chat.call(chat.service.say(bob, "lobby", "after the upgrade", None, False))
        page = await chat.call(chat.service.history(bob, "lobby", 5, None, 10))
        assert [(e.msg.id, e.msg.text) for e in page.events][-1] == (4, "after the upgrade"), "ids go on"
    finally:
        await chat.stop()


def test_an_entry_the_node_cannot_read_is_skipped_and_the_room_goes_on() -> None:
    """A damaged entry, or a newer release's record, once stopped the reader for every room (an exception)."""
    from twisted.logger import globalLogPublisher

    node, room, member, old, joiner, new = _node_with_a_room()
    seen: list[str] = []

    def observe(event: dict[str, object]) -> None:
        seen.append(str(event.get("log_format", "")))

    globalLogPublisher.addObserver(observe)
    try:
        node._room_entry("lobby", _entry(1))
        node._room_entry("lobby", {"m": '{"v": 2, "t": "hologram"}', "n": "2"})
        node._room_entry("lobby", {"m": "not json", "n": "3"})
        node._room_entry("lobby", _entry(4))
    finally:
        globalLogPublisher.removeObserver(observe)
    assert [f["text"] for f in old.frames] == ["entry 1", "entry 4"]
    assert sum("cannot read" in f for f in seen) == 2, "each skipped entry is logged"
