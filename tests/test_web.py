"""
The web front end on the real reactor over loopback: the page and its
headers, and the native protocol over WebSocket (Autobahn's own client)
beside a native client on the same chat.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_twisted
from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet import defer, endpoints, reactor, task
from twisted.internet.protocol import Protocol
from twisted.protocols.basic import Int32StringReceiver
from twisted.web.client import Agent, PartialDownloadError, readBody
from twisted.web.http_headers import Headers

from chat.limits import Limits
from chat.local import local_chat
from chat.message import MAX_FRAME, CMsg, Code, frame
from chat.server import ChatServerFactory
from chat.web import SECURITY_HEADERS, UPGRADE_DEADLINE, WebChatFactory, WebSocketConnection, as_websocket, web_site

TIMEOUT = 10.0


class Browser(WebSocketClientProtocol):
    """A WebSocket client as a page would be: what it receives, in order."""

    def onOpen(self) -> None:
        self.factory.opened.callback(self)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.factory.inbox.put(json.loads(payload))

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        if not self.factory.opened.called:
            self.factory.opened.errback(ConnectionError(reason))
        self.factory.closed.callback((wasClean, code))

    def send(self, **msg: Any) -> None:
        self.sendMessage(json.dumps(msg).encode())

    async def next(self) -> dict[str, Any]:
        inbox = self.factory.inbox
        return await inbox.get().addTimeout(TIMEOUT, reactor)

    async def until(self, predicate: Any) -> dict[str, Any]:
        while True:
            msg = await self.next()
            if predicate(msg):
                return msg


class Native(Int32StringReceiver):
    def connectionMade(self) -> None:
        self.inbox: defer.DeferredQueue[dict[str, Any]] = defer.DeferredQueue()

    def stringReceived(self, data: bytes) -> None:
        self.inbox.put(json.loads(data))

    def send(self, **msg: Any) -> None:
        self.transport.write(frame(CMsg(**msg)))

    async def until(self, predicate: Any) -> dict[str, Any]:
        while True:
            msg = await self.inbox.get().addTimeout(TIMEOUT, reactor)
            if predicate(msg):
                return msg


class Chat:
    """One chat (no history) with a native port and a web port on 127.0.0.1."""

    def __init__(self, origins: tuple[str, ...] = ()) -> None:
        self.backend = local_chat(reactor)
        self.native = ChatServerFactory(self.backend, reactor)
        self.web = WebChatFactory(self.backend, reactor)
        self.site = web_site(self.web, origins)
        self.ports: list[Any] = []

    async def start(self) -> Chat:
        self.backend.startService()
        for factory in (self.native, self.site):
            self.ports.append(await endpoints.TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(factory))
        self.web_port = self.ports[1].getHost().port
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    async def browser(self, nick: str | None = None, origin: str | None = "self") -> Browser:
        return await self.browser_on(self.web_port, nick, self.url if origin == "self" else origin)

    @staticmethod
    async def browser_on(port: int, nick: str | None = None, origin: str | None = None,
                         protocol: type[Browser] = Browser) -> Browser:
        factory = WebSocketClientFactory(f"ws://127.0.0.1:{port}/ws", origin=origin)
        factory.protocol = protocol
        factory.opened, factory.closed, factory.inbox = defer.Deferred(), defer.Deferred(), defer.DeferredQueue()
        await endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", port).connect(factory)
        browser: Browser = await factory.opened.addTimeout(TIMEOUT, reactor)
        if nick is not None:
            browser.send(code=4, text=nick)
            assert (await browser.next())["nick"] == nick
            browser.send(code=1, room="lobby")
            await browser.until(lambda m: m["code"] == Code.HISTORY)
        return browser

    async def native_client(self, nick: str) -> Native:
        proto = await endpoints.connectProtocol(
            endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", self.ports[0].getHost().port), Native())
        proto.send(code=4, text=nick)
        await proto.until(lambda m: m["code"] == Code.SENDING_NICKNAME)
        proto.send(code=1, room="lobby")
        await proto.until(lambda m: m["code"] == Code.HISTORY)
        return proto

    async def stop(self) -> None:
        for port in self.ports:
            await port.stopListening()
        await self.web.shutdown(grace=1)
        await self.native.shutdown(grace=1)
        await self.backend.stopService()


@pytest_twisted.async_yield_fixture
async def chat() -> AsyncIterator[Chat]:
    chat = await Chat().start()
    yield chat
    await chat.stop()


@pytest_twisted.async_yield_fixture
async def slow_chat() -> AsyncIterator[Chat]:
    """A chat whose web clients may send a frame a second on average, two at once."""
    chat = Chat()
    chat.web.limits = Limits(flood_rate=1, flood_burst=2)
    await chat.start()
    yield chat
    await chat.stop()


async def get(url: str, headers: dict[bytes, list[bytes]] | None = None) -> tuple[Any, bytes]:
    response = await Agent(reactor).request(b"GET", url.encode(), Headers(headers or {}))
    try:
        return response, await readBody(response)
    except PartialDownloadError as e:  # a refusal without a length
        return response, e.response


# -- the page ------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_the_page_and_its_scripts_come_with_the_security_headers(chat: Chat) -> None:
    page, body = await get(chat.url + "/")
    assert page.code == 200 and b'<script type="module" src="app.js"></script>' in body
    for name, value in SECURITY_HEADERS.items():
        assert page.headers.getRawHeaders(name) == [value]
    csp = page.headers.getRawHeaders(b"Content-Security-Policy")[0]
    assert b"script-src 'self'" in csp and b"unsafe-inline" not in csp
    script, body = await get(chat.url + "/app.js")
    assert script.headers.getRawHeaders(b"Content-Type") == [b"text/javascript; charset=utf-8"]
    assert b"textContent" in body and b"innerHTML" not in body
    missing, _ = await get(chat.url + "/nothing-here")
    assert missing.code == 404 and missing.headers.getRawHeaders(b"X-Content-Type-Options") == [b"nosniff"]


# -- the protocol over WebSocket -------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_a_browser_and_a_native_client_chat_in_one_room(chat: Chat) -> None:
    bob = await chat.native_client("bob")
    alice = await chat.browser("alice")
    await bob.until(lambda m: m["code"] == Code.JOINING_CHAT and m["nick"] == "alice")
    alice.send(code=5, room="lobby", text="hello from the web", color="red")
    said = await bob.until(lambda m: m["code"] == Code.NORMAL_MESSAGE)
    assert (said["nick"], said["text"], said["color"]) == ("alice", "hello from the web", "red")
    bob.send(code=5, room="lobby", text="hello browser")
    heard = await alice.until(lambda m: m["code"] == Code.NORMAL_MESSAGE and m["nick"] == "bob")
    assert heard["text"] == "hello browser" and heard["room"] == "lobby"
    bob.send(code=6, to="alice", text="psst")
    private = await alice.until(lambda m: m["code"] == Code.PRIVATE_MESSAGE)
    assert (private["nick"], private["to"], private["text"]) == ("bob", "alice", "psst")
    alice.send(code=2, close=True, text="bye")
    goodbye = await alice.until(lambda m: m["code"] == Code.LEAVING_CHAT)
    assert goodbye == {"code": 2, "text": "Goodbye.", "close": True}
    assert await alice.factory.closed.addTimeout(TIMEOUT, reactor) == (True, 1000)
    left = await bob.until(lambda m: m["code"] == Code.LEAVING_CHAT)
    assert left["text"] == "alice has quit: bye"


@pytest_twisted.ensureDeferred
async def test_each_bad_message_gets_its_documented_error_and_harms_nobody_else(chat: Chat) -> None:
    bob = await chat.native_client("bob")
    cases = [
        (b"{not json", "bad-json"),
        (b"\xff\xfe", "bad-utf8"),
        (b"[1, 2]", "not-an-object"),
        (b'{"code": "5"}', "bad-code"),
        (b'{"code": 5, "room": null}', "bad-type"),
    ]
    for payload, slug in cases:
        browser = await chat.browser()
        browser.sendMessage(payload, isBinary=True)
        error = await browser.next()
        assert (error["code"], error["error"], error["close"]) == (Code.ERROR, slug, True)
        assert (await browser.factory.closed.addTimeout(TIMEOUT, reactor))[0]  # a clean WebSocket close
    bob.send(code=5, room="lobby", text="still here")
    assert (await bob.until(lambda m: m["code"] == Code.NORMAL_MESSAGE))["text"] == "still here"


@pytest_twisted.ensureDeferred
async def test_an_oversized_message_gets_frame_too_large(chat: Chat) -> None:
    browser = await chat.browser("carol")
    browser.sendMessage(b"x" * (MAX_FRAME + 1))
    error = await browser.until(lambda m: m["code"] == Code.ERROR)
    assert error["error"] == "frame-too-large" and error["close"] is True
    await browser.factory.closed.addTimeout(TIMEOUT, reactor)
    again = await chat.browser("carol")  # carol's nickname was freed: her quit was announced and done
    again.send(code=5, room="lobby", text="x" * 2000)
    assert (await again.until(lambda m: m["code"] == Code.NORMAL_MESSAGE))["text"] == "x" * 2000


@pytest_twisted.ensureDeferred
async def test_a_request_refused_leaves_the_connection_open(chat: Chat) -> None:
    browser = await chat.browser("dave")
    browser.send(code=5, room="nowhere", text="hi")
    error = await browser.next()
    assert (error["error"], error["reply_to"]) == ("not-in-room", 5) and "close" not in error
    browser.send(code=9, text="still open?")
    assert await browser.next() == {"code": 10, "text": "still open?"}


@pytest_twisted.ensureDeferred
async def test_pages_from_other_origins_are_refused(chat: Chat) -> None:
    with pytest.raises(ConnectionError):
        await chat.browser(origin="http://evil.example")
    upgrade = {b"Connection": [b"Upgrade"], b"Upgrade": [b"websocket"], b"Sec-WebSocket-Version": [b"13"],
               b"Sec-WebSocket-Key": [b"dGhlIHNhbXBsZSBub25jZQ=="], b"Origin": [b"http://evil.example"]}
    refused, _ = await get(chat.url + "/ws", upgrade)
    assert refused.code == 403
    assert (await chat.browser("erin", origin=None)) is not None  # no Origin: not a browser, nothing to protect


@pytest_twisted.ensureDeferred
async def test_configured_origins_replace_the_default() -> None:
    chat = await Chat(origins=("https://chat.example.org",)).start()
    try:
        with pytest.raises(ConnectionError):
            await chat.browser()  # the page's own origin is no longer enough
        assert await chat.browser("frank", origin="https://chat.example.org") is not None
    finally:
        await chat.stop()


@pytest_twisted.ensureDeferred
async def test_a_shutdown_says_goodbye_and_closes_cleanly(chat: Chat) -> None:
    browser = await chat.browser("gina")
    await chat.web.shutdown(grace=2)
    notice = await browser.until(lambda m: m["code"] == Code.NORMAL_MESSAGE)
    assert notice == {"code": 5, "text": "The server is shutting down.", "close": True}
    assert await browser.factory.closed.addTimeout(TIMEOUT, reactor) == (True, 1000)


# -- units -------------------------------------------------------------------------


def test_a_list_in_several_native_frames_is_as_many_websocket_messages() -> None:
    one, two = frame(CMsg(Code.ROOM_LIST, names=("a",), more=True)), frame(CMsg(Code.ROOM_LIST, names=("b",)))
    messages = as_websocket(one + two)
    first = 2 + len(one) - 4
    assert messages[:2] == bytes([0x81, len(one) - 4]) and messages[2:first] == one[4:]
    assert messages[first:first + 2] == bytes([0x81, len(two) - 4]) and messages[first + 2:] == two[4:]
    long_body = frame(CMsg(Code.NORMAL_MESSAGE, text="é" * 2000))
    assert as_websocket(long_body)[:4] == bytes([0x81, 126]) + (len(long_body) - 4).to_bytes(2, "big")


def test_messages_read_while_held_wait_in_order() -> None:
    connection = WebSocketConnection()
    seen: list[bytes] = []
    connection.stringReceived = seen.append  # type: ignore[method-assign]
    connection._pong = lambda payload: seen.append(b"ping " + payload)  # type: ignore[method-assign]
    connection.paused = True
    connection.message_received(b"1")
    connection.ping_received(b"2")
    assert seen == []
    connection.paused = False
    connection.message_received(b"3")  # behind those that waited
    assert seen == []
    connection.read_on()
    assert seen == [b"1", b"ping 2", b"3"]


@pytest_twisted.ensureDeferred
async def test_flood_control_holds_a_browser_as_it_holds_a_native_client(slow_chat: Chat) -> None:
    browser = await slow_chat.browser("hank")
    for i in range(6):
        browser.send(code=9, text=str(i))
    start = reactor.seconds()
    answers = [await browser.next() for _ in range(6)]
    assert [a["text"] for a in answers] == [str(i) for i in range(6)]
    assert reactor.seconds() - start >= 2  # past the burst, one a second


# -- the web port's own guards -------------------------------------------------------------


class PingingBrowser(Browser):
    def onOpen(self) -> None:
        self.pongs: list[float] = []
        super().onOpen()

    def onPong(self, payload: bytes) -> None:
        self.pongs.append(reactor.seconds())


@pytest_twisted.ensureDeferred
async def test_websocket_pings_are_frames_under_flood_control(slow_chat: Chat) -> None:
    """Autobahn alone answers every ping at once, past every limit: a ping flood grew memory without end."""
    browser = await Chat.browser_on(slow_chat.web_port, protocol=PingingBrowser)
    start = reactor.seconds()
    for i in range(5):
        browser.sendPing(b"%d" % i)
    while len(browser.pongs) < 5:
        await task.deferLater(reactor, 0.05, lambda: None)
        assert reactor.seconds() - start < TIMEOUT
    assert browser.pongs[1] - start < 0.5 and browser.pongs[4] - start >= 1.5  # the burst, then one a second


class Raw(Protocol):
    """A client of the web port that sends C{request} and keeps what comes back."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.got = b""
        self.closed: defer.Deferred[None] = defer.Deferred()

    def connectionMade(self) -> None:
        self.transport.write(self.request)

    def dataReceived(self, data: bytes) -> None:
        self.got += data

    def connectionLost(self, reason: Any = None) -> None:
        self.closed.callback(None)


