"""
The chat service's behaviour, written once against L{IChatService} and run
against both backends: the one process (a fake clock, a store the test
answers) and a cluster node on a real redis-server.  What a front end may
rely on is exactly what passes here for both.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from zope.interface.verify import verifyObject

from chat.names import ChatError
from chat.service import IChatService, IClient, Presence
from tests.redis_server import RedisProcess
from tests.service_harness import ClusterHarness, Harness, LocalHarness, Recorder


def on_both_backends(test: Callable[[Harness], Awaitable[None]]) -> Callable[..., Any]:
    """Run C{test} once against each backend, started before and stopped after it."""

    @pytest.mark.parametrize("backend", ["local", "cluster"])
    @pytest_twisted.ensureDeferred
    async def run(backend: str, tmp_path: Path) -> None:
        harness: Harness
        if backend == "local":
            harness = LocalHarness()
        else:
            # A redis-server of its own (tests/conftest.py stops it after the test).
            cluster = ClusterHarness(RedisProcess(tmp_path / "redis").url, f"t{secrets.token_hex(4)}:")
            await cluster.start()
            harness = cluster
        try:
            await test(harness)
        finally:
            await harness.stop()

    run.__name__, run.__doc__ = test.__name__, test.__doc__
    return run


async def refused(d: Any) -> str:
    """The slug of the L{ChatError} a request fails with."""
    try:
        await d
    except ChatError as e:
        return e.slug
    raise AssertionError("the request was not refused")


def texts(messages: list[dict[str, Any]]) -> list[str]:
    return [m.get("text", "") for m in messages]


@on_both_backends
async def test_both_backends_provide_the_interface(chat: Harness) -> None:
    assert verifyObject(IChatService, chat.service)
    assert verifyObject(IClient, Recorder(chat.flusher))


@on_both_backends
async def test_nicknames_are_checked_and_unique_case_insensitively(chat: Harness) -> None:
    client = chat.client()
    assert await refused(chat.service.logon("no spaces", client)) == "bad-nick"
    assert await refused(chat.service.logon("x" * 25, client)) == "bad-nick"
    await chat.user("alice")
    assert await refused(chat.service.logon("ALICE", client)) == "nick-in-use"
    bob = await chat.service.logon("bob", client)
    assert bob.nick == "bob"


@on_both_backends
async def test_join_is_announced_then_the_joiner_gets_members_and_the_end_of_history(chat: Harness) -> None:
    alice, _ = await chat.user("alice", "lobby")
    bob_client = chat.client()
    bob = await chat.service.logon("bob", bob_client)
    await chat.call(chat.service.join(bob, "lobby"))
    await chat.settle()
    joined = {"code": 1, "text": "bob has joined lobby", "nick": "bob", "room": "lobby"}
    assert alice.new() == [joined]
    assert bob_client.new() == [joined, {"code": 3, "room": "lobby", "names": ["alice", "bob"]},
                                {"code": 11, "room": "lobby"}]
    assert await refused(chat.service.join(bob, "LOBBY")) == "already-in-room"
    assert await refused(chat.service.join(bob, "bad room")) == "bad-room"


@on_both_backends
async def test_messages_reach_every_member_with_ids_and_refusals_name_the_reason(chat: Harness) -> None:
    alice, a = await chat.user("alice", "lobby")
    bob, _ = await chat.user("bob", "lobby")
    carol, _ = await chat.user("carol", "elsewhere")
    alice.new()
    for i in range(3):
        await chat.call(chat.service.say(a, "lobby", f"line {i}", "green", False))
    await chat.settle()
    got = bob.new()
    assert texts(got) == ["line 0", "line 1", "line 2"]
    assert [m["id"] for m in got] == [1, 2, 3]
    assert all(m["nick"] == "alice" and m["color"] == "green" and m["room"] == "lobby" and m["ts"] > 0 for m in got)
    assert alice.new() == got and carol.new() == []
    assert await refused(chat.service.say(a, "elsewhere", "x", None, False)) == "not-in-room"
    assert await refused(chat.service.say(a, "lobby", "  ", None, False)) == "empty-text"
    assert await refused(chat.service.say(a, "lobby", "x" * 2001, None, False)) == "text-too-long"
    assert await refused(chat.service.say(a, "lobby", "x", "puce", False)) == "bad-color"
    await chat.settle()
    assert bob.new() == []


@on_both_backends
async def test_a_leave_comes_after_the_leavers_last_words(chat: Harness) -> None:
    alice, _ = await chat.user("alice", "lobby")
    bob_client, bob = await chat.user("bob", "lobby")
    alice.new()
    said = [chat.service.say(bob, "lobby", f"last {i}", None, False) for i in range(5)]
    left = chat.service.leave(bob, "lobby")
    for d in [*said, left]:
        await chat.call(d)
    await chat.settle()
    got = alice.new()
    assert texts(got) == [f"last {i}" for i in range(5)] + ["bob has left lobby"]
    assert bob_client.new()[-1] == {"code": 2, "text": "bob has left lobby", "nick": "bob", "room": "lobby"}
    assert await refused(chat.service.leave(bob, "lobby")) == "not-in-room"


@on_both_backends
async def test_a_joiner_gets_what_was_said_before_as_history_then_what_is_said_after(chat: Harness) -> None:
    alice_client, alice = await chat.user("alice", "lobby")
    for i in range(1, 6):
        await chat.call(chat.service.say(alice, "lobby", f"old {i}", None, False))
    await chat.settle()
    bob_client = chat.client()
    bob = await chat.service.logon("bob", bob_client)
    joining = chat.service.join(bob, "lobby")
    chat.service.say(alice, "lobby", "new", None, False)
    await chat.call(joining)
    await chat.settle()
    got = bob_client.new()
    assert [m["code"] for m in got] == [1, 3, 5, 5, 5, 5, 5, 11, 5]
    replay = got[2:7]
    assert texts(replay) == [f"old {i}" for i in range(1, 6)]
    assert all(m["history"] is True for m in replay) and [m["id"] for m in replay] == [1, 2, 3, 4, 5]
    assert got[7] == {"code": 11, "room": "lobby"}
    assert got[8]["text"] == "new" and got[8]["id"] == 6 and "history" not in got[8]


@on_both_backends
async def test_history_pages_back_and_forward(chat: Harness) -> None:
    _, alice = await chat.user("alice", "lobby")
    for i in range(1, 13):
        await chat.call(chat.service.say(alice, "lobby", f"m{i}", None, False))
    await chat.settle()

    async def page(**kw: Any) -> tuple[list[int], bool]:
        d = chat.service.history(alice, "LOBBY", kw.get("before"), kw.get("after"), kw["limit"])
        await chat.settle()
        result = await d
        assert result.room == "lobby"
        assert all(e.msg.history for e in result.events)
        return [e.msg.id for e in result.events], result.more

    assert await page(limit=5) == ([8, 9, 10, 11, 12], True)
    assert await page(before=8, limit=5) == ([3, 4, 5, 6, 7], True)
    assert await page(before=3, limit=5) == ([1, 2], False)
    assert await page(after=10, limit=5) == ([11, 12], False)
    assert await page(after=0, limit=3) == ([1, 2, 3], True)
    assert await refused(chat.service.history(alice, "elsewhere", None, None, 5)) == "not-in-room"
    assert await refused(chat.service.history(alice, "elsewhere", 5, 1, 5)) == "not-in-room", "the room first"
    assert await refused(chat.service.history(alice, "lobby", 5, 1, 5)) == "bad-request"
    assert await refused(chat.service.history(alice, "lobby", 2**63, None, 5)) == "bad-request"
    assert await refused(chat.service.history(alice, "lobby", None, -1, 5)) == "bad-request"
    assert await page(before=2**63 - 1, limit=1) == ([12], True)
    assert await page(after=10, limit=-5) == ([11], True), "a limit under 1 is 1"


@on_both_backends
async def test_private_messages_go_to_their_target_and_back_to_the_sender(chat: Harness) -> None:
    alice, a = await chat.user("alice")
    bob, _ = await chat.user("bob")
    carol, _ = await chat.user("carol")
    await chat.call(chat.service.private(a, "BOB", "psst", None, True))
    await chat.settle()
    pm = {"code": 6, "text": "psst", "nick": "alice", "to": "bob", "color": "default", "action": True}
    got = bob.new()
    assert len(got) == 1 and got[0]["ts"] > 0
    assert {k: v for k, v in got[0].items() if k != "ts"} == pm
    assert alice.new() == got and carol.new() == []
    assert await refused(chat.service.private(a, "nobody", "x", None, False)) == "no-such-nick"
    assert await refused(chat.service.private(a, "bob", "", None, False)) == "empty-text"


@on_both_backends
async def test_a_rename_is_announced_to_each_room_and_frees_the_old_nickname(chat: Harness) -> None:
    alice_client, alice = await chat.user("alice", "lobby", "dev")
    bob, _ = await chat.user("bob", "lobby")
    alice_client.new()
    await chat.call(chat.service.rename(alice, "alicia"))
    await chat.settle()
    assert alice.nick == "alicia"
    announce = {"code": 4, "text": "alicia", "nick": "alice", "room": "lobby"}
    assert bob.new() == [announce]
    assert sorted(m["room"] for m in alice_client.new()) == ["dev", "lobby"]
    await chat.service.rename(alice, "ALICIA")  # its own, in another case
    assert await refused(chat.service.rename(alice, "bob")) == "nick-in-use"
    assert await refused(chat.service.rename(alice, "bad nick")) == "bad-nick"
    _, again = await chat.user("alice")
    assert again.nick == "alice"


@on_both_backends
async def test_a_quit_is_announced_once_with_its_reason(chat: Harness) -> None:
    alice, _ = await chat.user("alice", "lobby", "dev")
    _, bob = await chat.user("bob", "lobby", "dev")
    alice.new()
    await chat.call(chat.service.quit(bob, "has quit: lunch"))
    await chat.call(chat.service.quit(bob, "has quit: again"))
    await chat.settle()
    got = alice.new()
    assert sorted((m["room"], m["text"]) for m in got) == [("dev", "bob has quit: lunch"), ("lobby", "bob has quit: lunch")]
    assert all(m["code"] == 2 and m["nick"] == "bob" for m in got)
    assert (await chat.service.members("lobby")).names == ("alice",)


@on_both_backends
async def test_control_characters_never_reach_anyone(chat: Harness) -> None:
    """Issue 22: a CTCP request, a NUL or an escape sequence from one front end reached another's clients raw."""
    alice, a = await chat.user("alice", "lobby")
    bob, b = await chat.user("bob", "lobby")
    alice.new()
    await chat.call(chat.service.say(b, "lobby", "\x01VERSION\x01 hi\x00\x1b[2J\tthere", None, False))
    await chat.call(chat.service.private(b, "alice", "\x01DCC SEND f 1 2 3\x01", None, False))
    await chat.call(chat.service.quit(b, "has quit: \x1b]0;owned\x07bye\r\nnow"))
    await chat.settle()
    assert [m["text"] for m in alice.new()] == ["VERSION hi[2J\tthere", "DCC SEND f 1 2 3", "bob has quit: ]0;ownedbye now"]
    assert await refused(chat.service.say(a, "lobby", "\x00\x07", None, False)) == "empty-text"


