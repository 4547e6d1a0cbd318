"""Open the database (WAL, foreign keys, synchronous=FULL) and run writes in one transaction.

Opening checks what the rest of the app takes for granted and refuses, with a message, what it cannot use:
a file that is not a SQLite database or is another application's, a database made by a newer fieldapp, and
a connection on which WAL, synchronous=FULL or foreign keys did not take. A write that fails because the disk
(or PRAGMA max_page_count) is full or the database stays locked is remembered, so that /healthz can report
the instance not ready while the devices keep their outboxes and try again.

The database file is never opened here except through SQLite: closing any other descriptor of it would drop
the locks SQLite holds for the whole process (POSIX advisory locks) and can corrupt it.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import sqlite_utils

from fieldapp import migrations

# SQLite result codes (the primary code, the low byte of sqlite_errorcode) that mean "not now", not "wrong".
SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_FULL, SQLITE_NOTADB = 5, 6, 10, 13, 26
UNAVAILABLE_CODES = {SQLITE_BUSY: "locked", SQLITE_LOCKED: "locked", SQLITE_IOERR: "disk", SQLITE_FULL: "full"}
# After a failed write, /healthz says not ready for this long unless a write succeeds first.
FAILURE_HOLD_SECONDS = 30.0
# Free space on the database's file system below which the instance is not ready.
MIN_FREE_BYTES = 16 * 1024 * 1024


class DatabaseRefused(Exception):
    """The file cannot be used as fieldapp's database; the message says why and what to do."""


def open_db(path: Path | str | None = None, *, memory: bool = False) -> sqlite_utils.Database:
    """A sqlite-utils Database with the pragmas every connection needs, migrations applied, checks passed."""
    if memory or path is None:
        conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    else:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=10)
    try:
        if not memory and path is not None:
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=10000")
        db = sqlite_utils.Database(conn)
        _refuse_foreign_schema(db, path)
        migrations.apply(db)
        check(db, wal=not memory and path is not None)
    except sqlite3.DatabaseError as exc:
        conn.close()
        if getattr(exc, "sqlite_errorcode", None) == SQLITE_NOTADB:
            raise DatabaseRefused(f"{path} is not a SQLite database; refusing to use it (check FIELDAPP_DB)") from exc
        raise
    except DatabaseRefused:
        conn.close()
        raise
    return db


def check(db: sqlite_utils.Database, *, wal: bool = True) -> None:
    """What every connection must have (raises DatabaseRefused naming what is missing)."""
    conn = db.conn
    problems = []
    if wal and conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        problems.append("WAL mode could not be set (a read-only directory or a network file system?)")
    if conn.execute("PRAGMA synchronous").fetchone()[0] != 2:
        problems.append("synchronous is not FULL")
    if conn.execute("PRAGMA foreign_keys").fetchone()[0] != 1:
        problems.append("foreign keys are off")
    pending = [m.name for m in migrations.migrations.pending(db)]
    if pending:
        problems.append("migrations not applied: " + ", ".join(pending))
    if problems:
        raise DatabaseRefused("database checks failed: " + "; ".join(problems))


def is_fieldapp_database(path: Path | str) -> str | None:
    """None when the file is a fieldapp database; otherwise why it is not (read only, the file is not changed)."""
    path = Path(path)
    if not path.is_file():
        return f"{path} does not exist"
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            db = sqlite_utils.Database(conn)
            if not _known_migrations(db):
                return f"{path} is a SQLite database, but not fieldapp's (no fieldapp migrations)"
            _refuse_foreign_schema(db, path)
        finally:
            conn.close()
    except DatabaseRefused as exc:
        return str(exc)
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorcode", None) == SQLITE_NOTADB:
            return f"{path} is not a SQLite database"
        return f"{path} cannot be read as a SQLite database: {exc}"
    return None


def _known_migrations(db: sqlite_utils.Database) -> list[str]:
    if not db["_sqlite_migrations"].exists():
        return []
    return [row[0] for row in db.execute("SELECT name FROM _sqlite_migrations WHERE migration_set = ?",
                                         [migrations.migrations.name])]


