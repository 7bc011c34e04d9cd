"""The chat state and name rules, with no I/O at all."""

from twisted.trial.unittest import SynchronousTestCase

from chat.core.events import Joined, Quit, Renamed, Said, TopicSet
from chat.names import MAX_NICK, ChatError, check_nick, check_room, fold
from chat.state import ChatState, Delivery, RoomCreationRefused, User, member_room


class FakeSession:
    """The state never talks to a connection: it only returns deliveries (and keeps what it says of itself)."""

    host = realname = ""


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

    def join(self, user: User, name: str) -> list[Delivery]:
        deliveries, _ = self.state.join(user, name)
        return deliveries

    def leave(self, user: User, name: str) -> list[Delivery]:
        return self.state.leave(user, member_room(user, name))

    def say(self, user: User, name: str, text: str, color: str = "default") -> Delivery:
        return self.state.say(user, member_room(user, name), text, color)

    def set_topic(self, user: User, name: str, text: str) -> Delivery:
        room = member_room(user, name)
        return self.state.set_topic(room, TopicSet(room.name, user.nick, text, 5))

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
        self.join(bob, "lobby")
        with self.assertRaises(ChatError) as cm:
            self.join(bob, "l\u043ebby")  # a Cyrillic о
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
            self.join(alice, name)
        first = self.state.room_list()
        self.assertEqual(first, ("apple", "Mango", "Zoo"))
        self.assertIs(self.state.room_list(), first)
        self.join(alice, "kiwi")
        self.assertEqual(self.state.room_list(), ("apple", "kiwi", "Mango", "Zoo"))
        self.leave(alice, "Zoo")
        self.assertEqual(self.state.room_list(), ("apple", "kiwi", "Mango"))

    def test_rooms_that_empty_are_forgotten_unless_their_ids_must_go_on(self) -> None:
        alice = self.user("alice")
        for i in range(1000):
            self.join(alice, f"churn{i}")
            self.leave(alice, f"churn{i}")
        self.join(alice, "spoken")
        self.say(alice, "spoken", "hi")
        self.leave(alice, "spoken")
        self.assertEqual((self.state.rooms, self.state._last_ids), ({}, {"spoken": 1}))
        self.join(alice, "spoken")
        self.assertEqual(self.say(alice, "spoken", "again")[1].id, 2)

    def test_an_empty_room_where_nothing_was_said_forgets_its_topic(self) -> None:
        """Issue 22: join a new room, set a long topic, leave, again and again: 28 MB a minute."""
        alice = self.user("alice")
        self.join(alice, "fleeting")
        self.set_topic(alice, "fleeting", "x" * 300)
        self.leave(alice, "fleeting")
        self.assertEqual((self.state.topics, self.state.forgotten), ({}, ["fleeting"]))
        self.join(alice, "spoken")
        self.say(alice, "spoken", "hi")
        self.set_topic(alice, "spoken", "kept while its history is")
        self.leave(alice, "spoken")
        self.assertEqual(list(self.state.topics), ["spoken"])
        self.now += 10
        self.assertEqual(self.state.forget_empty_rooms(emptied_before=self.now - 20), [])
        self.assertEqual(self.state.forget_empty_rooms(emptied_before=self.now - 5), ["spoken"])
        self.assertEqual(self.state.topics, {})
        self.join(alice, "kept")
        self.set_topic(alice, "kept", "a room with members")
        self.assertEqual(self.state.forget_empty_rooms(gone=["kept"]), [], "a room with members is never forgotten")

    def test_nickname_in_use_is_refused_case_insensitively(self) -> None:
        self.user("Alice")
        with self.assertRaises(ChatError) as cm:
            self.user("aLiCe")
        self.assertEqual(cm.exception.slug, "nick-in-use")

    def test_join_announces_to_all_then_lists_to_joiner(self) -> None:
        alice, bob = self.user("alice"), self.user("bob")
        self.join(alice, "lobby")
        (everyone, joined), (joiner, names) = self.join(bob, "lobby")
        self.assertEqual(nicks(everyone), ["alice", "bob"])
        self.assertEqual(joined, Joined("lobby", "bob"))
        self.assertEqual(joined.native().text, "bob has joined lobby")  # type: ignore[union-attr]
        self.assertEqual(list(joiner), [bob])
        self.assertEqual(names.names, ("alice", "bob"))

    def test_message_ids_increase_per_room_and_survive_emptying(self) -> None:
        alice = self.user("alice")
        self.join(alice, "r")
        ids = [self.say(alice, "r", "x")[1].id for _ in range(3)]
        self.assertEqual(ids, [1, 2, 3])
        self.leave(alice, "r")
        self.assertIsNone(self.state.find_room("r"))
        self.join(alice, "R")
        self.assertEqual(self.say(alice, "r", "x")[1].id, 4)

    def test_message_fields(self) -> None:
        alice, bob = self.user("alice"), self.user("bob")
        for u in (alice, bob):
            self.join(u, "lobby")
        recipients, msg = self.say(alice, "LOBBY", "hi", "red")
        self.assertEqual(nicks(recipients), ["alice", "bob"])
        self.assertEqual(msg, Said("lobby", "alice", "hi", id=1, ts=1000500, color="red"))

    def test_private_message_to_target_and_sender(self) -> None:
        alice, bob = self.user("alice"), self.user("Bob")
        recipients, msg = self.state.private(alice, "bob", "psst")
        self.assertEqual(list(recipients), [bob, alice])
        self.assertEqual(msg.to, "Bob")
        self.assertEqual(msg.nick, "alice")
        self.assertEqual(list(self.state.private(alice, "alice", "me")[0]), [alice])
        with self.assertRaises(ChatError) as cm:
            self.state.private(alice, "carol", "x")
        self.assertEqual(cm.exception.slug, "no-such-nick")

    def test_rename_announces_to_each_room_and_frees_old_nick(self) -> None:
        alice, bob = self.user("alice"), self.user("bob")
        for u in (alice, bob):
            self.join(u, "lobby")
        self.join(alice, "other")
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
            self.join(u, "lobby")
        self.join(alice, "solo")
        deliveries = self.state.quit(alice, "has quit")
        # Each room it was in is told, with all of them (an IRC client shows the quit once).
        self.assertEqual([(nicks(r), m) for r, m in deliveries], [(["bob"], Quit("lobby", "alice", "has quit", ("lobby", "solo")))])
        self.assertEqual(deliveries[0][1].native().text, "alice has quit")  # type: ignore[union-attr]
        self.assertEqual(self.state.quit(alice, "has quit"), [])
        self.assertIsNone(self.state.find_user("alice"))
        self.assertEqual(self.state.room_list(), ("lobby",))

    def test_members_and_room_list(self) -> None:
        alice = self.user("alice")
        self.join(alice, "b")
        self.join(alice, "A")
        self.assertEqual(self.state.room_list(), ("A", "b"))
        self.assertEqual(self.state.members("B").names, ("alice",))
        with self.assertRaises(ChatError) as cm:
            self.state.members("nowhere")
        self.assertEqual(cm.exception.slug, "no-such-room")

    def test_a_join_creates_a_room_only_if_the_service_allows_it(self) -> None:
        alice, bob = self.user("alice"), self.user("bob")
        with self.assertRaises(RoomCreationRefused):
            self.state.join(alice, "new", may_create=False)
        self.assertIsNone(self.state.find_room("new"))
        self.assertEqual(self.state.join(alice, "new")[1], True)
        self.assertEqual(self.state.join(bob, "new", may_create=False)[1], False, "a room that exists")