async def raw_connection(port: int, request: bytes = b"GET / HTTP/1.1\r\n") -> Raw:
    """A connection to the web port that sends C{request} (by default, half of one, and never the rest)."""
    return await endpoints.connectProtocol(endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", port), Raw(request))


async def raw_exchange(port: int, request: bytes, wait: float = 2.0) -> bytes:
    """What the web port answers to C{request}, read until it closes (or C{wait} seconds)."""
    proto = await raw_connection(port, request)
    try:
        await proto.closed.addTimeout(wait, reactor)
    except defer.TimeoutError:
        proto.transport.abortConnection()
    return proto.got


@pytest_twisted.ensureDeferred
async def test_the_websocket_path_serves_no_status_page_and_no_redirect(chat: Chat) -> None:
    answer = await raw_exchange(chat.web_port, b"GET /ws?redirect=https://evil.example/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    status = answer.split(b"\r\n", 1)[0]
    assert b" 426 " in status, answer[:300]
    assert b"Location" not in answer and b"evil.example" not in answer and b"Autobahn" not in answer


@pytest_twisted.ensureDeferred
async def test_a_request_body_is_refused_before_it_is_read(chat: Chat) -> None:
    started = reactor.seconds()
    answer = await raw_exchange(chat.web_port, b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2000000000\r\n\r\n"
                                + b"x" * 65536, wait=TIMEOUT)
    assert answer == b"" and reactor.seconds() - started < TIMEOUT  # closed, not spooled to disk


@pytest_twisted.ensureDeferred
async def test_connections_per_address_and_the_upgrade_deadline() -> None:
    backend = local_chat(reactor)
    web = WebChatFactory(backend, reactor, Limits(max_per_address=2))
    clock = task.Clock()
    port_factory = web_site(web)
    port_factory.clock = clock
    port = await endpoints.TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(port_factory)
    try:
        number = port.getHost().port
        first = await raw_connection(number)
        second = await raw_connection(number)
        third = await raw_connection(number)
        await third.closed.addTimeout(TIMEOUT, reactor)  # a third connection from 127.0.0.1 is refused
        assert not first.closed.called and not second.closed.called
        clock.advance(UPGRADE_DEADLINE)  # neither became a WebSocket (nor sent a whole request) in time
        await first.closed.addTimeout(TIMEOUT, reactor)
        await second.closed.addTimeout(TIMEOUT, reactor)
        upgraded = await Chat.browser_on(number, "ivy")  # a WebSocket outlives the deadline
        clock.advance(UPGRADE_DEADLINE)
        upgraded.send(code=9, text="still here")
        assert await upgraded.next() == {"code": 10, "text": "still here"}
    finally:
        await port.stopListening()


# -- WebSocket frames from a client that breaks the rules ---------------------------------


def ws_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """One client frame (masked, as RFC 6455 requires of clients), of up to 125 bytes."""
    assert len(payload) <= 125
    mask = b"\x01\x02\x03\x04"
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes(((0x80 if fin else 0) | opcode, 0x80 | len(payload))) + mask + masked


def upgrade_request(port: int, host: str | None = None, origin: str | None = None) -> bytes:
    host = host or f"127.0.0.1:{port}"
    origin = origin or f"http://{host}"
    return (f"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n\r\n"
            ).encode()


async def upgraded(port: int, frames: bytes, host: str | None = None) -> Raw:
    """A raw WebSocket: the upgrade, and once it is answered, C{frames}."""
    proto = await raw_connection(port, upgrade_request(port, host))
    for _ in range(500):
        if b"\r\n\r\n" in proto.got:
            break
        await task.deferLater(reactor, 0.01, lambda: None)
    assert proto.got.startswith(b"HTTP/1.1 101 "), proto.got
    proto.transport.write(frames)
    return proto


def server_messages(data: bytes) -> list[bytes]:
    """The text messages of unmasked server frames after the handshake's answer (up to the first close)."""
    data = data.split(b"\r\n\r\n", 1)[1]
    messages = []
    while len(data) >= 2:
        opcode, size = data[0] & 0x0F, data[1] & 0x7F
        at = 2
        if size == 126:
            size, at = int.from_bytes(data[2:4], "big"), 4
        payload, data = data[at:at + size], data[at + size:]
        if opcode == 8:
            break
        messages.append(payload)
    return messages


@pytest_twisted.ensureDeferred
async def test_a_message_in_a_few_fragments_is_one_message(chat: Chat) -> None:
    body = json.dumps({"code": 9, "text": "in three pieces"}).encode()
    pieces = (ws_frame(1, body[:10], fin=False) + ws_frame(0, body[10:20], fin=False) + ws_frame(0, body[20:]))
    proto = await upgraded(chat.web_port, pieces)
    for _ in range(100):
        if b"in three pieces" in proto.got:
            break
        await task.deferLater(reactor, 0.02, lambda: None)
    assert [json.loads(m) for m in server_messages(proto.got)] == [{"code": 10, "text": "in three pieces"}]
    proto.transport.loseConnection()


@pytest_twisted.ensureDeferred
async def test_endless_empty_continuation_frames_are_cut_off(chat: Chat) -> None:
    """Issue 22, hole 3: 6-byte continuation frames cost memory and CPU, and no flood token."""
    bystander = await chat.browser("bystander")
    attack = ws_frame(1, b'{"code": 9,', fin=False) + ws_frame(0, b"", fin=False) * 5000
    proto = await upgraded(chat.web_port, attack)
    await proto.closed.addTimeout(TIMEOUT, reactor)
    errors = [json.loads(m) for m in server_messages(proto.got)]
    assert errors == [{"code": 8, "close": True, "error": "too-many-fragments",
                       "text": "a WebSocket message comes in at most 16 frames"}]
    bystander.send(code=9, text="still served")
    assert await bystander.until(lambda m: m["code"] == 10) == {"code": 10, "text": "still served"}


@pytest_twisted.ensureDeferred
async def test_continuation_frames_each_cost_flood_control(slow_chat: Chat) -> None:
    """Fragments within the bound are requests of their own: a flood of them is a flood."""
    body = json.dumps({"code": 9, "text": "x"}).encode()
    message = ws_frame(1, body[:5], fin=False) + ws_frame(0, b"", fin=False) * 14 + ws_frame(0, body[5:])
    proto = await upgraded(slow_chat.web_port, message * 3)
    await task.deferLater(reactor, 0.5, lambda: None)
    assert server_messages(proto.got) == [], "the burst of two frames is spent at once: the rest waits"
    proto.transport.abortConnection()


# -- requests the web port refuses (issue 22, holes 5 and 6) ---------------------------------


@pytest_twisted.ensureDeferred
async def test_a_path_with_a_nul_is_not_found_and_not_a_traceback(chat: Chat) -> None:
    for path in (b"/a%00", b"/%00", b"/a%2Fb", b"/..%2F..%2Fetc%2Fpasswd"):
        answer = await raw_exchange(chat.web_port, b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        assert answer.split(b"\r\n", 1)[0] == b"HTTP/1.1 404 Not Found", (path, answer[:200])


def test_failed_requests_are_logged_once_a_minute_per_address(monkeypatch: pytest.MonkeyPatch) -> None:
    from twisted.internet.address import IPv4Address
    from twisted.python.failure import Failure
    from twisted.web.test.requesthelper import DummyChannel

    from chat import web

    lines: list[dict[str, Any]] = []
    monkeypatch.setattr(web.log, "info", lambda text, **fields: lines.append(fields))
    clock = [1000.0]
    monkeypatch.setattr(web, "_quiet", web.LogThrottle(lambda: clock[0]))
    for n in range(5):
        channel = DummyChannel()
        channel.transport.getPeer = lambda: IPv4Address("TCP", "192.0.2.7", 1234)  # type: ignore[method-assign]
        request = web._PageRequest(channel)
        request.client = IPv4Address("TCP", "192.0.2.7", 1234)
        request.processingFailed(Failure(ValueError("embedded null byte")))
        assert request.code == 400
        clock[0] += 20
    assert len(lines) == 2, lines  # at 0 s and at 60 s, not five times


@pytest_twisted.ensureDeferred
async def test_a_websocket_for_another_host_name_is_refused(chat: Chat) -> None:
    """DNS rebinding: evil.example resolving to this server, its own page as the Origin."""
    answer = await raw_exchange(chat.web_port, upgrade_request(chat.web_port, host="evil.example"))
    assert answer.split(b"\r\n", 1)[0] == b"HTTP/1.1 400 Bad Request", answer[:200]
    page = await raw_exchange(chat.web_port, b"GET / HTTP/1.1\r\nHost: evil.example:8080\r\nConnection: close\r\n\r\n")
    assert page.split(b"\r\n", 1)[0] == b"HTTP/1.1 400 Bad Request"
    for host in ("127.0.0.1", "localhost", "[::1]"):
        answer = await raw_exchange(chat.web_port, upgrade_request(chat.web_port, host=f"{host}:{chat.web_port}"), wait=0.5)
        assert answer.startswith(b"HTTP/1.1 101 "), (host, answer[:200])


def test_allowed_hosts() -> None:
    from chat.web import AllowedHosts

    hosts = AllowedHosts(["chat.example.org", ".school.example"])
    for ok in ("chat.example.org", "CHAT.example.org:443", "school.example", "a.school.example", "10.0.0.1:80",
               "[2001:db8::1]:8080", "localhost:8080"):
        assert hosts.allows(ok), ok
    for bad in ("evil.example", "chat.example.org.evil.example", "xschool.example", "", ":80", "[]", "[evil]"):
        assert not hosts.allows(bad), bad
    assert AllowedHosts(["*"]).allows("anything.example")


def test_the_access_log_is_a_line_a_minute_per_address(monkeypatch: pytest.MonkeyPatch) -> None:
    from twisted.internet.address import IPv4Address
    from twisted.web.test.requesthelper import DummyRequest

    from chat import web

    lines: list[dict[str, Any]] = []
    monkeypatch.setattr(web.log, "info", lambda text, **fields: lines.append(fields))
    clock = [1000.0]
    monkeypatch.setattr(web, "_access", web.LogThrottle(lambda: clock[0]))
    site = web.web_site(WebChatFactory(local_chat(reactor), reactor)).wrappedFactory
    for n in range(30):
        request = DummyRequest([b"a"])
        request.client = IPv4Address("TCP", "192.0.2.8" if n % 2 else "192.0.2.9", 1)
        request.uri, request.code = b"/a%00", 404
        site.log(request)
        clock[0] += 5
    assert [(line["peer"], line["quiet"]) for line in lines] == [
        ("192.0.2.9", 0), ("192.0.2.8", 0), ("192.0.2.9", 5), ("192.0.2.8", 5), ("192.0.2.9", 5), ("192.0.2.8", 5)]
