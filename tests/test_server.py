"""
The native front end over StringTransport: bytes in, bytes out.  Most tests
run it over the real one-process backend (no store); L{TranslationTests}
over a fake service, to see that it only translates.
"""

from __future__ import annotations

import gc
import json
import struct
import weakref
from typing import Any

from twisted.internet.address import IPv4Address, UNIXAddress
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

import attrs

from chat.core.events import Event, Joined, ReplayEnd, Said
from chat.limits import Limits
from chat.limits import MAX_IN_FLIGHT
from chat.local import local_chat
from chat.message import MAX_FRAME
from chat.names import ChatError
from chat.server import SHUTDOWN_TEXT, ChatServerFactory, ChatServerProtocol
from chat.service import IChatService, Members, Page
from tests.fake_service import FakeService, FakeUser
from tests.service_harness import ManualStore


def pack(obj: Any) -> bytes:
    body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return struct.pack("!I", len(body)) + body


class Client:
    """One connection to the server under test, seen from the wire."""

    def __init__(self, factory: ChatServerFactory, port: int, host: str = "127.0.0.1") -> None:
        self.proto: ChatServerProtocol = factory.buildProtocol(IPv4Address("TCP", host, port))  # type: ignore[assignment]
        self.transport = StringTransport(peerAddress=IPv4Address("TCP", host, port))
        self.proto.makeConnection(self.transport)
        self._buffer = b""

    def send(self, **msg: Any) -> None:
        self.proto.dataReceived(pack(msg))

    def raw(self, data: bytes) -> None:
        self.proto.dataReceived(data)

    def received(self) -> list[dict[str, Any]]:
        """Every frame written to this client since the last call."""
        self.proto.factory.clock.advance(0)  # the end of the reactor turn: outboxes are written
        self._buffer += self.transport.value()
        self.transport.clear()
        out = []
        while len(self._buffer) >= 4:
            (n,) = struct.unpack("!I", self._buffer[:4])
            if len(self._buffer) < 4 + n:
                break
            out.append(json.loads(self._buffer[4:4 + n]))
            self._buffer = self._buffer[4 + n:]
        return out

    def drop(self) -> None:
        self.proto.connectionLost(Failure(ConnectionDone()))


class ServerTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.clock.advance(1_700_000_000)
        self.chat = local_chat(self.clock)
        self.state = self.chat.ledger.state
        # Flood control is off except where a test turns it on.
        self.factory = ChatServerFactory(self.chat, self.clock, Limits(flood_rate=0))
        self._port = 40000

    def limit(self, **limits: Any) -> None:
        self.factory.limits = attrs.evolve(self.factory.limits, **limits)

    def connect(self, host: str = "127.0.0.1") -> Client:
        self._port += 1
        return Client(self.factory, self._port, host)

    def logon(self, nick: str, room: str | None = "lobby") -> Client:
        c = self.connect()
        c.send(code=4, text=nick)
        self.assertEqual(c.received(), [{"code": 4, "text": nick, "nick": nick}])
        if room:
            c.send(code=1, room=room)
            c.received()
        return c


class LogonTests(ServerTestCase):
    def test_nodelay_and_producer_on_connect(self) -> None:
        c = self.connect()
        self.assertIs(c.transport.producer, c.proto)
        self.assertTrue(c.transport.streaming)

    def test_requests_before_logon_are_refused(self) -> None:
        c = self.connect()
        c.send(code=5, text="hi")
        c.send(code=1)
        self.assertEqual(
            [(m["code"], m["error"], m["reply_to"]) for m in c.received()],
            [(8, "not-logged-on", 5), (8, "not-logged-on", 1)],
        )
        self.assertFalse(c.transport.disconnecting)

    def test_ping_before_logon(self) -> None:
        c = self.connect()
        c.send(code=9, text="t1")
        self.assertEqual(c.received(), [{"code": 10, "text": "t1"}])

    def test_bad_then_taken_then_good_nickname(self) -> None:
        self.logon("alice")
        c = self.connect()
        c.send(code=4, text="no spaces")
        c.send(code=4, text="ALICE")
        c.send(code=4, text="bob")
        got = c.received()
        self.assertEqual([m.get("error") for m in got], ["bad-nick", "nick-in-use", None])
        self.assertEqual(got[2], {"code": 4, "text": "bob", "nick": "bob"})

    def test_leave_with_close_before_logon_disconnects(self) -> None:
        c = self.connect()
        c.send(code=2, close=True)
        self.assertEqual(c.received(), [{"code": 2, "close": True, "text": "Goodbye."}])
        self.assertTrue(c.transport.disconnecting)