@on_both_backends
async def test_an_empty_room_where_nothing_was_said_is_forgotten_with_its_topic(chat: Harness) -> None:
    """Issue 22: rooms made, given a topic and left, again and again, were all kept."""
    _, a = await chat.user("alice", "fleeting")
    await chat.call(chat.service.set_topic(a, "fleeting", "x" * 300))
    await chat.call(chat.service.leave(a, "fleeting"))
    await chat.settle()
    assert (await chat.service.topic("fleeting")).msg.text == ""
    await chat.call(chat.service.join(a, "spoken"))
    await chat.call(chat.service.say(a, "spoken", "hello", None, False))
    await chat.call(chat.service.set_topic(a, "spoken", "kept with the history"))
    await chat.call(chat.service.leave(a, "spoken"))
    await chat.settle()
    assert (await chat.service.topic("spoken")).msg.text == "kept with the history"


@on_both_backends
async def test_one_nickname_creates_at_most_so_many_rooms_an_hour(chat: Harness) -> None:
    from chat.state import MAX_NEW_ROOMS

    _, bob = await chat.user("bob", "lobby")
    _, a = await chat.user("alice", "lobby")  # a room that exists: no creation
    for i in range(MAX_NEW_ROOMS):
        await chat.call(chat.service.join(a, f"new{i}"))
        await chat.call(chat.service.leave(a, f"new{i}"))
    assert await refused(chat.service.join(a, "one-too-many")) == "try-later"
    await chat.call(chat.service.join(bob, "bobs"))
    await chat.call(chat.service.join(a, "bobs"))  # joining a room that exists is always allowed
    assert (await chat.service.members("bobs")).names == ("alice", "bob")


