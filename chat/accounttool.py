"""
C{chat-accounts}: the operator's command for the accounts the chat keeps
(docs/operations.md), in the data directory's database or in a cluster's
Redis, while the server runs or not:

    chat-accounts [--data-dir DIR | --redis URL] add NAME     # the password from standard input, or asked
    chat-accounts [--data-dir DIR | --redis URL] drop NAME
    chat-accounts [--data-dir DIR | --redis URL] import FILE  # nick:password lines, as --auth file: reads

Accounts added here follow the same rules as those people register
(nickname rules, look-alikes, password rules) and work with
C{--registration closed}.
"""

from __future__ import annotations

import getpass
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from twisted.enterprise import adbapi
from twisted.internet import defer, task
from twisted.python import usage

from chat.accountdb import SQLiteAccountStore
from chat.accounts import Accounts
from chat.cluster.address import RedisAddress
from chat.core.accountbook import IAccountStore, name_keys
from chat.history import SCHEMA, _connect_options
from chat.names import ChatError


class Options(usage.Options):
    synopsis = "Usage: chat-accounts [--data-dir DIR | --redis URL] add NAME | drop NAME | import FILE"
    longdesc = "Add, drop or import accounts kept by the chat server (docs/operations.md, Accounts)."
    optParameters = [
        ["data-dir", "d", "chat-data", "the server's data directory (a one-process server)"],
        ["redis", None, None, "the cluster's Redis, e.g. redis://127.0.0.1:6379/0 (a cluster)"],
        ["min-password-length", None, 8, "the shortest password an account may get (as the server's option)", int],
    ]

    def parseArgs(self, command: str, argument: str) -> None:  # type: ignore[override]  # usage.Options passes the words
        if command not in ("add", "drop", "import"):
            raise usage.UsageError(f"unknown command {command}: add, drop or import")
        self["command"], self["argument"] = command, argument


def _sqlite_store(data_dir: Path) -> tuple[IAccountStore, list[adbapi.ConnectionPool]]:
    """The data directory's database, its tables made if it is new (the server may be running)."""
    path = data_dir / "history.sqlite3"
    if not data_dir.is_dir():
        raise SystemExit(f"chat-accounts: no data directory {data_dir} (--data-dir, or start the server once)")
    connection = sqlite3.connect(path)
    try:
        with connection:
            connection.executescript(SCHEMA)
    finally:
        connection.close()
    pool = adbapi.ConnectionPool("sqlite3", str(path), check_same_thread=False, cp_min=1, cp_max=1,
                                 cp_openfun=_connect_options, cp_noisy=False)
    return SQLiteAccountStore(pool, pool), [pool]


async def _redis_store(url: str) -> tuple[IAccountStore, Any]:
    import txredisapi

    from chat.cluster.accounts import RedisAccountStore

    address = RedisAddress.parse(url)
    connection = await txredisapi.Connection(address.host, address.port, dbid=address.db, password=address.password,
                                             reconnect=False, charset="utf-8", convertNumbers=False)
    return RedisAccountStore(lambda script, *args: connection.eval(script, [], ["chat:", *args])), connection


def _read_password(name: str) -> str:
    if sys.stdin.isatty():
        first = getpass.getpass(f"Password for {name}: ")
        if getpass.getpass("Again: ") != first:
            raise SystemExit("chat-accounts: the two passwords differ; nothing was changed")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _file_accounts(path: str) -> list[tuple[str, str]]:
    """A password file's C{nick:password} lines (as twistd's --auth file: reads them), blank lines skipped."""
    pairs = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, password = line.partition(":")
            pairs.append((name.strip(), password))
    return pairs


async def run(reactor: Any, options: Options) -> int:
    """Carry out one command: 0 if all went well, 1 if anything was refused."""
    if options["redis"] is not None:
        store, connection = await _redis_store(options["redis"])
        closing = [connection.disconnect]
    else:
        store, pools = _sqlite_store(Path(options["data-dir"]))
        closing = [pool.close for pool in pools]
    accounts = Accounts([], reactor, store=lambda: store, delay=0, min_password=options["min-password-length"])
    failed = 0
    try:
        command, argument = options["command"], options["argument"]
        if command == "drop":
            found = await store.find(name_keys(argument))
            if found is None:
                print(f"chat-accounts: {argument} has no account")
                return 1
            await store.delete(found, name_keys(found.name))
            print(f"dropped {found.name}")
            return 0
        pairs = [(argument, _read_password(argument))] if command == "add" else _file_accounts(argument)
        for name, password in pairs:
            try:
                print(f"added {await accounts.register(name, password)}")
            except ChatError as e:
                failed += 1
                print(f"chat-accounts: {name}: {e.text}")
    finally:
        for close in closing:
            await defer.maybeDeferred(close)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> None:
    options = Options()
    try:
        options.parseOptions(sys.argv[1:] if argv is None else list(argv))
    except usage.UsageError as e:
        raise SystemExit(f"chat-accounts: {e}\nUsage: chat-accounts {Options.synopsis}") from None

    async def go(reactor: Any) -> None:
        code = await run(reactor, options)
        if code:
            raise SystemExit(code)

    task.react(lambda reactor: defer.Deferred.fromCoroutine(go(reactor)))


if __name__ == "__main__":
    main()
