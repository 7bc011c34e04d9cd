"""
Accounts: registered nicknames and the rules around them.  A registered
nickname is taken only with its password, on every front end.  Accounts
come from two places: the ones people register themselves, kept in the
chat's own store (L{chat.core.accountbook}: SQLite beside the history, or
Redis in a cluster), and the operator's read-only password files through
twisted.cred (twistd's C{--auth file:passwords.txt}, lines C{nick:password}).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import UsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet import defer, task, threads
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from chat.adapters import password_file_users
from chat.core.accountbook import Account, IAccountStore, name_keys
from chat.limits import BucketTable
from chat.lookalike import look_keys
from chat.names import ChatError, check_nick, fold
from chat.passwords import COST, MIN_LENGTH, hash_password, verify_password, weakness

_T = TypeVar("_T")

#: Seconds before a wrong password is answered: a person's typo costs a moment.
WRONG_PASSWORD_DELAY = 2.0
#: Password attempts one registered nickname allows at once, from every
#: connection together, and then one per this many seconds.  An attempt is
#: counted when it arrives, so guessing over many connections, or hanging up
#: before the answer, is no faster.
ATTEMPT_BURST = 5
ATTEMPT_INTERVAL = 20.0
#: The same for one address, over every nickname it tries.
ADDRESS_ATTEMPT_BURST = 10
ADDRESS_ATTEMPT_INTERVAL = 10.0
#: An attempt that would wait longer than this for its turn is refused (well
#: within the default logon timeout, which counts from the connection).
MAX_ATTEMPT_WAIT = 20.0
#: Accounts one address may register per hour (and at once).
REGISTRATIONS_PER_HOUR = 3
#: Most nicknames (or addresses) whose attempts are remembered (a checker
#: that cannot list its users guards every nickname).
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


def _in_reactor_threads(f: Callable[..., _T], *args: Any) -> defer.Deferred[_T]:
    from twisted.internet import reactor

    return threads.deferToThreadPool(reactor, reactor.getThreadPool(), f, *args)  # type: ignore[arg-type,attr-defined]


class Accounts:
    """
    Who may take which nickname.  C{store} gives the chat's account store
    (it opens with the ledger, so it is asked for each time); C{in_thread}
    runs a password hash off the reactor thread.
    """

    log = Logger()

    def __init__(self, checkers: Sequence[ICredentialsChecker], clock: IReactorTime,
                 required: bool = False, delay: float = WRONG_PASSWORD_DELAY,
                 store: Callable[[], IAccountStore | None] = lambda: None, registration: bool = True,
                 in_thread: Callable[..., defer.Deferred[Any]] = _in_reactor_threads,
                 cost: tuple[int, int, int] = COST, registrations_per_hour: int = REGISTRATIONS_PER_HOUR,
                 opers: Iterable[str] = (), min_password: int = MIN_LENGTH) -> None:
        self.checkers = list(checkers)
        self.clock = clock
        self.required = required
        self.delay = delay
        self.store = store
        self.registration = registration
        self.in_thread = in_thread
        self.cost = cost
        #: The shortest password an account may get (--min-password-length).
        self.min_password = min_password
        #: The accounts with the server operator's rights (--oper), folded.
        self.opers = frozenset(fold(name) for name in opers)
        # Per account, and per address: password attempts, as token buckets.
        self._attempts = BucketTable(1 / ATTEMPT_INTERVAL, ATTEMPT_BURST, MAX_TRACKED)
        self._address_attempts = BucketTable(1 / ADDRESS_ATTEMPT_INTERVAL, ADDRESS_ATTEMPT_BURST, MAX_TRACKED)
        self._registrations = BucketTable(registrations_per_hour / 3600, registrations_per_hour, MAX_TRACKED)

    # -- what is on -------------------------------------------------------------

    @property
    def active(self) -> bool:
        """Whether any nickname can be registered (and so need a password)."""
        return bool(self.checkers) or self.required or self.store() is not None

    @property
    def registration_open(self) -> bool:
        """Whether people may register accounts themselves."""
        return self.registration and self.store() is not None

    def is_oper(self, account: str | None) -> bool:
        """Whether C{account} (one a user proved) has the server operator's rights."""
        return account is not None and fold(account) in self.opers

    # -- finding an account -----------------------------------------------------

    def file_name(self, nick: str) -> bytes | None:
        """
        The operator's account name for C{nick} in a password file, matched
        case-insensitively as nicknames are, or by looks (C{аlice} with a
        Cyrillic а is alice's: chat.lookalike), or None.  A checker that
        cannot list its users is taken to guard every nickname.
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

    async def _stored(self, nick: str) -> Account | None:
        store = self.store()
        if store is None:
            return None
        return await store.find(name_keys(nick))

    async def registered(self, nick: str) -> str | None:
        """The account C{nick} belongs to (however cased or disguised), or None."""
        name = self.file_name(nick)
        if name is not None:
            return name.decode("utf-8", "replace")
        account = await self._stored(nick)
        return None if account is None else account.name

    # -- proving one -------------------------------------------------------------

    def _turn(self, table: BucketTable, key: Any, nick: str) -> float:
        """
        Count an attempt on C{key}: the seconds it must wait for its turn.
        Raises L{ChatError} C{try-later} if that is too long.
        """
        now = self.clock.seconds()
        bucket = table(key, now)
        wait = bucket.take(now)
        if wait > MAX_ATTEMPT_WAIT:
            bucket.give_back()  # not tried: not counted
            raise ChatError("try-later", f"too many password attempts for {nick}; try again in {int(wait) + 1} s")
        return wait

    async def _wait_turn(self, key: str, nick: str, address: str) -> None:
        wait = self._turn(self._attempts, key, nick)
        if address:
            try:
                wait = max(wait, self._turn(self._address_attempts, address, nick))
            except ChatError:
                self._attempts(key, self.clock.seconds()).give_back()
                raise
        if wait:
            self.log.info("password attempt for {nick} waits {wait:.0f} s for its turn", nick=nick, wait=wait)
            await task.deferLater(self.clock, wait, lambda: None)

    async def check(self, nick: str, password: str | None, address: str = "") -> str | None:
        """
        The account C{nick} is proved for with C{password} (None: the
        nickname is nobody's).  Raises L{ChatError} unless C{nick} may be
        used with C{password}.
        """
        name = self.file_name(nick)
        account = None if name is not None else await self._stored(nick)
        if name is None and account is None:
            if self.required:
                raise ChatError("account-required", "this server only accepts registered nicknames")
            return None
        if not password:
            raise ChatError("password-required", f"the nickname {nick} is registered: send its password")
        key = "f:" + fold(name.decode("utf-8", "replace")) if name is not None else "a:" + account.key  # type: ignore[union-attr]
        await self._wait_turn(key, nick, address)
        if account is not None:
            if await self.in_thread(verify_password, password, account.hash):
                self._attempts.forget(key)  # the owner is in: a fresh allowance
                return account.name
        elif name is not None and await self._check_files(name, password):
            self._attempts.forget(key)
            return name.decode("utf-8", "replace")
        self.log.info("wrong password for {nick}", nick=nick)
        if self.delay:
            await task.deferLater(self.clock, self.delay, lambda: None)
        raise ChatError("bad-password", f"wrong password for {nick}")

    async def _check_files(self, name: bytes, password: str) -> bool:
        if any(_unreadable(c) for c in self.checkers):
            raise ChatError("accounts-unavailable", "accounts cannot be checked now; try again later")
        # Checkers keep names as bytes (file:) or as text (memory:): ask in both.
        tries = [UsernamePassword(name, password.encode("utf-8")),
                 UsernamePassword(name.decode("utf-8", "replace"), password)]  # type: ignore[arg-type]
        for checker in self.checkers:
            for credentials in tries:
                try:
                    await defer.maybeDeferred(checker.requestAvatarId, credentials)
                    return True
                except UnauthorizedLogin:
                    continue
        return False

    # -- changing them -------------------------------------------------------------

    def _writable(self) -> IAccountStore:
        store = self.store()
        if store is None:
            raise ChatError("registration-closed", "this server keeps no accounts of its own")
        return store

    async def register(self, nick: str, password: str, address: str = "") -> str:
        """Register C{nick} (the caller's own nickname) with C{password}: the account's name."""
        store = self._writable()
        if not self.registration:
            raise ChatError("registration-closed", "registration is closed on this server; ask its operator")
        nick = check_nick(nick)
        why = weakness(password, self.min_password)
        if why is not None:
            raise ChatError("weak-password", why)
        if self.file_name(nick) is not None or await self._stored(nick) is not None:
            raise ChatError("already-registered", f"the nickname {nick} (or one that looks like it) is registered")
        if address:
            now = self.clock.seconds()
            bucket = self._registrations(address, now)
            wait = bucket.take(now)
            if wait:
                bucket.give_back()
                raise ChatError("try-later", f"too many registrations from your address; try again in "
                                f"{int(wait) // 60 + 1} min")
        digest = await self.in_thread(hash_password, password, self.cost)
        account = Account(nick, digest, int(self.clock.seconds() * 1000))
        if not await store.create(account, name_keys(nick)):
            raise ChatError("already-registered", f"the nickname {nick} (or one that looks like it) is registered")
        self.log.info("account {name} registered", name=nick)
        return nick

    async def _own(self, account_name: str, password: str, address: str) -> tuple[IAccountStore, Account]:
        """The stored account, once its C{password} is proved again."""
        store = self._writable()
        account = await self._stored(account_name)
        if account is None or fold(account.name) != fold(account_name):
            raise ChatError("not-registered", "this nickname has no account here (or its account is the operator's)")
        await self.check(account.name, password, address)
        return store, account

    async def change_password(self, account_name: str, current: str, new: str, address: str = "") -> None:
        why = weakness(new, self.min_password)
        if why is not None:
            raise ChatError("weak-password", why)
        store, account = await self._own(account_name, current, address)
        digest = await self.in_thread(hash_password, new, self.cost)
        await store.replace(Account(account.name, digest, account.created))
        self.log.info("account {name}: password changed", name=account.name)

    async def drop(self, account_name: str, password: str, address: str = "") -> None:
        store, account = await self._own(account_name, password, address)
        await store.delete(account, name_keys(account.name))
        self.log.info("account {name} dropped", name=account.name)