@on_both_backends
async def test_joins_sent_together_cannot_all_create_rooms_before_any_is_counted(chat: Harness) -> None:
    """Found in review: a cluster node counted a creation only once Redis answered it."""
    from chat.state import MAX_NEW_ROOMS

    _, a = await chat.user("alice")
    for i in range(MAX_NEW_ROOMS - 2):
        await chat.call(chat.service.join(a, f"new{i}"))
        await chat.call(chat.service.leave(a, f"new{i}"))
    together = [chat.service.join(a, f"together{i}") for i in range(3)]  # as an IRC JOIN of three channels
    await chat.answer_store()  # type: ignore[attr-defined]
    outcomes = []
    for d in together:
        try:
            await d
            outcomes.append("joined")
        except ChatError as e:
            outcomes.append(e.slug)
    assert outcomes == ["joined", "joined", "try-later"]


@on_both_backends
async def test_members_and_the_room_list(chat: Harness) -> None:
    await chat.user("bob", "Zoo", "lobby")
    await chat.user("alice", "lobby")
    members = await chat.call(chat.service.members("ZOO"))
    assert (members.room, members.names) == ("Zoo", ("bob",))
    assert (await chat.service.members("lobby")).names == ("alice", "bob")
    assert await chat.service.room_list() == ("lobby", "Zoo")
    assert await refused(chat.service.members("nowhere")) == "no-such-room"
    assert await refused(chat.service.members("bad room")) == "bad-room"