class RoomTests(ServerTestCase):
    def test_join_announces_and_lists(self) -> None:
        alice = self.logon("alice")
        bob = self.logon("bob", room=None)
        bob.send(code=1)
        joined = {"code": 1, "text": "bob has joined lobby", "nick": "bob", "room": "lobby"}
        self.assertEqual(alice.received(), [joined])
        self.assertEqual(bob.received(), [joined, {"code": 3, "room": "lobby", "names": ["alice", "bob"]},
                                          {"code": 11, "room": "lobby"}])

    def test_a_member_list_too_long_for_one_frame_comes_in_several(self) -> None:
        self.limit(max_per_address=0)
        nicks = [f"{'ü' * 19}{i:04}" for i in range(450)]  # 42 bytes each in UTF-8
        for nick in nicks:
            self.logon(nick)
        last = self.logon("zed", room=None)
        last.send(code=1)
        self.clock.advance(0)
        data, frames = last.transport.value(), []
        while data:
            (n,) = struct.unpack("!I", data[:4])
            self.assertLessEqual(n, MAX_FRAME)
            frames.append(json.loads(data[4:4 + n]))
            data = data[4 + n:]
        lists = [f for f in frames if f["code"] == 3]
        self.assertGreater(len(lists), 1)
        self.assertEqual([f.get("more", False) for f in lists], [True] * (len(lists) - 1) + [False])
        self.assertEqual([n for f in lists for n in f["names"]], sorted(nicks + ["zed"], key=str.casefold))

    def test_message_relayed_to_every_member_with_server_fields(self) -> None:
        alice, bob = self.logon("alice"), self.logon("bob")
        carol = self.logon("carol", room="elsewhere")
        alice.received()
        alice.send(code=5, text="hello", color="green", nick="mallory", id=99, ts=1)
        expected = {"code": 5, "text": "hello", "room": "lobby", "nick": "alice", "color": "green",
                    "id": 1, "ts": 1_700_000_000_000}
        self.assertEqual(alice.received(), [expected])
        self.assertEqual(bob.received(), [expected])
        self.assertEqual(carol.received(), [])

    def test_broadcast_frame_is_encoded_once(self) -> None:
        import chat.core.events
        import chat.message
        calls = []
        original = chat.message.encode

        def counting(msg: Any) -> bytes:
            calls.append(msg)
            return original(msg)

        clients = [self.logon(f"u{i}") for i in range(5)]
        self.patch(chat.core.events, "encode", counting)
        self.patch(chat.message, "encode", counting)  # and through frame()
        native = chat.core.events._said_native  # a line's object, made directly

        def counting_lines(said: Any) -> Any:
            calls.append(said)
            return native(said)

        self.patch(chat.core.events, "_said_native", counting_lines)
        clients[0].send(code=5, text="x")
        self.assertEqual(len(calls), 1)
        self.assertTrue(all(len(c.received()) >= 1 for c in clients))

    def test_refused_requests_keep_the_connection(self) -> None:
        alice = self.logon("alice")
        alice.send(code=5, room="nowhere", text="x")
        alice.send(code=5, text="")
        alice.send(code=5, text="x" * 2001)
        alice.send(code=5, text="x", color="puce")
        alice.send(code=1, room="bad room")
        alice.send(code=1)
        alice.send(code=42)
        alice.send(code=6, text="x")
        alice.send(code=6, to="nobody", text="x")
        alice.send(code=3, room="nowhere")
        alice.send(code=2, room="nowhere")
        self.assertEqual(
            [(m["error"], m["reply_to"]) for m in alice.received()],
            [("not-in-room", 5), ("empty-text", 5), ("text-too-long", 5), ("bad-color", 5),
             ("bad-room", 1), ("already-in-room", 1), ("unknown-code", 42), ("no-target", 6),
             ("no-such-nick", 6), ("no-such-room", 3), ("not-in-room", 2)],
        )
        self.assertFalse(alice.transport.disconnecting)

    def test_leave_is_announced_to_the_leaver_too(self) -> None:
        alice, bob = self.logon("alice"), self.logon("bob")
        alice.received()
        bob.send(code=2, room="lobby")
        left = {"code": 2, "text": "bob has left lobby", "nick": "bob", "room": "lobby"}
        self.assertEqual(alice.received(), [left])
        self.assertEqual(bob.received(), [left])

    def test_quit_with_reason(self) -> None:
        alice, bob = self.logon("alice"), self.logon("bob")
        alice.received()
        bob.send(code=2, close=True, text="lunch")
        self.assertEqual(bob.received(), [{"code": 2, "close": True, "text": "Goodbye."}])
        self.assertTrue(bob.transport.disconnecting)
        bob.drop()
        self.assertEqual(alice.received(), [{"code": 2, "text": "bob has quit: lunch", "nick": "bob", "room": "lobby"}])
        self.assertIsNone(self.state.find_user("bob"))

    def test_dropped_connection_is_announced_once(self) -> None:
        alice, bob = self.logon("alice"), self.logon("bob")
        alice.received()
        bob.drop()
        bob.drop()
        self.assertEqual(alice.received(), [{"code": 2, "text": "bob has lost the connection", "nick": "bob", "room": "lobby"}])
        self.assertNotIn(bob.proto, self.factory.connections)

    def test_private_message(self) -> None:
        alice, bob, carol = self.logon("alice"), self.logon("bob"), self.logon("carol")
        for c in (alice, bob, carol):
            c.received()
        alice.send(code=6, to="BOB", text="psst")
        pm = {"code": 6, "text": "psst", "nick": "alice", "to": "bob", "color": "default", "ts": 1_700_000_000_000}
        self.assertEqual(bob.received(), [pm])
        self.assertEqual(alice.received(), [pm])
        self.assertEqual(carol.received(), [])

    def test_away_is_set_cleared_and_told_to_private_senders(self) -> None:
        alice, bob = self.logon("alice"), self.logon("bob")
        alice.received()
        bob.received()
        bob.send(code=13, text=" at lunch ")
        self.assertEqual(bob.received(), [{"code": 13, "nick": "bob", "text": "at lunch"}])
        # Alice shares lobby with bob: she is told (code 18, added 2026-12-08; older clients ignore it).
        self.assertEqual(alice.received(), [{"code": 18, "room": "lobby", "nick": "bob", "text": "at lunch"}])
        alice.send(code=6, to="BOB", text="psst")
        got = alice.received()
        self.assertEqual([m["code"] for m in got], [6, 13])
        self.assertEqual(got[1], {"code": 13, "nick": "BOB", "text": "at lunch"})
        self.assertEqual(bob.received()[0]["text"], "psst")
        bob.send(code=13, text="a\nb")
        self.assertEqual(bob.received()[0]["error"], "bad-away")
        bob.send(code=13)
        self.assertEqual(bob.received(), [{"code": 13, "nick": "bob"}])
        self.assertEqual(alice.received(), [{"code": 18, "room": "lobby", "nick": "bob"}])
        alice.send(code=6, to="bob", text="back?")
        self.assertEqual([m["code"] for m in alice.received()], [6])

    def test_an_error_quoting_a_huge_request_stays_a_small_frame(self) -> None:
        alice = self.logon("alice")
        alice.received()
        alice.send(code=6, to="x" * 16_300, text="hi")
        [error] = alice.received()
        self.assertEqual(error["error"], "no-such-nick")
        self.assertLessEqual(len(error["text"]), 300)
        self.assertTrue(error["text"].endswith("…"))

    def test_info_says_what_the_server_offers_before_and_after_logon(self) -> None:
        c = Client(self.factory, 40999)
        c.send(code=14)
        [info] = c.received()
        self.assertEqual(info["code"], 14)
        tokens = info["text"].split()
        for token in ("PROTOCOL=1", "FRAME=16384", "NICK=24", "ROOM=32", "TEXT=2000", "PAGE=200", "TOPICS", "AWAY"):
            self.assertIn(token, tokens)
        self.assertNotIn("ACCOUNTS", tokens)
        self.factory.features = ("HISTORY", "REPLAY=50")
        c.send(code=4, text="alice")
        c.send(code=14)
        self.assertEqual(c.received()[-1]["text"].split()[-2:], ["HISTORY", "REPLAY=50"])

    def test_rename(self) -> None:
        alice, bob = self.logon("alice"), self.logon("bob")
        alice.received()
        alice.send(code=4, text="alicia")
        announce = {"code": 4, "text": "alicia", "nick": "alice", "room": "lobby"}
        # One process: the renamer's answer comes first (a cluster may give either order: docs/protocol.md).
        self.assertEqual(alice.received(), [{"code": 4, "text": "alicia", "nick": "alicia"}, announce])
        self.assertEqual(bob.received(), [announce])
        bob.send(code=4, text="Alicia")
        self.assertEqual(bob.received()[0]["error"], "nick-in-use")

    def test_room_list_and_chatters(self) -> None:
        alice = self.logon("alice")
        self.logon("bob", room="zoo")
        alice.send(code=7)
        alice.send(code=3, room="zoo")
        self.assertEqual(alice.received(), [{"code": 7, "names": ["lobby", "zoo"]}, {"code": 3, "room": "zoo", "names": ["bob"]}])


