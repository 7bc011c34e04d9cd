"""A front end's ports: bound at once, accepting once the backend is ready, closed before the goodbyes."""

from __future__ import annotations

import socket

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task
from twisted.internet.error import CannotListenError
from twisted.internet.protocol import Factory, Protocol

from chat.listening import FrontEndService


class Recorder(Factory):
    """Stands in for a front end's factory: records what it was asked, in order."""

    protocol = Protocol

    def __init__(self, events: list[str]) -> None:
        self.events = events

    def buildProtocol(self, addr: object) -> Protocol:
        self.events.append("accepted")
        return super().buildProtocol(addr)  # type: ignore[arg-type,return-value]

    async def shutdown(self) -> None:
        self.events.append("goodbye")


async def wait_until(condition: object, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():  # type: ignore[operator]
            return
        await task.deferLater(reactor, 0.01, lambda: None)  # type: ignore[arg-type]
    raise AssertionError("gave up waiting")


@pytest_twisted.ensureDeferred
async def test_the_port_is_bound_at_once_but_accepts_only_once_the_backend_is_ready() -> None:
    events: list[str] = []
    ready: defer.Deferred[None] = defer.Deferred()
    front_end = FrontEndService(reactor, ["tcp:0:interface=127.0.0.1"], Recorder(events),  # type: ignore[arg-type]
                                lambda: ready)
    front_end.privilegedStartService()
    front_end.startService()
    host, port = front_end.address().split(":")
    assert host == "127.0.0.1" and int(port) > 0
    client = socket.create_connection((host, int(port)), timeout=5)  # the kernel's backlog takes it
    try:
        await task.deferLater(reactor, 0.2, lambda: None)  # type: ignore[arg-type]
        assert events == [], "nobody is accepted before the backend is ready"
        ready.callback(None)
        await wait_until(lambda: events == ["accepted"])
    finally:
        client.close()
    await front_end.stopService()
    assert events == ["accepted", "goodbye"]
    with pytest.raises(OSError):
        socket.create_connection((host, int(port)), timeout=5).close()


@pytest_twisted.ensureDeferred
async def test_the_ports_close_before_the_front_end_says_goodbye() -> None:
    events: list[str] = []
    front_end = FrontEndService(reactor, ["tcp:0:interface=127.0.0.1"], Recorder(events),  # type: ignore[arg-type]
                                lambda: defer.succeed(None))
    front_end.startService()
    host, port = front_end.address().split(":")

    async def shutdown() -> None:
        # By the time the goodbyes are said, nobody new can connect.
        with pytest.raises(OSError):
            socket.create_connection((host, int(port)), timeout=5).close()
        events.append("goodbye")

    front_end.factory.shutdown = shutdown  # type: ignore[method-assign]
    await front_end.stopService()
    assert events == ["goodbye"]


def test_a_port_in_use_stops_the_start_with_the_reason() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        front_end = FrontEndService(reactor, [f"tcp:{port}:interface=127.0.0.1"], Recorder([]),  # type: ignore[arg-type]
                                    lambda: defer.succeed(None))
        with pytest.raises(CannotListenError, match="Address already in use"):
            front_end.privilegedStartService()
