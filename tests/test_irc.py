"""The IRC front end over StringTransport, in the same rooms as native clients (one-process backend)."""

from __future__ import annotations

import base64

from twisted.cred.checkers import InMemoryUsernamePasswordDatabaseDontUse
from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial.unittest import SynchronousTestCase

from chat.accounts import WRONG_PASSWORD_DELAY, Accounts
from chat.ircformat import colour_of, coloured, parse, split_text, strip_formatting
from chat.irc import IRCFactory, IRCServerProtocol
from chat.limits import Limits
from chat.local import local_chat
from chat.server import ChatServerFactory
from tests.service_harness import ManualStore
from tests.test_server import Client


class IRCClient:
    def __init__(self, factory: IRCFactory, port: int) -> None:
        self.proto: IRCServerProtocol = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", port))  # type: ignore[assignment]
        self.transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", port))
        self.proto.makeConnection(self.transport)
        self.clock = factory.clock

    def send(self, *lines: str) -> None:
        self.proto.dataReceived("".join(line + "\r\n" for line in lines).encode("utf-8"))

    def received(self) -> list[str]:
        self.clock.advance(0)  # type: ignore[attr-defined]
        data = self.transport.value().decode("utf-8")
        self.transport.clear()
        assert data == "" or data.endswith("\r\n"), data
        return data.split("\r\n")[:-1]


def native_member(factory: ChatServerFactory, port: int, nick: str, room: str) -> Client:
    """A native client logged on as C{nick} and in C{room}."""
    c = Client(factory, port)
    c.send(code=4, text=nick)
    c.send(code=1, room=room)
    return c


class IRCTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.clock.advance(1_700_000_000)
        self.chat = local_chat(self.clock)
        limits = Limits(flood_rate=0)
        self.irc = IRCFactory(self.chat, self.clock, limits, server_name="irc.test")
        self.native = ChatServerFactory(self.chat, self.clock, limits)
        self.port = 50000

    def registered(self, nick: str) -> IRCClient:
        self.port += 1
        c = IRCClient(self.irc, self.port)
        c.send("CAP LS 302", f"NICK {nick}", f"USER {nick} 0 * :Real Name", "CAP END")
        got = c.received()
        self.assertEqual(got[0], ":irc.test CAP * LS :server-time message-tags echo-message batch draft/chathistory away-notify")
        numerics = [line.split()[1] for line in got[1:]]
        self.assertEqual(numerics[:5], ["001", "002", "003", "004", "005"])
        self.assertIn("422", numerics)
        self.assertIn("CHANTYPES=#", got[5])
        return c

    def test_registration_waits_for_cap_end_and_refuses_a_taken_nickname(self) -> None:
        self.registered("alice")
        c = IRCClient(self.irc, 1)
        c.send("CAP LS", "NICK ALICE", "USER x 0 * :x")
        self.assertEqual(c.received(), [":irc.test CAP * LS :server-time message-tags echo-message batch draft/chathistory away-notify"])  # nothing before CAP END
        c.send("CAP END")
        self.assertEqual(c.received(), [":irc.test 433 * ALICE :the nickname ALICE is in use"])
        c.send("NICK bad!nick")
        self.assertTrue(c.received()[0].startswith(":irc.test 432 * bad!nick :"))
        c.send("NICK bob")
        self.assertEqual(c.received()[0], ":irc.test 001 bob :Welcome to the chat chat, bob")

    def test_commands_before_registration_and_unknown_commands(self) -> None:
        c = IRCClient(self.irc, 1)
        c.send("JOIN #lobby", "PING :x")
        self.assertEqual(c.received(), [":irc.test 451 * :You have not registered", ":irc.test PONG irc.test :x"])
        c = self.registered("alice")
        c.send("FROB x", "JOIN")
        self.assertEqual(c.received(), [":irc.test 421 alice FROB :Unknown command",
                                        ":irc.test 461 alice JOIN :Not enough parameters"])

    def test_an_irc_user_and_a_native_user_chat_in_one_room(self) -> None:
        irc = self.registered("alice")
        irc.send("JOIN #lobby")
        self.assertEqual(irc.received(), [":alice!alice@chat JOIN #lobby", ":irc.test 353 alice = #lobby :alice",
                                          ":irc.test 366 alice #lobby :End of /NAMES list"])
        bob = Client(self.native, 40000)
        bob.send(code=4, text="bob")
        bob.send(code=1, room="lobby")
        bob.received()
        self.assertEqual(irc.received(), [":bob!bob@chat JOIN #lobby"])
        irc.send("PRIVMSG #lobby :hello \x0304bob\x03")
        self.assertEqual(irc.received(), [], "no echo of its own line")
        got = bob.received()
        self.assertEqual((got[0]["nick"], got[0]["text"], got[0]["room"]), ("alice", "hello bob", "lobby"))
        bob.send(code=5, text="hi alice", color="bright-red")
        bob.send(code=5, text="waves", action=True)
        self.assertEqual(irc.received(), [":bob!bob@chat PRIVMSG #lobby :\x0304hi alice\x03",
                                          ":bob!bob@chat PRIVMSG #lobby :\x01ACTION waves\x01"])
        irc.send("PRIVMSG bob :psst", "PRIVMSG nobody :x", "PRIVMSG #elsewhere :x")
        self.assertEqual(bob.received()[-1]["text"], "psst")
        self.assertEqual([line.split()[1] for line in irc.received()], ["401", "404"])
        bob.send(code=4, text="robert")
        self.assertEqual(irc.received(), [":bob!bob@chat NICK :robert"])
        irc.send("PART #lobby")
        self.assertEqual(irc.received(), [":alice!alice@chat PART #lobby"])
        self.assertEqual(bob.received()[-1]["text"], "alice has left lobby")

    def test_a_long_native_line_is_cut_to_fit_irc_and_a_quit_is_told_once(self) -> None:
        irc = self.registered("alice")
        irc.send("JOIN #lobby", "JOIN #dev")
        bob = Client(self.native, 40000)
        bob.send(code=4, text="bob")
        bob.send(code=1, room="lobby")
        bob.send(code=1, room="dev")
        irc.received()
        bob.send(code=5, text="é" * 1500)
        lines = irc.received()
        self.assertGreater(len(lines), 1)
        self.assertTrue(all(len(line.encode("utf-8")) + 2 <= 512 for line in lines))
        self.assertEqual("".join(line.split(" :", 1)[1] for line in lines), "é" * 1500)
        bob.send(code=2, close=True, text="lunch")
        bob.drop()
        self.assertEqual(irc.received(), [":bob!bob@chat QUIT :has quit: lunch"])

    def test_a_line_too_long_is_answered_with_417_and_the_connection_stays(self) -> None:
        irc = self.registered("alice")
        irc.send("PRIVMSG #lobby :" + "x" * 600)
        self.assertEqual(irc.received(), [":irc.test 417 alice :Input line was too long"])
        irc.send("PING :still")
        self.assertEqual(irc.received(), [":irc.test PONG irc.test :still"])
        self.assertFalse(irc.transport.disconnecting)

    def test_invalid_utf8_is_refused_alone(self) -> None:
        irc = self.registered("alice")
        irc.proto.dataReceived(b"PRIVMSG #lobby :\xff\xfe\r\nPING :x\r\n")
        got = irc.received()
        self.assertIn("INVALID_UTF8", got[0])
        self.assertEqual(got[1], ":irc.test PONG irc.test :x")

    def test_quit_closes_with_error_and_the_room_hears_the_reason(self) -> None:
        bob = native_member(self.native, 40000, "bob", "lobby")
        irc = self.registered("alice")
        irc.send("JOIN #lobby")
        bob.received()
        irc.send("QUIT :gone fishing")
        self.assertEqual(irc.received()[-1], "ERROR :Closing link (quit)")
        self.assertTrue(irc.transport.disconnecting)
        irc.proto.connectionLost(None)
        self.assertEqual(bob.received()[-1]["text"], "alice has quit: gone fishing")

    def test_topics_cross_between_irc_and_native_clients(self) -> None:
        irc = self.registered("alice")
        irc.send("JOIN #lobby", "TOPIC #lobby")
        self.assertEqual(irc.received()[-1], ":irc.test 331 alice #lobby :No topic is set")
        bob = Client(self.native, 40000)
        bob.send(code=4, text="bob")
        bob.send(code=1, room="lobby")
        irc.received()
        bob.received()
        bob.send(code=12, room="lobby", text="friday plans")
        self.assertEqual(irc.received(), [":bob!bob@chat TOPIC #lobby :friday plans"])
        self.assertEqual(bob.received()[0]["text"], "friday plans")
        irc.send("TOPIC #lobby :\x02bold\x02 plans")
        self.assertEqual(irc.received(), [":alice!alice@chat TOPIC #lobby :bold plans"])
        got = bob.received()
        self.assertEqual((got[0]["code"], got[0]["text"], got[0]["nick"]), (12, "bold plans", "alice"))
        bob.send(code=12, room="lobby")
        self.assertEqual(bob.received()[0]["text"], "bold plans")
        carol = self.registered("carol")
        carol.send("JOIN #lobby")
        got = carol.received()
        self.assertEqual(got[3], ":irc.test 332 carol #lobby :bold plans")
        self.assertEqual(got[4], ":irc.test 333 carol #lobby alice!alice@chat :1700000000")
        carol.send("TOPIC #elsewhere :x", "TOPIC nochannel")
        self.assertEqual([line.split()[1] for line in carol.received()], ["442", "403"])