class BadFrameTests(ServerTestCase):
    def assertClosedWith(self, c: Client, slug: str) -> None:
        got = c.received()
        self.assertEqual(len(got), 1, got)
        self.assertEqual((got[0]["code"], got[0]["error"], got[0]["close"]), (8, slug, True))
        self.assertTrue(c.transport.disconnecting)

    def test_bad_frames_close_only_the_sender(self) -> None:
        cases = [
            (pack(b"\xff\xfe"), "bad-utf8"),
            (pack(b"not json"), "bad-json"),
            (pack(b"[1]"), "not-an-object"),
            (pack(b'{"text":"x"}'), "bad-code"),
            (pack(b'{"code":5,"close":"yes"}'), "bad-type"),
        ]
        bob = self.logon("bob")
        for data, slug in cases:
            mallory = self.logon("mallory")
            bob.received()
            mallory.raw(data + pack({"code": 5, "text": "after the bad frame"}))
            self.assertClosedWith(mallory, slug)
            mallory.drop()
            bob.send(code=5, text="still here")
            texts = [m["text"] for m in bob.received()]
            self.assertEqual(texts, ["mallory was disconnected: " + texts[0].split(": ", 1)[1], "still here"])

    def test_oversized_length_prefix_is_refused_before_the_body(self) -> None:
        c = self.connect()
        c.raw(struct.pack("!I", MAX_FRAME + 1) + b"x" * 10)
        self.assertClosedWith(c, "frame-too-large")

    def test_frame_of_exactly_the_maximum_is_read(self) -> None:
        c = self.connect()
        body = json.dumps({"code": 9, "text": ""}).encode()
        body = body[:-1] + b" " * (MAX_FRAME - len(body)) + b"}"
        c.raw(struct.pack("!I", len(body)) + body)
        self.assertEqual(c.received(), [{"code": 10}])

    def test_frames_split_across_reads(self) -> None:
        c = self.connect()
        data = pack({"code": 9, "text": "a"}) + pack({"code": 9, "text": "b"})
        for i in range(len(data)):
            c.raw(data[i:i + 1])
        self.assertEqual(c.received(), [{"code": 10, "text": "a"}, {"code": 10, "text": "b"}])

    def test_closing_connection_is_cut_if_it_never_flushes(self) -> None:
        c = self.connect()
        c.raw(pack(b"[]"))
        self.assertFalse(c.transport.disconnected)
        self.clock.advance(11)
        self.assertTrue(c.transport.disconnected)


