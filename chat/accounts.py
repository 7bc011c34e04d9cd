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

from chat.adapters import password_file_users
from chat.limits import BucketTable
from chat.lookalike import look_keys
from chat.names import ChatError, fold

#: Seconds before a wrong password is answered: a person's typo costs a moment.
WRONG_PASSWORD_DELAY = 2.0
#: Password attempts one registered nickname allows at once, from every
#: connection together, and then one per this many seconds.  An attempt is
#: counted when it arrives, so guessing over many connections, or hanging up
#: before the answer, is no faster.
ATTEMPT_BURST = 5
ATTEMPT_INTERVAL = 20.0
#: An attempt that would wait longer than this for its turn is refused (well
#: within the default logon timeout, which counts from the connection).
MAX_ATTEMPT_WAIT = 20.0
#: Most nicknames whose attempts are remembered (a checker that cannot list
#: its users guards every nickname).
MAX_TRACKED = 10_000

# A password file's names, read again only when the file changes; the last
# good copy is kept while the file cannot be read, so that moving or breaking
# it never unregisters anyone (it fails closed).
_file_names: dict[tuple[int, str], tuple[tuple[int, ...], list[bytes]]] = {}
_log = Logger()


def _known_names(checker: ICredentialsChecker) -> Iterable[bytes] | None:
    """
    The user names a checker holds, when it can list them (file:, memory:);
    None when it cannot, which guards every nickname.
    """
    load = password_file_users(checker)
    if load is not None:
        filename = getattr(checker, "filename", None)
        if filename is None:
            return load()
        key = (id(checker), filename)
        cached = _file_names.get(key)
        try:
            info = os.stat(filename)
            version = (info.st_ino, info.st_mtime_ns, info.st_ctime_ns, info.st_size)
            if cached is None or cached[0] != version:
                with open(filename, "rb"):
                    pass  # readable: FilePasswordDB logs and hides why it is not
                cached = _file_names[key] = (version, load())
            return cached[1]
        except (OSError, UnauthorizedLogin) as e:
            if cached is None:
                _log.critical("cannot read the password file {file} ({e}): every nickname needs a password "
                              "until it can be read", file=filename, e=e)
                return None
            _log.critical("cannot read the password file {file} ({e}): keeping its last good copy of "
                          "{n} registered nicknames; logons with a password wait until it can be read",
                          file=filename, e=e, n=len(cached[1]))
            return cached[1]
    users = getattr(checker, "users", None)
    if isinstance(users, dict):
        return list(users)
    return None


def _unreadable(checker: ICredentialsChecker) -> bool:
    filename = getattr(checker, "filename", None)
    if filename is None:
        return False
    try:
        with open(filename, "rb"):
            return False
    except OSError:
        return True


class Accounts:
    log = Logger()

    def __init__(self, checkers: Sequence[ICredentialsChecker], clock: IReactorTime,
                 required: bool = False, delay: float = WRONG_PASSWORD_DELAY) -> None:
        self.checkers = list(checkers)
        self.clock = clock
        self.required = required
        self.delay = delay
        # Per account: its password attempts, as a token bucket.
        self._attempts = BucketTable(1 / ATTEMPT_INTERVAL, ATTEMPT_BURST, MAX_TRACKED)

    def _turn(self, name: bytes, nick: str) -> float:
        """
        Count an attempt on C{name}: the seconds it must wait for its turn.
        Raises L{ChatError} C{try-later} if that is too long.
        """
        now = self.clock.seconds()
        bucket = self._attempts(name, now)
        wait = bucket.take(now)
        if wait > MAX_ATTEMPT_WAIT:
            bucket.give_back()  # not tried: not counted
            raise ChatError("try-later", f"too many password attempts for {nick}; try again in {int(wait) + 1} s")
        return wait

    @property
    def active(self) -> bool:
        return bool(self.checkers) or self.required

    def registered_name(self, nick: str) -> bytes | None:
        """
        The account name for C{nick}, matched case-insensitively as
        nicknames are, or by looks (C{аlice} with a Cyrillic а is alice's:
        chat.lookalike), or None.  A checker that cannot list its users is
        taken to guard every nickname.
        """
        key, looks = fold(nick), look_keys(nick)
        for checker in self.checkers:
            names = _known_names(checker)
            if names is None:
                return nick.encode("utf-8")
            for name in names:
                text = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
                if fold(text) == key or not looks.isdisjoint(look_keys(text)):  # look_keys is cached
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
        wait = self._turn(name, nick)
        if wait:
            self.log.info("password attempt for {nick} waits {wait:.0f} s for its turn", nick=nick, wait=wait)
            await task.deferLater(self.clock, wait, lambda: None)
        if any(_unreadable(c) for c in self.checkers):
            raise ChatError("accounts-unavailable", "accounts cannot be checked now; try again later")
        # Checkers keep names as bytes (file:) or as text (memory:): ask in both.
        tries = [UsernamePassword(name, password.encode("utf-8")),
                 UsernamePassword(name.decode("utf-8", "replace"), password)]  # type: ignore[arg-type]
        for checker in self.checkers:
            for credentials in tries:
                try:
                    await defer.maybeDeferred(checker.requestAvatarId, credentials)
                    self._attempts.forget(name)  # the owner is in: a fresh allowance
                    return
                except UnauthorizedLogin:
                    continue
        self.log.info("wrong password for {nick}", nick=nick)
        await task.deferLater(self.clock, self.delay, lambda: None)
        raise ChatError("bad-password", f"wrong password for {nick}")
