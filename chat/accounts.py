"""
Registered nicknames through twisted.cred: a registered nickname is taken
only with its password; others stay free unless accounts are required.
Checkers come from twistd's C{--auth} convention (twisted.cred.strcred),
e.g. C{--auth file:passwords.txt} with lines C{nick:password}.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import UsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet import defer, task
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from chat.names import ChatError, fold

#: Seconds before a wrong password is answered: makes guessing costly.
WRONG_PASSWORD_DELAY = 2.0


def _known_names(checker: ICredentialsChecker) -> Iterable[bytes] | None:
    """The user names a checker holds, when it can list them (file:, memory:)."""
    load = getattr(checker, "_loadCredentials", None)
    if load is not None:
        try:
            return [user for user, _ in load()]
        except (OSError, UnauthorizedLogin):  # FilePasswordDB: a missing or unreadable file
            return []
    users = getattr(checker, "users", None)
    if isinstance(users, dict):
        return list(users)
    return None


class Accounts:
    log = Logger()

    def __init__(self, checkers: Sequence[ICredentialsChecker], clock: IReactorTime,
                 required: bool = False, delay: float = WRONG_PASSWORD_DELAY) -> None:
        self.checkers = list(checkers)
        self.clock = clock
        self.required = required
        self.delay = delay

    @property
    def active(self) -> bool:
        return bool(self.checkers) or self.required

    def registered_name(self, nick: str) -> bytes | None:
        """
        The account name for C{nick}, matched case-insensitively as
        nicknames are, or None.  A checker that cannot list its users is
        taken to guard every nickname.
        """
        key = fold(nick)
        for checker in self.checkers:
            names = _known_names(checker)
            if names is None:
                return nick.encode("utf-8")
            for name in names:
                text = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
                if fold(text) == key:
                    return name if isinstance(name, bytes) else text.encode("utf-8")
        return None

    async def check(self, nick: str, password: str | None) -> None:
        """Raise L{ChatError} unless C{nick} may be used with C{password}."""
        name = self.registered_name(nick)
        if name is None:
            if self.required:
                raise ChatError("account-required", "this server only accepts registered nicknames")
            return
        if not password:
            raise ChatError("password-required", f"the nickname {nick} is registered: send its password")
        credentials = UsernamePassword(name, password.encode("utf-8"))
        for checker in self.checkers:
            try:
                await defer.maybeDeferred(checker.requestAvatarId, credentials)
                return
            except UnauthorizedLogin:
                continue
        self.log.info("wrong password for {nick}", nick=nick)
        await task.deferLater(self.clock, self.delay, lambda: None)
        raise ChatError("bad-password", f"wrong password for {nick}")