class SlowConsumerTests(ServerTestCase):
    def test_reader_that_never_reads_is_dropped_alone(self) -> None:
        self.limit(max_outgoing=10_000)
        alice, slow = self.logon("alice"), self.logon("slow")
        slow.proto.pauseProducing()  # the transport says: my buffer is full
        for i in range(100):
            alice.send(code=5, text=f"message {i:03} " + "x" * 100)
            self.clock.advance(0)  # a reactor turn per message
        self.assertTrue(slow.transport.disconnected)
        self.assertEqual(len([m for m in alice.received() if m["code"] == 5]), 100)
        slow.drop()
        self.assertEqual(alice.received()[-1]["text"], "slow was disconnected: not reading its messages")

    def test_resumed_reader_is_kept(self) -> None:
        self.limit(max_outgoing=10_000)
        alice, reader = self.logon("alice"), self.logon("reader")
        for _ in range(5):
            reader.proto.pauseProducing()
            for i in range(50):
                alice.send(code=5, text="y" * 100)
                self.clock.advance(0)
            reader.proto.resumeProducing()
        self.assertFalse(reader.transport.disconnected)
        self.assertEqual(len([m for m in reader.received() if m["code"] == 5]), 250)


class ShutdownTests(ServerTestCase):
    def test_every_client_gets_the_notice_then_is_closed(self) -> None:
        clients = [self.logon("alice"), self.logon("bob", room=None), self.connect()]
        for c in clients:
            c.received()
        d = self.factory.shutdown()
        for c in clients:
            self.assertEqual(c.received(), [{"code": 5, "text": SHUTDOWN_TEXT, "close": True}])
            self.assertTrue(c.transport.disconnecting)
            self.assertIsNone(c.transport.producer)
        self.assertNoResult(d)
        for c in clients:
            c.drop()
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(clients[0].received(), [])

    def test_stragglers_are_aborted_after_the_grace(self) -> None:
        c = self.logon("alice")
        d = self.factory.shutdown(grace=5)
        self.clock.advance(5)
        self.assertTrue(c.transport.disconnected)
        c.drop()
        self.successResultOf(d)

    def test_no_clients(self) -> None:
        self.successResultOf(self.factory.shutdown())


