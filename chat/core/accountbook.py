"""
Accounts as the store keeps them: the record, the keys a name is found
under, and the small interface every store (memory, SQLite, Redis)
implements.  The rules (who may register, password checks, limits) are in
L{chat.accounts}; nothing here knows them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import attrs
from twisted.internet import defer
from zope.interface import Interface, implementer

from chat.lookalike import look_keys
from chat.names import fold

#: The version of an account record; a store refuses records it does not know.
ACCOUNT_VERSION = 1


@attrs.frozen
class Account:
    """A registered nickname: its name as registered and its password's hash (never the password)."""

    name: str
    hash: str
    created: int  # ms since the epoch

    @property
    def key(self) -> str:
        return fold(self.name)

    def body(self) -> str:
        return json.dumps({"v": ACCOUNT_VERSION, "name": self.name, "hash": self.hash, "created": self.created},
                          separators=(",", ":"))

    @classmethod
    def from_body(cls, body: str | bytes) -> Account:
        record = json.loads(body)
        if not isinstance(record, dict) or record.get("v") != ACCOUNT_VERSION:
            raise ValueError("not an account record this release knows")
        name, hash_, created = record.get("name"), record.get("hash"), record.get("created")
        if not isinstance(name, str) or not isinstance(hash_, str) or not isinstance(created, int):
            raise ValueError("a damaged account record")
        return cls(name, hash_, created)


def name_keys(name: str) -> list[str]:
    """
    Every key C{name} is found under: its folded form, then what it looks
    like (L{chat.lookalike.look_keys}), so that C{ALICE} and C{аlice} (a
    Cyrillic а) find alice's account.
    """
    return ["n:" + fold(name), *sorted("l:" + k for k in look_keys(name))]


class IAccountStore(Interface):
    """Where accounts are kept: by one process (memory, SQLite) or by the whole cluster (Redis)."""

    def find(keys: Sequence[str]) -> defer.Deferred[Account | None]:
        """The account that holds any of C{keys} (from L{name_keys}), or None."""

    def create(account: Account, keys: Sequence[str]) -> defer.Deferred[bool]:
        """Store a new account under C{keys}, atomically; False if any key is held already."""

    def replace(account: Account) -> defer.Deferred[None]:
        """Store a new record (a new password) for an account that exists."""

    def delete(account: Account, keys: Sequence[str]) -> defer.Deferred[None]:
        """Forget an account and its keys."""


@implementer(IAccountStore)
class MemoryAccountStore:
    """Accounts that last as long as the process (a server run without a data directory)."""

    durable = False

    def __init__(self) -> None:
        self.accounts: dict[str, str] = {}  # account key -> record
        self.keys: dict[str, str] = {}  # name key -> account key

    def find(self, keys: Sequence[str]) -> defer.Deferred[Account | None]:
        for key in keys:
            owner = self.keys.get(key)
            if owner is not None and owner in self.accounts:
                return defer.succeed(Account.from_body(self.accounts[owner]))
        return defer.succeed(None)

    def create(self, account: Account, keys: Sequence[str]) -> defer.Deferred[bool]:
        if account.key in self.accounts or any(k in self.keys for k in keys):
            return defer.succeed(False)
        self.accounts[account.key] = account.body()
        self.keys.update(dict.fromkeys(keys, account.key))
        return defer.succeed(True)

    def replace(self, account: Account) -> defer.Deferred[None]:
        if account.key in self.accounts:
            self.accounts[account.key] = account.body()
        return defer.succeed(None)

    def delete(self, account: Account, keys: Sequence[str]) -> defer.Deferred[None]:
        self.accounts.pop(account.key, None)
        for key in keys:
            if self.keys.get(key) == account.key:
                del self.keys[key]
        return defer.succeed(None)
