"""
The browser front end: the chat page (C{chat/static}) and the native CMsg
protocol over WebSocket, on one port (twisted.web and Autobahn).  Each
WebSocket message carries one CMsg JSON body, exactly as a native frame
does (docs/protocol.md, "WebSocket"): the connection is a
L{CMsgConnection} like any native client's, only its frames are carried
differently, so every limit and rule of the native protocol holds here too.
"""

from __future__ import annotations

import io
import ipaddress
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from autobahn.twisted.resource import WebSocketResource
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.types import ConnectionDeny, ConnectionRequest
from twisted.internet import interfaces
from twisted.internet.protocol import Protocol, connectionDone
from twisted.protocols import policies
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import http, pages, resource, server, static
from zope.interface import implementer

from chat.core.events import Event
from chat.frontend import AddressCounts
from chat.logthrottle import LogThrottle
from chat.message import MAX_FRAME, CMsg
from chat.adapters import input_held, socket_writer, websocket_text
from chat.server import ChatServerFactory, CMsgConnection

#: The page's files: plain HTML, CSS and JavaScript modules, no build step.
STATIC = Path(__file__).parent / "static"

log = Logger()

#: Where the page opens its WebSocket.
SOCKET_PATH = b"ws"

#: Sent with every page: its own scripts and styles only, no framing, no referrer.
SECURITY_HEADERS = {
    b"Content-Security-Policy": (b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                                 b"connect-src 'self'; base-uri 'none'; form-action 'none'; "
                                 b"frame-ancestors 'none'"),
    b"X-Content-Type-Options": b"nosniff",
    b"Referrer-Policy": b"no-referrer",
    b"X-Frame-Options": b"DENY",
    b"Cache-Control": b"no-cache",
}

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}

#: Frames one WebSocket message may come in (browsers send one; the limit on bytes is MAX_FRAME).
MAX_FRAGMENTS = 16
#: RFC 6455's close code for a message that breaks the server's policy.
CLOSE_POLICY_VIOLATION = 1008

#: Seconds a browser has to finish the WebSocket opening handshake, and the closing one.
HANDSHAKE_TIMEOUT = 10.0
CLOSE_TIMEOUT = 2.0


def as_websocket(frames: bytes) -> bytes:
    """
    Native frames (4-byte lengths, each followed by its JSON body) as
    WebSocket text messages, one per body: a long list that takes several
    native frames takes as many messages.
    """
    size = int.from_bytes(frames[:4], "big")
    if size + 4 == len(frames):
        return websocket_text(frames[4:])
    messages, at = [], 0
    while at < len(frames):
        size = int.from_bytes(frames[at:at + 4], "big")
        messages.append(websocket_text(frames[at + 4:at + 4 + size]))
        at += 4 + size
    return b"".join(messages)


def _websocket_rendering(event: Event) -> bytes:
    """An event as WebSocket messages: made once per event, however many browsers receive it."""
    return event.reframed("websocket", as_websocket)


class WebSocketConnection(CMsgConnection, Protocol):
    """
    A native-protocol client whose frames are WebSocket messages.  Its
    transport is a L{WebSocketTransport}: what it writes is already framed
    for WebSocket, and closing it closes the WebSocket cleanly.
    """

    render = staticmethod(_websocket_rendering)
    paused = False

    def __init__(self) -> None:
        #: Frames Autobahn parsed while reading was held (at most one read's worth), and what handles each.
        self._held: deque[tuple[Callable[[bytes], None], bytes]] = deque()

    def framed(self, msg: CMsg) -> bytes:
        return as_websocket(super().framed(msg))

    def message_received(self, body: bytes) -> None:
        self._arrived(self.stringReceived, body)

    def too_many_fragments(self, count: int) -> None:
        self.log.info("{peer} sent a message in more than {n} fragments", peer=self.peer(), n=MAX_FRAGMENTS)
        self.quit_reason = "was disconnected: too many fragments"
        self.refuse("too-many-fragments", f"a WebSocket message comes in at most {MAX_FRAGMENTS} frames")

    def ping_received(self, payload: bytes) -> None:
        """
        A WebSocket ping is a frame like any other: charged to flood control,
        held while reading is, and its pong queued in the outbox, under the
        slow-reader bound.  (Autobahn would write every pong at once, past
        every limit.)
        """
        self._arrived(self._pong, payload)

    def _pong(self, payload: bytes) -> None:
        if self.closing or not self.heard():
            return
        self.outbox.push(bytes((0x8A, len(payload))) + payload)  # pong: a control frame of <= 125 bytes

    def _arrived(self, handle: Callable[[bytes], None], data: bytes) -> None:
        if input_held(self) or self._held:
            self._held.append((handle, data))
            return
        handle(data)

    def read_on(self) -> None:
        held = self._held
        while held and not input_held(self) and not self.closing:
            handle, data = held.popleft()
            handle(data)


