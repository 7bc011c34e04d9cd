"""
The node's reader: one blocking XREAD for every room with local members (and
the node's inbox of private lines), each entry delivered to the room's local
members in the stream's order, a joiner's members and replay in their place,
and entries lost to trimming or to a Redis restart said, not skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twisted.internet import defer, task
from twisted.logger import Logger

from chat.cluster.base import NodeBase
from chat.core.events import AwayChanged, Event, MemberList, ReplayEnd, RoomNotice, What, from_record
from chat.message import ProtocolError
from chat.names import fold
from chat.state import Room, User


#: Entries one XREAD returns at most.
READ_COUNT = 1000
#: Milliseconds one XREAD waits for new entries before it is asked again.
READ_BLOCK_MS = 5000


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


_log = Logger()


def _what_of(body: str, history: bool = False) -> What | None:
    """
    An entry's record, or None (logged) if this node cannot read it (a
    damaged entry, a newer release's record): that entry is skipped, and
    the room goes on, rather than the reader stopping for every room.
    """
    try:
        return from_record(body, history)
    except ProtocolError as e:
        _log.warn("an entry this node cannot read was skipped ({why}): {body}", why=e.text, body=body[:200])
        return None


def _event_of(body: str, history: bool = False) -> Event | None:
    """An entry's record, as the event its recipients get (None: unreadable, skipped)."""
    what = _what_of(body, history)
    return None if what is None else Event(what)


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
    away: list[str] | None = None
    history: list[Any] | None = None
    topic: str = ""


def _deliver(recipients: Any, event: Event | None) -> None:
    if event is None:
        return  # an entry this node could not read (logged)
    if type(event.what) is AwayChanged:  # the others are told; the user has its own answer (code 13)
        recipients = [user for user in recipients if user.nick != event.what.nick]
    for user in recipients:
        user.client.deliver(event)


class RoomReader(NodeBase):
    """The reading half of a L{chat.cluster.node.ClusterNode} (its state is the node's)."""

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
                await task.deferLater(self.clock, 0.5, lambda: None)
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
        client.deliver(Event(MemberList(room.name, names, tuple(joined.away or ()))))
        events = [_event_of(joined.topic)] if joined.topic else []
        newest = joined.history[:self.replay]  # the script read one more: are there more?
        events += [_event_of(_fields(flat)["m"], history=True) for _, flat in reversed(newest)]
        for event in events:
            if event is not None:
                client.deliver(event)
        # The end marker comes even without a replay (--history-replay 0): a client can wait for it.
        client.deliver(Event(ReplayEnd(room.name, len(joined.history) > self.replay)))

    def _private_entry(self, fields: dict[str, str]) -> None:
        if "m" not in fields:
            return  # a wake-up
        event = _event_of(fields["m"])
        if event is None:
            return
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