def _refuse_foreign_schema(db: sqlite_utils.Database, path) -> None:
    """A database with tables but no fieldapp migrations belongs to someone else; one that applied migrations
    this code does not know was made by a newer fieldapp (running old code on it could corrupt it)."""
    applied = set(_known_migrations(db))
    if not applied:
        if db.table_names():
            raise DatabaseRefused(f"{path} is a SQLite database with tables, but not fieldapp's; "
                                  "refusing to add fieldapp's tables to it (check FIELDAPP_DB)")
        return
    known = {m.name for m in migrations.migrations.pending(sqlite_utils.Database(memory=True))}
    unknown = sorted(applied - known - set(migrations.RENAMED))
    if unknown:
        raise DatabaseRefused(f"{path} was made by a newer fieldapp (migrations {', '.join(unknown)} are unknown "
                              "here); run that version or restore a backup")


# ---------------------------------------------------------------- writes, and when they cannot happen


def unavailable_reason(exc: BaseException) -> str | None:
    """'full', 'disk' or 'locked' when a SQLite error means the write may work later; None for other errors."""
    if not isinstance(exc, sqlite3.OperationalError):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return UNAVAILABLE_CODES.get(code & 0xFF)
    message = str(exc).lower()
    if "disk is full" in message:
        return "full"
    if "locked" in message or "busy" in message:
        return "locked"
    return None


# database file (or id of an in-memory connection) -> (monotonic time, reason) of the last failed write; kept per
# file, so that a write succeeding on any connection of the process (the app's, the sync writer's) clears it.
_failures: dict[str, tuple[float, str]] = {}


def _failure_key(db: sqlite_utils.Database) -> str:
    key = getattr(db, "_fieldapp_failure_key", None)
    if key is None:
        files = [row[2] for row in db.conn.execute("PRAGMA database_list") if row[1] == "main"]
        key = files[0] if files and files[0] else f"memory:{id(db.conn)}"
        db._fieldapp_failure_key = key
    return key


def _note(db: sqlite_utils.Database, exc: BaseException | None) -> None:
    if exc is None:
        if _failures:
            _failures.pop(_failure_key(db), None)
        return
    reason = unavailable_reason(exc)
    if reason:
        _failures[_failure_key(db)] = (time.monotonic(), reason)


def recent_failure(db: sqlite_utils.Database | None) -> str | None:
    """Why the last write on this connection failed ('full', 'disk', 'locked') when that was less than
    FAILURE_HOLD_SECONDS ago and no write succeeded since; no query (any thread may ask about any connection)."""
    failure = _failures.get(_failure_key(db)) if db is not None and _failures else None
    if failure and time.monotonic() - failure[0] < FAILURE_HOLD_SECONDS:
        return failure[1]
    return None


def write_problem(db: sqlite_utils.Database, path: Path | str | None = None) -> str | None:
    """Why writes would fail now ('full', 'disk', 'locked'), or None when they should work.

    A failed write counts for FAILURE_HOLD_SECONDS unless a write succeeds first; besides, the database is
    full when it reached PRAGMA max_page_count with no free page left, or when its file system has less than
    MIN_FREE_BYTES free.
    """
    failure = recent_failure(db)
    if failure:
        return failure
    pages, most, free = (db.conn.execute(f"PRAGMA {name}").fetchone()[0]
                         for name in ("page_count", "max_page_count", "freelist_count"))
    if pages >= most and free == 0:
        return "full"
    if path is not None and Path(path).parent.exists() and shutil.disk_usage(Path(path).parent).free < MIN_FREE_BYTES:
        return "full"
    return None


@contextlib.contextmanager
def write(db: sqlite_utils.Database, *, savepoint: bool = True, immediate: bool = True):
    """One write transaction (BEGIN IMMEDIATE); nested calls become savepoints.

    savepoint=False: a nested call joins the caller's transaction as it is (no savepoint: SQLite keeps no
    undo pages for it, which makes bulk inserts faster); a failure then undoes the caller's whole transaction.
    immediate=False: a plain BEGIN, each database taking its lock at its first use (BEGIN IMMEDIATE locks every
    attached database at once); the caller's first statement should then write the main database.
    """
    if db.conn.in_transaction:
        if not savepoint:
            yield db
            return
        with db.atomic():
            yield db
        return
    global _writes
    with _writes_lock:
        _writes += 1
    try:
        try:
            db.conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
        except sqlite3.OperationalError as exc:
            _note(db, exc)
            raise
        yield from _transaction(db)
    finally:
        with _writes_lock:
            _writes -= 1


