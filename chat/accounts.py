"""
Registered nicknames through twisted.cred: a registered nickname is taken
only with its password; others stay free unless accounts are required.
Checkers come from twistd's C{--auth} convention (twisted.cred.strcred),
e.g. C{--auth file:passwords.txt} with lines C{nick:password}.
"""

from __future__ import annotations

import os
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
#: The delay doubles with each wrong password for the same account, from any
#: connection, up to this; so guessing in parallel does not go faster.
MAX_WRONG_PASSWORD_DELAY = 60.0
#: Seconds after which an account's wrong passwords are forgotten.
FAILURE_MEMORY = 900.0

# A password file's names, read again only when the file changes.
_file_names: dict[str, tuple[tuple[int, int], list[bytes]]] = {}


def _known_names(checker: ICredentialsChecker) -> Iterable[bytes] | None:
    """The user names a checker holds, when it can list them (file:, memory:)."""
    load = getattr(checker, "_loadCredentials", None)
    if load is not None:
        filename = getattr(checker, "filename", None)
        try:
            if filename is None:
                return [user for user, _ in load()]
            info = os.stat(filename)
            version = (info.st_mtime_ns, info.st_size)
            cached = _file_names.get(filename)
            if cached is None or cached[0] != version:
                cached = _file_names[filename] = (version, [user for user, _ in load()])
            return cached[1]
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
        # Per account: wrong passwords in a row, and when the last one came.
        self._failures: dict[bytes, tuple[int, float]] = {}

    def _wrong_password_delay(self, name: bytes) -> float:
        """Count a wrong password for C{name}; how long to wait before saying so."""
        now = self.clock.seconds()
        count, last = self._failures.get(name, (0, now))
        if now - last > FAILURE_MEMORY:
            count = 0
        self._failures[name] = (count + 1, now)
        return min(self.delay * 2 ** min(count, 16), max(MAX_WRONG_PASSWORD_DELAY, self.delay))

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
                self._failures.pop(name, None)
                return
            except UnauthorizedLogin:
                continue
        delay = self._wrong_password_delay(name)
        self.log.info("wrong password for {nick}; answered in {delay} s", nick=nick, delay=delay)
        await task.deferLater(self.clock, delay, lambda: None)
        raise ChatError("bad-password", f"wrong password for {nick}")