class WebSocketTransport:
    """
    The transport a L{WebSocketConnection} writes to: the TCP (or TLS)
    connection under the WebSocket, except that closing it sends a
    WebSocket close.
    """

    def __init__(self, channel: ChatWebSocket) -> None:
        self.channel = channel
        self.stream: Any = channel.transport
        # Already WebSocket messages: what Autobahn's sendData does with them, without its per-call log,
        # and straight to the socket (under the web port's guard, L{_Guard}) when nothing waits.
        raw = self.stream.transport if isinstance(self.stream, policies.ProtocolWrapper) else self.stream
        self.write = socket_writer(raw)

    def writeSequence(self, data: Iterable[bytes]) -> None:
        self.write(b"".join(data))

    def registerProducer(self, producer: interfaces.IPushProducer, streaming: bool) -> None:
        # The HTTP channel that took the upgrade request is still registered: the chat connection takes over.
        self.stream.unregisterProducer()
        self.stream.registerProducer(producer, streaming)

    def unregisterProducer(self) -> None:
        self.stream.unregisterProducer()

    def pauseProducing(self) -> None:
        self.stream.pauseProducing()

    def resumeProducing(self) -> None:
        self.stream.resumeProducing()

    def loseConnection(self) -> None:
        self.channel.sendClose(code=1000)

    def abortConnection(self) -> None:
        self.stream.abortConnection()

    def getPeer(self) -> Any:
        return self.stream.getPeer()

    def getHost(self) -> Any:
        return self.stream.getHost()

    def setTcpNoDelay(self, enabled: bool) -> None:
        set_nodelay = getattr(self.stream, "setTcpNoDelay", None)
        if set_nodelay is not None:
            set_nodelay(enabled)


