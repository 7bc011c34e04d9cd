"""
The twistd plugin's options and service: C{twistd -n chat --port 0}.
"""

from __future__ import annotations

from typing import Sequence

from twisted.application import service
from twisted.internet import defer, endpoints
from twisted.internet.interfaces import IListeningPort, IReactorCore
from twisted.logger import Logger
from twisted.python import usage
from twisted.python.failure import Failure

from chat.message import BASE_PORT, MAX_PORT_NUMBER
from chat.server import MAX_OUTGOING, ChatServerFactory
from chat.state import MAX_ROOMS_PER_USER, ChatState


def endpoint_for(port_number: int, interface: str = "") -> str:
    """The strports description of the seed's "port number" N: TCP 1500+N."""
    description = f"tcp:{BASE_PORT + port_number}"
    if interface:
        description += ":interface=" + interface.replace(":", r"\:")
    return description


class Options(usage.Options):
    synopsis = "[options]"
    longdesc = (
        "Run the chat server.  --port N listens on TCP port 1500+N as the original "
        "ChatServer did; --endpoint takes any Twisted server endpoint description "
        "(tcp:0 for a port the system picks, ssl:... for TLS) and may be repeated."
    )
    optParameters = [
        ["port", "p", 0, f"port number N from 0 to {MAX_PORT_NUMBER}: listen on TCP {BASE_PORT}+N", int],
        ["interface", "i", "", "address to listen on (default: every interface)"],
        ["max-rooms", None, MAX_ROOMS_PER_USER, "rooms one client may be in at once", int],
        ["max-outgoing", None, MAX_OUTGOING, "bytes a client may leave unread before it is dropped", int],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["endpoint"] = []

    def opt_endpoint(self, description: str) -> None:
        """server endpoint description, e.g. tcp:0:interface=127.0.0.1 (overrides --port and --interface; repeatable)"""
        self["endpoint"].append(description)

    def postOptions(self) -> None:
        if not 0 <= self["port"] <= MAX_PORT_NUMBER:
            raise usage.UsageError(
                f"--port must be from 0 to {MAX_PORT_NUMBER} (the server listens on {BASE_PORT}+N); "
                f"got {self['port']}.  Use --endpoint tcp:PORT for any other port."
            )
        for name in ("max-rooms", "max-outgoing"):
            if self[name] < 1:
                raise usage.UsageError(f"--{name} must be at least 1")
        if not self["endpoint"]:
            self["endpoint"] = [endpoint_for(self["port"], self["interface"])]


class ChatService(service.Service):
    """
    Listens on each endpoint; on stop, closes the listeners, then says
    goodbye to every client and waits until their goodbyes are flushed.
    """

    log = Logger()

    def __init__(self, reactor: IReactorCore, descriptions: Sequence[str], factory: ChatServerFactory) -> None:
        self.reactor = reactor
        self.descriptions = list(descriptions)
        self.factory = factory
        self.ports: list[IListeningPort] = []

    def privilegedStartService(self) -> None:
        # Listen here, synchronously, so that a port in use makes twistd fail
        # at once with the reason instead of running with no listener.
        for description in self.descriptions:
            endpoint = endpoints.serverFromString(self.reactor, description)
            result: list[object] = []
            endpoint.listen(self.factory).addBoth(result.append)
            if result and isinstance(result[0], Failure):
                result[0].raiseException()
            self._listening(result[0], description)  # type: ignore[arg-type]
        super().privilegedStartService()

    def _listening(self, port: IListeningPort, description: str) -> None:
        self.ports.append(port)
        address = port.getHost()
        self.log.info(
            "chat server listening on {host}:{port} ({description})",
            host=getattr(address, "host", address), port=getattr(address, "port", ""),
            description=description,
        )

    async def _stop(self) -> None:
        await defer.gatherResults([defer.maybeDeferred(p.stopListening) for p in self.ports])
        self.ports = []
        await self.factory.shutdown()

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        return defer.Deferred.fromCoroutine(self._stop())


def makeService(options: Options, reactor: IReactorCore | None = None) -> service.IService:
    if reactor is None:
        from twisted.internet import reactor as default_reactor

        reactor = default_reactor  # type: ignore[assignment]
    state = ChatState(reactor.seconds, max_rooms_per_user=options["max-rooms"])  # type: ignore[attr-defined]
    factory = ChatServerFactory(state, reactor, max_outgoing=options["max-outgoing"])  # type: ignore[arg-type]
    return ChatService(reactor, options["endpoint"], factory)
