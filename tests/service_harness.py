"""
The two backends of the chat service, each made ready for the behaviour
suite (tests/test_service.py): the one-process backend on a fake clock with a
store whose Deferreds the test fires, and a cluster node on a real
redis-server.  A suite test talks to either through L{Harness} alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from twisted.internet import defer, reactor, task
from twisted.internet.task import Clock
from zope.interface import implementer

from chat.core.accountbook import MemoryAccountStore
from chat.core.events import Event
from chat.history import MAX_PAGE, Row, from_body
from chat.limits import MAX_OUTGOING
from chat.message import CMsg
from chat.names import ChatError
from chat.outbox import Outbox, TurnFlusher
from chat.service import IChatService, IClient, IUser


@implementer(IClient)
class Recorder:
    """A client that keeps every frame it is sent, through the real L{Outbox}."""

    host = "127.0.0.1"
    realname = ""

    def __init__(self, flusher: TurnFlusher) -> None:
        self.data = b""
        self.outbox = Outbox(flusher, self._written, MAX_OUTGOING, lambda: None)
        self.disconnected: ChatError | None = None
        self._seen = 0

    def _written(self, data: bytes) -> None:
        self.data += data

    def deliver(self, event: Event) -> None:
        self.outbox.push(event.frame)

    def reserve(self) -> Callable[[Sequence[Event]], None]:
        fill = self.outbox.reserve()
        return lambda events: fill([e.frame for e in events])

    def disconnect(self, error: ChatError) -> None:
        self.disconnected = error

    def all(self) -> list[dict[str, Any]]:
        """Every message received so far, decoded."""
        out, data = [], self.data
        while data:
            n = int.from_bytes(data[:4], "big")
            out.append(json.loads(data[4:4 + n]))
            data = data[4 + n:]
        return out

    def new(self) -> list[dict[str, Any]]:
        """What arrived since the last call."""
        got = self.all()
        fresh, self._seen = got[self._seen:], len(got)
        return fresh


class ManualStore:
    """
    The history store's interface, kept in memory, answering only when the
    test says so (L{fire}): so a test sees what waits for the store.
    """

    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.pending: list[tuple[defer.Deferred[Any], Callable[[], Any]]] = []
        self.last_ids: dict[str, int] = {}
        self.topics: dict[str, str] = {}
        self.closed = False
        self.failing = False
        self.accounts = MemoryAccountStore()

    def append_rows(self, rows: list[Row]) -> defer.Deferred[None]:
        d: defer.Deferred[None] = defer.Deferred()
        self.pending.append((d, lambda: self.rows.extend(rows)))
        return d

    def save_topic(self, room_key: str, body: str | None) -> defer.Deferred[None]:
        d: defer.Deferred[None] = defer.Deferred()
        self.pending.append((d, lambda: self.topics.pop(room_key, None) if body is None
                             else self.topics.__setitem__(room_key, body)))
        return d

    def forget_topics(self, room_keys: list[str]) -> defer.Deferred[None]:
        d: defer.Deferred[None] = defer.Deferred()
        self.pending.append((d, lambda: [self.topics.pop(key, None) for key in room_keys]))
        return d

    def rooms_without_history(self) -> defer.Deferred[list[str]]:
        d: defer.Deferred[list[str]] = defer.Deferred()
        self.pending.append((d, lambda: [key for key in self.topics if key not in {row[0] for row in self.rows}]))
        return d

    def page(self, room: str, before: int | None = None, after: int | None = None,
             limit: int = 50) -> defer.Deferred[tuple[list[CMsg], bool]]:
        from chat.names import fold

        def read() -> tuple[list[CMsg], bool]:
            n = max(1, min(limit, MAX_PAGE))
            mine = sorted((r for r in self.rows if r[0] == fold(room)), key=lambda r: r[1])
            if after is not None:
                chosen = [r for r in mine if r[1] > after]
                page, more = chosen[:n], len(chosen) > n
            else:
                chosen = [r for r in mine if before is None or r[1] < before]
                page, more = chosen[-n:], len(chosen) > n
            return [from_body(r[3]) for r in page], more

        d: defer.Deferred[tuple[list[CMsg], bool]] = defer.Deferred()
        self.pending.append((d, read))
        return d

    def fire(self) -> int:
        """Answer every request made so far (failing them if C{failing}); how many."""
        pending, self.pending = self.pending, []
        for d, action in pending:
            if self.failing:
                d.errback(OSError("disk full"))
            else:
                d.callback(action())
        return len(pending)

    def close(self) -> None:
        self.closed = True


class Harness:
    """What the suite needs of a backend."""

    service: IChatService
    flusher: TurnFlusher
    clients: list[Recorder]

    def client(self) -> Recorder:
        client = Recorder(self.flusher)
        self.clients.append(client)
        return client

    async def user(self, nick: str, *rooms: str) -> tuple[Recorder, IUser]:
        """A logged-on user in C{rooms}, with everything it was sent so far read."""
        client = self.client()
        user = await self.service.logon(nick, client)
        for room in rooms:
            await self.call(self.service.join(user, room))
        await self.settle()
        client.new()
        return client, user

    async def call(self, d: defer.Deferred[Any]) -> Any:
        """The result of a request, once the backend has done all it has to (the store answered...)."""
        await self.settle()
        return await d

    async def settle(self) -> None:
        """Wait until everything the backend has to deliver is delivered."""
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError


class LocalHarness(Harness):
    def __init__(self) -> None:
        from chat.local import local_chat

        self.clock = Clock()
        self.clock.advance(1_700_000_000)
        self.store = ManualStore()
        self.flusher = TurnFlusher(self.clock)
        self.clients = []
        self.service = self.chat = local_chat(self.clock, store=self.store)  # type: ignore[arg-type]

    async def settle(self) -> None:
        for _ in range(1000):
            self.clock.advance(0)
            if not self.store.fire():
                self.clock.advance(0)
                if not self.store.pending:
                    return
        raise AssertionError("the store is asked for ever")

    async def answer_store(self) -> None:
        """The store answers what it was asked (the cluster's store, Redis, answers by itself)."""
        await self.settle()

    async def stop(self) -> None:
        if self.chat.running:
            await self.chat.stopService()


class ClusterHarness(Harness):
    """A cluster node on a real redis-server, with a prefix of its own per test."""

    def __init__(self, url: str, prefix: str) -> None:
        from chat.cluster.address import RedisAddress
        from chat.cluster.node import ClusterNode
        from chat.core.service import ChatService

        self.flusher = TurnFlusher(reactor)
        self.clients = []
        self.node = ClusterNode(reactor, RedisAddress.parse(url), "127.0.0.1:1", ttl=5.0,  # type: ignore[arg-type]
                                prefix=prefix)
        self.service = self.chat = ChatService(self.node, reactor)  # type: ignore[arg-type]

    async def start(self) -> None:
        self.chat.startService()
        await self.chat.when_ready()

    async def settle(self) -> None:
        """Every command answered, then the reader quiet for 0.1 s (at most 10 s)."""
        await self.node.barrier()
        quiet, last = 0, -1
        for _ in range(200):
            await task.deferLater(reactor, 0.05, lambda: None)
            size = sum(len(c.data) for c in self.clients)
            quiet = quiet + 1 if size == last else 0
            last = size
            if quiet >= 2:
                return
        raise AssertionError("the cluster never went quiet")

    async def answer_store(self) -> None:
        """Redis answers by itself."""

    async def stop(self) -> None:
        await self.chat.stopService()

