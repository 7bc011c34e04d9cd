"""
Message history that survives restarts: SQLite in a data directory, run off
the reactor thread by C{twisted.enterprise.adbapi}: one connection and one
thread for writes, so that order is the order of submission, and one for
reading pages, which in WAL mode never waits for the writer.

Writes are group-committed: a message accepted while nothing is being
written goes at once, in a transaction of its own; whatever is accepted
while a transaction is in flight goes into the next one, so a busy room
costs one transaction per batch, not per message, and an idle server waits
for nobody.  A message is relayed only after the transaction holding it has
committed (write before relay).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

from twisted.enterprise import adbapi
from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from chat.accountdb import SQLiteAccountStore
from chat.core.accountbook import MemoryAccountStore
from chat.core.events import RECORD_VERSION, Private, Said, What, from_record, record_body
from chat.logthrottle import LogThrottle
from chat.message import ProtocolError
from chat.names import fold
from chat.service import MAX_PAGE

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    room_key TEXT NOT NULL,      -- folded room name; '' for private messages
    id INTEGER NOT NULL,         -- per room, as on the wire; 0 for private messages
    ts INTEGER NOT NULL,         -- ms since the epoch
    body TEXT NOT NULL           -- the line as a stored record (chat.core.events.record_body)
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_room_id ON messages (room_key, id) WHERE room_key != '';
CREATE INDEX IF NOT EXISTS messages_ts ON messages (ts);
CREATE TABLE IF NOT EXISTS topics (
    room_key TEXT PRIMARY KEY,   -- folded room name
    body TEXT NOT NULL           -- the topic as a joiner gets it (a stored record)
);
CREATE TABLE IF NOT EXISTS room_ids (
    room_key TEXT PRIMARY KEY,   -- folded room name
    last_id INTEGER NOT NULL     -- newest id the room had when it was last pruned
);
CREATE TABLE IF NOT EXISTS accounts (
    key TEXT PRIMARY KEY,        -- folded account name
    body TEXT NOT NULL           -- the account record (chat.core.accountbook.Account): a hash, never a password
);
CREATE TABLE IF NOT EXISTS account_keys (
    name_key TEXT PRIMARY KEY,   -- a key the name is found under (chat.core.accountbook.name_keys)
    key TEXT NOT NULL            -- the account's key
);
"""

#: Pruning may remove a room's every message; its ids must still go on.
_SAVE_LAST_IDS = """
INSERT INTO room_ids (room_key, last_id)
    SELECT room_key, MAX(id) FROM messages WHERE room_key != '' GROUP BY room_key
    ON CONFLICT (room_key) DO UPDATE SET last_id = MAX(last_id, excluded.last_id)
"""


#: One stored message: its room's key, id, time and record.
Row = tuple[str, int, int, str]


def to_row(line: Said | Private) -> Row:
    """The row for a line said in a room, or a private one (room key '', id 0)."""
    if isinstance(line, Said):
        return fold(line.room), line.id, line.ts, record_body(line).decode("utf-8")
    return "", 0, line.ts, record_body(line).decode("utf-8")


def from_body(body: str) -> What:
    """
    A stored line, marked C{history}.  It goes through the record's
    validating decoder: a stored row is input like any other.
    """
    return from_record(body, history=True)


def _migrate(connection: sqlite3.Connection) -> None:
    """
    Bring a database from an earlier release to this one's records
    (C{PRAGMA user_version}: 0 kept the native CMsg's JSON), in one
    transaction: a server that stops half way finds it as it was.
    """
    (version,) = connection.execute("PRAGMA user_version").fetchone()
    if version == RECORD_VERSION:
        return
    if version > RECORD_VERSION:
        raise StoreError(f"the history was written by a newer release (records of version {version}); "
                         "run that release, or move the data directory away")
    for table, key in (("messages", "rowid"), ("topics", "room_key")):
        rows = connection.execute(f"SELECT {key}, body FROM {table}").fetchall()  # noqa: S608 - our names
        changed = []
        for row_key, body in rows:
            try:
                changed.append((record_body(from_record(body)).decode("utf-8"), row_key))
            except ProtocolError:
                continue  # not a line nor a topic: never served, left as it was
        connection.executemany(f"UPDATE {table} SET body = ? WHERE {key} = ?", changed)  # noqa: S608
    connection.execute(f"PRAGMA user_version = {RECORD_VERSION}")


