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
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
import txredisapi  # type: ignore[import-untyped]
from twisted.application import service
from twisted.internet import defer, interfaces, task
from twisted.logger import Logger
from zope.interface import implementer

from chat.cluster import scripts
from chat.cluster.address import RedisAddress
from chat.core.events import (Event, Left, MemberList, Private, ReplayEnd, RoomNotice, Said, TopicIs, TopicSet,
                              What, from_record, record, record_body)
from chat.history import from_body
from chat.lookalike import look_keys
from chat.names import ChatError, fold
from chat.core.ledger import ILedger
from chat.service import IClient, Members, Presence
from chat.state import Room, RoomCreationRefused, User, check_logon, check_rename

_T = TypeVar("_T")

#: Seconds the barrier waits at most for this node's reader to pass what it wrote.
BARRIER_TIMEOUT = 5.0

#: Entries one XREAD returns at most.
READ_COUNT = 1000
#: Milliseconds one XREAD waits for new entries before it is asked again.
READ_BLOCK_MS = 5000


def new_node_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def _stream_before(entry_id: str) -> str:
    """The stream id just before C{entry_id}: an XREAD from it starts at that entry."""
    ms, seq = (int(x) for x in entry_id.split("-"))
    if seq:
        return f"{ms}-{seq - 1}"
    return f"{ms - 1}-{2**64 - 1}" if ms else "0-0"


def _stream_key(entry_id: str) -> tuple[int, int]:
    ms, seq = entry_id.split("-")
    return int(ms), int(seq)


def _fields(flat: list[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2]))


def _event_of(body: str) -> Event:
    """An entry's record, as the event its recipients get."""
    return Event(from_record(body))


def _open_record(what: Said | Private, last: str) -> str:
    """C{what}'s record without its field C{last} and its closing brace: the script adds them."""
    fields = record(what)
    del fields[last]
    return orjson.dumps(fields).decode("utf-8")[:-1]


#: What rooms are told of the users of a node that stopped answering, or that stopped cleanly.
REAPED = "has lost the connection (its server stopped answering)"
UNREGISTERED = "left: its server stopped"


class ClusterUnavailable(ChatError):
    def __init__(self, text: str = "the server cannot reach the rest of the chat now; try again soon") -> None:
        super().__init__("cluster-unavailable", text)


#: Said to a sender when Redis failed while its line was on the way.
LOST_WHILE_SENDING = "the server lost the rest of the chat while sending this; it may not have been delivered"
#: Said to every client of a node the cluster took for dead.
REMOVED = "this server lost contact with the rest of the chat for too long; connect again"


@dataclass
class _PendingJoin:
    """
    A local join between its request and its entry in the room's stream.  The
    script's answer (members, history) and the entry come on two Redis
    connections, in either order; the joiner gets them in the order join,
    members, history, then the room.
    """

    user: User
    ready: defer.Deferred[None]
    names: list[str] | None = None
    history: list[Any] | None = None
    topic: str = ""


