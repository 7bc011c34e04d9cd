"""
The chat service: the one L{IChatService}, whichever the backend.  Every rule
of the chat that does not depend on what a backend holds lives here, once:
names, texts and colours checked, the accounts check of every logon and
rename, membership and room limits, room creations rationed, pages bounded,
the events a request makes (topics, pages), and the contract every request
keeps (a Deferred that fires with its result or fails with L{ChatError}).
What depends on what is held (who is on, who is in a room, the ids, the
history) is its ledger's (L{chat.core.ledger}).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar, cast

from twisted.application import service
from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from chat.accounts import Accounts
from chat.core.events import Event, TopicSet
from chat.core.ledger import ILedger, RoomCreationRefused
from chat.names import ChatError, check_away, check_room, check_topic, fold, reason_text
from chat.service import MAX_LOOKUP, IChatService, IClient, IUser, Members, Page, Presence
from chat.state import (MAX_NEW_ROOMS, MAX_ROOMS_PER_USER, RoomCreations, User, check_join, check_page,
                        check_private, check_say, leave_reason, member_room)

_T = TypeVar("_T")


def answered(method: Callable[..., Any]) -> Callable[..., defer.Deferred[Any]]:
    """
    Give a request the service's contract (and a ledger's answer the
    ledger's): a Deferred, fired or failed, whatever the method returned,
    raised, or awaited.
    """

    @functools.wraps(method)
    def request(*args: Any) -> defer.Deferred[Any]:
        try:
            result = method(*args)
        except Exception:
            return defer.fail()
        if isinstance(result, defer.Deferred):
            return result
        if isinstance(result, Coroutine):
            return defer.Deferred.fromCoroutine(result)
        return defer.succeed(result)

    return request


@implementer(IChatService)
class ChatService(service.MultiService):
    """
    The chat, in front of its C{ledger} (a child service: it opens its
    store or its connections when the service starts, and closes them when
    it stops).
    """

    log = Logger()
    name = "chat"

    def __init__(self, ledger: ILedger, clock: IReactorTime, accounts: Accounts | None = None,
                 max_rooms_per_user: int = MAX_ROOMS_PER_USER, max_new_rooms: int = MAX_NEW_ROOMS) -> None:
        super().__init__()
        self.ledger = ledger
        self.clock = clock
        #: The registered nicknames every logon and rename is checked against (None: none are).
        self.accounts = accounts
        self.max_rooms_per_user = max_rooms_per_user
        self.creations = RoomCreations(max_new_rooms)
        if isinstance(ledger, service.Service):
            ledger.setServiceParent(self)

    @property
    def replay(self) -> int:
        """Lines of a room's history a join replays (--history-replay), carried out by the ledger."""
        return self.ledger.replay

    @replay.setter
    def replay(self, lines: int) -> None:
        self.ledger.replay = lines

    def _now_ms(self) -> int:
        return int(self.clock.seconds() * 1000)

    # -- life ------------------------------------------------------------------

    def when_ready(self) -> defer.Deferred[None]:
        return self.ledger.when_ready()

    def barrier(self) -> defer.Deferred[None]:
        return self.ledger.barrier()

    # -- nicknames -------------------------------------------------------------

    async def _accounts_do(self, work: Coroutine[Any, Any, _T], what: str) -> _T:
        """Run an accounts request; a failure of the store is the documented C{accounts-unavailable}."""
        try:
            return await work
        except ChatError:
            raise
        except Exception as e:
            self.log.failure("accounts: {what}", what=what)
            raise ChatError("accounts-unavailable", "accounts cannot be checked now; try again later") from e

    async def _check_account(self, nick: str, password: str | None, client: IClient,
                             proved: str | None = None) -> str | None:
        """
        A registered nickname (however cased or disguised) only with its
        password, unless it is the account the user has C{proved} already;
        with accounts required, only those.  The account the user is logged
        in to with C{nick}: the one it proves, or C{proved} kept with a
        nickname nobody registered.
        """
        accounts = self.accounts
        if accounts is None or not accounts.active:
            return None
        host = client.host
        if proved is not None:
            owner = await self._accounts_do(accounts.registered(nick), f"finding {nick}")
            if owner is None and not accounts.required:
                return proved
            if owner is not None and fold(owner) == fold(proved):
                return proved
        return await self._accounts_do(accounts.check(nick, password, host), f"checking the password of {nick}")

    @answered
    async def logon(self, nick: str, client: IClient, password: str | None = None,
                    account: str | None = None) -> IUser:
        account = await self._check_account(nick, password, client, account)
        return await self.ledger.logon(nick, client, account)

    @answered
    async def rename(self, user: User, nick: str, password: str | None = None) -> None:
        account = await self._check_account(nick, password, user.client, user.account)
        await self.ledger.rename(user, nick, account)

    def _own_accounts(self) -> Accounts:
        if self.accounts is None or self.accounts.store() is None:
            raise ChatError("registration-closed", "this server keeps no accounts of its own")
        return self.accounts

    @answered
    async def register(self, user: User, password: str) -> str:
        accounts = self._own_accounts()
        if user.account is not None:
            raise ChatError("already-registered", f"you are logged in to the account {user.account} already")
        name = await self._accounts_do(accounts.register(user.nick, password, user.client.host),
                                       f"registering {user.nick}")
        await self.ledger.announce_account(user, name)
        return name

    def _account_of(self, user: User) -> str:
        if user.account is None:
            raise ChatError("not-registered", "your nickname has no account: register it first")
        return user.account

    @answered
    async def change_password(self, user: User, current: str, new: str) -> None:
        accounts, name = self._own_accounts(), self._account_of(user)
        await self._accounts_do(accounts.change_password(name, current, new, user.client.host),
                                f"changing the password of {name}")

    @answered
    async def drop_account(self, user: User, password: str) -> None:
        accounts, name = self._own_accounts(), self._account_of(user)
        await self._accounts_do(accounts.drop(name, password, user.client.host), f"dropping {name}")
        await self.ledger.announce_account(user, None)

    @answered
    def set_away(self, user: User, text: str) -> defer.Deferred[None]:
        return self.ledger.set_away(user, check_away(text))

    @answered
    def online(self, nicks: Sequence[str]) -> defer.Deferred[tuple[Presence, ...]]:
        return self.ledger.online(list(nicks[:MAX_LOOKUP]))

    # -- rooms -----------------------------------------------------------------

    @answered
    def join(self, user: User, name: str) -> defer.Deferred[None]:
        name, _ = check_join(user, name, self.max_rooms_per_user)
        # Counted at once, and given back unless the join created the room: joins sent together
        # (an IRC JOIN of ten channels) cannot all pass before any is counted.
        now = self.clock.seconds()
        may_create = self.creations.allowed(user, now)
        if may_create:
            self.creations.count(user, now)

        def joined(created: bool) -> None:
            if may_create and not created:
                self.creations.refund(user, self.clock.seconds())

        def failed(f: Any) -> Any:
            if may_create:
                self.creations.refund(user, self.clock.seconds())
            if f.check(RoomCreationRefused):
                self.creations.check(user, self.clock.seconds())  # says how long to wait
                raise ChatError("try-later", "you may not create more rooms now; join one that exists")
            return f

        return self.ledger.join(user, name, may_create).addCallbacks(joined, failed)

    @answered
    def leave(self, user: User, name: str, reason: str = "") -> defer.Deferred[None]:
        return self.ledger.leave(user, member_room(user, name), leave_reason(reason))

    @answered
    def quit(self, user: User, why: str) -> defer.Deferred[None]:
        return self.ledger.quit(user, reason_text(why))

    @answered
    def members(self, name: str) -> defer.Deferred[Members]:
        return self.ledger.members(check_room(name))

    @answered
    def room_list(self) -> defer.Deferred[tuple[str, ...]]:
        return self.ledger.room_list()

    @answered
    def set_topic(self, user: User, name: str, text: str) -> defer.Deferred[None]:
        room = member_room(user, name)
        return self.ledger.set_topic(user, room, TopicSet(room.name, user.nick, check_topic(text), self._now_ms()))

    @answered
    def topic(self, name: str) -> defer.Deferred[Event]:
        return self.ledger.topic(check_room(name)).addCallback(Event)

    # -- lines -----------------------------------------------------------------

    def say(self, user: IUser, name: str, text: str, color: str | None, action: bool,
            notice: bool = False) -> defer.Deferred[None]:
        # The hot path: the contract of L{answered}, written out (a frame fewer per line).
        # Every IUser this service is given is one of its ledger's Users.
        try:
            room, checked_color, checked_text = check_say(cast(User, user), name, text, color)
            return self.ledger.say(cast(User, user), room, checked_text, checked_color, action, notice)
        except Exception:
            return defer.fail()

    @answered
    def private(self, user: User, to: str, text: str, color: str | None, action: bool,
                notice: bool = False) -> defer.Deferred[str | None]:
        color, text = check_private(text, color)
        return self.ledger.private(user, to, text, color, action, notice)

    @answered
    def history(self, user: User, name: str, before: int | None, after: int | None,
                limit: int) -> defer.Deferred[Page]:
        room = member_room(user, name)
        if not self.ledger.keeps_history:
            raise ChatError("no-history", "this server keeps no history")
        limit = check_page(before, after, limit)
        d = self.ledger.page(room, before, after, limit)
        return d.addCallback(lambda page: Page(room.name, tuple(Event(line) for line in page[0]), page[1]))