def _connect_options(connection: sqlite3.Connection) -> None:
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")


class StoreError(Exception):
    """The history cannot be kept where it was asked to be: what is wrong, and where, in one line."""


def _take_lock(fd: int, data_dir: Path) -> None:
    """Lock the data directory's lock file, or say which process holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        raise StoreError(f"the data directory {data_dir} is in use by another chat server (process {holder}); "
                         "give each server a --data-dir of its own") from None


def lock_data_dir(data_dir: Path) -> int:
    """
    Create the data directory if needed and lock it for this process: two
    servers writing one history would break each other's ids.  Returns the
    lock's file descriptor, held until it is closed.
    """
    if data_dir.exists() and not data_dir.is_dir():
        raise StoreError(f"the data directory {data_dir} is not a directory")
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(data_dir / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise StoreError(f"cannot use the data directory {data_dir}: {e.strerror}") from None
    try:
        _take_lock(fd, data_dir)
    except StoreError:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    return fd


class History:
    """The store: append batches, read pages, prune, and the ids to start from."""

    log = Logger()

    def __init__(self, data_dir: Path) -> None:
        self._open(data_dir)
        self.pool = adbapi.ConnectionPool(
            "sqlite3", str(self.path), check_same_thread=False, cp_min=1, cp_max=1,
            cp_openfun=_connect_options, cp_noisy=False,
        )
        # Pages are read on a connection and a thread of their own: in WAL
        # mode readers never wait for the writer, so a crowd asking for
        # history cannot hold back the writes every message waits for.
        self.reader = adbapi.ConnectionPool(
            "sqlite3", str(self.path), check_same_thread=False, cp_min=1, cp_max=1,
            cp_openfun=_connect_options, cp_noisy=False,
        )
        #: The accounts people register, in the same database.
        self.accounts = SQLiteAccountStore(self.reader, self.pool)

    def _open(self, data_dir: Path) -> None:
        """Lock the directory, check the database, read what the server starts from."""
        self.path = data_dir / "history.sqlite3"
        self.lock = lock_data_dir(data_dir)
        try:
            self._load()
        except StoreError:
            os.close(self.lock)
            raise
        except sqlite3.DatabaseError as e:
            os.close(self.lock)
            why = why_read_only(data_dir)
            if why is not None:
                raise _read_only_error(data_dir, why) from None
            if isinstance(e, sqlite3.OperationalError):
                raise StoreError(f"cannot open the history {self.path}: {e}") from None
            raise StoreError(f"the history {self.path} is damaged ({e}): move it away to start afresh, "
                             "or put back a copy from a backup") from None

    def _load(self) -> None:
        """Check the database, make the schema, read the ids to continue from: once, at start."""
        connection = sqlite3.connect(self.path)
        try:
            _connect_options(connection)
            problems = [row[0] for row in connection.execute("PRAGMA quick_check(3)")]
            if problems != ["ok"]:
                raise sqlite3.DatabaseError("; ".join(problems))
            with connection:
                connection.executescript(SCHEMA)
            with connection:
                connection.execute("BEGIN IMMEDIATE")
                _migrate(connection)
            self.last_ids: dict[str, int] = dict(connection.execute(
                "SELECT room_key, MAX(id) FROM (SELECT room_key, id FROM messages WHERE room_key != ''"
                " UNION ALL SELECT room_key, last_id FROM room_ids) GROUP BY room_key"
            ).fetchall())
            self.topics: dict[str, str] = dict(connection.execute("SELECT room_key, body FROM topics").fetchall())
        finally:
            connection.close()

    def append(self, lines: list[Said | Private]) -> defer.Deferred[None]:
        return self.append_rows([to_row(line) for line in lines])

    def append_rows(self, rows: list[Row]) -> defer.Deferred[None]:
        """Store C{rows} in one transaction."""
        return self.pool.runInteraction(
            lambda cursor: cursor.executemany("INSERT INTO messages VALUES (?, ?, ?, ?)", rows)
        )

    def save_topic(self, room_key: str, body: str | None) -> defer.Deferred[None]:
        """A room's topic as a joiner gets it (None: the room has none)."""
        if body is None:
            return self.pool.runOperation("DELETE FROM topics WHERE room_key = ?", (room_key,))
        return self.pool.runOperation("INSERT OR REPLACE INTO topics VALUES (?, ?)", (room_key, body))

    def rooms_without_history(self) -> defer.Deferred[list[str]]:
        """The rooms with a topic stored but no message left (their history is gone)."""
        d = self.reader.runQuery("SELECT room_key FROM topics WHERE room_key NOT IN "
                                 "(SELECT DISTINCT room_key FROM messages)")
        return d.addCallback(lambda rows: [row[0] for row in rows])

    def forget_topics(self, room_keys: list[str]) -> defer.Deferred[None]:
        """Drop the stored topics of rooms that are forgotten."""
        return self.pool.runInteraction(lambda cursor: cursor.executemany(
            "DELETE FROM topics WHERE room_key = ?", [(key,) for key in room_keys]))

    def page(self, room: str, before: int | None = None, after: int | None = None,
             limit: int = 50) -> defer.Deferred[tuple[Sequence[What], bool]]:
        """
        Up to C{limit} messages of C{room}, oldest first: the newest ones
        (before C{before} if given), or the oldest ones after C{after}.
        Fires with the messages and whether there are more beyond them.
        """
        limit = max(1, min(limit, MAX_PAGE))
        key = fold(room)
        if after is not None:
            sql = "SELECT body FROM messages WHERE room_key = ? AND id > ? ORDER BY id ASC LIMIT ?"
            args: tuple[Any, ...] = (key, after, limit + 1)
        else:
            sql = "SELECT body FROM messages WHERE room_key = ? AND id < ? ORDER BY id DESC LIMIT ?"
            args = (key, before if before is not None else 2**62, limit + 1)

        def read(cursor: Any) -> tuple[Sequence[What], bool, int]:
            bodies = [row[0] for row in cursor.execute(sql, args).fetchall()]
            more = len(bodies) > limit
            bodies = bodies[:limit]
            if after is None:
                bodies.reverse()
            lines = []
            for body in bodies:
                try:
                    lines.append(from_body(body))
                except ProtocolError:
                    continue  # a damaged row: skipped (and counted), the page goes on
            return lines, more, len(bodies) - len(lines)

        def read_back(page: tuple[Sequence[What], bool, int]) -> tuple[Sequence[What], bool]:
            lines, more, skipped = page
            if skipped:
                self.log.warn("{n} stored lines of {room} could not be read and were skipped", n=skipped, room=room)
            return lines, more

        return self.reader.runInteraction(read).addCallback(read_back)

    def prune(self, keep: int, older_than_ms: int | None,
              private_older_than_ms: int | None = None) -> defer.Deferred[int]:
        """
        Keep the newest C{keep} messages per room (0: all), drop those older
        than a time, and private messages older than theirs.
        """

        def prune(cursor: Any) -> int:
            removed = 0
            cursor.execute(_SAVE_LAST_IDS)
            if keep:
                removed += cursor.execute(
                    "DELETE FROM messages WHERE room_key != '' AND id <= "
                    "(SELECT MAX(m.id) FROM messages m WHERE m.room_key = messages.room_key AND m.room_key != '') - ?",
                    (keep,),
                ).rowcount
            if older_than_ms is not None:
                removed += cursor.execute("DELETE FROM messages WHERE ts < ?", (older_than_ms,)).rowcount
            if private_older_than_ms is not None:
                removed += cursor.execute("DELETE FROM messages WHERE room_key = '' AND ts < ?",
                                          (private_older_than_ms,)).rowcount
            return removed

        return self.pool.runInteraction(prune)

    def close(self) -> None:
        self.pool.close()
        self.reader.close()
        os.close(self.lock)