class LimitTests(ServerTestCase):
    def test_logon_timeout(self) -> None:
        self.limit(logon_timeout=30)
        idle, logged = self.connect(), self.logon("alice")
        self.clock.advance(29)
        self.factory.sweep()
        self.assertFalse(idle.transport.disconnecting)
        self.clock.advance(2)
        self.factory.sweep()
        got = idle.received()
        self.assertEqual((got[0]["error"], got[0]["close"]), ("logon-timeout", True))
        self.assertTrue(idle.transport.disconnecting)
        self.assertFalse(logged.transport.disconnecting)

    def test_idle_client_is_pinged_and_kept_if_it_answers(self) -> None:
        self.limit(idle_timeout=60, ping_timeout=30)
        alice = self.logon("alice")
        self.clock.advance(61)
        self.factory.sweep()
        self.assertEqual(alice.received(), [{"code": 9, "text": "keepalive"}])
        alice.send(code=10, text="keepalive")
        self.clock.advance(31)
        self.factory.sweep()
        self.assertFalse(alice.transport.disconnected)
        self.assertEqual(alice.received(), [])

    def test_half_open_client_is_dropped_and_announced_once(self) -> None:
        self.limit(idle_timeout=60, ping_timeout=30)
        alice, ghost = self.logon("alice"), self.logon("ghost")
        for t in range(0, 100, 5):
            self.clock.advance(5)
            alice.send(code=10)  # alice is alive; ghost never answers
            self.factory.sweep()
        self.assertTrue(ghost.transport.disconnected)
        self.assertFalse(alice.transport.disconnected)
        ghost.drop()
        leaves = [m for m in alice.received() if m["code"] == 2]
        self.assertEqual([m["text"] for m in leaves], ["ghost was disconnected: no answer to PING"])

    def test_connections_per_address_and_in_total(self) -> None:
        self.limit(max_per_address=2, max_clients=3)
        a1, a2, a3 = self.connect("10.0.0.1"), self.connect("10.0.0.1"), self.connect("10.0.0.1")
        self.assertEqual(a3.received()[0]["error"], "too-many-connections")
        self.assertFalse(a2.transport.disconnecting)
        a3.drop()
        b1 = self.connect("10.0.0.2")
        c1 = self.connect("10.0.0.3")
        self.assertEqual(c1.received()[0]["error"], "server-full")
        self.assertEqual(b1.received(), [])
        c1.drop()
        a1.drop()
        self.assertEqual(self.factory.addresses.counts, {"10.0.0.1": 1, "10.0.0.2": 1})

    def test_unix_socket_clients_are_not_counted_per_address(self) -> None:
        self.limit(max_per_address=2, max_clients=4)
        local = []
        for _ in range(5):
            proto = self.factory.buildProtocol(UNIXAddress(None))
            transport = StringTransport(peerAddress=UNIXAddress(None))
            proto.makeConnection(transport)
            local.append(transport)
        self.clock.advance(0)
        self.assertEqual([t.value() for t in local[:4]], [b""] * 4, "no local client is refused for sharing an address")
        self.assertIn(b"server-full", local[4].value(), "the total limit still holds")
        self.assertEqual(self.factory.addresses.counts, {})
        for proto in list(self.factory.connections):
            proto.connectionLost(Failure(ConnectionDone()))
        self.assertEqual((self.factory.connections, self.factory.addresses.counts), (set(), {}))

    def test_past_the_budget_the_loudest_are_not_read_and_only_clients_not_reading_are_dropped(self) -> None:
        """Readers that keep up drain in a moment and are never dropped; those that stay behind are, at once."""
        assert self.factory.budget is not None
        self.factory.budget.limit = 25_000
        talker = self.logon("talker")
        chatter = self.logon("chatter")
        readers = {nick: self.logon(nick) for nick in ("stalled", "also-stalled", "slow", "keeps-up")}
        talker.received()
        chatter.send(code=5, text="hi all")  # said little
        for _ in range(5):
            talker.send(code=5, text="y" * 2000)  # said much, lately
        self.clock.advance(0)
        readers["keeps-up"].received()
        for nick in ("stalled", "slow"):
            readers[nick].proto.pauseProducing()  # its transport's buffer is full: it stopped reading
        for i in range(5):
            if i == 1:
                readers["also-stalled"].proto.pauseProducing()
            talker.send(code=5, text="x" * 2000)
            self.clock.advance(0)
        self.assertGreater(self.factory.budget.used, 25_000)
        self.assertEqual(talker.transport.producerState, "paused", "the loudest is not read while over the budget")
        self.assertEqual(chatter.transport.producerState, "producing", "someone chatting as people do goes on")
        talker.send(code=5, text="waits")  # buffered, not read
        heard = [m["text"] for m in readers["keeps-up"].received() if m.get("nick") == "talker"]
        readers["slow"].proto.resumeProducing()  # it caught up
        self.clock.advance(1)  # a second on, the others are still behind: as many go as it takes
        self.assertTrue(readers["stalled"].proto.closing, "the one most behind")
        self.assertFalse(readers["also-stalled"].proto.closing, "one was enough to get under half")
        self.assertFalse(readers["slow"].proto.closing or readers["keeps-up"].proto.closing)
        self.assertEqual(talker.transport.producerState, "producing", "and the loud are read again")
        heard += [m["text"] for m in readers["keeps-up"].received()]
        self.assertEqual(heard, ["x" * 2000] * 5 + ["waits"], "nothing lost, in order")
        readers["also-stalled"].proto.resumeProducing()
        self.assertEqual(self.factory.budget.used, 0)

    def test_a_sender_waits_while_too_many_of_its_messages_are_being_stored(self) -> None:
        store = ManualStore()
        chat = local_chat(self.clock, store=store)  # type: ignore[arg-type]
        self.factory = ChatServerFactory(chat, self.clock, Limits(flood_rate=0))
        sender = self.logon("sender", room=None)
        sender.send(code=1)
        for _ in range(10):
            self.clock.advance(0)
            store.fire()
        sender.received()
        sender.raw(b"".join(pack({"code": 5, "text": f"m{i}"}) for i in range(MAX_IN_FLIGHT + 10)))
        self.clock.advance(0)
        self.assertEqual(sender.transport.producerState, "paused")
        self.assertEqual(sender.proto.inflight, MAX_IN_FLIGHT)
        for _ in range(20):
            store.fire()
            self.clock.advance(0)
        self.assertEqual(sender.proto.inflight, 0)
        self.assertEqual(sender.transport.producerState, "producing")
        texts = [m["text"] for m in sender.received() if m["code"] == 5]
        self.assertEqual(texts, [f"m{i}" for i in range(MAX_IN_FLIGHT + 10)], "nothing lost, in order")

    def test_costly_requests_cost_more_flood_control(self) -> None:
        self.limit(flood_rate=10, flood_burst=20, flood_kick=10)
        alice = self.logon("alice")
        alice.received()
        for i in range(3000):
            self.chat.ledger.state.rooms[f"x{i}"] = self.chat.ledger.state.rooms["lobby"]
        self.chat.ledger.state._room_list = None
        alice.send(code=7)
        alice.received()
        self.assertEqual(alice.transport.producerState, "paused", "3,000 rooms cost 30 tokens more than the 20 of a burst")
        self.clock.advance(1)
        self.assertEqual(alice.transport.producerState, "paused")
        self.clock.advance(0.5)
        self.assertEqual(alice.transport.producerState, "producing")

    def test_throttling_again_and_again_keeps_no_spent_timers(self) -> None:
        """Flooding, pausing, flooding again for as long as one likes: memory stays flat."""
        self.limit(flood_rate=10, flood_burst=5, flood_kick=10)
        flooder = self.logon("flooder")
        made: list[weakref.ref[Any]] = []
        call_later = self.clock.callLater

        def recorded(*args: Any, **kwargs: Any) -> Any:
            call = call_later(*args, **kwargs)
            made.append(weakref.ref(call))
            return call

        self.clock.callLater = recorded  # type: ignore[method-assign]
        for _ in range(50):
            flooder.raw(b"".join(pack({"code": 9}) for _ in range(10)))
            for _ in range(30):
                self.clock.advance(0.1)
        self.assertFalse(flooder.transport.disconnecting)
        gc.collect()
        self.assertGreater(len(made), 50)
        self.assertLessEqual(sum(ref() is not None for ref in made), 2)

    def test_flood_is_slowed_then_dropped_without_losing_accepted_messages(self) -> None:
        self.limit(flood_rate=10, flood_burst=20, flood_kick=10)
        alice, flooder = self.logon("alice"), self.logon("flooder")
        alice.received()
        flooder.raw(b"".join(pack({"code": 5, "text": f"f{i}"}) for i in range(30)))
        # The burst passes, then reading stops: the rest waits in the buffer.
        first = [m["text"] for m in alice.received() if m["code"] == 5]
        self.assertEqual(first, [f"f{i}" for i in range(len(first))])
        self.assertLess(len(first), 30)
        self.assertEqual(flooder.transport.producerState, "paused")
        for _ in range(50):
            self.clock.advance(0.1)
        texts = first + [m["text"] for m in alice.received() if m["code"] == 5]
        self.assertEqual(texts, [f"f{i}" for i in range(30)])
        self.assertFalse(flooder.transport.disconnecting)
        # Flooding on and on: disconnected, and alice hears why.
        for _ in range(400):
            flooder.raw(pack({"code": 5, "text": "spam"}) * 3)  # 30 a second against a rate of 10
            self.clock.advance(0.1)
            if flooder.transport.disconnecting:
                break
        self.assertTrue(flooder.transport.disconnecting)
        self.assertEqual(flooder.received()[-1]["error"], "flood")
        flooder.drop()
        self.assertEqual(alice.received()[-1]["text"], "flooder was disconnected: flooding")


