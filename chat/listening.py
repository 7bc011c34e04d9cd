"""
A front end's listening ports, as stock Twisted services.

Each endpoint is a L{StreamServerEndpointService}; the only thing added is
an endpoint wrapper that binds the port at once (so that a port in use
stops twistd with the reason) but accepts nobody until the chat backend is
ready, and a L{FrontEndService} that closes the ports before the front end
says goodbye to its clients.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import MultiService
from twisted.internet import defer, endpoints
from twisted.internet.interfaces import (IListeningPort, IProtocolFactory, IReactorCore,
                                         IStreamServerEndpoint)
from twisted.logger import Logger
from zope.interface import implementer

from chat.frontend import FrontEndFactory


@implementer(IStreamServerEndpoint)
class HeldUntilReady:
    """
    An endpoint whose port, once bound, waits for C{ready} before it
    accepts: connections wait in the kernel's backlog meanwhile, as they
    would for a server that is still starting.
    """

    log = Logger()

    def __init__(self, endpoint: IStreamServerEndpoint, description: str, what: str,
                 ready: Callable[[], defer.Deferred[None]]) -> None:
        self.endpoint = endpoint
        self.description = description
        self.what = what
        self.ready = ready
        #: The port, once bound.
        self.port: IListeningPort | None = None
        self._started = False

    def listen(self, factory: IProtocolFactory) -> defer.Deferred[IListeningPort]:
        d = self.endpoint.listen(factory)
        d.addCallback(self._hold)
        return d

    def _hold(self, port: IListeningPort) -> IListeningPort:
        self.port = port
        stop_reading = getattr(port, "stopReading", None)
        if stop_reading is not None:
            stop_reading()
        if self._started:
            self._when_ready(port)
        return port

    def start(self) -> None:
        """The services have started (the backend among them): accept once it is ready."""
        self._started = True
        if self.port is not None:
            self._when_ready(self.port)

    def _when_ready(self, port: IListeningPort) -> None:
        ready = self.ready()
        ready.addCallback(lambda _: self._accept(port))
        ready.addErrback(lambda f: self.log.failure("the chat backend did not start", f))

    def _accept(self, port: IListeningPort) -> None:
        start_reading = getattr(port, "startReading", None)
        if start_reading is not None and getattr(port, "connected", False):
            start_reading()
        address = port.getHost()
        self.log.info("{what} listening on {host}:{port} ({description})", what=self.what,
                      host=getattr(address, "host", address), port=getattr(address, "port", ""),
                      description=self.description)


class FrontEndService(MultiService):
    """
    One front end: a L{StreamServerEndpointService} per endpoint.  On stop
    the ports close first, then the front end says goodbye to its clients.
    """

    def __init__(self, reactor: IReactorCore, descriptions: Sequence[str], factory: FrontEndFactory,
                 ready: Callable[[], defer.Deferred[None]], what: str = "chat server",
                 listen_with: IProtocolFactory | None = None) -> None:
        super().__init__()
        self.factory = factory
        self.endpoints: list[HeldUntilReady] = []
        for description in descriptions:
            held = HeldUntilReady(endpoints.serverFromString(reactor, description), description, what, ready)
            listener = StreamServerEndpointService(held, listen_with or factory)
            # What twisted.application.strports.service does: a port that cannot be bound stops twistd.
            listener._raiseSynchronously = True
            listener.setServiceParent(self)
            self.endpoints.append(held)

    def startService(self) -> None:
        super().startService()
        for held in self.endpoints:
            held.start()

    def address(self) -> str:
        """HOST:PORT of the first listener, once bound."""
        port = self.endpoints[0].port if self.endpoints else None
        if port is None:
            return ""
        address = port.getHost()
        return f"{getattr(address, 'host', address)}:{getattr(address, 'port', '')}"

    def stopService(self) -> defer.Deferred[None]:
        return defer.Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        await super().stopService()
        await self.factory.shutdown()