@implementer(ILedger)
class ClusterNode(service.Service):
    """
    The cluster's ledger: this node's side of a chat shared through Redis.
    Its clients' membership, the Redis scripts that change the shared
    state, the reader that delivers, the heartbeat that keeps the node
    alive and reaps dead ones.
    """

    log = Logger()
    name = "chat"

    def __init__(self, clock: interfaces.IReactorTime, address: RedisAddress, advertise: str,
                 ttl: float = 10.0, replay: int = 50, keep: int = 10000,
                 prefix: str = "chat:", node_id: str | None = None) -> None:
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
        self.advertise_from: Callable[[], str] = lambda: ""
        self._ready: list[defer.Deferred[None]] | None = []
        self._soon: interfaces.IDelayedCall | None = None
        self.commands: Any = None
        self.reader: Any = None
        self._heart = task.LoopingCall(self._beat)
        self._heart.clock = clock  # type: ignore[assignment]
        self._reading: defer.Deferred[None] | None = None
        self._check_gaps = False
        self.inbox = f"{prefix}inbox:{self.node_id}"

    # -- life ----------------------------------------------------------------

    def _connect(self, reply_timeout: float | None) -> Any:
        a = self.address
        handler = txredisapi.lazyConnection(
            a.host, a.port, dbid=a.db, password=a.password, reconnect=True, charset="utf-8",
            convertNumbers=False, replyTimeout=reply_timeout,
        )
        # Come back quickly after Redis restarts: the others take a node
        # that stays away for its time to live for dead.
        handler._factory.initialDelay = 0.2
        handler._factory.maxDelay = max(0.5, self.ttl / 4)
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

    def _joined(self) -> None:
        waiting, self._ready = self._ready, None
        for d in waiting or ():
            d.callback(None)

    def start(self) -> None:
        self.running = True
        self.commands = self._connect(reply_timeout=max(5.0, self.ttl))
        self.reader = self._connect(reply_timeout=None)
        self.cursors[self.inbox] = "$"
        self._heart.start(self.ttl / 4, now=True)
        self._reading = defer.Deferred.fromCoroutine(self._read_loop())
        self._reading.addErrback(lambda f: self.log.failure("the cluster reader stopped", f))

    @property
    def connected(self) -> bool:
        return self.commands is not None and self.commands._factory.size > 0

    def _run(self, script: str, *args: object) -> defer.Deferred[Any]:
        """Run one script; refused at once while Redis is out of reach."""
        if not self.connected or not self.registered:
            return defer.fail(ClusterUnavailable())
        return self.commands.eval(script, [], [self.prefix, *args])

    async def _beat(self) -> None:
        """Heartbeat, and removal of nodes that stopped beating."""
        if not self.connected:
            if not self.registered and self.running and not (self._soon and self._soon.active()):
                # Starting: join as soon as Redis answers, not a beat later (one poll at a time).
                self._soon = self.clock.callLater(0.05, self._beat_soon)
            return
        info = self.advertise
        ttl_ms = int(self.ttl * 1000)
        try:
            if not self.registered:
                await self.commands.eval(scripts.REGISTER, [], [self.prefix, self.node_id, info, ttl_ms])
                self.registered = True
                self.log.info("joined the cluster at {url} as node {node}", url=self.address.url, node=self.node_id)
                self._joined()
            elif not await self.commands.eval(scripts.BEAT, [], [self.prefix, self.node_id, info, ttl_ms]):
                self._removed()
                return
            reaped = await self.commands.eval(scripts.REAP, [], [self.prefix, int(self.ttl * 1000), REAPED])
            for node in reaped or ():
                self.log.warn("node {node} stopped answering: its users were removed", node=node)
        except Exception as e:  # noqa: BLE001 - the next beat tries again
            self.log.warn("cluster heartbeat failed: {e}", e=e)

    def _beat_soon(self) -> None:
        if not self.registered and self.running:
            defer.ensureDeferred(self._beat())

    def _removed(self) -> None:
        """
        The cluster took this node for dead (or Redis lost its data): its
        users are gone from the shared state.  Rather than chat on with
        nicknames others may now hold, close every client with the reason;
        the node then joins again, empty.
        """
        self.log.warn("this node was removed from the cluster: closing its clients")
        self.registered = False
        gone = ClusterUnavailable(REMOVED)
        for user in list(self.users.values()):
            user.client.disconnect(gone)
        self.users.clear()
        self.rooms.clear()
        self.pending.clear()
        self.joining.clear()
        self.held.clear()
        for key in list(self.cursors):
            if key != self.inbox:
                del self.cursors[key]
        self.numbers.clear()

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
            await task.deferLater(self.clock, 0.005, lambda: None)  # type: ignore[arg-type]

    # -- the reader ----------------------------------------------------------

    def _wake(self) -> None:
        """Make the blocked XREAD return, so that it reads a new room."""
        if self.connected:
            d = self.commands.execute_command("XADD", self.inbox, "MAXLEN", "~", 1000, "*", "w", "1")
            d.addErrback(lambda _: None)

    async def _read_loop(self) -> None:
        while self.running:
            if self._check_gaps and self.registered:
                await self._gaps()
            keys = list(self.cursors)
            try:
                reply = await self.reader.execute_command(
                    "XREAD", "COUNT", READ_COUNT, "BLOCK", READ_BLOCK_MS, "STREAMS", *keys,
                    *(self.cursors[k] for k in keys))
            except Exception as e:  # noqa: BLE001 - Redis went away: read on when it is back
                if not self.running:
                    return
                self.log.warn("reading from the cluster failed ({e}); trying again", e=e)
                self._check_gaps = True
                await task.deferLater(self.clock, 0.5, lambda: None)  # type: ignore[arg-type]
                continue
            for key, entries in reply or ():
                if key not in self.cursors:
                    continue  # the room emptied meanwhile
                for entry_id, flat in entries:
                    self.cursors[key] = entry_id
                    fields = _fields(flat)
                    if key == self.inbox:
                        self._private_entry(fields)
                    else:
                        self._room_entry_in_turn(key[len(self.prefix) + 5:], fields)
                    if key not in self.cursors:
                        break

    def _room_entry_in_turn(self, room_key: str, fields: dict[str, str]) -> None:
        """
        Deliver one entry of a room, after those of the room still waiting
        for a local join's answer: only that room waits, never the others
        (the read loop once waited, stopping delivery in every room).
        """
        held = self.held.get(room_key)
        if held is not None:
            held.append(fields)
            return
        waiting = self._room_entry(room_key, fields)
        if waiting is not None:
            self.held[room_key] = []
            waiting.addBoth(lambda _: self._release(room_key))

    def _release(self, room_key: str) -> None:
        """A room's join was answered: deliver what waited behind it, in order (until another join waits)."""
        held = self.held.pop(room_key, [])
        for i, fields in enumerate(held):
            waiting = self._room_entry(room_key, fields)
            if waiting is not None:
                self.held[room_key] = held[i + 1:]
                waiting.addBoth(lambda _: self._release(room_key))
                return

    async def _gaps(self) -> None:
        """
        After a break from Redis: did a room's stream lose entries we had
        not read (trimmed, or Redis restarted without its data)?  If so, say
        so plainly to the room's local members.
        """
        self._check_gaps = False
        for key, cursor in list(self.cursors.items()):
            if cursor == "$":
                continue
            try:
                info = _fields(await self.commands.execute_command("XINFO", "STREAM", key))
            except Exception:  # noqa: BLE001 - no such stream: it was lost
                info = {}
            last = info.get("last-generated-id", "0-0")
            if _stream_key(last) < _stream_key(cursor):
                # Redis came back without the stream's entries: read on from its end.
                self.cursors[key] = last
                self.numbers.pop(key[len(self.prefix) + 5:], None)
                room = self.rooms.get(key[len(self.prefix) + 5:])
                if room is not None:
                    notice = RoomNotice(room.name, (
                        f"You may have missed messages in {room.name}: this server was cut off "
                        "from the rest of the chat for too long."))
                    _deliver(room.members.values(), Event(notice))

    def _room_entry(self, room_key: str, fields: dict[str, str]) -> defer.Deferred[None] | None:
        """Deliver one entry; a Deferred if a local join's answer must come first."""
        room = self.rooms.get(room_key)
        if room is None:
            return None
        n = int(fields.get("n", 0))
        last = self.numbers.get(room_key)
        self.numbers[room_key] = n
        if last is not None and n > last + 1:
            self._missed(room, n - last - 1)
        if "j" in fields:
            node, _, user_key = fields["j"].partition("\t")
            if node == self.node_id:
                joined = self.pending.get((room_key, user_key))
                if joined is not None and joined.names is None:
                    d: defer.Deferred[None] = defer.Deferred()
                    joined.ready.addBoth(lambda _: self._room_entry(room_key, fields)).addBoth(d.callback)
                    return d
                if joined is not None:
                    del self.pending[(room_key, user_key)]
                    self.joining[room_key] -= 1
                    room.members[joined.user.key] = joined.user
                    _deliver(room.members.values(), _event_of(fields["m"]))
                    self._welcome(room, joined)
                    return None
        _deliver(room.members.values(), _event_of(fields["m"]))
        return None

    def _missed(self, room: Room, count: int) -> None:
        """Entries were trimmed from the stream before this node read them: say so."""
        self.log.warn("{n} entries of {room} were gone before this node read them", n=count, room=room.name)
        _deliver(room.members.values(), Event(RoomNotice(room.name, (
            f"You may have missed messages in {room.name}: this server fell behind the rest of the chat."))))

    def _welcome(self, room: Room, joined: _PendingJoin) -> None:
        """The joiner's members list and history replay, right after its join."""
        assert joined.names is not None and joined.history is not None
        client = joined.user.client
        names = tuple(sorted(joined.names, key=fold))
        client.deliver(Event(MemberList(room.name, names)))
        if joined.topic:
            client.deliver(_event_of(joined.topic))
        newest = joined.history[:self.replay]  # the script read one more: are there more?
        for _, flat in reversed(newest):
            client.deliver(Event(from_body(_fields(flat)["m"])))
        # The end marker comes even without a replay (--history-replay 0): a client can wait for it.
        client.deliver(Event(ReplayEnd(room.name, len(joined.history) > self.replay)))

    def _private_entry(self, fields: dict[str, str]) -> None:
        if "m" not in fields:
            return  # a wake-up
        event = _event_of(fields["m"])
        target = self.users.get(fields["r"])
        sender = self.users.get(fields["s"])
        if target is not None:
            target.client.deliver(event)
        if sender is not None and sender is not target:
            sender.client.deliver(event)

    def _read_room(self, room_key: str, entry_id: str) -> None:
        stream = f"{self.prefix}room:{room_key}"
        if stream not in self.cursors:
            self.cursors[stream] = _stream_before(entry_id)
            self._wake()

    def _forget_room_if_empty(self, room: Room) -> None:
        if not room.members and not self.joining.get(room.key):
            self.rooms.pop(room.key, None)
            self.joining.pop(room.key, None)
            self.cursors.pop(f"{self.prefix}room:{room.key}", None)
            self.numbers.pop(room.key, None)
            self.written.pop(room.key, None)

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

    def logon(self, nick: str, client: IClient) -> defer.Deferred[User]:
        return self._answer(self._logon(nick, client))

    async def _logon(self, nick: str, client: IClient) -> User:
        nick, key = check_logon(self.users, nick)
        taken = await self._run(scripts.LOGON, self.node_id, key, nick, "\t".join(sorted(look_keys(nick))))
        if taken == -1:
            raise ClusterUnavailable()
        if taken == -2:
            raise ChatError("nick-in-use", f"the nickname {nick} looks too much like one in use")
        if not taken:
            raise ChatError("nick-in-use", f"the nickname {nick} is in use")
        if key in self.users:  # taken here meanwhile
            raise ChatError("nick-in-use", f"the nickname {nick} is in use")
        user = User(nick, client)
        self.users[key] = user
        return user

    def rename(self, user: User, new: str) -> defer.Deferred[None]:
        return self._answer(self._rename(user, new))

    async def _rename(self, user: User, new: str) -> None:
        new, key = check_rename(self.users, user, new)
        if new == user.nick:
            return  # no change: nothing to tell
        renamed = await self._run(scripts.RENAME, self.node_id, user.key, user.nick, key, new,
                                  "\t".join(sorted(look_keys(new))))
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
        user.nick, user.key = new, key
        self.users[key] = user

    def join(self, user: User, name: str, may_create: bool) -> defer.Deferred[bool]:
        key = fold(name)
        d = self._run(scripts.JOIN, self.node_id, user.key, user.nick, key, name, self.replay, int(may_create))
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
            entry_id, room.name, pending.names, pending.history, pending.topic, created = reply
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
        line = Said(room.name, user.nick, text, 0, int(self.clock.seconds() * 1000), color, action, notice)
        # Messages keep their order on the one Redis connection.
        d = self._run(scripts.SAY, room.key, _open_record(line, "id"), self.keep)

        def written(message_id: int) -> None:
            self.written[room.key] = f"{message_id}-0"  # what the barrier waits for the reader to pass

        return self._answer(d.addCallback(written), LOST_WHILE_SENDING)

    def private(self, user: User, to: str, text: str, color: str, action: bool,
                notice: bool) -> defer.Deferred[str | None]:
        line = Private(user.nick, "", text, int(self.clock.seconds() * 1000), color, action, notice)
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
        names = await self.commands.hvals(f"{self.prefix}members:{key}")
        if not room_name or not names:
            raise ChatError("no-such-room", f"there is no room {name}")
        return Members(room_name, tuple(sorted(names, key=fold)))

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
        away = await self.commands.execute_command("HMGET", f"{self.prefix}away", *(key for key, _ in found))
        return tuple(Presence(nick, text or None) for (_, nick), text in zip(found, away or ()))

    def page(self, room: Room, before: int | None, after: int | None,
             limit: int) -> defer.Deferred[tuple[list[What], bool]]:
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
        return [from_body(_fields(flat)["m"]) for _, flat in entries], more


def _deliver(recipients: Iterable[User], event: Event) -> None:
    for user in recipients:
        user.client.deliver(event)