class ChatWebSocket(WebSocketServerProtocol):
    """One browser's WebSocket: checks its Origin, then hands each message to its chat connection."""

    factory: ChatWebSocketFactory
    connection: WebSocketConnection | None = None
    fragments = 0

    def onConnect(self, request: ConnectionRequest) -> None:
        origin = request.headers.get("origin")
        if origin is not None and not self.factory.allows(origin, request.headers.get("host", "")):
            log.info("refused a WebSocket from {peer}: origin {origin} is not allowed", peer=request.peer, origin=origin)
            raise ConnectionDeny(ConnectionDeny.FORBIDDEN, "this origin may not use the chat")

    def onOpen(self) -> None:
        self.connection = connection = WebSocketConnection()
        connection.factory = self.factory.chat
        connection.makeConnection(WebSocketTransport(self))

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        if self.connection is not None:
            self.connection.message_received(payload)

    def onPing(self, payload: bytes) -> None:
        if self.connection is not None:
            self.connection.ping_received(payload)

    def onMessageBegin(self, isBinary: bool) -> None:
        self.fragments = 0
        super().onMessageBegin(isBinary)

    def onMessageFrameBegin(self, length: int) -> None:
        """
        Every frame of a message counts: the first with the message (its
        request), each further fragment as a request of its own, and past
        L{MAX_FRAGMENTS} the connection is closed (endless empty
        continuation frames once cost memory and CPU and no flood token).
        """
        self.fragments += 1
        connection = self.connection
        if connection is not None and self.fragments > 1:
            if self.fragments > MAX_FRAGMENTS:
                connection.too_many_fragments(self.fragments)
                self._fail_connection(CLOSE_POLICY_VIOLATION, "too many fragments")
                return
            if not connection.requests(1):
                self._fail_connection(CLOSE_POLICY_VIOLATION, "flooding")
                return
        super().onMessageFrameBegin(length)

    def onPong(self, payload: bytes) -> None:
        """An unasked-for pong is a frame like any other: it costs flood control."""
        if self.connection is not None and not self.connection.requests(1):
            self._fail_connection(CLOSE_POLICY_VIOLATION, "flooding")

    def _max_message_size_exceeded(self, msg_size: int, max_msg_size: int, reason: str) -> None:
        # Autobahn's hook for a message over the limit: the documented ERROR first, then Autobahn fails the connection.
        if self.connection is not None:
            self.connection.lengthLimitExceeded(msg_size)
        super()._max_message_size_exceeded(msg_size, max_msg_size, reason)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        try:
            super().connectionLost(reason)
        finally:
            if self.connection is not None:  # the chat forgets the user whatever Autobahn did
                self.connection.connectionLost(reason)


class ChatWebSocketFactory(WebSocketServerFactory):
    """Autobahn's side of every browser connection: WebSocket options, and which origins may connect."""

    protocol = ChatWebSocket  # type: ignore[assignment]  # Factory's protocol is typed by its generic

    def __init__(self, chat: WebChatFactory, origins: Sequence[str] = ()) -> None:
        super().__init__(server=None)
        self.chat = chat
        #: Allowed origins (scheme://host[:port], or "*"); none: only the page's own.
        self.origins = frozenset(o.rstrip("/").lower() for o in origins)
        self.setProtocolOptions(
            maxFramePayloadSize=MAX_FRAME, maxMessagePayloadSize=MAX_FRAME,
            utf8validateIncoming=False,  # the CMsg decoder answers bad UTF-8 with its documented ERROR
            openHandshakeTimeout=HANDSHAKE_TIMEOUT, closeHandshakeTimeout=CLOSE_TIMEOUT,
            failByDrop=False,  # a refused message gets its ERROR, then a clean close
            autoPingInterval=0,  # keepalive is the protocol's PING, as for every client
            webStatus=False,  # a plain GET of /ws gets 426, not Autobahn's page (which redirects anywhere)
        )

    def allows(self, origin: str, host: str) -> bool:
        """Whether a page from C{origin} may connect (the Host it connected to is the page's own origin)."""
        origin = origin.rstrip("/").lower()
        if self.origins:
            return "*" in self.origins or origin in self.origins
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.netloc == host.strip().lower()


class WebChatFactory(ChatServerFactory):
    """The browser front end's chat connections (the native protocol's rules, its INFO answer)."""

    protocol = WebSocketConnection  # type: ignore[assignment]
    counts_addresses = False  # each was counted as a connection to the web port (L{WebPort})