class FormatTests(SynchronousTestCase):
    def test_parse(self) -> None:
        line = parse("@time=x :nick!u@h PRIVMSG #a,#b :hello :there")
        assert line is not None
        self.assertEqual((line.command, line.params, line.tags), ("PRIVMSG", ["#a,#b", "hello :there"], "time=x"))
        self.assertIsNone(parse("   "))
        self.assertEqual(parse("nick  alice").params, ["alice"])  # type: ignore[union-attr]

    def test_colours_and_formatting(self) -> None:
        self.assertEqual(coloured("hi", "bright-red"), "\x0304hi\x03")
        self.assertEqual(colour_of("\x0304hi"), "bright-red")
        self.assertIsNone(colour_of("hi"))
        self.assertEqual(strip_formatting("\x02b\x02 \x0304,01c\x03 \x1fu\x0f\x07"), "b c u")

    def test_split_text_keeps_characters_whole(self) -> None:
        pieces = split_text("aé" * 10 + "\nnext", 5)
        self.assertTrue(all(len(p.encode()) <= 5 for p in pieces))
        self.assertEqual("".join(pieces), "aé" * 10 + "next")


class IRCv3Tests(SynchronousTestCase):
    """Capabilities, SASL, history as batches, lookups: over a backend with a store the test answers."""

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.clock.advance(1_700_000_000)
        self.store = ManualStore()
        self.chat = local_chat(self.clock, store=self.store)  # type: ignore[arg-type]
        checker = InMemoryUsernamePasswordDatabaseDontUse(carol=b"secret")
        self.accounts = self.chat.accounts = Accounts([checker], self.clock)
        self.irc = IRCFactory(self.chat, self.clock, Limits(flood_rate=0), server_name="irc.test")
        self.native = ChatServerFactory(self.chat, self.clock, Limits(flood_rate=0))

    def settle(self) -> None:
        for _ in range(100):
            self.clock.advance(0)
            if not self.store.fire():
                break
        self.clock.advance(0)

    def client(self, nick: str, *caps: str) -> IRCClient:
        c = IRCClient(self.irc, 1)
        c.send("CAP LS 302")
        offered = c.received()[0]
        self.assertEqual(offered, ":irc.test CAP * LS :server-time message-tags echo-message batch draft/chathistory away-notify sasl=PLAIN extended-join account-notify account-tag")
        if caps:
            c.send("CAP REQ :" + " ".join(caps))
            self.assertEqual(c.received(), [f":irc.test CAP * ACK :{' '.join(caps)}"])
        c.send(f"NICK {nick}", f"USER {nick} 0 * :x", "CAP END")
        self.settle()
        self.assertIn(" 001 ", c.received()[0])
        return c

    def native_user(self, nick: str) -> Client:
        c = Client(self.native, 40000)
        c.send(code=4, text=nick)
        c.send(code=1, room="lobby")
        self.settle()
        c.received()
        return c

    def test_unknown_capabilities_are_refused_whole(self) -> None:
        c = IRCClient(self.irc, 1)
        c.send("CAP REQ :server-time frobnicate")
        self.assertEqual(c.received(), [":irc.test CAP * NAK :server-time frobnicate"])
        c.send("CAP LIST")
        self.assertEqual(c.received(), [":irc.test CAP * LIST :"])

    def test_server_time_msgid_and_echo_message(self) -> None:
        bob = self.native_user("bob")
        alice = self.client("alice", "server-time", "message-tags", "echo-message")
        alice.send("JOIN #lobby")
        self.settle()
        alice.received()
        bob.send(code=5, text="hi")
        alice.send("PRIVMSG #lobby :hello")
        self.settle()
        self.assertEqual(alice.received(), [
            "@time=2023-11-14T22:13:20.000Z;msgid=1-lobby :bob!bob@chat PRIVMSG #lobby :hi",
            "@time=2023-11-14T22:13:20.000Z;msgid=2-lobby :alice!alice@chat PRIVMSG #lobby :hello",
        ])

    def test_the_replay_of_a_join_is_a_chathistory_batch_and_chathistory_pages(self) -> None:
        bob = self.native_user("bob")
        for i in range(1, 4):
            bob.send(code=5, text=f"old {i}")
        self.settle()
        alice = self.client("alice", "batch", "server-time")
        alice.send("JOIN #lobby")
        self.settle()
        got = alice.received()
        start = got.index(":irc.test BATCH +h1 chathistory #lobby")
        self.assertEqual(got[start + 1:], [
            "@batch=h1;time=2023-11-14T22:13:20.000Z :bob!bob@chat PRIVMSG #lobby :old 1",
            "@batch=h1;time=2023-11-14T22:13:20.000Z :bob!bob@chat PRIVMSG #lobby :old 2",
            "@batch=h1;time=2023-11-14T22:13:20.000Z :bob!bob@chat PRIVMSG #lobby :old 3",
            ":irc.test BATCH -h1",
        ])
        alice.send("CHATHISTORY BEFORE #lobby msgid=3-lobby 1")
        self.settle()
        self.assertEqual(alice.received()[1], "@batch=h2;time=2023-11-14T22:13:20.000Z :bob!bob@chat PRIVMSG #lobby :old 2")
        alice.send("CHATHISTORY LATEST #lobby x 1", "CHATHISTORY LATEST bob * 1")
        self.assertEqual([line.split()[3] for line in alice.received()], ["INVALID_PARAMS", "INVALID_TARGET"])

    def test_a_plain_client_gets_the_replay_as_stamped_lines(self) -> None:
        bob = self.native_user("bob")
        bob.send(code=5, text="earlier")
        self.settle()
        alice = self.client("alice")
        alice.send("JOIN #lobby")
        self.settle()
        self.assertIn(":bob!bob@chat PRIVMSG #lobby :[22:13] earlier", alice.received())

    def test_sasl_plain_logs_on_a_registered_nickname(self) -> None:
        c = IRCClient(self.irc, 1)
        c.send("CAP LS 302", "CAP REQ :sasl", "AUTHENTICATE PLAIN")
        self.assertEqual(c.received()[-1], "AUTHENTICATE +")
        c.send("AUTHENTICATE " + base64.b64encode(b"\0carol\0wrong").decode())
        self.clock.advance(WRONG_PASSWORD_DELAY)
        self.assertIn(" 904 ", c.received()[-1])
        c.send("AUTHENTICATE PLAIN", "AUTHENTICATE " + base64.b64encode(b"\0carol\0secret").decode())
        got = c.received()
        self.assertIn(" 900 * ", got[-2])
        self.assertEqual(got[-1], ":irc.test 903 * :SASL authentication successful")
        c.send("NICK carol", "USER carol 0 * :x", "CAP END")
        self.assertIn(" 001 carol ", c.received()[0])

    def test_a_rename_into_a_registered_nickname_needs_its_password(self) -> None:
        """Issue 22, hole 1: NICK after registration went around the password."""
        lurker = self.native_user("lurker")
        mallory = self.client("mallory")
        mallory.send("JOIN #lobby")
        self.settle()
        mallory.received()
        lurker.received()
        for disguise in ("carol", "CAROL", "c\u0430rol", "caro\u217c"):  # Cyrillic a; a roman numeral l
            mallory.send(f"NICK {disguise}")
            self.clock.advance(WRONG_PASSWORD_DELAY)
            self.settle()
            got = mallory.received()
            self.assertEqual(len(got), 1, got)
            self.assertTrue(got[0].startswith(f":irc.test 433 mallory {disguise} :the nickname {disguise} is registered"),
                            got)
        self.assertEqual(lurker.received(), [])
        # The owner logs on with the right password, under the name that was defended.
        carol = Client(self.native, 40001)
        carol.send(code=4, text="carol", password="secret")
        self.settle()
        self.assertEqual(carol.received(), [{"code": 4, "text": "carol", "nick": "carol"}])

    def test_a_rename_with_the_password_given_by_pass_is_accepted(self) -> None:
        c = IRCClient(self.irc, 1)
        c.send("PASS secret", "NICK guest", "USER guest 0 * :x")
        self.settle()
        self.assertIn(" 001 guest ", c.received()[0])
        c.send("NICK carol")
        self.settle()
        self.assertEqual(c.received(), [":guest!guest@chat NICK :carol"])

    def test_with_accounts_required_an_account_holder_cannot_rename_into_another(self) -> None:
        self.accounts.checkers[0].addUser(b"dave", b"dave-pw")  # type: ignore[attr-defined]
        self.accounts.required = True
        c = IRCClient(self.irc, 1)
        c.send("PASS dave-pw", "NICK dave", "USER dave 0 * :x")
        self.settle()
        self.assertIn(" 001 dave ", c.received()[0])
        c.send("NICK carol")
        self.clock.advance(WRONG_PASSWORD_DELAY)
        self.settle()
        self.assertEqual(c.received(), [":irc.test 433 dave carol :wrong password for carol"])

    def test_sasl_refuses_accounts_that_do_not_exist_and_takes_long_answers_in_pieces(self) -> None:
        c = IRCClient(self.irc, 1)
        c.send("CAP LS 302", "CAP REQ :sasl", "AUTHENTICATE PLAIN")
        c.received()
        c.send("AUTHENTICATE " + base64.b64encode(b"\0nobody\0whatever").decode())
        self.assertEqual(c.received(), [":irc.test 904 * :SASL authentication failed"])
        c.send("AUTHENTICATE PLAIN", "AUTHENTICATE " + base64.b64encode(b"\0\0secret").decode())
        self.assertEqual(c.received()[-1], ":irc.test 904 * :SASL authentication failed")
        # A password long enough that the answer is exactly 800 bytes: two pieces and a "+".
        password = "p" * (600 - len("\0carol\0"))
        self.accounts.checkers[0].addUser(b"dave", password.encode())  # type: ignore[attr-defined]
        answer = base64.b64encode(f"\0dave\0{password}".encode()).decode()
        self.assertEqual(len(answer), 800)
        c.send("AUTHENTICATE PLAIN", f"AUTHENTICATE {answer[:400]}", f"AUTHENTICATE {answer[400:]}")
        self.assertEqual(c.received(), ["AUTHENTICATE +"], "no answer before the last piece")
        c.send("AUTHENTICATE +")
        self.assertEqual(c.received()[-1], ":irc.test 903 * :SASL authentication successful")
        c.send("NICK dave", "USER dave 0 * :x", "CAP END")
        self.settle()
        self.assertIn(" 001 dave ", c.received()[0])
        c.send("AUTHENTICATE PLAIN")
        self.assertEqual(c.received(), [":irc.test 907 dave :You have already authenticated using SASL"])

    def test_a_registered_nickname_without_its_password_is_refused(self) -> None:
        c = IRCClient(self.irc, 1)
        c.send("NICK carol", "USER carol 0 * :x")
        self.assertEqual(c.received()[0].split()[1], "464")

    def test_ison_userhost_whois_and_join_0(self) -> None:
        self.native_user("Bob")
        alice = self.client("alice")
        alice.send("ISON bob nobody alice", "USERHOST bob", "WHOIS nobody", "WHOIS BOB")
        self.assertEqual(alice.received(), [
            ":irc.test 303 alice :Bob alice", ":irc.test 302 alice :Bob=+Bob@chat",
            ":irc.test 401 alice nobody :No such nick", ":irc.test 318 alice nobody :End of /WHOIS list",
            ":irc.test 311 alice Bob Bob chat * :Bob", ":irc.test 312 alice Bob irc.test :chat",
            ":irc.test 318 alice Bob :End of /WHOIS list",
        ])
        alice.send("JOIN #lobby,#dev")
        self.settle()
        alice.received()
        alice.send("JOIN 0")
        self.settle()
        self.assertEqual(alice.received(), [":alice!alice@chat PART #dev", ":alice!alice@chat PART #lobby"])