@on_both_backends
async def test_once_the_barrier_fires_what_was_said_before_it_has_reached_every_member(chat: Harness) -> None:
    """Issue 23: a cluster's barrier was a PING: goodbyes at shutdown could overtake messages in a stream."""
    for round in range(5):
        _, alice = await chat.user(f"alice{round}", f"room{round}")
        bob, _ = await chat.user(f"bob{round}", f"room{round}")
        for i in range(20):
            chat.service.say(alice, f"room{round}", f"m{i}", None, False)
        barrier = chat.service.barrier()
        await chat.answer_store()  # type: ignore[attr-defined]
        await barrier
        bob.outbox.flush()
        assert texts(bob.new())[-20:] == [f"m{i}" for i in range(20)]


@on_both_backends
async def test_the_barrier_fires_after_what_was_accepted_is_relayed(chat: Harness) -> None:
    _, alice = await chat.user("alice", "lobby")
    bob, _ = await chat.user("bob", "lobby")
    for i in range(3):
        chat.service.say(alice, "lobby", f"m{i}", None, False)
    barrier = chat.service.barrier()
    await chat.settle()
    await barrier
    await chat.settle()
    assert texts(bob.new())[-3:] == ["m0", "m1", "m2"]


@on_both_backends
async def test_who_is_online_is_answered_as_each_nickname_is_shown(chat: Harness) -> None:
    await chat.user("Alice")
    _, bob = await chat.user("bob")
    assert await chat.service.online(["alice", "nobody", "BOB"]) == (Presence("Alice"), Presence("bob"))
    await chat.call(chat.service.quit(bob, "has quit"))
    assert await chat.service.online(["bob"]) == ()
    assert await chat.service.online([]) == ()


@on_both_backends
async def test_a_topic_is_told_to_the_room_kept_and_given_to_each_joiner(chat: Harness) -> None:
    alice, a = await chat.user("alice", "lobby")
    bob, _ = await chat.user("bob", "lobby")
    alice.new()
    assert (await chat.service.topic("lobby")).msg.text == ""
    await chat.call(chat.service.set_topic(a, "lobby", "  plans for friday "))
    await chat.settle()
    change = {"code": 12, "room": "lobby", "text": "plans for friday", "nick": "alice"}
    got = bob.new()
    assert len(got) == 1 and got[0]["ts"] > 0 and {k: v for k, v in got[0].items() if k != "ts"} == change
    assert alice.new() == got
    carol = chat.client()
    c = await chat.service.logon("carol", carol)
    await chat.call(chat.service.join(c, "LOBBY"))
    await chat.settle()
    joined = carol.new()
    assert [m["code"] for m in joined] == [1, 3, 12, 11]
    assert joined[2]["text"] == "plans for friday" and joined[2]["history"] is True
    topic = (await chat.service.topic("Lobby")).msg
    assert (topic.text, topic.nick, topic.room) == ("plans for friday", "alice", "lobby")
    assert await refused(chat.service.set_topic(c, "elsewhere", "x")) == "not-in-room"
    assert await refused(chat.service.set_topic(c, "lobby", "x" * 301)) == "text-too-long"
    await chat.call(chat.service.set_topic(c, "lobby", ""))
    assert (await chat.service.topic("lobby")).msg.text == ""


