"""
One server node of a cluster that shares its chat through Redis
(docs/architecture.md).

The node keeps only its own clients: their nicknames and the rooms they are
in.  Everything the cluster must agree on goes through Redis, one Lua
script per change (L{chat.cluster.scripts}); everything a client receives
from a room comes back from that room's Redis stream, read by one blocking
XREAD for all the rooms that have local members, so every node delivers the
same entries in the same order, and a node that was cut off carries on
from the last entry it saw.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

import orjson
import txredisapi
from twisted.application import service
from twisted.internet import defer, interfaces, task
from twisted.logger import Logger
from zope.interface import implementer

from chat.cluster.accounts import RedisAccountStore
from chat.adapters import redis_reconnect_delays
from chat.cluster import scripts
from chat.cluster.address import RedisAddress
from chat.cluster.heartbeat import UNREGISTERED, ClusterUnavailable, Heartbeat
from chat.cluster.reader import RoomReader, _fields, _PendingJoin, _stream_key, _what_of
from chat.core.events import Event, Left, Private, Said, TopicIs, TopicSet, What, from_record, record, record_body
from chat.lookalike import look_keys
from chat.names import ChatError, fold
from chat.core.ledger import ILedger
from chat.service import IClient, Members, Presence
from chat.state import Room, RoomCreationRefused, User, check_logon, check_rename

_T = TypeVar("_T")

#: Seconds the barrier waits at most for this node's reader to pass what it wrote.
BARRIER_TIMEOUT = 5.0

def new_node_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def _open_record(what: Said | Private, last: str) -> str:
    """C{what}'s record without its field C{last} and its closing brace: the script adds them."""
    fields = record(what)
    del fields[last]
    return orjson.dumps(fields).decode("utf-8")[:-1]


#: Said to a sender when Redis failed while its line was on the way.
LOST_WHILE_SENDING = "the server lost the rest of the chat while sending this; it may not have been delivered"