class TargetTests(SynchronousTestCase):
    """Issue 22, hole 2: a line naming many targets costs what that many lines cost."""

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.clock.advance(1_700_000_000)
        self.chat = local_chat(self.clock)
        self.limits = Limits(flood_rate=10, flood_burst=20, replay=50)
        self.irc = IRCFactory(self.chat, self.clock, self.limits, server_name="irc.test")
        self.native = ChatServerFactory(self.chat, self.clock, self.limits)

    def client(self, nick: str) -> IRCClient:
        c = IRCClient(self.irc, 1)
        c.send(f"NICK {nick}", f"USER {nick} 0 * :x")
        self.assertIn(" 001 ", c.received()[0])
        return c

    def test_targmax_is_advertised(self) -> None:
        c = IRCClient(self.irc, 1)
        c.send("NICK alice", "USER alice 0 * :x")
        self.assertIn("TARGMAX=PRIVMSG:4,NOTICE:4,JOIN:10,PART:10,NAMES:10", "\n".join(c.received()))

    def test_a_channel_named_many_times_hears_the_line_once(self) -> None:
        bob = native_member(self.native, 2, "bob", "c")
        alice = self.client("alice")
        alice.send("JOIN #c")
        alice.received()
        bob.received()
        alice.send("PRIVMSG " + ",".join(["#c", "#C"] * 83) + " :x")
        self.assertEqual([m["text"] for m in bob.received() if m["code"] == 5], ["x"])

    def test_targets_past_targmax_are_refused_and_each_target_costs_a_line(self) -> None:
        for nick in "vwxyz":
            Client(self.native, 3).send(code=4, text=nick)
        alice = self.client("alice")
        bucket = alice.proto.bucket
        assert bucket is not None
        before = bucket.tokens
        alice.send("PRIVMSG v,w,x,y,z,v :hello")
        got = alice.received()
        self.assertEqual(got, [":irc.test 407 alice z :Too many targets: PRIVMSG takes at most 4"])
        self.assertAlmostEqual(before - bucket.tokens, 4.0)  # the line and three more targets

    def test_a_flood_of_many_targets_is_disconnected_as_a_flood_of_lines_would_be(self) -> None:
        Client(self.native, 3).send(code=4, text="v")
        alice = self.client("alice")
        for second in range(self.limits.flood_kick + 3):
            # Four lines a second, each of four targets (v once, and three names nobody has):
            # sixteen requests a second, where ten are allowed.
            alice.send(*["PRIVMSG v,V,w,x,y :spam"] * 4)
            self.clock.advance(1)
            if alice.transport.disconnecting:
                break
        self.assertTrue(alice.transport.disconnecting)
        self.assertIn("ERROR :too many messages for too long: disconnected (flood)", alice.received())

    def test_joins_cost_their_replay_and_join_0_a_part_per_channel(self) -> None:
        alice = self.client("alice")
        bucket = alice.proto.bucket
        assert bucket is not None
        tokens, costs = bucket.tokens, bucket.cost_tokens
        alice.send("JOIN " + ",".join(f"#r{i}" for i in range(12)))
        got = alice.received()
        self.assertIn(":irc.test 407 alice #r10 :Too many targets: JOIN takes at most 10", got)
        self.assertEqual(sum(line.startswith(":alice!alice@chat JOIN ") for line in got), 10)
        self.assertAlmostEqual(tokens - bucket.tokens, 10.0)
        self.assertAlmostEqual(costs - bucket.cost_tokens, 10.0)  # a replay of 50 costs a page of 50
        alice.send("JOIN 0")
        self.assertEqual(sum(line.startswith(":alice!alice@chat PART ") for line in alice.received()), 10)
        self.assertAlmostEqual(tokens - bucket.tokens, 20.0)


