"""Open the database (WAL, foreign keys, synchronous=FULL) and run writes in one transaction."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import sqlite_utils

from fieldapp import migrations


def open_db(path: Path | str | None = None, *, memory: bool = False) -> sqlite_utils.Database:
    """A sqlite-utils Database with the pragmas every connection needs, migrations applied."""
    if memory or path is None:
        conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=10)
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=10000")
    db = sqlite_utils.Database(conn)
    migrations.apply(db)
    return db


@contextlib.contextmanager
def write(db: sqlite_utils.Database, *, savepoint: bool = True):
    """One write transaction (BEGIN IMMEDIATE); nested calls become savepoints.

    savepoint=False: a nested call joins the caller's transaction as it is (no savepoint: SQLite keeps no
    undo pages for it, which makes bulk inserts faster); a failure then undoes the caller's whole transaction.
    """
    if db.conn.in_transaction:
        if not savepoint:
            yield db
            return
        with db.atomic():
            yield db
        return
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    else:
        db.conn.execute("COMMIT")


def one(db: sqlite_utils.Database, sql: str, params=()) -> dict | None:
    """The first row of a query (a SELECT) as a dict, or None. Straight on the connection: db.query() wraps
    every statement in a savepoint of its own."""
    cursor = db.conn.execute(sql, params)
    row = cursor.fetchone()
    return None if row is None else dict(zip([column[0] for column in cursor.description], row))