@implementer(ILedger)
class ClusterNode(RoomReader, Heartbeat, service.Service):
    """
    The cluster's ledger: this node's side of a chat shared through Redis.
    Here, its clients' membership and the Redis scripts that change the
    shared state; the reader that delivers (L{RoomReader}) and the
    heartbeat that keeps the node in the cluster (L{Heartbeat}) are parts
    of their own.
    """

    log = Logger()
    name = "chat"

    def __init__(self, clock: interfaces.IReactorTime, address: RedisAddress, advertise: str,
                 ttl: float = 10.0, replay: int = 50, keep: int = 10000,
                 prefix: str = "chat:", node_id: str | None = None,
                 advertise_from: Callable[[], str] = lambda: "") -> None:
        self.clock = clock
        self.address = address
        self.advertise = advertise
        self.ttl = ttl
        self.replay = replay
        self.keep = keep
        #: The cluster keeps its history in Redis.
        self.keeps_history = True
        self.prefix = prefix
        self.node_id = node_id or new_node_id()
        self.users: dict[str, User] = {}
        self.rooms: dict[str, Room] = {}  # rooms with local members (or joins on their way)
        self.cursors: dict[str, str] = {}  # stream key -> last entry id delivered
        self.numbers: dict[str, int] = {}  # room key -> number ('n') of the last entry delivered
        self.pending: dict[tuple[str, str], _PendingJoin] = {}
        self.joining: dict[str, int] = {}  # room key -> joins on their way
        # Room key -> entries read while a local join's answer is awaited: they go after it, in order.
        self.held: dict[str, list[dict[str, str]]] = {}
        # Room key -> the stream entry of the last message this node wrote there (for the barrier).
        self.written: dict[str, str] = {}
        self.registered = False
        self.running = False
        # Where the node's address comes from if none was given (its first listener).
        self.advertise_from = advertise_from
        self._ready: list[defer.Deferred[None]] | None = []
        self._soon: interfaces.IDelayedCall | None = None
        self.commands: Any = None
        self.reader: Any = None
        self._heart = task.LoopingCall(self._beat)
        self._heart.clock = clock
        self._reading: defer.Deferred[None] | None = None
        self._check_gaps = False
        self.inbox = f"{prefix}inbox:{self.node_id}"
        #: The whole cluster's accounts, in Redis.
        self.account_store = RedisAccountStore(self._run)

    # -- life ----------------------------------------------------------------

    def _connect(self, reply_timeout: float | None) -> Any:
        a = self.address
        handler = txredisapi.lazyConnection(
            a.host, a.port, dbid=a.db, password=a.password, reconnect=True, charset="utf-8",
            convertNumbers=False, replyTimeout=reply_timeout,
        )
        # Come back quickly after Redis restarts: the others take a node
        # that stays away for its time to live for dead.
        redis_reconnect_delays(handler, 0.2, max(0.5, self.ttl / 4))
        return handler

    def startService(self) -> None:
        super().startService()
        if not self.advertise:
            self.advertise = self.advertise_from()
        self.start()

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        return defer.Deferred.fromCoroutine(self.stop())

    def when_ready(self) -> defer.Deferred[None]:
        """Fires once the node has joined the cluster: until then it can serve nobody."""
        if self._ready is None:
            return defer.succeed(None)
        d: defer.Deferred[None] = defer.Deferred()
        self._ready.append(d)
        return d

    def start(self) -> None:
        self.running = True
        self.commands = self._connect(reply_timeout=max(5.0, self.ttl))
        self.reader = self._connect(reply_timeout=None)
        self.cursors[self.inbox] = "$"
        self._heart.start(self.ttl / 4, now=True)
        self._reading = defer.Deferred.fromCoroutine(self._read_loop())
        self._reading.addErrback(lambda f: self.log.failure("the cluster reader stopped", f))

    def _run(self, script: str, *args: object) -> defer.Deferred[Any]:
        """Run one script; refused at once while Redis is out of reach."""
        if not self.connected or not self.registered:
            return defer.fail(ClusterUnavailable())
        return self.commands.eval(script, [], [self.prefix, *args])

    async def stop(self) -> None:
        """Leave the cluster cleanly (the node's users have quit already)."""
        self.running = False
        if self._heart.running:
            self._heart.stop()
        if self.connected and self.registered:
            try:
                await self.commands.eval(scripts.UNREGISTER, [], [self.prefix, self.node_id, UNREGISTERED])
            except Exception as e:  # noqa: BLE001
                self.log.warn("could not leave the cluster cleanly: {e}", e=e)
        self.registered = False
        for conn in (self.reader, self.commands):
            if conn is not None:
                try:
                    await conn.disconnect()
                except Exception:  # noqa: BLE001, S110 - already gone
                    pass

    def barrier(self) -> defer.Deferred[Any]:
        """
        Fires once everything accepted so far is relayed: every command sent
        before it answered (a PING behind them on the one connection), then
        this node's reader past every message this node wrote (a PING alone
        let the goodbyes of a shutdown overtake messages still in a stream).
        Bounded by L{BARRIER_TIMEOUT}.
        """
        if not self.connected:
            return defer.succeed(None)
        return defer.Deferred.fromCoroutine(self._barrier())

    async def _barrier(self) -> None:
        try:
            await self.commands.ping()
        except Exception:  # noqa: BLE001 - Redis went away: nothing more will be relayed
            return
        targets = {f"{self.prefix}room:{key}": _stream_key(entry) for key, entry in self.written.items()}
        deadline = self.clock.seconds() + BARRIER_TIMEOUT
        while self.running and self.clock.seconds() < deadline:
            behind = [key for key, target in targets.items()
                      if key in self.cursors and self.cursors[key] != "$" and _stream_key(self.cursors[key]) < target]
            if not behind:
                return
            await task.deferLater(self.clock, 0.005, lambda: None)

    # -- what the chat service asks ---------------------------------------------

    def _answer(self, work: Coroutine[Any, Any, _T] | defer.Deferred[_T],
                lost: str | None = None) -> defer.Deferred[_T]:
        """
        A request's answer, as the service promises it: its result, or a
        L{ChatError}; Redis failing on the way is C{cluster-unavailable}.
        """
        d = defer.Deferred.fromCoroutine(work) if not isinstance(work, defer.Deferred) else work

        def failed(f: Any) -> Any:
            if f.check(ChatError, RoomCreationRefused):
                return f
            self.log.failure("a cluster request failed", f)
            raise ClusterUnavailable(*(lost,) if lost else ())

        return d.addErrback(failed)

    def logon(self, nick: str, client: IClient, account: str | None = None) -> defer.Deferred[User]:
        return self._answer(self._logon(nick, client, account))

    async def _logon(self, nick: str, client: IClient, account: str | None) -> User:
        nick, key = check_logon(self.users, nick)
        taken = await self._run(scripts.LOGON, self.node_id, key, nick, "\t".join(sorted(look_keys(nick))),
                                account or "", client.realname)
        if taken == -1:
            raise ClusterUnavailable()
        if taken == -2:
            raise ChatError("nick-in-use", f"the nickname {nick} looks too much like one in use")
        if not taken:
            raise ChatError("nick-in-use", f"the nickname {nick} is in use")
        if key in self.users:  # taken here meanwhile
            raise ChatError("nick-in-use", f"the nickname {nick} is in use")
        user = User(nick, client)
        user.account = account
        self.users[key] = user
        return user

    def rename(self, user: User, new: str, account: str | None = None) -> defer.Deferred[None]:
        return self._answer(self._rename(user, new, account))

    async def _rename(self, user: User, new: str, account: str | None) -> None:
        new, key = check_rename(self.users, user, new)
        if new == user.nick:
            return  # no change: nothing to tell
        renamed = await self._run(scripts.RENAME, self.node_id, user.key, user.nick, key, new,
                                  "\t".join(sorted(look_keys(new))), account or "", user.account or "")
        if renamed == -2:
            raise ChatError("nick-in-use", f"the nickname {new} looks too much like one in use")
        if not renamed:
            raise ChatError("nick-in-use", f"the nickname {new} is in use")
        if self.users.get(user.key) is not user:
            # The user quit while the rename was in flight: its quit went
            # out under the old name, which Redis no longer has.  Quit the
            # new one too, or it would stay taken until this node is reaped.
            await self._run(scripts.QUIT, self.node_id, key, new, "has lost the connection")
            return
        del self.users[user.key]
        for room in user.rooms.values():
            if room.members.pop(user.key, None) is not None:
                room.members[key] = user
            pending = self.pending.pop((room.key, user.key), None)
            if pending is not None:
                self.pending[(room.key, key)] = pending
        user.nick, user.key, user.account = new, key, account
        self.users[key] = user

    def announce_account(self, user: User, account: str | None) -> defer.Deferred[None]:
        user.account = account
        d = self._run(scripts.ACCOUNT, user.key, user.nick, account or "")
        return self._answer(d.addCallback(lambda _: None))

    def join(self, user: User, name: str, may_create: bool) -> defer.Deferred[bool]:
        key = fold(name)
        d = self._run(scripts.JOIN, self.node_id, user.key, user.nick, key, name, self.replay, int(may_create),
                      user.account or "", user.realname)
        room = self.rooms.get(key)
        if room is None:
            room = self.rooms[key] = Room(name)
        user.rooms[key] = room  # the client may talk to the room at once
        self.joining[key] = self.joining.get(key, 0) + 1
        pending = self.pending[(key, user.key)] = _PendingJoin(user, defer.Deferred())

        def joined(reply: list[Any] | int) -> bool:
            if not isinstance(reply, list):  # -3: a new room, and this user may not create one now
                undo()
                raise RoomCreationRefused(name)
            entry_id, room.name, pending.names, pending.history, pending.topic, created, pending.away = reply
            pending.ready.callback(None)
            if user.rooms.get(key) is room:
                self._read_room(key, entry_id)
            return bool(created)

        def undo() -> None:
            if user.rooms.get(key) is room:
                self._drop(user, room)
            pending.names, pending.history = [], []
            pending.ready.callback(None)

        def failed(f: Any) -> Any:
            undo()
            return f

        d.addCallbacks(joined, failed)
        return self._answer(d)

    def leave(self, user: User, room: Room, reason: str) -> defer.Deferred[None]:
        d = self._run(scripts.LEAVE, user.key, user.nick, room.key, reason)
        self._drop(user, room)
        # The leaver hears its own leave at once: it no longer reads the room.
        user.client.deliver(Event(Left(room.name, user.nick, reason)))
        return self._answer(d.addCallback(lambda _: None))

    def _drop(self, user: User, room: Room) -> None:
        del user.rooms[room.key]
        room.members.pop(user.key, None)
        if self.pending.pop((room.key, user.key), None) is not None:
            self.joining[room.key] -= 1
        self._forget_room_if_empty(room)

    def quit(self, user: User, why: str) -> defer.Deferred[None]:
        if self.users.get(user.key) is not user:
            return defer.succeed(None)
        for room in list(user.rooms.values()):
            self._drop(user, room)
        del self.users[user.key]
        d = self._run(scripts.QUIT, self.node_id, user.key, user.nick, why)
        d.addCallbacks(lambda _: None, lambda f: self.log.warn(
            "could not announce that {nick} left: {e}", nick=user.nick, e=f.value))
        return d

    def say(self, user: User, room: Room, text: str, color: str, action: bool, notice: bool) -> defer.Deferred[None]:
        line = Said(room.name, user.nick, text, 0, int(self.clock.seconds() * 1000), color, action, notice, False,
                    user.account)
        # Messages keep their order on the one Redis connection.
        d = self._run(scripts.SAY, room.key, _open_record(line, "id"), self.keep)

        def written(message_id: int) -> None:
            self.written[room.key] = f"{message_id}-0"  # what the barrier waits for the reader to pass

        return self._answer(d.addCallback(written), LOST_WHILE_SENDING)

    def private(self, user: User, to: str, text: str, color: str, action: bool,
                notice: bool) -> defer.Deferred[str | None]:
        line = Private(user.nick, "", text, int(self.clock.seconds() * 1000), color, action, notice, False,
                       user.account)
        d = self._run(scripts.PRIVATE, self.node_id, user.key, fold(to), _open_record(line, "to"))

        def sent(found: list[str] | None) -> str | None:
            if not found:
                raise ChatError("no-such-nick", f"nobody is called {to}")
            return found[1] or None  # the target's away message

        return self._answer(d.addCallback(sent), LOST_WHILE_SENDING)

    def members(self, name: str) -> defer.Deferred[Members]:
        return self._answer(self._members(name))

    async def _members(self, name: str) -> Members:
        key = fold(name)
        if not self.connected:
            raise ClusterUnavailable()
        room_name = await self.commands.hget(f"{self.prefix}rooms", key)
        members = await self.commands.hgetall(f"{self.prefix}members:{key}")
        if not room_name or not members:
            raise ChatError("no-such-room", f"there is no room {name}")
        folds = list(members)
        away = await self.commands.execute_command("HMGET", f"{self.prefix}away", *folds)
        return Members(room_name, tuple(sorted(members.values(), key=fold)),
                       tuple(members[f] for f, text in zip(folds, away or ()) if text))

    def room_list(self) -> defer.Deferred[tuple[str, ...]]:
        return self._answer(self._room_list())

    async def _room_list(self) -> tuple[str, ...]:
        if not self.connected:
            raise ClusterUnavailable()
        names = await self.commands.hvals(f"{self.prefix}rooms")
        return tuple(sorted(names or (), key=fold))

    def set_topic(self, user: User, room: Room, change: TopicSet) -> defer.Deferred[None]:
        kept = record_body(change.standing()).decode("utf-8") if change.text else ""
        d = self._run(scripts.TOPIC, user.key, room.key, record_body(change).decode("utf-8"), kept)

        def done(ok: int) -> None:
            if not ok:
                raise ChatError("not-in-room", f"you are not in {room.name}")

        return self._answer(d.addCallback(done))

    def topic(self, name: str) -> defer.Deferred[TopicIs]:
        return self._answer(self._topic(name))

    async def _topic(self, name: str) -> TopicIs:
        if not self.connected:
            raise ClusterUnavailable()
        kept = await self.commands.hget(f"{self.prefix}topics", fold(name))
        topic = from_record(kept) if kept else None
        if isinstance(topic, TopicIs):
            return topic
        shown = await self.commands.hget(f"{self.prefix}rooms", fold(name))
        return TopicIs(shown or name)

    def set_away(self, user: User, text: str) -> defer.Deferred[None]:
        d = self._run(scripts.AWAY, self.node_id, user.key, text)
        return self._answer(d.addCallback(lambda _: None))

    def online(self, nicks: Sequence[str]) -> defer.Deferred[tuple[Presence, ...]]:
        return self._answer(self._online(list(nicks)))

    async def _online(self, nicks: list[str]) -> tuple[Presence, ...]:
        if not nicks:
            return ()
        if not self.connected:
            raise ClusterUnavailable()
        keys = [fold(n) for n in nicks]
        holders = await self.commands.execute_command("HMGET", f"{self.prefix}nicks", *keys)
        found = [(key, h.partition("\t")[2]) for key, h in zip(keys, holders or ()) if h]
        if not found:
            return ()
        known = [key for key, _ in found]
        away = await self.commands.execute_command("HMGET", f"{self.prefix}away", *known)
        accounts = await self.commands.execute_command("HMGET", f"{self.prefix}accountof", *known)
        realnames = await self.commands.execute_command("HMGET", f"{self.prefix}realnameof", *known)
        return tuple(Presence(nick, text or None, account or None, realname or "")
                     for (_, nick), text, account, realname in zip(found, away or (), accounts or (), realnames or ()))

    def page(self, room: Room, before: int | None, after: int | None,
             limit: int) -> defer.Deferred[tuple[Sequence[What], bool]]:
        return self._answer(self._page(room, before, after, limit))

    async def _page(self, room: Room, before: int | None, after: int | None, limit: int) -> tuple[list[What], bool]:
        """The same pages as the one-process ledger's, from the room's history stream."""
        if not self.connected:
            raise ClusterUnavailable()
        stream = f"{self.prefix}history:{room.key}"
        if after is not None:
            entries = await self.commands.execute_command("XRANGE", stream, f"({after}-0", "+", "COUNT", limit + 1)
        else:
            top = f"({before}-0" if before is not None else "+"
            entries = await self.commands.execute_command("XREVRANGE", stream, top, "-", "COUNT", limit + 1)
        entries = list(entries or ())
        more = len(entries) > limit
        entries = entries[:limit]
        if after is None:
            entries.reverse()
        lines = (_what_of(_fields(flat)["m"], history=True) for _, flat in entries)
        return [line for line in lines if line is not None], more