#: Linux's ioctl that reads a file's attributes (chattr), and the immutable one.
_FS_IOC_GETFLAGS = 0x80086601
_FS_IMMUTABLE_FL = 0x10


def why_read_only(data_dir: Path) -> str | None:
    """
    Why the server could not write in C{data_dir} (its file system is
    read-only, the directory or its database is immutable, or not writable
    by this user), or None: said as such, not taken for a damaged database.
    """
    paths = [data_dir, *(p for p in (data_dir / "history.sqlite3", data_dir / "lock") if p.exists())]
    try:
        if os.statvfs(data_dir).f_flag & os.ST_RDONLY:
            return "it is on a read-only file system"
        for path in paths:
            fd = os.open(path, os.O_RDONLY)
            try:
                flags = int.from_bytes(fcntl.ioctl(fd, _FS_IOC_GETFLAGS, bytes(8))[:4], "little")
            except OSError:
                flags = 0  # a file system without attributes
            finally:
                os.close(fd)
            if flags & _FS_IMMUTABLE_FL:
                return f"{path} is immutable (chattr +i)"
            if not os.access(path, os.W_OK):
                return f"{path} is not writable by this user"
    except OSError as e:
        return e.strerror
    return None


def _read_only_error(data_dir: Path, why: str) -> StoreError:
    return StoreError(f"the data directory {data_dir} is read-only: {why}; make it writable for the server's "
                      "user, or choose another with --data-dir")