# Top-level write transactions begun or waiting for the lock in this process, on any connection. SQLite does not
# queue writers (a waiting one sleeps and tries again), so the sync writer thread (writer.py), which writes group
# after group, lets those go first: a write waiting on the event loop's connection blocks every request meanwhile.
_writes = 0
_writes_lock = threading.Lock()


def writes_waiting() -> int:
    """How many write transactions of this process are begun or waiting for the lock (the caller's not counted
    when it is not in one itself)."""
    return _writes


def _transaction(db: sqlite_utils.Database):
    try:
        yield db
    except BaseException as exc:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        _note(db, exc)
        raise
    else:
        try:
            db.conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            _note(db, exc)
            if db.conn.in_transaction:
                db.conn.execute("ROLLBACK")
            raise
        _note(db, None)


def one(db: sqlite_utils.Database, sql: str, params=()) -> dict | None:
    """The first row of a query (a SELECT) as a dict, or None. Straight on the connection: db.query() wraps
    every statement in a savepoint of its own."""
    cursor = db.conn.execute(sql, params)
    row = cursor.fetchone()
    return None if row is None else dict(zip([column[0] for column in cursor.description], row))


# ---------------------------------------------------------------- reads beside the event loop

_readers = threading.local()
READERS_PER_THREAD = 4


# Every thread's kept connection, by file: (the thread's dict of them, the connection, its owner), for close_kept()
# and kept_by().
_kept: dict[str, list[tuple[dict, sqlite_utils.Database, str]]] = {}
_kept_lock = threading.Lock()


def per_thread(store: threading.local, path: Path | str, connect, limit: int = READERS_PER_THREAD,
               owner: str = "readers") -> sqlite_utils.Database:
    """This thread's connection to the database file kept in `store` (connect(path) on first use), registered under
    `owner` (kept_by()). At most `limit` files per thread (tests open many databases from the same threads): the
    oldest is closed."""
    key = str(path)
    kept = getattr(store, "connections", None)
    if kept is None:
        kept = store.connections = {}
    db = kept.get(key)
    if db is None:
        while len(kept) >= limit:
            old_key = next(iter(kept))
            old = kept.pop(old_key)
            with _kept_lock:
                _kept[old_key] = [entry for entry in _kept.get(old_key, ()) if entry[1] is not old]
            old.conn.close()
        db = kept[key] = connect(key)
        with _kept_lock:
            _kept.setdefault(key, []).append((kept, db, owner))
    return db


def kept_by(path: Path | str, owner: str) -> list[sqlite_utils.Database]:
    """The open connections to the file that threads of `owner` keep (tests set a per-connection PRAGMA on each)."""
    with _kept_lock:
        return [db for _kept_dict, db, by in _kept.get(str(path), ()) if by == owner]


def close_kept(path: Path | str) -> int:
    """Close every thread's kept connection to the file (page loops, readers, the sessions thread), when the app
    stops and no request runs: with the app's own connection closed last, SQLite writes the WAL back into the
    file and removes it, so a copy of the stopped database file alone is whole. A thread that needs the file
    again opens a new connection. Returns how many were closed."""
    key = str(path)
    with _kept_lock:
        entries = _kept.pop(key, [])
    for kept, db, _owner in entries:
        if kept.get(key) is db:
            kept.pop(key, None)
        db.conn.close()
    return len(entries)


def _read_only(key: str) -> sqlite_utils.Database:
    conn = sqlite3.connect(key, isolation_level=None, check_same_thread=False, timeout=10)
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA query_only=1")
    return sqlite_utils.Database(conn)


def reader(path: Path | str) -> sqlite_utils.Database:
    """This thread's read-only connection to the database file (opened on first use, kept for the thread).

    For reads that run in a worker thread beside the event loop (the app's own connection is the event loop's):
    in WAL mode readers never wait for the writer nor it for them. query_only: nothing can be written through it.
    """
    return per_thread(_readers, path, _read_only)


@contextlib.contextmanager
def snapshot(db: sqlite_utils.Database):
    """One read transaction: every query inside sees the same state of the database."""
    if db.conn.in_transaction:
        yield db
        return
    db.conn.execute("BEGIN")
    try:
        yield db
    finally:
        if db.conn.in_transaction:
            db.conn.execute("COMMIT")
