"""
The chat service's own rules, checked once for every ledger: refusals,
control characters, room limits and room creations (here in front of the
one-process ledger without a store; tests/test_service.py runs the whole
behaviour on both ledgers).
"""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from chat.core.ledger import ILedger
from chat.core.service import ChatService
from chat.local import LocalLedger, local_chat
from chat.names import MAX_TEXT, ChatError
from chat.outbox import TurnFlusher
from chat.service import IChatService, IUser
from tests.service_harness import Recorder


class ChatServiceTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1000)
        self.flusher = TurnFlusher(self.clock)
        self.chat = local_chat(self.clock, max_rooms_per_user=3, max_new_rooms=3)

    def user(self, nick: str, *rooms: str) -> tuple[Recorder, IUser]:
        client = Recorder(self.flusher)
        user = self.successResultOf(self.chat.logon(nick, client))
        for room in rooms:
            self.successResultOf(self.chat.join(user, room))
        self.clock.advance(0)
        client.new()
        return client, user

    def refusal(self, d: Any) -> str:
        return str(self.failureResultOf(d, ChatError).value.slug)

    def test_the_service_and_its_ledgers_provide_their_interfaces(self) -> None:
        verifyObject(IChatService, self.chat)
        verifyObject(ILedger, LocalLedger(self.clock))
        self.assertIsInstance(self.chat, ChatService)

    def test_lines_are_checked_before_any_ledger_sees_them(self) -> None:
        _, alice = self.user("alice", "lobby")
        cases = [
            (("elsewhere", "x", None), "not-in-room"),
            (("lobby", "  ", None), "empty-text"),
            (("lobby", "x" * (MAX_TEXT + 1), None), "text-too-long"),
            (("lobby", "x", "puce"), "bad-color"),
        ]
        for args, slug in cases:
            self.assertEqual(self.refusal(self.chat.say(alice, *args, False)), slug)
        self.assertEqual(self.chat.ledger.state.find_room("lobby").last_id, 0)  # type: ignore[attr-defined]

    def test_a_user_joins_a_room_once_and_so_many_rooms_at_most(self) -> None:
        _, alice = self.user("alice", "a")
        self.assertEqual(self.refusal(self.chat.join(alice, "A")), "already-in-room")
        self.successResultOf(self.chat.join(alice, "b"))
        self.successResultOf(self.chat.join(alice, "c"))
        self.assertEqual(self.refusal(self.chat.join(alice, "d")), "too-many-rooms")

    def test_one_nickname_creates_at_most_so_many_rooms_an_hour(self) -> None:
        _, alice = self.user("alice")
        _, bob = self.user("bob", "lobby")
        for name in ("a", "b", "c"):
            self.successResultOf(self.chat.join(alice, name))
            self.successResultOf(self.chat.leave(alice, name))
        refused = self.failureResultOf(self.chat.join(alice, "d"), ChatError).value
        self.assertEqual(refused.slug, "try-later")
        self.assertIn("at most 3 rooms an hour", refused.text)
        self.successResultOf(self.chat.join(alice, "lobby"))  # joining a room that exists is no creation
        self.successResultOf(self.chat.quit(alice, "has quit"))
        _, alice = self.user("alice")
        self.assertEqual(self.refusal(self.chat.join(alice, "d")), "try-later",
                         "the count is the nickname's, not the connection's")
        self.clock.advance(1200)  # a third of an hour: one room more
        self.successResultOf(self.chat.join(alice, "d"))
        _, carol = self.user("carol")
        for name in ("e", "f", "g"):
            self.successResultOf(self.chat.join(carol, name))
            self.successResultOf(self.chat.leave(carol, name))
        self.successResultOf(self.chat.rename(carol, "carla"))  # found in review: a new name was a new allowance
        self.assertEqual(self.refusal(self.chat.join(carol, "h")), "try-later", "the connection's is spent too")


class ControlCharacterTests(SynchronousTestCase):
    """Issue 22: CTCP requests, NULs and escape sequences from one front end reached another's clients raw."""

    def setUp(self) -> None:
        self.clock = Clock()
        flusher = TurnFlusher(self.clock)
        self.chat = local_chat(self.clock)
        self.alice_client, self.bob_client = Recorder(flusher), Recorder(flusher)
        self.alice = self.successResultOf(self.chat.logon("alice", self.alice_client))
        self.bob = self.successResultOf(self.chat.logon("bob", self.bob_client))
        self.successResultOf(self.chat.join(self.alice, "lobby"))
        self.successResultOf(self.chat.join(self.bob, "lobby"))
        self.clock.advance(0)
        self.alice_client.new()

    def told(self) -> list[str]:
        self.clock.advance(0)
        return [m.get("text", "") for m in self.alice_client.new()]

    def test_message_text_loses_its_control_characters_but_tabs_and_newlines(self) -> None:
        self.chat.say(self.alice, "lobby", "\x01VERSION\x01 a\x00b\x1b[31mred\x07\x9b\tnext\nline\r", None, False)
        self.chat.private(self.alice, "bob", "\x01DCC SEND x 1 2 3\x01", None, False)
        self.assertEqual(self.told(), ["VERSION ab[31mred\tnext\nline", "DCC SEND x 1 2 3"])
        refused = self.chat.say(self.alice, "lobby", "\x00\x01\x1b", None, False)
        self.assertEqual(self.failureResultOf(refused, ChatError).value.slug, "empty-text")

    def test_topics_leave_and_quit_reasons_lose_theirs(self) -> None:
        self.chat.set_topic(self.alice, "lobby", "the \x1b[2Jtopic\x00")
        self.chat.leave(self.bob, "lobby", "bye\x07\x00 now")
        self.chat.join(self.bob, "lobby")
        self.chat.quit(self.bob, "has quit: \x1b]0;owned\x07gone\r\nfor good")
        self.assertEqual(self.told(), ["the [2Jtopic", "bob has left lobby: bye now", "bob has joined lobby",
                                       "bob has quit: ]0;ownedgone for good"])
