"""
Accounts in the one-process server's SQLite database, beside the history
(tables made by L{chat.history.SCHEMA}; L{chat.history.History}'s connections: writes on its writer thread, in
order; look-ups on its reader, which never waits for the writer).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from twisted.enterprise import adbapi
from twisted.internet import defer
from zope.interface import implementer

from chat.core.accountbook import Account, IAccountStore



@implementer(IAccountStore)
class SQLiteAccountStore:
    """Accounts that survive restarts, in the data directory's database."""

    durable = True

    def __init__(self, reader: adbapi.ConnectionPool, writer: adbapi.ConnectionPool) -> None:
        self.reader = reader
        self.writer = writer

    def find(self, keys: Sequence[str]) -> defer.Deferred[Account | None]:
        def read(cursor: Any) -> str | None:
            for key in keys:
                row = cursor.execute("SELECT accounts.body FROM account_keys JOIN accounts "
                                     "ON accounts.key = account_keys.key WHERE name_key = ?", (key,)).fetchone()
                if row is not None:
                    return str(row[0])
            return None

        d = self.reader.runInteraction(read)
        return d.addCallback(lambda body: None if body is None else Account.from_body(body))

    def create(self, account: Account, keys: Sequence[str]) -> defer.Deferred[bool]:
        def write(cursor: Any) -> bool:
            try:
                cursor.execute("INSERT INTO accounts VALUES (?, ?)", (account.key, account.body()))
                cursor.executemany("INSERT INTO account_keys VALUES (?, ?)", [(k, account.key) for k in keys])
            except sqlite3.IntegrityError:
                raise _Taken() from None
            return True

        def taken(failure: Any) -> bool:
            failure.trap(_Taken)
            return False

        return self.writer.runInteraction(write).addErrback(taken)  # one transaction: all or nothing

    def replace(self, account: Account) -> defer.Deferred[None]:
        return self.writer.runOperation("UPDATE accounts SET body = ? WHERE key = ?",
                                              (account.body(), account.key))

    def delete(self, account: Account, keys: Sequence[str]) -> defer.Deferred[None]:
        def write(cursor: Any) -> None:
            cursor.execute("DELETE FROM accounts WHERE key = ?", (account.key,))
            cursor.execute("DELETE FROM account_keys WHERE key = ?", (account.key,))

        return self.writer.runInteraction(write)


class _Taken(Exception):
    """A key of the new account is held: the transaction is rolled back."""