def check_store(data_dir: Path) -> None:
    """
    What L{History} will find at start (the directory, its lock, the
    database), looked at without creating or changing anything: twistd
    checks this with the options, so that an operator gets the reason in one
    line, before it daemonizes or changes user (the files are made later,
    by the user the server runs as).
    """
    if not data_dir.exists():
        return
    if not data_dir.is_dir():
        raise StoreError(f"the data directory {data_dir} is not a directory")
    why = why_read_only(data_dir)
    if why is not None:
        raise _read_only_error(data_dir, why)
    lock = data_dir / "lock"
    if lock.exists():
        try:
            fd = os.open(lock, os.O_RDONLY)
        except OSError as e:
            raise StoreError(f"cannot use the data directory {data_dir}: {e.strerror}") from None
        try:
            _take_lock(fd, data_dir)
        finally:
            os.close(fd)
    path = data_dir / "history.sqlite3"
    if path.exists():
        try:
            connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                problems = [row[0] for row in connection.execute("PRAGMA quick_check(3)")]
            finally:
                connection.close()
        except sqlite3.DatabaseError as e:
            problems = [str(e)]
        if problems != ["ok"]:
            raise StoreError(f"the history {path} is damaged ({'; '.join(problems)}): move it away to start "
                             "afresh, or put back a copy from a backup")



#: A message to store (None for an announcement that only keeps its place in
#: the order), what relays it once stored, and what tells its sender it was not.
_Entry = tuple[Row | None, Callable[[], None], Callable[[], None]]