class TranslationTests(SynchronousTestCase):
    """The native front end over a fake service: frames in, calls out, answers back as frames."""

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.service = FakeService()
        self.factory = ChatServerFactory(self.service, self.clock, Limits(flood_rate=0))
        self.assertTrue(verifyObject(IChatService, self.service))

    def logged_on(self) -> tuple[Client, FakeUser]:
        c = Client(self.factory, 40000)
        c.send(code=4, text="alice")
        name, (nick, client) = self.service.answer(user := FakeUser("alice"))
        self.assertEqual((name, nick, client), ("logon", "alice", c.proto))
        self.assertEqual(c.received(), [{"code": 4, "text": "alice", "nick": "alice"}])
        return c, user

    def test_each_request_is_one_call_with_the_documented_defaults(self) -> None:
        c, user = self.logged_on()
        c.send(code=1)
        c.send(code=5, text="hi", color="red", action=True)
        c.send(code=6, to="bob", text="psst")
        self.assertEqual([(n, a) for n, a, _ in self.service.calls], [("join", (user, "lobby"))])
        self.service.answer()  # join done: the frames read after it are handled now
        self.assertEqual([(n, a) for n, a, _ in self.service.calls], [
            ("say", (user, "lobby", "hi", "red", True, False)), ("private", (user, "bob", "psst", None, False, False))])

    def test_results_become_frames(self) -> None:
        c, user = self.logged_on()
        c.send(code=3, room="dev")
        self.service.answer(Members("Dev", ("alice", "bob")))
        c.send(code=7)
        self.service.answer(("Dev", "lobby"))
        c.send(code=11, room="dev", before=10, limit=2)
        page = Page("Dev", (Event(Said("Dev", "bob", "old", 9, 5, history=True)),), True)
        self.assertEqual(self.service.answer(page), ("history", (user, "dev", 10, None, 2)))
        self.assertEqual(c.received(), [
            {"code": 3, "room": "Dev", "names": ["alice", "bob"]},
            {"code": 7, "names": ["Dev", "lobby"]},
            {"code": 5, "text": "old", "room": "Dev", "nick": "bob", "color": "default", "id": 9, "ts": 5, "history": True},
            {"code": 11, "room": "Dev", "more": True, "before": 10},
        ])

    def test_a_refusal_is_an_error_frame_and_anything_else_is_server_error(self) -> None:
        c, _ = self.logged_on()
        c.send(code=5, text="x", room="nowhere")
        self.service.answer(ChatError("not-in-room", "you are not in nowhere"))
        c.send(code=5, text="y")
        self.service.answer(RuntimeError("the backend broke"))
        self.assertEqual([(m["error"], m["reply_to"]) for m in c.received()],
                         [("not-in-room", 5), ("server-error", 5)])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertFalse(c.transport.disconnecting)

    def test_what_the_service_delivers_is_written_and_a_disconnect_closes_with_its_error(self) -> None:
        c, _ = self.logged_on()
        c.proto.deliver(Event(Joined("lobby", "bob")))
        fill = c.proto.reserve()
        c.proto.deliver(Event(Said("lobby", "bob", "after", 1, 1)))
        self.assertEqual(c.received(), [{"code": 1, "text": "bob has joined lobby", "nick": "bob", "room": "lobby"}])
        fill([Event(ReplayEnd("lobby"))])
        self.assertEqual([m["code"] for m in c.received()], [11, 5])
        c.proto.disconnect(ChatError("cluster-unavailable", "connect again"))
        self.assertEqual(c.received(), [{"code": 8, "close": True, "error": "cluster-unavailable", "text": "connect again"}])
        c.drop()
        self.assertEqual(self.service.calls, [])  # the backend forgot the user already: no quit

    def test_a_lost_connection_quits_with_its_reason_and_a_quit_waits_for_the_barrier(self) -> None:
        c, user = self.logged_on()
        c.send(code=2, close=True, text="lunch")
        self.assertEqual(self.service.answer(), ("barrier", ()))
        self.assertEqual(c.received(), [{"code": 2, "close": True, "text": "Goodbye."}])
        # The rooms hear it now: a TLS close may wait long for the other side.
        self.assertEqual(self.service.answer(), ("quit", (user, "has quit: lunch")))
        c.drop()
        self.assertEqual(self.service.calls, [], "and only once")

    def test_a_user_gone_before_its_logon_is_answered_is_quit_at_once(self) -> None:
        c = Client(self.factory, 40001)
        c.send(code=4, text="alice")
        c.drop()
        user = FakeUser("alice")
        self.service.answer(user)
        self.assertEqual(self.service.answer(), ("quit", (user, "has lost the connection")))