class AllowedHosts:
    """
    The host names a request may be addressed to (its C{Host} header), as
    Django's ALLOWED_HOSTS: a page served under any other name may be a DNS
    rebinding attack (evil.example resolving to this server, its page then
    allowed by the Origin check).  Always allowed: an IP address (rebinding
    needs a name), C{localhost}, and this machine's host names; then each
    configured name (C{--web-host}): exact, C{.example.org} for it and its
    subdomains, or C{*} for any.
    """

    def __init__(self, names: Sequence[str] = ()) -> None:
        hostname = socket.gethostname()  # not getfqdn(): a DNS lookup that may block for seconds
        own = {"localhost", hostname, hostname.partition(".")[0]}
        self.exact = frozenset(n.lower().rstrip(".") for n in (*own, *names) if n and not n.startswith("."))
        self.suffixes = tuple(n.lower().rstrip(".") for n in names if n.startswith("."))
        self.any = "*" in names

    def allows(self, host_header: str) -> bool:
        host = host_header.strip().lower()
        if host.startswith("["):  # [IPv6]:port
            return host.partition("]")[0][1:] != "" and _is_address(host.partition("]")[0][1:])
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        name = name.rstrip(".")
        if not name:
            return False
        if self.any or name in self.exact or _is_address(name):
            return True
        return any(name == suffix[1:] or name.endswith(suffix) for suffix in self.suffixes)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class _PageRequest(server.Request):
    """
    Every answer of the web port carries the security headers; no request
    may carry a body, nor be addressed to a host name not allowed.
    """

    def process(self) -> None:
        for name, value in SECURITY_HEADERS.items():
            self.setHeader(name, value)
        hosts: AllowedHosts | None = getattr(getattr(self.channel, "site", None), "hosts", None)
        host = (self.getHeader(b"host") or b"").decode("latin-1")
        if hosts is not None and not hosts.allows(host):
            self._refuse(400, b"this server does not answer to that host name")
            _log_now_and_then(self, "refused a web request for host {host!r} from {peer}", host=host)
            return
        super().process()

    def _refuse(self, code: int, text: bytes) -> None:
        """Answer C{code} with a line of text, then close: nothing more is taken on this connection."""
        self.setResponseCode(code)
        self.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        self.setHeader(b"Content-Length", b"%d" % len(text))
        self.setHeader(b"Connection", b"close")
        self.channel.persistent = False  # the channel closes once the answer is written
        self.write(text)
        self.finish()

    def gotLength(self, length: int | None) -> None:
        self.content = io.BytesIO()  # never a file on disk: nothing here takes a body

    def handleContentChunk(self, data: bytes) -> None:
        if data:  # the page and the WebSocket take GETs only: a body is refused by closing
            self.channel.transport.abortConnection()  # type: ignore[union-attr]  # a TCP connection's

    def processingFailed(self, reason: Failure) -> None:
        """
        A request that made a resource fail is answered 400 with no
        traceback, and logged at most once a minute per address (a loop of
        bad requests once grew the log by megabytes a second).
        """
        _log_now_and_then(self, "a web request from {peer} failed ({uri!r}): {why}",
                          uri=self.uri, why=reason.getErrorMessage())
        if not self.finished and not self.startedWriting:
            self._refuse(400, b"bad request")
        elif not self.finished:
            self.finish()


#: Lines about failed web requests, per address.
_quiet = LogThrottle(time.monotonic)


def _log_now_and_then(request: server.Request, text: str, **fields: Any) -> None:
    """Log C{text} unless the same address had a line less than a minute ago."""
    peer = str(getattr(request.getClientAddress(), "host", ""))
    quieted = _quiet.allow(peer)
    if quieted is None:
        return
    log.info(text + " ({quiet} more from it in the last minute)", peer=peer, quiet=quieted, **fields)


#: Seconds a connection to the web port has to become a WebSocket; one that
#: has not (a page load, or a client that sends its request a byte at a
#: time) is closed then.  Browsers open another when they need one.
UPGRADE_DEADLINE = 30.0


class _Guard(policies.ProtocolWrapper):
    """One connection to the web port: counted per address, and closed at the deadline unless it is a WebSocket."""

    factory: WebPort
    transport: Any  # the TCP (or TLS) connection

    def makeConnection(self, transport: Any) -> None:
        # As ProtocolWrapper's, but without claiming the transport's interfaces: Autobahn takes a
        # transport that says it is TLS for Twisted's TLS itself (it reads the TLS channel id from it).
        Protocol.makeConnection(self, transport)
        self.factory.registerProtocol(self)
        self.wrappedProtocol.makeConnection(cast(Any, self))  # this wrapper is its protocol's transport

    def connectionMade(self) -> None:
        self._deadline = self.factory.clock.callLater(UPGRADE_DEADLINE, self._expire)
        super().connectionMade()

    def _expire(self) -> None:
        if not isinstance(self.wrappedProtocol, ChatWebSocket):
            self.transport.abortConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self._deadline.active():
            self._deadline.cancel()
        super().connectionLost(reason)


