"""
Every way a nickname is taken (a logon) or changed (a rename), from every
front end, passes the same accounts check here, in front of the chat
service: a front end cannot forget it (an IRC C{NICK} once skipped it).
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from chat.accounts import Accounts
from chat.names import ChatError
from chat.service import IChatService, IClient, IUser


@implementer(IChatService)
class AccountGuard:
    """
    The chat service, with L{Accounts} checked before each logon and
    rename: a registered nickname (however it is cased or disguised by
    look-alike letters) only with its password, and with accounts required,
    only registered ones.  Every other request goes straight to the service.
    """

    log = Logger()

    def __init__(self, service: IChatService, accounts: Accounts | None) -> None:
        self.service = service
        self.accounts = accounts
        # Every other request goes straight to the service's own method (no lookup per message).
        for name in IChatService.names():
            if name not in ("logon", "rename"):
                setattr(self, name, getattr(service, name))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.service, name)

    async def _check(self, nick: str, password: str | None) -> None:
        accounts = self.accounts
        if accounts is None or not accounts.active:
            return
        try:
            await accounts.check(nick, password)
        except ChatError:
            raise
        except Exception as e:
            self.log.failure("checking the password of {nick}", nick=nick)
            raise ChatError("accounts-unavailable", "accounts cannot be checked now; try again later") from e

    def logon(self, nick: str, client: IClient, password: str | None = None) -> defer.Deferred[IUser]:
        async def logon() -> IUser:
            await self._check(nick, password)
            return await self.service.logon(nick, client)

        return defer.Deferred.fromCoroutine(logon())

    def rename(self, user: IUser, nick: str, password: str | None = None) -> defer.Deferred[None]:
        async def rename() -> None:
            await self._check(nick, password)
            await self.service.rename(user, nick)

        return defer.Deferred.fromCoroutine(rename())


def guarded(service: IChatService, accounts: Accounts | None) -> IChatService:
    """C{service} behind the accounts check (once)."""
    return service if isinstance(service, AccountGuard) else AccountGuard(service, accounts)
