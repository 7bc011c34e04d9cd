"""
Each private part of another library the chat relies on (chat/adapters.py),
tested against the installed library: a new version that changes one fails
here, by name, before anything subtler breaks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
import txredisapi  # type: ignore[import-untyped]
from twisted.cred import strcred
from twisted.cred.checkers import FilePasswordDB
from twisted.internet import defer, endpoints, reactor, task
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import StringTransport
from twisted.protocols.basic import Int32StringReceiver, LineReceiver

from chat.adapters import (hold_input, input_held, password_file_users, redis_connected, redis_reconnect_delays, socket_writer,
                           websocket_text)


# -- Twisted's TCP transport -------------------------------------------------------------------


class _Peer(Protocol):
    def connectionMade(self) -> None:
        self.received = bytearray()
        self.factory.connected.callback(self)

    def dataReceived(self, data: bytes) -> None:
        self.received += data


class _Paused:
    """A streaming producer that notes when the transport tells it to pause."""

    def __init__(self) -> None:
        self.paused = 0

    def pauseProducing(self) -> None:
        self.paused += 1

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


async def _pair() -> tuple[Any, Any, Any]:
    """A server and a client protocol connected over 127.0.0.1, and the listening port."""
    server_factory = Factory.forProtocol(_Peer)
    server_factory.connected = defer.Deferred()
    port = await endpoints.TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(server_factory)
    client_factory = Factory.forProtocol(_Peer)
    client_factory.connected = defer.Deferred()
    await endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port).connect(client_factory)
    return await server_factory.connected, await client_factory.connected, port


async def _until(condition: Any) -> None:
    for _ in range(500):
        if condition():
            return
        await task.deferLater(reactor, 0.01, lambda: None)
    raise AssertionError("timed out")


@pytest_twisted.async_yield_fixture
async def pair() -> Any:
    """A server and a client protocol connected over 127.0.0.1, closed after the test."""
    server, client, port = await _pair()
    yield server, client
    server.transport.loseConnection()
    await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_a_write_goes_straight_to_the_socket_when_nothing_waits(pair: Any) -> None:
    server, client = pair
    write = socket_writer(server.transport)
    assert write(b"hello") == 0  # nothing left in Twisted's buffer
    transport = server.transport
    assert (transport.dataBuffer, transport._tempDataBuffer) == (b"", [])  # nothing left for a later turn
    assert transport not in reactor.getWriters()
    await _until(lambda: bytes(client.received) == b"hello")


@pytest_twisted.ensureDeferred
async def test_what_the_socket_does_not_take_is_buffered_in_order_with_backpressure(pair: Any) -> None:
    server, client = pair
    producer = _Paused()
    server.transport.registerProducer(producer, True)
    client.transport.pauseProducing()  # the peer stops reading: the socket fills
    write = socket_writer(server.transport)
    sent = bytearray()
    i = 0
    left = 0
    while not producer.paused:
        chunk = (b"%08d" % i) * 8192
        left += write(chunk)  # type: ignore[operator]
        sent += chunk
        i += 1
    transport = server.transport
    assert left == len(transport.dataBuffer) - transport.offset + sum(map(len, transport._tempDataBuffer)) > 0, \
        "what it says it left is what waits in Twisted's buffer"
    assert write(b"end") == 3  # behind what waits, never before it
    sent += b"end"
    client.transport.resumeProducing()
    await _until(lambda: len(client.received) == len(sent))
    assert client.received == sent


@pytest_twisted.ensureDeferred
async def test_nothing_goes_out_after_an_abort(pair: Any) -> None:
    """Twisted drops what is written after abortConnection(); so must a write straight to the socket."""
    server, client = pair
    write = socket_writer(server.transport)
    write(b"before")
    await _until(lambda: bytes(client.received) == b"before")
    server.transport.abortConnection()
    write(b"after the abort")
    await task.deferLater(reactor, 0.2, lambda: None)
    assert bytes(client.received) == b"before"


def test_a_transport_that_is_not_plain_tcp_keeps_its_own_write() -> None:
    transport = StringTransport()
    assert socket_writer(transport) == transport.write





# -- Twisted's receivers ---------------------------------------------------------------------------


class _Lines(LineReceiver):
    delimiter = b"\n"

    def __init__(self) -> None:
        self.lines: list[bytes] = []

    def lineReceived(self, line: bytes) -> None:
        self.lines.append(line)
        if line == b"hold":
            hold_input(self, True)


class _Frames(Int32StringReceiver):
    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def stringReceived(self, data: bytes) -> None:
        self.frames.append(data)
        hold_input(self, True)


def test_a_held_line_receiver_hands_on_nothing_more_until_let_go() -> None:
    receiver = _Lines()
    receiver.makeConnection(StringTransport())
    receiver.dataReceived(b"one\nhold\ntwo\nthree\n")
    assert receiver.lines == [b"one", b"hold"], "Twisted's LineReceiver no longer stops at its paused flag"
    assert input_held(receiver)
    hold_input(receiver, False)
    assert not input_held(receiver)
    receiver.dataReceived(b"")
    assert receiver.lines == [b"one", b"hold", b"two", b"three"]


def test_a_held_string_receiver_hands_on_nothing_more_until_let_go() -> None:
    receiver = _Frames()
    receiver.makeConnection(StringTransport())
    receiver.dataReceived(b"".join(len(f).to_bytes(4, "big") + f for f in (b"a", b"b", b"c")))
    assert receiver.frames == [b"a"], "Twisted's IntNStringReceiver no longer stops at its paused flag"
    hold_input(receiver, False)
    receiver.dataReceived(b"")
    assert receiver.frames == [b"a", b"b"]


# -- Twisted's password files ----------------------------------------------------------------------


def test_the_user_names_of_a_password_file_are_read_again_each_time(tmp_path: Path) -> None:
    path = tmp_path / "passwords.txt"
    path.write_bytes(b"alice:secret\nBob:hunter2\n")
    names = password_file_users(FilePasswordDB(str(path)))
    assert names is not None, "FilePasswordDB no longer lists its users (_loadCredentials)"
    assert names() == [b"alice", b"Bob"]
    path.write_bytes(b"carol:x\n")
    assert names() == [b"carol"], "read again each time"
    # strcred's memory: checker lists its users publicly (its users dict): no private part needed.
    assert password_file_users(strcred.makeChecker("memory:dave:pw")) is None
    assert password_file_users(object()) is None


# -- Autobahn --------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 5, 125, 126, 65535, 65536])
def test_a_websocket_text_message_is_rfc_6455s(size: int) -> None:
    payload = b"x" * size
    if size < 126:
        header = bytes([0x81, size])
    elif size < 65536:
        header = bytes([0x81, 126]) + size.to_bytes(2, "big")
    else:
        header = bytes([0x81, 127]) + size.to_bytes(8, "big")
    assert websocket_text(payload) == header + payload, "Autobahn's PreparedMessage no longer frames as RFC 6455 says"


# -- txredisapi ------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_a_redis_connection_says_whether_it_is_up_and_takes_its_reconnection_delays() -> None:
    # A port nobody listens on: the lazy connection keeps trying, and is not up.
    handler = txredisapi.lazyConnection("127.0.0.1", 9, reconnect=True)
    try:
        redis_reconnect_delays(handler, 0.2, 2.5)
        factory = handler._factory
        assert (factory.initialDelay, factory.maxDelay) == (0.2, 2.5), "txredisapi's factory lost its delays"
        await task.deferLater(reactor, 0.05, lambda: None)
        assert redis_connected(handler) is False
        assert redis_connected(None) is False
    finally:
        await handler.disconnect()