class GroupCommit:
    """
    Accepts messages with the action that relays each, stores them in
    batches, and runs the actions in order once their batch has committed.
    """

    log = Logger()

    def __init__(self, history: History, clock: IReactorTime | None = None) -> None:
        self.history = history
        if clock is None:
            from twisted.internet import reactor as default
            clock = cast(IReactorTime, default)
        self.clock: IReactorTime = clock
        self.pending: list[_Entry] = []
        self.in_flight: defer.Deferred[None] | None = None
        # The next batch's write, due at the end of this reactor turn.
        self._scheduled: IDelayedCall | None = None
        # Barriers waiting for the batch now pending to commit.
        self._waiting: list[defer.Deferred[None]] = []
        # Failures to store, logged a line a minute per kind.
        self.quiet = LogThrottle(self.clock.seconds)

    def accept(self, line: Said | Private, relay: Callable[[], None],
               refuse: Callable[[], None] = lambda: None) -> None:
        """
        Store C{line}, then C{relay} it; if it cannot be stored, it is not
        relayed and C{refuse} tells its sender so.
        """
        self.pending.append((to_row(line), relay, refuse))
        if self.in_flight is None and self._scheduled is None:
            # Nothing is being written: this message goes now, not a reactor turn later (latency at
            # an ordinary rate); those that come while it is written gather into the next batch,
            # which the end of this write schedules.
            self._write()

    def then(self, relay: Callable[[], None]) -> None:
        """
        Run C{relay} (an announcement that is not stored: a join, a leave, a
        rename) after every message accepted before it has been relayed, so
        that nobody sees "bob has left" before bob's last words.
        """
        if self.in_flight is None and not self.pending:
            relay()
        else:
            self.pending.append((None, relay, relay))  # relayed even if its batch fails

    def _schedule(self) -> None:
        """
        Write what is pending once this reactor turn has read every frame it
        can: a transaction costs far more than a row, and the writer thread
        is quicker than the reactor, so writing each batch the moment the
        last one committed would store one or two messages at a time.  (A
        message accepted while nothing is being written goes at once:
        L{accept}.)
        """
        if self.in_flight is None and self._scheduled is None:
            self._scheduled = self.clock.callLater(0, self._write)

    def _write(self) -> None:
        self._scheduled = None
        batch, self.pending = self.pending, []
        waiting, self._waiting = self._waiting, []
        rows = [row for row, _, _ in batch if row is not None]
        if not rows:
            # Only announcements: nothing to store, their turn is now.
            self.in_flight = defer.succeed(None)
            self._committed(batch, waiting)
            return
        # A write that raises at once still fails its batch, not the queue.
        d = self.in_flight = defer.maybeDeferred(self.history.append_rows, rows)
        d.addCallbacks(lambda _: self._committed(batch, waiting), lambda f: self._failed(f, batch, waiting))

    def _committed(self, batch: list[_Entry], waiting: list[defer.Deferred[None]]) -> None:
        self._run([relay for _, relay, _ in batch])
        self._next(waiting)

    def _run(self, actions: list[Callable[[], None]]) -> None:
        for action in actions:
            try:
                action()
            except Exception:
                # One broken recipient must not stop everyone's chat.
                self.log.failure("relaying after a commit")

    def _failed(self, failure: Failure, batch: list[_Entry], waiting: list[defer.Deferred[None]]) -> None:
        # Not stored means not accepted: nothing is relayed that is not in
        # the history, and each sender hears so.  Announcements still go out.
        n = sum(1 for m, _, _ in batch if m is not None)
        kind = (failure.type, failure.getErrorMessage())
        first = not self.quiet.seen(kind)
        quieted = self.quiet.allow(kind)
        if first:  # the whole story once per kind of failure ...
            self.log.failure("could not store {n} messages; they were not relayed", failure, n=n)
        elif quieted is not None:  # ... then a line a minute at most (a full disk fails every batch)
            self.log.error("could not store {n} messages ({why}); they were not relayed; {quiet} more failed "
                           "the same way in the last minute", n=n, why=failure.getErrorMessage(), quiet=quieted)
        self._run([refuse for _, _, refuse in batch])
        self._next(waiting)

    def _next(self, waiting: list[defer.Deferred[None]]) -> None:
        self.in_flight = None
        for d in waiting:
            d.callback(None)
        if self.pending or self._waiting:
            self._schedule()

    def flushed(self) -> defer.Deferred[None]:
        """
        A barrier: fires once everything accepted so far is stored and
        relayed, however busy the server stays afterwards.
        """
        if self.in_flight is None and not self.pending:
            return defer.succeed(None)
        d: defer.Deferred[None] = defer.Deferred()
        self._waiting.append(d)
        self._schedule()
        return d


class NoHistory:
    """
    The store of a server that keeps nothing (C{--no-history}): what
    L{History} is asked, answered at once with nothing kept, so that the
    ledger has one way of working with or without history.
    """

    def __init__(self) -> None:
        #: Accounts, for as long as the process runs.
        self.accounts = MemoryAccountStore()
        self.last_ids: dict[str, int] = {}
        self.topics: dict[str, str] = {}

    def append_rows(self, rows: list[Row]) -> defer.Deferred[None]:
        return defer.succeed(None)

    def save_topic(self, room_key: str, body: str | None) -> defer.Deferred[None]:
        return defer.succeed(None)

    def forget_topics(self, room_keys: list[str]) -> defer.Deferred[None]:
        return defer.succeed(None)

    def rooms_without_history(self) -> defer.Deferred[list[str]]:
        return defer.succeed([])

    def page(self, room: str, before: int | None = None, after: int | None = None,
             limit: int = 50) -> defer.Deferred[tuple[Sequence[What], bool]]:
        return defer.succeed(([], False))

    def prune(self, keep: int, older_than_ms: int | None,
              private_older_than_ms: int | None = None) -> defer.Deferred[int]:
        return defer.succeed(0)

    def close(self) -> None:
        pass


class Immediately:
    """The group commit of L{NoHistory}: nothing to store, so everything is relayed at once."""

    def accept(self, line: Said | Private, relay: Callable[[], None],
               refuse: Callable[[], None] = lambda: None) -> None:
        relay()

    def then(self, relay: Callable[[], None]) -> None:
        relay()

    def flushed(self) -> defer.Deferred[None]:
        return defer.succeed(None)
