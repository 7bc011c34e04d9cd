"""
The one-process ledger: the chat state in memory (L{chat.state}) and its
history in SQLite (L{chat.history}), every line stored before it is
relayed, and each join's history replay in its place in the joiner's order.
L{local_chat} puts the chat service in front of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from twisted.application import service
from twisted.internet import defer, task
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from chat.core.accountbook import IAccountStore
from chat.accounts import Accounts
from chat.core.events import Event, Private, Problem, ReplayEnd, Said, TopicIs, TopicSet, What, from_record, record_body
from chat.core.ledger import ILedger
from chat.core.service import ChatService, answered
from chat.history import MAX_PAGE, GroupCommit, History, Immediately, NoHistory
from chat.message import Code
from chat.names import ChatError, fold
from chat.service import SERVER_ERROR, IClient, Members, Presence
from chat.state import MAX_NEW_ROOMS, MAX_ROOMS_PER_USER, ChatState, Delivery, Room, User

NOT_STORED = "the server could not store this message, so it was not delivered; try again later"


def fan_out(deliveries: list[Delivery]) -> None:
    """Each message one event, encoded once, given to every recipient."""
    for recipients, what in deliveries:
        deliver(recipients, Event(what))


def deliver(recipients: Iterable[User], event: Event) -> None:
    """The per-recipient loop of every broadcast: one append each."""
    for user in recipients:
        user.client.deliver(event)


@implementer(ILedger)
class LocalLedger(service.Service):
    """
    The chat of one process.  With a store (C{data_dir}, or a C{store}
    given by a test), lines are group-committed before they are relayed
    (L{GroupCommit}); joins, leaves and renames keep their place after the
    lines still being stored.  Without one, the store keeps nothing and
    everything is relayed at once (L{NoHistory}, L{Immediately}).
    """

    log = Logger()
    name = "ledger"

    def __init__(self, clock: IReactorTime, data_dir: Path | None = None, store: History | None = None,
                 replay: int = 50, keep: int = 0, days: float = 0.0, private_days: float = 0.0,
                 room_days: float = 0.0, prune_every: float = 0.0) -> None:
        self.clock = clock
        self.data_dir = data_dir
        self.replay = replay
        self.keep, self.days, self.private_days = keep, days, private_days
        #: Days an empty room's topic is kept (0: as long as its history).
        self.room_days = room_days
        #: Seconds between prunings (L{prune}) while the ledger runs, the first at start (0: none).
        self.prune_every = prune_every
        self._pruning: task.LoopingCall | None = None
        self.keeps_history = data_dir is not None or store is not None
        self.state = ChatState(clock.seconds, remember_empty=self.keeps_history)
        self.store: History | NoHistory = NoHistory()
        self.commit: GroupCommit | Immediately = Immediately()
        if store is not None:
            self._use(store)

    def _use(self, store: History) -> None:
        self.store = store
        self.commit = GroupCommit(store, self.clock)
        self.state.continue_ids(store.last_ids)
        now = self.clock.seconds()
        for key, body in store.topics.items():
            topic = from_record(body)
            if isinstance(topic, TopicIs):
                self.state.topics[key] = topic
                self.state.emptied_at[key] = now  # every room is empty at start

    @property
    def account_store(self) -> IAccountStore:
        """Accounts: in the database beside the history once it is open; without one, in memory."""
        return self.store.accounts

    # -- life ------------------------------------------------------------------

    def _open_store(self) -> None:
        if self.data_dir is not None and isinstance(self.store, NoHistory):
            store = History(self.data_dir)
            self._use(store)
            self.log.info("history in {path}", path=str(store.path))

    def startService(self) -> None:
        # Here, as the user twistd runs the server as (--uid), who must own
        # the files; the options were checked before (chat.history.check_store).
        self._open_store()
        super().startService()
        if self.keeps_history and self.prune_every:
            self._pruning = task.LoopingCall(self.prune)
            self._pruning.clock = self.clock
            self._pruning.start(self.prune_every, now=True)

    def when_ready(self) -> defer.Deferred[None]:
        return defer.succeed(None)

    async def _stop(self) -> None:
        # What was accepted while the goodbyes went out is stored too.
        await self.commit.flushed()
        self.store.close()

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        if self._pruning is not None and self._pruning.running:
            self._pruning.stop()
        return defer.Deferred.fromCoroutine(self._stop())

    def _stopping(self) -> bool:
        """Whether the server this ledger's chat service is part of is stopping (or not started)."""
        root = self.parent
        if root is None or root.parent is None:
            return False  # a chat service on its own (tests): never stopping
        while root.parent is not None:
            root = root.parent
        return not root.running

    def prune(self) -> defer.Deferred[None]:
        """
        Retention (--history-keep, --history-days, --private-days), in the
        database thread; then empty rooms whose history is gone, or that
        have been empty longer than --room-days, are forgotten.
        """
        store = self.store
        now = self.clock.seconds()

        async def prune() -> None:
            if self.keep or self.days or self.private_days:
                cutoff = int((now - self.days * 86400) * 1000) if self.days else None
                private_cutoff = int((now - self.private_days * 86400) * 1000) if self.private_days else None
                n = await store.prune(self.keep, cutoff, private_cutoff)
                if n:
                    self.log.info("pruned {n} old messages", n=n)
            gone = await store.rooms_without_history()
            emptied_before = now - self.room_days * 86400 if self.room_days else None
            dropped = self.state.forget_empty_rooms(gone, emptied_before)
            if dropped:
                await store.forget_topics(dropped)
                self.log.info("forgot {n} empty rooms", n=len(dropped))

        d = defer.Deferred.fromCoroutine(prune())
        d.addErrback(lambda f: self.log.failure("pruning the history", f))
        return d

    # -- ordering ----------------------------------------------------------------

    def _announce(self, deliveries: list[Delivery]) -> None:
        """
        Relay joins, leaves and renames in their place in the order: after
        the lines accepted before them, which may still be being stored.
        (Rooms a leave or a quit emptied and forgot lose their stored topic.)
        """
        forgotten = self.state.forgotten
        if forgotten:
            self.state.forgotten = []
            d = self.store.forget_topics(forgotten)
            d.addErrback(lambda f: self.log.failure("forgetting the topics of empty rooms", f))
        self.commit.then(lambda: fan_out(deliveries))

    def _relay(self, recipients: Iterable[User], line: Said | Private) -> defer.Deferred[None]:
        """
        An accepted line: relayed at once, or, with history on, once it is
        stored, to the members it had when it was accepted.
        """
        event = Event(line)
        members = tuple(recipients)
        d: defer.Deferred[None] = defer.Deferred()

        def relay() -> None:
            deliver(members, event)
            d.callback(None)

        self.commit.accept(line, relay, lambda: d.errback(ChatError("server-error", NOT_STORED)))
        return d

    def barrier(self) -> defer.Deferred[None]:
        return self.commit.flushed()

    # -- what the chat service asks ------------------------------------------------

    @answered
    def logon(self, nick: str, client: IClient, account: str | None = None) -> User:
        return self.state.logon(nick, client, account)

    @answered
    def rename(self, user: User, nick: str, account: str | None = None) -> None:
        self._announce(self.state.rename(user, nick, account))

    @answered
    def announce_account(self, user: User, account: str | None) -> None:
        self._announce(self.state.account_changed(user, account))

    @answered
    def join(self, user: User, name: str, may_create: bool) -> defer.Deferred[bool] | bool:
        deliveries, created = self.state.join(user, name, may_create)
        room = user.rooms[fold(name)]
        commit, store = self.commit, self.store
        if not (self.keeps_history and self.replay):
            # No replay, but its end marker all the same: a client can wait for it.
            more = self.keeps_history and room.last_id > 0  # with --history-replay 0, what is kept
            self._announce([*deliveries, ((user,), ReplayEnd(room.name, more))])
            return created
        # The replay is the room's lines up to the join (none of which is
        # relayed to the joiner), read once they are all stored.  It goes
        # right after the join and the member list; what the room says
        # meanwhile waits behind it.
        upto = room.last_id
        done: defer.Deferred[bool] = defer.Deferred()

        def announced() -> None:
            fan_out(deliveries)
            fill = user.client.reserve()
            d = commit.flushed()
            d.addCallback(lambda _: store.page(room.name, before=upto + 1, limit=min(self.replay, MAX_PAGE)))

            def replayed(page: tuple[list[What], bool]) -> None:
                lines, more = page
                fill([*(Event(line) for line in lines), Event(ReplayEnd(room.name, more))])

            def failed(f: Any) -> None:
                self.log.failure("reading the history of {room} for a join", f, room=room.name)
                fill([Event(Problem("server-error", SERVER_ERROR, Code.HISTORY)),
                      Event(ReplayEnd(room.name))])  # the marker comes in every case

            d.addCallbacks(replayed, failed)
            d.addBoth(lambda _: done.callback(created))

        commit.then(announced)
        return done

    @answered
    def leave(self, user: User, room: Room, reason: str) -> None:
        self._announce(self.state.leave(user, room, reason))

    @answered
    def quit(self, user: User, why: str) -> None:
        # While the whole server stops, every client is being told goodbye:
        # announcing each quit to all the others would cost n squared.
        self._announce(self.state.quit(user, why, announce=not self._stopping()))

    def say(self, user: User, room: Room, text: str, color: str, action: bool, notice: bool) -> defer.Deferred[None]:
        # The hot path: nothing here raises (the service checked the line), so no wrapper.
        return self._relay(*self.state.say(user, room, text, color, action, notice))

    @answered
    def private(self, user: User, to: str, text: str, color: str, action: bool,
                notice: bool) -> defer.Deferred[str | None]:
        recipients, line = self.state.private(user, to, text, color, action, notice)
        away = recipients[0].away  # the target comes first
        return self._relay(recipients, line).addCallback(lambda _: away)

    @answered
    def set_away(self, user: User, text: str) -> None:
        self._announce(self.state.away_changed(user, text))

    @answered
    def members(self, room: str) -> Members:
        return self.state.members(room)

    @answered
    def room_list(self) -> tuple[str, ...]:
        return self.state.room_list()

    @answered
    def set_topic(self, user: User, room: Room, change: TopicSet) -> defer.Deferred[None] | None:
        delivery = [self.state.set_topic(room, change)]
        body = record_body(change.standing()).decode("utf-8") if change.text else None
        d = self.store.save_topic(room.key, body)  # stored before anyone is told
        return d.addCallback(lambda _: self._announce(delivery))

    @answered
    def topic(self, room: str) -> TopicIs:
        return self.state.topic(room)

    @answered
    def online(self, nicks: Sequence[str]) -> tuple[Presence, ...]:
        found = (self.state.find_user(nick) for nick in nicks)
        return tuple(Presence(user.nick, user.away, user.account, user.realname) for user in found if user is not None)

    @answered
    def page(self, room: Room, before: int | None, after: int | None,
             limit: int) -> defer.Deferred[tuple[Sequence[What], bool]]:
        return self.store.page(room.name, before=before, after=after, limit=limit)


def local_chat(clock: IReactorTime, data_dir: Path | None = None, store: History | None = None,
               accounts: Accounts | None = None, max_rooms_per_user: int = MAX_ROOMS_PER_USER,
               max_new_rooms: int = MAX_NEW_ROOMS, **options: Any) -> ChatService:
    """The chat of one process: the chat service in front of a L{LocalLedger} (C{options} are its)."""
    return ChatService(LocalLedger(clock, data_dir, store, **options), clock, accounts, max_rooms_per_user,
                       max_new_rooms)