class AddressLimitTests(SynchronousTestCase):
    """Issue 22: --max-per-address counted per front end was three times the limit."""

    def test_the_limit_per_address_holds_for_every_front_end_together(self) -> None:
        from chat.frontend import AddressCounts

        clock = MemoryReactorClock()
        chat = local_chat(clock)
        addresses = AddressCounts()
        limits = Limits(flood_rate=0, max_per_address=2)
        native = ChatServerFactory(chat, clock, limits, addresses)
        irc = IRCFactory(chat, clock, limits, addresses, server_name="irc.test")
        first, second = Client(native, 1), IRCClient(irc, 2)
        third = IRCClient(irc, 3)
        self.assertEqual(third.received(), ["ERROR :at most 2 connections per address (too-many-connections)"])
        self.assertFalse(second.transport.disconnecting or first.transport.disconnecting)
        fourth = Client(native, 4)
        self.assertEqual(fourth.received()[0]["error"], "too-many-connections")
        self.assertEqual(addresses.counts, {"127.0.0.1": 4})  # until the refused ones are gone


class ReplyOrderTests(SynchronousTestCase):
    """Issue 23: a PONG came before the 301 of a PRIVMSG sent earlier (the 301 waits for the store)."""

    def test_replies_keep_command_order_while_the_store_is_slow(self) -> None:
        clock = MemoryReactorClock()
        store = ManualStore()
        chat = local_chat(clock, store=store)  # type: ignore[arg-type]
        irc = IRCFactory(chat, clock, Limits(flood_rate=0), server_name="irc.test")
        native = ChatServerFactory(chat, clock, Limits(flood_rate=0))
        away = Client(native, 1)
        away.send(code=4, text="dana")
        away.send(code=13, text="at lunch")
        alice = IRCClient(irc, 2)
        alice.send("NICK alice", "USER alice 0 * :x")
        alice.received()
        alice.send("PRIVMSG dana :are you there?", "PRIVMSG nobody :hello?", "PING :z")
        self.assertEqual(alice.received(), [], "nothing overtakes the answers the store holds up")
        store.fire()
        self.assertEqual(alice.received(), [":irc.test 301 alice dana :at lunch",
                                            ":irc.test 401 alice nobody :nobody is called nobody",
                                            ":irc.test PONG irc.test :z"])
