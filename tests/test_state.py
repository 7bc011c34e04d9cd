"""The chat state and name rules, with no I/O at all."""

from twisted.trial.unittest import SynchronousTestCase

from chat.core.events import Joined, Left, Quit, Renamed, Said
from chat.names import MAX_NICK, MAX_TEXT, ChatError, check_nick, check_room, fold
from chat.state import ChatState, RoomCreations, User


class FakeSession:
    """The state never talks to a connection: it only returns deliveries."""


def nicks(users: object) -> list[str]:
    return sorted(u.nick for u in users)  # type: ignore[attr-defined]


class NameRuleTests(SynchronousTestCase):
    def test_good_nicknames(self) -> None:
        for nick in ("alice", "_x", "Zoë", "a.b-c_9", "名前", "a" * MAX_NICK, "नमस्ते", "Ελένη", "ผู้ใช้"):
            self.assertEqual(check_nick(nick), nick)

    def test_bad_nicknames(self) -> None:
        invisible = ("alice\u3164", "\u3164", "a\u115fb", "a\ufe0f", "a\u200bb", "a\u034fb")
        for nick in ("", "9lives", "-x", "a b", "a\x1b[2J", "a\u202eb", "a" * (MAX_NICK + 1), "a\n", "#x",
                     "\u0301a", "a" + "\u0301\u0302" * 3, "a-\u0301", "a_\u0301", "a1\u0301", *invisible):
            with self.assertRaises(ChatError) as cm:
                check_nick(nick)
            self.assertEqual(cm.exception.slug, "bad-nick")

    def test_room_names(self) -> None:
        self.assertEqual(check_room("#general"), "#general")
        self.assertEqual(check_room("2024"), "2024")
        self.assertEqual(check_room("चर्चा"), "चर्चा")
        for room in ("", "#", "a b", "-x", "x\x07", "a" * 33, "\u3164", "#\u3164", "#.x"):
            with self.assertRaises(ChatError):
                check_room(room)

    def test_fold_is_case_and_compatibility_insensitive(self) -> None:
        self.assertEqual(fold("ALICE"), fold("alice"))
        self.assertEqual(fold("ﬁsh"), fold("FISH"))
        self.assertEqual(check_nick("e\u0301"), "\u00e9")


class StateTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.now = 1000.5
        self.state = ChatState(lambda: self.now)

    def user(self, nick: str) -> User:
        return self.state.logon(nick, FakeSession())

    def test_names_that_look_alike_are_one_name(self) -> None:
        """Unicode's confusables (UTS #39): a Cyrillic а, a Latin alpha or a capital I cannot pass for alice."""
        alice = self.user("alice")
        shouter = self.user("NICK")
        with self.assertRaises(ChatError):
            self.user("n\u0456ck")  # a Cyrillic і: like NICK once case is folded
        self.state.quit(shouter, "has quit")
        for twin in ("\u0430lice", "\u0251lice", "aIice", "a1ice"):
            with self.assertRaises(ChatError) as cm:
                self.user(twin)
            self.assertEqual(cm.exception.slug, "nick-in-use")
            self.assertIn("looks too much like alice", cm.exception.text)
        bob = self.user("bob")
        with self.assertRaises(ChatError):
            self.state.rename(bob, "\u0430lice")
        self.state.rename(alice, "aIice")  # one's own look-alike: still one's own
        self.state.quit(alice, "has quit")
        self.assertEqual(self.user("\u0430lice").nick, "\u0430lice", "free again once its holder left")
        self.state.join(bob, "lobby")
        with self.assertRaises(ChatError) as cm:
            self.state.join(bob, "l\u043ebby")  # a Cyrillic о
        self.assertEqual((cm.exception.slug, "lobby" in cm.exception.text), ("bad-room", True))

    def test_marks_on_latin_letters_and_a_small_l_among_capitals_are_look_alikes(self) -> None:
        """Issue 22, hole 4: zo\u0307e beside zoe, ALlCE and alice\u0e47 beside alice."""
        self.user("zoe")
        self.user("alice")
        for twin in ("zo\u0307e", "zo\u0308e", "ALlCE", "alice\u0e47", "AL\u0131CE"):
            with self.assertRaises(ChatError) as cm:
                self.user(twin)
            self.assertEqual(cm.exception.slug, "nick-in-use", twin)
        # Names that only share letters stay apart, and marks still matter outside Latin names.
        for name in ("ail", "zo", "\u043c\u0438\u0440", "\u043c\u0438\u0439", "\u0928\u093f\u0915", "\u0928\u0915"):
            self.assertEqual(self.user(name).nick, name)

    def test_the_room_list_is_made_once_per_change_not_per_request(self) -> None:
        alice = self.user("alice")
        for name in ("Zoo", "apple", "Mango"):
            self.state.join(alice, name)
        first = self.state.room_list()
        self.assertEqual(first, ("apple", "Mango", "Zoo"))
        self.assertIs(self.state.room_list(), first)
        self.state.join(alice, "kiwi")
        self.assertEqual(self.state.room_list(), ("apple", "kiwi", "Mango", "Zoo"))
        self.state.leave(alice, "Zoo")
        self.assertEqual(self.state.room_list(), ("apple", "kiwi", "Mango"))

    def test_rooms_that_empty_are_forgotten_unless_their_ids_must_go_on(self) -> None:
        self.state.creations = RoomCreations(0)  # no limit on creating rooms here
        alice = self.user("alice")
        for i in range(1000):
            self.state.join(alice, f"churn{i}")
            self.state.leave(alice, f"churn{i}")
        self.state.join(alice, "spoken")
        self.state.say(alice, "spoken", "hi", None)
        self.state.leave(alice, "spoken")
        self.assertEqual((self.state.rooms, self.state._last_ids), ({}, {"spoken": 1}))
        self.state.join(alice, "spoken")
        self.assertEqual(self.state.say(alice, "spoken", "again", None)[1].id, 2)

    def test_an_empty_room_where_nothing_was_said_forgets_its_topic(self) -> None:
        """Issue 22: join a new room, set a long topic, leave, again and again: 28 MB a minute."""
        alice = self.user("alice")
        self.state.join(alice, "fleeting")
        self.state.set_topic(alice, "fleeting", "x" * 300)
        self.state.leave(alice, "fleeting")
        self.assertEqual((self.state.topics, self.state.forgotten), ({}, ["fleeting"]))
        self.state.join(alice, "spoken")
        self.state.say(alice, "spoken", "hi", None)
        self.state.set_topic(alice, "spoken", "kept while its history is")
        self.state.leave(alice, "spoken")
        self.assertEqual(list(self.state.topics), ["spoken"])
        self.now += 10
        self.assertEqual(self.state.forget_empty_rooms(emptied_before=self.now - 20), [])
        self.assertEqual(self.state.forget_empty_rooms(emptied_before=self.now - 5), ["spoken"])
        self.assertEqual(self.state.topics, {})
        self.state.join(alice, "kept")
        self.state.set_topic(alice, "kept", "a room with members")
        self.assertEqual(self.state.forget_empty_rooms(gone=["kept"]), [], "a room with members is never forgotten")

    def test_one_nickname_creates_at_most_so_many_rooms_an_hour(self) -> None:
        self.state.creations = RoomCreations(3)
        alice, bob = self.user("alice"), self.user("bob")
        for name in ("a", "b", "c"):
            self.state.join(alice, name)
            self.state.leave(alice, name)
        with self.assertRaises(ChatError) as cm:
            self.state.join(alice, "d")
        self.assertEqual(cm.exception.slug, "try-later")
        self.assertIn("at most 3 rooms an hour", cm.exception.text)
        self.state.join(bob, "lobby")
        self.state.join(alice, "lobby")  # joining a room that exists is no creation
        self.state.quit(alice, "has quit")
        with self.assertRaises(ChatError):
            self.state.join(self.user("alice"), "d")  # the count is the nickname's, not the connection's
        self.now += 1200  # a third of an hour: one room more
        alice = self.state.find_user("alice")
        assert alice is not None
        self.state.join(alice, "d")
        carol = self.user("carol")
        for name in ("e", "f", "g"):
            self.state.join(carol, name)
        self.state.rename(carol, "carla")  # found in review: a new name was a new allowance
        with self.assertRaises(ChatError):
            self.state.join(carol, "h")  # the connection's is spent too

    def test_nickname_in_use_is_refused_case_insensitively(self) -> None:
        self.user("Alice")
        with self.assertRaises(ChatError) as cm:
            self.user("aLiCe")
        self.assertEqual(cm.exception.slug, "nick-in-use")

    def test_join_announces_to_all_then_lists_to_joiner(self) -> None:
        alice, bob = self.user("alice"), self.user("bob")
        self.state.join(alice, "lobby")
        (everyone, joined), (joiner, names) = self.state.join(bob, "Lobby")
        self.assertEqual(nicks(everyone), ["alice", "bob"])
        self.assertEqual(joined, Joined("lobby", "bob"))
        self.assertEqual(joined.native().text, "bob has joined lobby")  # type: ignore[union-attr]
        self.assertEqual(list(joiner), [bob])
        self.assertEqual(names.names, ("alice", "bob"))

    def test_join_twice_and_room_limit(self) -> None:
        state = ChatState(lambda: 0, max_rooms_per_user=2)
        alice = state.logon("alice", FakeSession())
        state.join(alice, "a")
        with self.assertRaises(ChatError) as cm:
            state.join(alice, "A")
        self.assertEqual(cm.exception.slug, "already-in-room")
        state.join(alice, "b")
        with self.assertRaises(ChatError) as cm:
            state.join(alice, "c")
        self.assertEqual(cm.exception.slug, "too-many-rooms")

    def test_message_ids_increase_per_room_and_survive_emptying(self) -> None:
        alice = self.user("alice")
        self.state.join(alice, "r")
        ids = [self.state.say(alice, "r", "x", None)[1].id for _ in range(3)]
        self.assertEqual(ids, [1, 2, 3])
        self.state.leave(alice, "r")
        self.assertIsNone(self.state.find_room("r"))
        self.state.join(alice, "R")
        self.assertEqual(self.state.say(alice, "r", "x", None)[1].id, 4)

    def test_message_fields(self) -> None:
        alice, bob = self.user("alice"), self.user("bob")
        for u in (alice, bob):
            self.state.join(u, "lobby")
        recipients, msg = self.state.say(alice, "LOBBY", "hi", "red")
        self.assertEqual(nicks(recipients), ["alice", "bob"])
        self.assertEqual(msg, Said("lobby", "alice", "hi", id=1, ts=1000500, color="red"))

    def test_message_refusals(self) -> None:
        alice = self.user("alice")
        self.state.join(alice, "lobby")
        cases = [
            (("elsewhere", "x", None), "not-in-room"),
            (("lobby", "  ", None), "empty-text"),
            (("lobby", "x" * (MAX_TEXT + 1), None), "text-too-long"),
            (("lobby", "x", "puce"), "bad-color"),
        ]
        for args, slug in cases:
            with self.assertRaises(ChatError) as cm:
                self.state.say(alice, *args)
            self.assertEqual(cm.exception.slug, slug)
        self.assertEqual(self.state.find_room("lobby").last_id, 0)  # type: ignore[union-attr]

    def test_private_message_to_target_and_sender(self) -> None:
        alice, bob = self.user("alice"), self.user("Bob")
        recipients, msg = self.state.private(alice, "bob", "psst", None)
        self.assertEqual(list(recipients), [bob, alice])
        self.assertEqual(msg.to, "Bob")
        self.assertEqual(msg.nick, "alice")
        self.assertEqual(list(self.state.private(alice, "alice", "me", None)[0]), [alice])
        with self.assertRaises(ChatError) as cm:
            self.state.private(alice, "carol", "x", None)
        self.assertEqual(cm.exception.slug, "no-such-nick")

    def test_rename_announces_to_each_room_and_frees_old_nick(self) -> None:
        alice, bob = self.user("alice"), self.user("bob")
        for u in (alice, bob):
            self.state.join(u, "lobby")
        self.state.join(alice, "other")
        deliveries = self.state.rename(alice, "Alicia")
        self.assertEqual(
            sorted((m for _, m in deliveries), key=lambda m: m.room),  # type: ignore[union-attr]
            [Renamed("lobby", "alice", "Alicia", ("lobby", "other")), Renamed("other", "alice", "Alicia", ("lobby", "other"))],
        )
        self.assertIs(self.state.find_user("ALICIA"), alice)
        self.assertEqual(self.state.find_room("lobby").names(), ("Alicia", "bob"))  # type: ignore[union-attr]
        self.user("alice")
        with self.assertRaises(ChatError):
            self.state.rename(bob, "alicia")

    def test_rename_to_own_nick_in_other_case(self) -> None:
        alice = self.user("alice")
        self.state.rename(alice, "ALICE")
        self.assertEqual(alice.nick, "ALICE")

    def test_quit_announces_once_to_remaining_members(self) -> None:
        alice, bob = self.user("alice"), self.user("bob")
        for u in (alice, bob):
            self.state.join(u, "lobby")
        self.state.join(alice, "solo")
        deliveries = self.state.quit(alice, "has quit")
        # Each room it was in is told, with all of them (an IRC client shows the quit once).
        self.assertEqual([(nicks(r), m) for r, m in deliveries], [(["bob"], Quit("lobby", "alice", "has quit", ("lobby", "solo")))])
        self.assertEqual(deliveries[0][1].native().text, "alice has quit")  # type: ignore[union-attr]
        self.assertEqual(self.state.quit(alice, "has quit"), [])
        self.assertIsNone(self.state.find_user("alice"))
        self.assertEqual(self.state.room_list(), ("lobby",))

    def test_members_and_room_list(self) -> None:
        alice = self.user("alice")
        self.state.join(alice, "b")
        self.state.join(alice, "A")
        self.assertEqual(self.state.room_list(), ("A", "b"))
        self.assertEqual(self.state.members("B").names, ("alice",))
        with self.assertRaises(ChatError) as cm:
            self.state.members("nowhere")
        self.assertEqual(cm.exception.slug, "no-such-room")