@implementer(interfaces.IProtocolNegotiationFactory)
class WebPort(policies.WrappingFactory):
    """
    What the web port listens with: the page and WebSocket L{server.Site},
    with at most C{per_address} connections from one address (WebSockets or
    not; 0: no limit) and the upgrade deadline.
    """

    protocol = _Guard
    noisy = False

    def __init__(self, site: server.Site, clock: interfaces.IReactorTime, per_address: int,
                 addresses: AddressCounts | None = None) -> None:
        super().__init__(site)
        self.clock = clock
        self.per_address = per_address
        #: Connections per address, shared with the other front ends.
        self.addresses = addresses if addresses is not None else AddressCounts()

    def acceptableProtocols(self) -> list[bytes]:
        """Over TLS, ALPN offers HTTP/1.1 only: Autobahn's WebSocket is an HTTP/1.1 upgrade."""
        return [b"http/1.1"]

    def buildProtocol(self, addr: Any) -> Any:  # a _Guard, or None to refuse the connection
        host = str(getattr(addr, "host", ""))
        if not host:
            return super().buildProtocol(addr)
        count = self.addresses.add(host)
        if self.per_address and count > self.per_address:
            self.addresses.remove(host)
            log.info("refused a web connection from {host}: {n} already", host=host, n=count - 1)
            return None
        return super().buildProtocol(addr)

    def unregisterProtocol(self, protocol: Protocol) -> None:
        super().unregisterProtocol(protocol)
        host = str(getattr(protocol.getPeer(), "host", ""))  # type: ignore[attr-defined]
        if host:
            self.addresses.remove(host)


class _Files(static.File):
    """The page's files, and no directory listings."""

    contentTypes = {**static.File.contentTypes, **CONTENT_TYPES}

    def getChild(self, path: bytes, request: server.Request) -> resource.IResource:
        if b"\0" in path or b"/" in path or b"\\" in path:  # no file has such a name (a NUL once made a 500)
            return pages.notFound()
        return super().getChild(path, request)

    def directoryListing(self) -> resource.IResource:
        return pages.notFound()


class _Site(server.Site):
    """
    The page and the WebSocket.  Its access log is kept to a line a minute
    per address (a loop of requests once grew the log by megabytes a second).
    """

    def log(self, request: http.Request) -> None:
        peer = str(getattr(request.getClientAddress(), "host", ""))
        quieted = _access.allow(peer)
        if quieted is not None:
            log.info("{peer} {method} {uri} {code} ({quiet} more requests from it in the last minute)",
                     peer=peer, method=request.method.decode("latin-1"), uri=request.uri.decode("latin-1"),
                     code=request.code, quiet=quieted)


#: Lines of the web port's access log, per address.
_access = LogThrottle(time.monotonic)


def web_site(chat: WebChatFactory, origins: Sequence[str] = (), hosts: Sequence[str] = ()) -> WebPort:
    """
    The web port: the page at C{/}, its WebSocket at C{/ws}, for requests
    addressed to this machine or one of C{hosts} (L{AllowedHosts}).
    """
    root = _Files(str(STATIC))
    root.putChild(SOCKET_PATH, WebSocketResource(ChatWebSocketFactory(chat, origins)))
    site = _Site(root)
    site.requestFactory = _PageRequest
    site.hosts = AllowedHosts(hosts)  # type: ignore[attr-defined]
    site.noisy = False
    return WebPort(site, chat.clock, chat.limits.max_per_address, chat.addresses)