@on_both_backends
async def test_away_is_seen_by_lookups_and_private_senders_until_back_or_gone(chat: Harness) -> None:
    alice, a = await chat.user("alice")
    bob, b = await chat.user("bob")
    assert await chat.call(chat.service.private(a, "bob", "hi", None, False)) is None
    await chat.call(chat.service.set_away(b, " at lunch "))
    assert await chat.service.online(["BOB", "alice"]) == (Presence("bob", "at lunch"), Presence("alice"))
    assert await chat.call(chat.service.private(a, "Bob", "still there?", None, False)) == "at lunch"
    await chat.settle()
    assert texts(bob.new()) == ["hi", "still there?"], "an away user still gets its messages"
    await chat.call(chat.service.rename(b, "robert"))
    assert await chat.service.online(["robert"]) == (Presence("robert", "at lunch"),)
    assert await refused(chat.service.set_away(b, "x" * 301)) == "text-too-long"
    assert await refused(chat.service.set_away(b, "two\nlines")) == "bad-away"
    await chat.call(chat.service.set_away(b, ""))
    assert await chat.service.online(["robert"]) == (Presence("robert"),)
    await chat.call(chat.service.set_away(b, "gone"))
    await chat.call(chat.service.quit(b, "has quit"))
    await chat.service.logon("robert", chat.client())
    assert await chat.service.online(["robert"]) == (Presence("robert"),), "a new user is not the old one's away"


@on_both_backends
async def test_a_nickname_that_looks_like_one_in_use_is_refused(chat: Harness) -> None:
    _, alice = await chat.user("alice")
    _, bob = await chat.user("bob")
    assert await refused(chat.service.logon("\u0430lice", chat.client())) == "nick-in-use"  # a Cyrillic а
    assert await refused(chat.service.rename(bob, "aIice")) == "nick-in-use"
    _, shouter = await chat.user("NICK")
    assert await refused(chat.service.logon("n\u0456ck", chat.client())) == "nick-in-use"  # a Cyrillic і
    await chat.call(chat.service.quit(shouter, "has quit"))
    assert await refused(chat.service.logon("ALlCE", chat.client())) == "nick-in-use"  # a small l among capitals
    assert await refused(chat.service.rename(bob, "alice\u0e47")) == "nick-in-use"  # a Thai mark on a Latin e
    await chat.call(chat.service.rename(alice, "a1ice"))  # its own look: still its own
    await chat.call(chat.service.quit(alice, "has quit"))
    assert (await chat.service.logon("\u0430lice", chat.client())).nick == "\u0430lice"


@on_both_backends
async def test_without_a_replay_the_end_marker_still_says_whether_there_is_history(chat: Harness) -> None:
    chat.service.replay = 0  # type: ignore[attr-defined]  # --history-replay 0
    quiet = chat.client()
    await chat.call(chat.service.join(await chat.service.logon("quiet", quiet), "empty"))
    await chat.settle()
    joined = quiet.new()
    assert joined[-1]["code"] == 11 and "more" not in joined[-1], "nothing was ever said there"
    _, alice = await chat.user("alice", "lobby")
    await chat.call(chat.service.say(alice, "lobby", "kept", None, False))
    bob = chat.client()
    await chat.call(chat.service.join(await chat.service.logon("bob", bob), "lobby"))
    await chat.settle()
    got = bob.new()
    assert [m["code"] for m in got] == [1, 3, 11] and got[-1]["more"] is True


@on_both_backends
async def test_a_user_who_quits_while_renaming_leaves_neither_name_taken(chat: Harness) -> None:
    _, alice = await chat.user("alice", "lobby")
    renaming = chat.service.rename(alice, "alicia")
    await chat.call(chat.service.quit(alice, "has lost the connection"))
    try:
        await chat.call(renaming)
    except ChatError:
        pass
    await chat.settle()
    for nick in ("alice", "alicia"):
        assert (await chat.service.logon(nick, chat.client())).nick == nick