class ControlCharacterTests(SynchronousTestCase):
    """Issue 22: CTCP requests, NULs and escape sequences from one front end reached another's clients raw."""

    def setUp(self) -> None:
        self.state = ChatState(lambda: 1000.0)
        self.alice = self.state.logon("alice", FakeSession())
        self.bob = self.state.logon("bob", FakeSession())
        self.state.join(self.alice, "lobby")
        self.state.join(self.bob, "lobby")

    def test_message_text_loses_its_control_characters_but_tabs_and_newlines(self) -> None:
        _, msg = self.state.say(self.alice, "lobby", "\x01VERSION\x01 a\x00b\x1b[31mred\x07\x9b\tnext\nline\r", None)
        self.assertEqual(msg.text, "VERSION ab[31mred\tnext\nline")
        _, msg = self.state.private(self.alice, "bob", "\x01DCC SEND x 1 2 3\x01", None)
        self.assertEqual(msg.text, "DCC SEND x 1 2 3")
        with self.assertRaises(ChatError) as cm:
            self.state.say(self.alice, "lobby", "\x00\x01\x1b", None)
        self.assertEqual(cm.exception.slug, "empty-text")

    def test_topics_leave_and_quit_reasons_lose_theirs(self) -> None:
        _, topic = self.state.set_topic(self.alice, "lobby", "the \x1b[2Jtopic\x00")
        self.assertEqual(topic.text, "the [2Jtopic")
        [(_, left)] = self.state.leave(self.bob, "lobby", "bye\x07\x00 now")
        self.assertEqual(left, Left("lobby", "bob", "bye now"))
        self.assertEqual(left.native().text, "bob has left lobby: bye now")  # type: ignore[union-attr]
        self.state.join(self.bob, "lobby")
        [(_, quit)] = self.state.quit(self.bob, "has quit: \x1b]0;owned\x07gone\r\nfor good")
        self.assertEqual(quit.why, "has quit: ]0;ownedgone for good")  # type: ignore[union-attr]
