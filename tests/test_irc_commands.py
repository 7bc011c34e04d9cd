"""
Every IRC command of the front end, over a fake chat service: the lines in,
the service calls out, and the service's answers and deliveries back as the
numerics and lines IRC clients expect (Modern IRC, RFC 2812, IRCv3).
"""

from __future__ import annotations

from typing import Any

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from chat.core.events import (Event, Joined, Left, MemberList, Private, Quit, Renamed, ReplayEnd, RoomNotice, Said,
                              TopicIs, TopicSet)
from chat.irc import IRCFactory, chat_nick, irc_nick
from chat.limits import Limits
from chat.names import ChatError
from chat.service import IChatService, Members, Page, Presence
from tests.fake_service import FakeService, FakeUser
from tests.test_irc import IRCClient


class IRCCommandTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.clock.advance(1_700_000_000)
        self.service = FakeService()
        self.assertTrue(verifyObject(IChatService, self.service))
        self.factory = IRCFactory(self.service, self.clock, Limits(flood_rate=0), server_name="irc.test")
        self.port = 50000

    def connect(self) -> IRCClient:
        self.port += 1
        return IRCClient(self.factory, self.port)

    def registered(self, nick: str = "alice") -> tuple[IRCClient, FakeUser]:
        c = self.connect()
        c.send(f"NICK {nick}", f"USER {nick} 0 * :Real Name")
        user = FakeUser(chat_nick(nick))
        self.assertEqual(self.service.answer(user), ("logon", (chat_nick(nick), c.proto)))
        c.received()
        return c, user

    def calls(self) -> list[tuple[str, tuple[Any, ...]]]:
        return [(name, args) for name, args, _ in self.service.calls]

    def numerics(self, c: IRCClient) -> list[str]:
        return [line.split()[1] for line in c.received()]

    # -- registration ------------------------------------------------------------------

    def test_registration_welcomes_with_001_to_005_lusers_and_motd(self) -> None:
        c = self.connect()
        c.send("NICK alice")
        self.assertEqual(self.calls(), [], "no logon before USER")
        c.send("USER alice 0 * :Alice A")
        self.service.answer(FakeUser("alice"))
        got = c.received()
        self.assertEqual([line.split()[1] for line in got], ["001", "002", "003", "004", "005", "251", "255", "422"])
        self.assertEqual(got[0], ":irc.test 001 alice :Welcome to the chat chat, alice")
        self.assertEqual(got[3], ":irc.test 004 alice irc.test chat i n")
        tokens = got[4].split(" :")[0].split()[3:]
        for token in ("CASEMAPPING=rfc8265", "CHANTYPES=#", "CHANNELLEN=33", "NICKLEN=24", "NETWORK=chat",
                      "UTF8ONLY", "CHATHISTORY=200"):
            self.assertIn(token, tokens)
        c.send("USER again 0 * :x", "PASS late")
        self.assertEqual(self.numerics(c), ["462", "462"])

    def test_user_needs_four_parameters_and_nick_one(self) -> None:
        c = self.connect()
        c.send("USER alice 0 *", "NICK", "NICK :")
        self.assertEqual(self.numerics(c), ["461", "431", "431"])
        self.assertEqual(self.calls(), [])

    def test_refused_nicknames_get_their_numerics_and_registration_can_go_on(self) -> None:
        c = self.connect()
        c.send("NICK taken", "USER x 0 * :x")
        self.service.answer(ChatError("nick-in-use", "the nickname taken is in use"))
        self.assertEqual(c.received(), [":irc.test 433 * taken :the nickname taken is in use"])
        c.send("NICK 9lives")
        self.service.answer(ChatError("bad-nick", "a nickname starts with a letter"))
        self.assertEqual(self.numerics(c), ["432"])
        c.send("NICK a.b")
        self.assertEqual(self.numerics(c), ["432"])
        self.assertEqual(self.calls(), [], "a dot never reaches the service")
        c.send("NICK carol")
        self.assertEqual(self.service.answer(FakeUser("carol")), ("logon", ("carol", c.proto)))
        self.assertIn(" 001 carol ", c.received()[0])

    def test_a_registered_nickname_without_its_password_is_464(self) -> None:
        c = self.connect()
        c.send("NICK carol", "USER carol 0 * :x")
        self.service.answer(ChatError("password-required", "carol is registered; send its password"))
        self.assertEqual(c.received(), [":irc.test 464 * :carol is registered; send its password"])

    def test_cap_negotiation_holds_registration_until_end(self) -> None:
        c = self.connect()
        c.send("CAP LS", "NICK alice", "USER alice 0 * :x")
        self.assertEqual(c.received(), [":irc.test CAP * LS :server-time message-tags echo-message batch draft/chathistory away-notify"])
        self.assertEqual(self.calls(), [])
        c.send("CAP REQ :server-time echo-message", "CAP REQ :sasl", "CAP LIST", "CAP FROB")
        self.assertEqual(c.received(), [
            ":irc.test CAP * ACK :server-time echo-message",
            ":irc.test CAP * NAK :sasl",  # offered only where accounts are on
            ":irc.test CAP * LIST :echo-message server-time",
            ":irc.test 410 * FROB :Invalid CAP command",
        ])
        c.send("CAP REQ :-echo-message", "CAP END")
        self.assertEqual(c.received()[0], ":irc.test CAP * ACK :-echo-message")
        self.assertEqual(self.service.answer(FakeUser("alice"))[0], "logon")
        self.assertEqual(c.proto.caps, frozenset({"server-time"}))

    def test_before_registration_only_registration_ping_and_quit_are_taken(self) -> None:
        c = self.connect()
        c.send("JOIN #lobby", "PRIVMSG #lobby :x", "PING :tok", "FROB")
        self.assertEqual(c.received(), [":irc.test 451 * :You have not registered",
                                        ":irc.test 451 * :You have not registered",
                                        ":irc.test PONG irc.test :tok",
                                        ":irc.test 421 * FROB :Unknown command"])
        self.assertEqual(self.calls(), [])

    # -- keepalive, limits, leaving ----------------------------------------------------------

    def test_ping_both_ways_and_a_silent_client_is_dropped(self) -> None:
        c, user = self.registered()
        c.send("PING", "PING :are you there")
        self.assertEqual(c.received(), [":irc.test 461 alice PING :Not enough parameters",
                                        ":irc.test PONG irc.test :are you there"])
        self.clock.advance(61)
        self.factory.sweep()
        self.assertEqual(c.received(), ["PING :irc.test"])
        c.send("PONG :irc.test")
        self.clock.advance(40)
        self.factory.sweep()
        self.assertFalse(c.transport.disconnecting, "the PONG was heard")
        self.clock.advance(61)
        self.factory.sweep()
        self.clock.advance(31)
        self.factory.sweep()
        self.assertEqual(c.received(), ["PING :irc.test"])
        self.assertTrue(c.transport.disconnecting or c.proto.closing)
        c.proto.connectionLost(None)  # type: ignore[arg-type]
        self.assertEqual(self.service.answer(), ("quit", (user, "was disconnected: no answer to PING")))

    def test_long_lines_are_417_and_bad_utf8_is_refused_alone(self) -> None:
        c, _ = self.registered()
        c.send("PRIVMSG #lobby :" + "x" * 600)
        c.proto.dataReceived(b"PRIVMSG #lobby :\xff\r\n")
        got = c.received()
        self.assertEqual(got[0], ":irc.test 417 alice :Input line was too long")
        self.assertEqual(got[1], ":irc.test FAIL * INVALID_UTF8 :that line was not UTF-8; it was ignored")
        self.assertEqual(self.calls(), [])
        self.assertFalse(c.transport.disconnecting)

    def test_quit_waits_for_what_was_said_then_closes_and_quits_with_the_reason(self) -> None:
        c, user = self.registered()
        c.send("QUIT :gone fishing")
        self.assertEqual(self.service.answer(), ("barrier", ()))
        self.assertEqual(c.received(), ["ERROR :Closing link (quit)"])
        self.assertTrue(c.transport.disconnecting)
        c.proto.connectionLost(None)  # type: ignore[arg-type]
        self.assertEqual(self.service.answer(), ("quit", (user, "has quit: gone fishing")))

    # -- channels ------------------------------------------------------------------------------

    def test_join_several_channels_ignoring_keys_with_a_numeric_for_each_refusal(self) -> None:
        c, user = self.registered()
        c.send("JOIN #a,b,#c,#d,#e key1,key2")
        self.assertEqual(self.calls(), [("join", (user, "a")), ("join", (user, "c")),
                                        ("join", (user, "d")), ("join", (user, "e"))])
        self.service.answer()
        self.service.answer(ChatError("too-many-rooms", "you may be in at most 20 rooms"))
        self.service.answer(ChatError("already-in-room", "you are already in d"))
        self.service.answer(ChatError("bad-room", "a room name has 1 to 32 characters"))
        self.assertEqual(c.received(), [":irc.test 403 alice b :No such channel",
                                        ":irc.test 405 alice #c :you may be in at most 20 rooms",
                                        ":irc.test 403 alice #e :a room name has 1 to 32 characters"])

    def test_what_a_join_delivers_is_join_names_and_topic(self) -> None:
        c, _ = self.registered()
        c.proto.deliver(Event(Joined("lobby", "alice")))
        c.proto.deliver(Event(MemberList("lobby", ("a.b", "alice"))))
        c.proto.deliver(Event(TopicIs("lobby", "plans", "a.b", 1_700_000_000_000)))
        c.proto.deliver(Event(ReplayEnd("lobby")))
        self.assertEqual(c.received(), [
            ":alice!alice@chat JOIN #lobby",
            ":irc.test 353 alice = #lobby :a|b alice",
            ":irc.test 366 alice #lobby :End of /NAMES list",
            ":irc.test 332 alice #lobby :plans",
            ":irc.test 333 alice #lobby a|b!a|b@chat :1700000000",
        ])
        c.proto.deliver(Event(TopicIs("dev")))
        self.assertEqual(c.received(), [":irc.test 331 alice #dev :No topic is set"])

    def test_part_and_join_0(self) -> None:
        c, user = self.registered()
        c.send("PART", "PART #x", "PART nochannel")
        self.assertEqual(self.calls(), [("leave", (user, "x", ""))])
        self.service.answer(ChatError("not-in-room", "you are not in x"))
        self.assertEqual(c.received(), [":irc.test 461 alice PART :Not enough parameters",
                                        ":irc.test 442 alice #x :you are not in x",
                                        ":irc.test 403 alice nochannel :No such channel"])
        for room in ("lobby", "dev"):
            c.proto.deliver(Event(Joined(room, "alice")))
        c.received()
        c.send("JOIN 0")
        self.assertEqual(self.calls(), [("leave", (user, "dev", "")), ("leave", (user, "lobby", ""))])
        self.service.answer()
        self.service.answer()
        c.send("PART #a,#b :\x02gone\x02 for lunch")
        self.assertEqual(self.calls(), [("leave", (user, "a", "gone for lunch")), ("leave", (user, "b", "gone for lunch"))])

    def test_names_who_and_list(self) -> None:
        c, _ = self.registered()
        c.send("NAMES #lobby")
        self.assertEqual(self.service.answer(Members("lobby", ("a.b", "bob"))), ("members", ("lobby",)))
        c.send("NAMES #nowhere")
        self.service.answer(ChatError("no-such-room", "there is no room nowhere"))
        c.send("NAMES", "NAMES bob")
        self.assertEqual(c.received(), [
            ":irc.test 353 alice = #lobby :a|b bob", ":irc.test 366 alice #lobby :End of /NAMES list",
            ":irc.test 366 alice #nowhere :End of /NAMES list",
            ":irc.test 366 alice * :End of /NAMES list", ":irc.test 366 alice bob :End of /NAMES list",
        ])
        c.send("WHO #lobby")
        self.service.answer(Members("lobby", ("a.b", "bob")))
        self.assertEqual(self.service.answer((Presence("a.b"), Presence("bob", "at lunch"))),
                         ("online", (("a.b", "bob"),)))
        c.send("WHO a|b")
        self.assertEqual(self.service.answer((Presence("a.b", "away"),)), ("online", (["a.b"],)))
        c.send("WHO nobody")
        self.service.answer(())
        c.send("WHO b*")
        self.assertEqual(c.received(), [
            ":irc.test 352 alice #lobby a|b chat irc.test a|b H :0 a|b",
            ":irc.test 352 alice #lobby bob chat irc.test bob G :0 bob",
            ":irc.test 315 alice #lobby :End of WHO list",
            ":irc.test 352 alice * a|b chat irc.test a|b G :0 a.b",
            ":irc.test 315 alice a|b :End of WHO list",
            ":irc.test 315 alice nobody :End of WHO list",
            ":irc.test 315 alice b* :End of WHO list",
        ])
        c.send("LIST")
        self.assertEqual(self.service.answer(("dev", "lobby")), ("room_list", ()))
        self.service.answer(Members("dev", ("bob",)))
        self.service.answer(ChatError("no-such-room", "emptied meanwhile"))
        self.assertEqual(c.received(), [":irc.test 321 alice Channel :Users  Name",
                                        ":irc.test 322 alice #dev 1 :", ":irc.test 323 alice :End of /LIST"])

    def test_topic_asked_set_and_refused(self) -> None:
        c, user = self.registered()
        c.send("TOPIC #lobby")
        self.assertEqual(self.service.answer(Members("lobby", ("alice",))), ("members", ("lobby",)))
        self.assertEqual(self.service.answer(Event(TopicIs("lobby"))), ("topic", ("lobby",)))
        c.send("TOPIC #never")
        self.service.answer(ChatError("no-such-room", "there is no room never"))
        c.send("TOPIC #lobby :\x02new\x02 plans")
        self.assertEqual(self.service.answer(), ("set_topic", (user, "lobby", "new plans")))
        c.send("TOPIC #dev :x")
        self.service.answer(ChatError("not-in-room", "you are not in dev"))
        c.send("TOPIC", "TOPIC dev")
        self.assertEqual(self.numerics(c), ["331", "403", "442", "461", "403"])
        c.proto.deliver(Event(TopicSet("lobby", "bob", "new plans", 1)))
        self.assertEqual(c.received(), [":bob!bob@chat TOPIC #lobby :new plans"])

    def test_mode_queries_and_changes(self) -> None:
        c, _ = self.registered()
        c.send("MODE #lobby", "MODE Alice", "MODE bob +i", "MODE")
        self.assertEqual(c.received(), [":irc.test 324 alice #lobby :+", ":irc.test 221 alice :+",
                                        ":irc.test 502 alice :Cannot change mode for other users",
                                        ":irc.test 461 alice MODE :Not enough parameters"])
        c.send("MODE #lobby b", "MODE #lobby +int", "MODE alice +i", "MODE #lobby +b x!*@*")
        self.assertEqual(c.received(), [
            ":irc.test 368 alice #lobby :End of channel ban list",
            ":irc.test 472 alice i :is not a channel mode here: rooms have no modes",
            ":irc.test 501 alice :Unknown MODE flag: users have no modes here",
            ":irc.test 472 alice b :is not a channel mode here: rooms have no modes",
        ])
        self.assertEqual(self.calls(), [])

    # -- messages ------------------------------------------------------------------------------

    def test_privmsg_to_channels_and_nicknames_with_colour_and_action(self) -> None:
        c, user = self.registered()
        c.send("PRIVMSG #lobby,bob,a|b :\x0304hot\x03 news", "PRIVMSG #lobby :\x01ACTION waves\x01",
               "PRIVMSG #lobby :\x01VERSION\x01")
        self.assertEqual(self.calls(), [
            ("say", (user, "lobby", "hot news", "bright-red", False, False)),
            ("private", (user, "bob", "hot news", "bright-red", False, False)),
            ("private", (user, "a.b", "hot news", "bright-red", False, False)),
            ("say", (user, "lobby", "waves", None, True, False)),
        ])

    def test_privmsg_refusals_and_an_away_recipient(self) -> None:
        c, _ = self.registered()
        c.send("PRIVMSG", "PRIVMSG #lobby", "PRIVMSG #lobby :")
        c.send("PRIVMSG #x :a", "PRIVMSG nobody :b", "PRIVMSG bob :c", "PRIVMSG carol :d")
        self.service.answer(ChatError("not-in-room", "you are not in x"))
        self.service.answer(ChatError("no-such-nick", "nobody is called nobody"))
        self.service.answer("at lunch")
        self.service.answer(None)
        self.assertEqual(c.received(), [
            ":irc.test 411 alice :No recipient given (PRIVMSG)",
            ":irc.test 412 alice :No text to send", ":irc.test 412 alice :No text to send",
            ":irc.test 404 alice #x :you are not in x",
            ":irc.test 401 alice nobody :nobody is called nobody",
            ":irc.test 301 alice bob :at lunch",
        ])

    def test_notice_is_never_answered_automatically(self) -> None:
        c, user = self.registered()
        c.send("NOTICE", "NOTICE bob", "NOTICE nobody :x", "NOTICE bob :y")
        self.assertEqual(self.calls(), [("private", (user, "nobody", "x", None, False, True)),
                                        ("private", (user, "bob", "y", None, False, True))])
        self.service.answer(ChatError("no-such-nick", "nobody is called nobody"))
        self.service.answer("at lunch")
        self.assertEqual(c.received(), [])

    def test_deliveries_become_irc_lines_and_own_lines_are_not_echoed(self) -> None:
        c, _ = self.registered()
        for room in ("dev", "lobby"):
            c.proto.deliver(Event(Joined(room, "alice")))
        c.received()
        for what in (
            Said("lobby", "a.b", "hi", 1, 1, color="green"),
            Said("lobby", "alice", "mine", 2, 1),
            Private("bob", "alice", "psst", 1),
            RoomNotice("lobby", "The server says hi"),
            Renamed("lobby", "a.b", "b.c", ("lobby", "dev")),
            Renamed("dev", "a.b", "b.c", ("lobby", "dev")),  # the same rename, another room
            Left("lobby", "bob"),
            Quit("dev", "carol", "has quit: bye", ("x", "dev", "lobby")),  # told in the first room shared
            Quit("lobby", "carol", "has quit: bye", ("x", "dev", "lobby")),
        ):
            c.proto.deliver(Event(what))
        self.assertEqual(c.received(), [
            ":a|b!a|b@chat PRIVMSG #lobby :\x0303hi\x03",
            ":bob!bob@chat PRIVMSG alice :psst",
            ":chat NOTICE #lobby :The server says hi",
            ":a|b!a|b@chat NICK :b|c",
            ":bob!bob@chat PART #lobby",
            ":carol!carol@chat QUIT :has quit: bye",
        ])

    def test_notices_stay_notices_and_a_part_keeps_its_reason(self) -> None:
        c, _ = self.registered()
        for what in (
            Said("lobby", "bot", "bot here", 1, 1, notice=True),
            Private("bot", "alice", "psst", 1, notice=True),
            Left("lobby", "bob", "gone for lunch"),
        ):
            c.proto.deliver(Event(what))
        self.assertEqual(c.received(), [
            ":bot!bot@chat NOTICE #lobby :bot here",
            ":bot!bot@chat NOTICE alice :psst",
            ":bob!bob@chat PART #lobby :gone for lunch",
        ])

    def test_client_only_tags_are_not_relayed_and_too_many_tag_bytes_are_417(self) -> None:
        c, _ = self.registered()
        c.send("@+typing=active TAGMSG #lobby")
        self.assertEqual((c.received(), self.calls()), ([], []))
        c.send("@+x=" + "y" * 4095 + " PRIVMSG #lobby :hi")
        self.assertEqual(c.received(), [":irc.test 417 alice :Input line was too long"])
        c.send("@+x=" + "y" * 4000 + " PRIVMSG #lobby :hi")
        self.assertEqual(self.calls()[0][0], "say")

    def test_a_request_the_backend_fails_is_a_notice_and_logged(self) -> None:
        c, _ = self.registered()
        c.send("PRIVMSG #lobby :x")
        self.service.answer(RuntimeError("the backend broke"))
        self.assertEqual(c.received(), [
            ":irc.test NOTICE alice :the server could not carry out this request; try again later"])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertFalse(c.transport.disconnecting)

    # -- renames, away, lookups ------------------------------------------------------------

    def test_nick_changes(self) -> None:
        c, user = self.registered()
        c.send("NICK bob")
        self.assertEqual(self.service.answer(ChatError("nick-in-use", "the nickname bob is in use")),
                         ("rename", (user, "bob")))
        c.send("NICK b|c")
        name, args = self.service.answer()
        self.assertEqual((name, args), ("rename", (user, "b.c")))
        self.assertEqual(c.received(), [":irc.test 433 alice bob :the nickname bob is in use"], "no change, no NICK")
        c.proto.deliver(Event(Joined("lobby", "alice")))
        c.received()
        c.send("NICK bee")
        user.nick = "bee"
        self.service.answer()
        self.assertEqual(c.received(), [], "in a channel, the rooms tell it")
        c.proto.deliver(Event(Renamed("lobby", "alice", "bee", ("lobby",))))
        self.assertEqual(c.received(), [":alice!alice@chat NICK :bee"], "told once")
        c.send("MODE bee")
        self.assertEqual(c.received(), [":irc.test 221 bee :+"])
        c.send("NICK bee")
        self.assertEqual((c.received(), self.calls()), ([], []), "the same nickname: no change, nothing said")

    def test_away_and_back(self) -> None:
        c, user = self.registered()
        c.send("AWAY :\x02at\x02 lunch", "AWAY")
        self.assertEqual(self.service.answer(), ("set_away", (user, "at lunch")))
        self.assertEqual(self.service.answer(), ("set_away", (user, "")))
        c.send("AWAY :" + "x" * 400)
        self.service.answer(ChatError("text-too-long", "an away message has at most 300 characters"))
        self.assertEqual(c.received(), [
            ":irc.test 306 alice :You have been marked as being away",
            ":irc.test 305 alice :You are no longer marked as being away",
            ":irc.test NOTICE alice :an away message has at most 300 characters",
        ])

    def test_ison_userhost_and_whois(self) -> None:
        c, _ = self.registered()
        c.send("ISON bob a|b nobody")
        self.assertEqual(self.service.answer((Presence("Bob"), Presence("a.b", "away"))),
                         ("online", (["bob", "a.b", "nobody"],)))
        c.send("USERHOST bob a|b")
        self.service.answer((Presence("Bob"), Presence("a.b", "away")))
        c.send("ISON", "USERHOST")
        self.assertEqual(c.received(), [
            ":irc.test 303 alice :Bob a|b",
            ":irc.test 302 alice :Bob=+Bob@chat a|b=-a|b@chat",
            ":irc.test 461 alice ISON :Not enough parameters",
            ":irc.test 461 alice USERHOST :Not enough parameters",
        ])
        c.send("WHOIS a|b")
        self.service.answer((Presence("a.b", "at lunch"),))
        c.send("WHOIS nobody")
        self.service.answer(())
        c.send("WHOIS")
        self.assertEqual(c.received(), [
            ":irc.test 311 alice a|b a|b chat * :a.b", ":irc.test 312 alice a|b irc.test :chat",
            ":irc.test 301 alice a|b :at lunch", ":irc.test 318 alice a|b :End of /WHOIS list",
            ":irc.test 401 alice nobody :No such nick", ":irc.test 318 alice nobody :End of /WHOIS list",
            ":irc.test 431 alice :No nickname given",
        ])

    def test_chathistory(self) -> None:
        c, user = self.registered()
        c.send("CHATHISTORY LATEST #lobby * 500")
        page = Page("lobby", (Event(Said("lobby", "bob", "old", 4, 1_700_000_000_000, history=True)),), False)
        self.assertEqual(self.service.answer(page), ("history", (user, "lobby", None, None, 200)))
        c.send("CHATHISTORY BEFORE #lobby msgid=4 10")
        self.assertEqual(self.service.answer(Page("lobby", (), False)), ("history", (user, "lobby", 4, None, 10)))
        c.send("CHATHISTORY AFTER #lobby msgid=2 10")
        self.assertEqual(self.service.answer(ChatError("not-in-room", "you are not in lobby"))[1],
                         (user, "lobby", None, 2, 10))
        c.send("CHATHISTORY BEFORE #lobby timestamp=2023-11-14T22:13:20.000Z 10", "CHATHISTORY LATEST bob * 1",
               "CHATHISTORY LATEST #lobby", "CHATHISTORY BEFORE #lobby msgid=4-dev 10")
        self.assertEqual(c.received(), [
            ":bob!bob@chat PRIVMSG #lobby :[22:13] old",
            ":irc.test 442 alice #lobby :you are not in lobby",
            ":irc.test FAIL CHATHISTORY INVALID_PARAMS BEFORE :use LATEST * N, or BEFORE/AFTER msgid=ID N",
            ":irc.test FAIL CHATHISTORY INVALID_TARGET LATEST bob :history is kept for channels only",
            ":irc.test 461 alice CHATHISTORY :Not enough parameters",
            ":irc.test FAIL CHATHISTORY INVALID_PARAMS BEFORE :use LATEST * N, or BEFORE/AFTER msgid=ID N",
        ], "another room's msgid is not taken for this room's")
        self.assertEqual(self.service.calls, [])

    def test_motd_and_lusers(self) -> None:
        c, _ = self.registered()
        c.send("MOTD", "LUSERS")
        self.assertEqual(c.received(), [":irc.test 422 alice :MOTD File is missing",
                                        ":irc.test 251 alice :There are 1 users and 0 invisible on 1 servers",
                                        ":irc.test 255 alice :I have 1 clients and 0 servers"])


class NickFormTests(SynchronousTestCase):
    def test_a_dot_is_shown_as_a_bar_and_read_back(self) -> None:
        self.assertEqual(irc_nick("a.b.c"), "a|b|c")
        self.assertEqual(chat_nick("a|b|c"), "a.b.c")
        self.assertEqual(chat_nick(irc_nick("Zoë_x-1.y")), "Zoë_x-1.y")
