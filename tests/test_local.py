"""
The one-process backend's own promises, beyond the behaviour suite: nothing
is relayed before the store has it, a refusal by the store reaches only the
sender, the store opens and closes with the service.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from twisted.application.service import MultiService
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from chat.history import History
from chat.local import LocalLedger, local_chat
from chat.names import ChatError
from chat.outbox import TurnFlusher
from chat.service import IUser
from tests.service_harness import ManualStore, Recorder


class LocalChatTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.store = ManualStore()
        self.flusher = TurnFlusher(self.clock)
        self.chat = local_chat(self.clock, store=self.store)  # type: ignore[arg-type]

    def settle(self) -> None:
        while True:
            self.clock.advance(0)
            if not self.store.fire():
                break
        self.clock.advance(0)

    def user(self, nick: str, room: str = "lobby") -> tuple[Recorder, IUser]:
        client = Recorder(self.flusher)
        user = self.successResultOf(self.chat.logon(nick, client))
        d = self.chat.join(user, room)
        self.settle()
        self.successResultOf(d)
        client.new()
        return client, user

    def test_while_the_whole_server_stops_quits_are_not_announced(self) -> None:
        """Everyone is told goodbye then: telling each of n users about n quits would cost n squared."""
        server = MultiService()
        self.chat.setServiceParent(server)
        alice, a = self.user("alice")
        bob, b = self.user("bob")
        alice.new()
        server.running = True
        self.successResultOf(self.chat.quit(b, "has quit"))
        self.settle()
        self.assertEqual([m["text"] for m in alice.new()], ["bob has quit"], "announced while the server runs")
        server.running = False  # what MultiService.stopService does first
        _, c = self.user("carol")
        alice.new()
        self.successResultOf(self.chat.quit(c, "left: the server is shutting down"))
        self.settle()
        self.assertEqual(alice.new(), [])
        self.assertEqual(self.successResultOf(self.chat.members("lobby")).names, ("alice",))

    def test_a_message_is_relayed_only_once_the_store_has_it(self) -> None:
        alice, a = self.user("alice")
        bob, _ = self.user("bob")
        alice.new()
        said = self.chat.say(a, "lobby", "hello", None, False)
        self.clock.advance(0)
        self.assertEqual((alice.new(), bob.new()), ([], []))
        self.assertNoResult(said)
        self.assertEqual(len(self.store.pending), 1)
        self.store.fire()
        self.clock.advance(0)
        self.successResultOf(said)
        self.assertEqual([m["text"] for m in bob.new()], ["hello"])
        self.assertEqual(self.store.rows[0][:2], ("lobby", 1))

    def test_what_the_store_refuses_is_relayed_to_nobody_and_its_sender_hears_why(self) -> None:
        alice, a = self.user("alice")
        bob, _ = self.user("bob")
        alice.new()
        said = self.chat.say(a, "lobby", "lost", None, False)
        self.clock.advance(0)
        self.store.failing = True
        self.store.fire()
        self.clock.advance(0)
        self.assertEqual(self.failureResultOf(said, ChatError).value.slug, "server-error")
        self.assertEqual((alice.new(), bob.new()), ([], []))
        self.flushLoggedErrors(OSError)

    def test_a_join_whose_history_cannot_be_read_gets_an_error_in_place_of_the_replay(self) -> None:
        alice, a = self.user("alice")
        bob = Recorder(self.flusher)
        b = self.successResultOf(self.chat.logon("bob", bob))
        joining = self.chat.join(b, "lobby")
        self.clock.advance(0)
        self.store.failing = True
        self.settle()
        self.successResultOf(joining)
        got = bob.new()
        self.assertEqual([m["code"] for m in got], [1, 3, 8, 11], "the end marker after the error, as always")
        self.assertEqual((got[2]["error"], got[2]["reply_to"]), ("server-error", 11))
        self.flushLoggedErrors(OSError)

    def test_without_a_store_there_is_no_history_and_no_wait(self) -> None:
        chat = local_chat(self.clock)
        client = Recorder(self.flusher)
        user = self.successResultOf(chat.logon("alice", client))
        self.successResultOf(chat.join(user, "lobby"))
        self.successResultOf(chat.say(user, "lobby", "hi", None, False))
        self.clock.advance(0)
        self.assertEqual([m["code"] for m in client.new()], [1, 3, 11, 5], "the replay's end marker all the same")
        self.assertEqual(self.failureResultOf(chat.history(user, "lobby", None, None, 5), ChatError).value.slug,
                         "no-history")
        self.assertEqual(self.failureResultOf(chat.history(user, "dev", None, None, 5), ChatError).value.slug,
                         "not-in-room")

    def test_stopping_waits_for_what_is_being_stored_then_closes_the_store(self) -> None:
        _, a = self.user("alice")
        self.chat.startService()
        self.chat.say(a, "lobby", "last words", None, False)
        stopped = self.chat.stopService()
        self.clock.advance(0)
        self.assertNoResult(stopped)
        self.assertFalse(self.store.closed)
        self.settle()
        self.successResultOf(stopped)
        self.assertTrue(self.store.closed)
        self.assertEqual(len(self.store.rows), 1)

    def test_the_service_opens_its_sqlite_history_when_it_starts(self) -> None:
        scratch = tempfile.TemporaryDirectory()  # not trial's mktemp, which writes into the checkout
        self.addCleanup(scratch.cleanup)
        data = Path(scratch.name) / "data"
        chat = local_chat(self.clock, data_dir=data)
        self.assertFalse((data / "history.sqlite3").exists(), "opened as the user twistd runs as, at start")
        chat.startService()
        try:
            self.assertIsInstance(chat.ledger.store, History)  # type: ignore[attr-defined]
            self.assertTrue((data / "history.sqlite3").exists())
        finally:
            chat.ledger.store.close()  # type: ignore[attr-defined]

    def test_a_running_ledger_prunes_at_start_and_then_every_interval(self) -> None:
        ledger = LocalLedger(self.clock, store=self.store, prune_every=600)  # type: ignore[arg-type]
        ledger.startService()
        self.assertEqual(len(self.store.pending), 1, "at start: which rooms lost their history")
        self.store.fire()
        self.clock.advance(599)
        self.assertEqual(self.store.pending, [])
        self.clock.advance(1)
        self.assertEqual(len(self.store.pending), 1, "again after the interval")
        self.store.fire()
        self.successResultOf(ledger.stopService())
        self.clock.advance(600)
        self.assertEqual(self.store.pending, [], "not once stopped")

    def test_empty_rooms_are_forgotten_with_their_stored_topics(self) -> None:
        """Issue 22: rooms made, given a topic and left, again and again, were all kept (and reloaded at start)."""
        _, alice = self.user("alice", "fleeting")
        self.chat.set_topic(alice, "fleeting", "x" * 300)
        self.settle()
        self.assertEqual(list(self.store.topics), ["fleeting"])
        self.chat.leave(alice, "fleeting")
        self.settle()
        self.assertEqual((self.store.topics, self.chat.ledger.state.topics), ({}, {}))
        # A room where something was said keeps its topic while its history is kept.
        self.chat.join(alice, "spoken")
        self.settle()
        self.chat.say(alice, "spoken", "hello", None, False)
        self.chat.set_topic(alice, "spoken", "a topic")
        self.settle()
        self.chat.leave(alice, "spoken")
        self.settle()
        self.chat.ledger.prune()
        self.settle()
        self.assertEqual(list(self.store.topics), ["spoken"])
        self.store.rows.clear()  # its history is gone (pruned by age or count)
        self.chat.ledger.prune()
        self.settle()
        self.assertEqual((self.store.topics, self.chat.ledger.state.topics), ({}, {}))
