"""Accounts people register themselves, through the chat service, on both backends."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest_twisted
from twisted.internet import defer, reactor

from chat.accounts import Accounts
from chat.service import IUser
from tests.redis_server import RedisProcess
from tests.service_harness import ClusterHarness, Harness
from tests.test_passwords import CHEAP
from tests.test_service import on_both_backends, refused


def in_thread_now(f: Any, *args: Any) -> defer.Deferred[Any]:
    """The hash, at once on this thread (the real one goes to the reactor's thread pool)."""
    return defer.maybeDeferred(f, *args)


def with_accounts(chat: Harness, **options: Any) -> Accounts:
    """Accounts kept by the harness's ledger, as makeService sets them up."""
    ledger = chat.service.ledger  # type: ignore[attr-defined]
    accounts = Accounts([], getattr(chat, "clock", reactor), store=lambda: ledger.account_store,
                        in_thread=in_thread_now, cost=CHEAP, delay=0, **options)
    chat.service.accounts = accounts  # type: ignore[misc]
    return accounts


async def watching(chat: Harness, room: str) -> tuple[Any, list[object]]:
    """A user in C{room} whose client keeps what it is told as the typed events, and those events."""
    seen: list[object] = []
    client = chat.client()
    deliver = client.deliver
    client.deliver = lambda event: (seen.append(event.what), deliver(event))[1]  # type: ignore[method-assign]
    watcher = await chat.call(chat.service.logon("watcher", client))
    await chat.call(chat.service.join(watcher, room))
    return client, seen


async def logged_on(chat: Harness, nick: str, password: str | None = None) -> IUser:
    return await chat.call(chat.service.logon(nick, chat.client(), password))  # type: ignore[no-any-return]


@on_both_backends
async def test_a_nickname_registered_is_taken_only_with_its_password(chat: Harness) -> None:
    with_accounts(chat)
    alice = await logged_on(chat, "alice")
    assert alice.account is None
    assert await chat.call(chat.service.register(alice, "wonderland")) == "alice"  # type: ignore[attr-defined]
    assert alice.account == "alice", "registering logs the user in to the account"
    await chat.call(chat.service.quit(alice, "bye"))
    assert await refused(chat.service.logon("alice", chat.client())) == "password-required"
    assert await refused(chat.service.logon("ALICE", chat.client(), "guess-guess")) == "bad-password"
    assert await refused(chat.service.logon("аlice", chat.client())) == "password-required", "a look-alike"
    again = await logged_on(chat, "Alice", "wonderland")
    assert (again.nick, again.account) == ("Alice", "alice")


@on_both_backends
async def test_renaming_into_a_registered_nickname_needs_its_password_but_not_for_its_owner(chat: Harness) -> None:
    with_accounts(chat)
    alice = await logged_on(chat, "alice")
    await chat.call(chat.service.register(alice, "wonderland"))  # type: ignore[attr-defined]
    bob = await logged_on(chat, "bob")
    await chat.call(chat.service.quit(alice, "bye"))
    assert await refused(chat.service.rename(bob, "ALICE")) == "password-required"
    assert await refused(chat.service.rename(bob, "alice", "guess-guess")) == "bad-password"
    assert (bob.nick, bob.account) == ("bob", None)
    alice = await logged_on(chat, "carol")
    await chat.call(chat.service.rename(alice, "alice", "wonderland"))
    assert alice.account == "alice"
    await chat.call(chat.service.rename(alice, "ALICE"))  # its owner: no password asked again
    assert (alice.nick, alice.account) == ("ALICE", "alice")
    await chat.call(chat.service.rename(alice, "alice_away"))
    assert alice.account == "alice", "an account stays with its user under a nickname nobody registered"
    carol = await logged_on(chat, "carol")
    await chat.call(chat.service.register(carol, "carol-pass"))  # type: ignore[attr-defined]
    await chat.call(chat.service.quit(carol, "bye"))
    assert await refused(chat.service.rename(alice, "carol")) == "password-required", "another account's nickname"
    await chat.call(chat.service.rename(alice, "carol", "carol-pass"))
    assert (alice.nick, alice.account) == ("carol", "carol"), "taking it logs in to that account"


@on_both_backends
async def test_registering_is_refused_with_the_reason(chat: Harness) -> None:
    accounts = with_accounts(chat)
    alice = await logged_on(chat, "alice")
    assert await refused(chat.service.register(alice, "short")) == "weak-password"  # type: ignore[attr-defined]
    await chat.call(chat.service.register(alice, "wonderland"))  # type: ignore[attr-defined]
    assert await refused(chat.service.register(alice, "wonderland")) == "already-registered"  # type: ignore[attr-defined]
    accounts.registration = False
    carol = await logged_on(chat, "carol")
    assert await refused(chat.service.register(carol, "carol-pass")) == "registration-closed"  # type: ignore[attr-defined]


@on_both_backends
async def test_registrations_from_one_address_are_limited(chat: Harness) -> None:
    with_accounts(chat, registrations_per_hour=2)
    for n in range(2):
        user = await logged_on(chat, f"user{n}")
        await chat.call(chat.service.register(user, "a-good-password"))  # type: ignore[attr-defined]
    third = await logged_on(chat, "user2")
    assert await refused(chat.service.register(third, "a-good-password")) == "try-later"  # type: ignore[attr-defined]
    assert third.account is None


@on_both_backends
async def test_a_password_is_changed_and_an_account_dropped_with_the_current_password(chat: Harness) -> None:
    with_accounts(chat)
    alice = await logged_on(chat, "alice")
    assert await refused(chat.service.change_password(alice, "x", "new-password")) == "not-registered"  # type: ignore[attr-defined]
    await chat.call(chat.service.register(alice, "wonderland"))  # type: ignore[attr-defined]
    assert await refused(chat.service.change_password(alice, "wrong-one", "new-password")) == "bad-password"  # type: ignore[attr-defined]
    assert await refused(chat.service.change_password(alice, "wonderland", "new")) == "weak-password"  # type: ignore[attr-defined]
    await chat.call(chat.service.change_password(alice, "wonderland", "looking-glass"))  # type: ignore[attr-defined]
    await chat.call(chat.service.quit(alice, "bye"))
    assert await refused(chat.service.logon("alice", chat.client(), "wonderland")) == "bad-password"
    alice = await logged_on(chat, "alice", "looking-glass")
    assert await refused(chat.service.drop_account(alice, "wonderland")) == "bad-password"  # type: ignore[attr-defined]
    await chat.call(chat.service.drop_account(alice, "looking-glass"))  # type: ignore[attr-defined]
    assert alice.account is None
    await chat.call(chat.service.quit(alice, "bye"))
    assert (await logged_on(chat, "alice")).account is None, "the nickname is anyone's again"


@pytest_twisted.ensureDeferred
async def test_an_account_registered_on_one_node_logs_on_at_another(tmp_path: Path) -> None:
    redis = RedisProcess(tmp_path / "redis")
    prefix = f"t{secrets.token_hex(4)}:"
    a, b = ClusterHarness(redis.url, prefix), ClusterHarness(redis.url, prefix)
    await a.start()
    await b.start()
    try:
        with_accounts(a)
        with_accounts(b)
        alice = await logged_on(a, "alice")
        await a.call(a.service.register(alice, "wonderland"))  # type: ignore[attr-defined]
        await a.call(a.service.quit(alice, "bye"))
        assert await refused(b.service.logon("alice", b.client())) == "password-required"
        assert (await logged_on(b, "alice", "wonderland")).account == "alice"
        # Another node sees whom it is logged in as, and its real name (IRC's WHOIS 330 and 311).
        client = a.client()
        client.realname = "Bob the Builder"  # type: ignore[attr-defined]
        bob = await a.call(a.service.logon("bob", client))
        await a.call(a.service.register(bob, "builder-pw"))  # type: ignore[attr-defined]
        seen = await b.call(b.service.online(["alice", "BOB"]))
        assert [(p.nick, p.account, p.realname) for p in seen] == [("alice", "alice", ""),
                                                                  ("bob", "bob", "Bob the Builder")]
        await a.call(a.service.rename(bob, "bobby"))
        await a.call(a.service.drop_account(bob, "builder-pw"))  # type: ignore[attr-defined]
        seen = await b.call(b.service.online(["bobby"]))
        assert [(p.nick, p.account, p.realname) for p in seen] == [("bobby", None, "Bob the Builder")]
        stored = await b.node.commands.hgetall(f"{prefix}accounts")
        assert "wonderland" not in repr(stored) and "scrypt$" in repr(stored)
    finally:
        await a.stop()
        await b.stop()


@on_both_backends
async def test_a_join_carries_the_joiners_account(chat: Harness) -> None:
    """For IRCv3 extended-join; in the cluster the account travels in the room's stream."""
    from chat.core.events import Joined

    with_accounts(chat)
    client, seen = await watching(chat, "lobby")
    alice_client = chat.client()
    alice_client.realname = "Alice Liddell"  # type: ignore[attr-defined]  # as IRC's USER gives it
    alice = await chat.call(chat.service.logon("alice", alice_client))
    await chat.call(chat.service.register(alice, "wonderland"))  # type: ignore[attr-defined]
    await chat.call(chat.service.join(alice, "lobby"))
    guest = await logged_on(chat, "guest")
    await chat.call(chat.service.join(guest, "lobby"))
    await chat.settle()
    joins = [(w.nick, w.account, w.realname) for w in seen if isinstance(w, Joined) and w.nick != "watcher"]
    assert joins == [("alice", "alice", "Alice Liddell"), ("guest", None, "")]


@on_both_backends
async def test_rooms_are_told_of_account_changes_and_lines_carry_the_account(chat: Harness) -> None:
    """For IRCv3 account-notify and account-tag; in the cluster all of it travels in the room's stream."""
    from chat.core.events import AccountChanged, Renamed, Said

    with_accounts(chat)
    client, seen = await watching(chat, "lobby")
    alice = await logged_on(chat, "alice")
    await chat.call(chat.service.join(alice, "lobby"))
    await chat.call(chat.service.say(alice, "lobby", "before", None, False))
    await chat.call(chat.service.register(alice, "wonderland"))  # type: ignore[attr-defined]
    await chat.call(chat.service.say(alice, "lobby", "after", None, False))
    await chat.call(chat.service.rename(alice, "alice_away"))
    await chat.call(chat.service.rename(alice, "Alice", "wonderland"))
    await chat.call(chat.service.drop_account(alice, "wonderland"))  # type: ignore[attr-defined]
    await chat.settle()
    told = [(type(w).__name__, w.text, w.account) if isinstance(w, Said)
            else (type(w).__name__, w.new, w.account, w.was) if isinstance(w, Renamed)
            else (type(w).__name__, w.nick, w.account)
            for w in seen if isinstance(w, (Said, Renamed, AccountChanged))]
    assert told == [("Said", "before", None), ("AccountChanged", "alice", "alice"), ("Said", "after", "alice"),
                    ("Renamed", "alice_away", "alice", "alice"), ("Renamed", "Alice", "alice", "alice"),
                    ("AccountChanged", "Alice", None)]
    native = [m for m in client.all() if m["code"] == 15]
    assert native == [{"code": 15, "room": "lobby", "nick": "alice", "text": "alice"},
                      {"code": 15, "room": "lobby", "nick": "Alice"}]


@on_both_backends
async def test_the_others_in_a_room_are_told_who_is_away_and_member_lists_say_it(chat: Harness) -> None:
    """Issue 28: away marks in the member list (native code 3's 'away', code 18; IRCv3 away-notify)."""
    from chat.core.events import AwayChanged

    client, seen = await watching(chat, "lobby")
    bob = await logged_on(chat, "bob")
    await chat.call(chat.service.join(bob, "lobby"))
    await chat.call(chat.service.set_away(bob, "at lunch"))
    carol_client = chat.client()
    carol = await chat.call(chat.service.logon("carol", carol_client))
    await chat.call(chat.service.join(carol, "lobby"))
    members = await chat.call(chat.service.members("lobby"))
    assert (members.names, members.away) == (("bob", "carol", "watcher"), ("bob",))
    await chat.call(chat.service.set_away(bob, ""))
    await chat.settle()
    dave = await logged_on(chat, "dave")
    await chat.call(chat.service.set_away(dave, "on holiday"))
    await chat.call(chat.service.join(dave, "lobby"))  # away already: the room learns it with the join
    await chat.settle()
    told = [(w.nick, w.away) for w in seen if isinstance(w, AwayChanged)]
    assert told == [("bob", "at lunch"), ("bob", None), ("dave", "on holiday")]
    welcome = [m for m in carol_client.all() if m["code"] == 3]
    assert welcome == [{"code": 3, "room": "lobby", "names": ["bob", "carol", "watcher"], "away": ["bob"]}]
    bob_client = next(c for c in chat.clients if c is not client and c is not carol_client)
    assert [m["nick"] for m in bob_client.all() if m["code"] == 18] == ["dave"], "not its own: it has code 13"
