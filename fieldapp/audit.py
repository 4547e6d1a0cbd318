"""The access log (Directive 2016/680 art. 25): who did or saw what, when, and how it ended.

Every row is written inside the same transaction as the change it describes (or, for a read, in a small
transaction of its own) and carries a SHA-256 of its content chained to the row before it. Rows are never
changed: triggers (migration m010) refuse UPDATE, and DELETE except for rows the retention purge has first
written a receipt for (retention.py). verify() walks the chain and names the first row that does not fit.

Reads are logged one row per page or request, not per record: a list, a pull or an export is one row whose
target is what was shown (a deployment, a kind of record) and whose detail says how many.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from typing import Iterable, NamedTuple

from fieldapp.clock import now_iso
from fieldapp.db import one, write

# Actions that only read; a record's own history (for_record) leaves them out.
READ_ACTIONS = frozenset(("view", "list", "pull", "export", "report_view", "report_export_csv", "refused",
                          "yearly_report_view", "yearly_report_export_csv", "yearly_report_export_ods"))
# How a request ended: done, refused (403), not found (404: an unknown or unseen id), failed (a wrong password).
OUTCOMES = ("ok", "refused", "not_found", "failed")
_COLUMNS = "at, user_id, action, record_type, record_id, detail, outcome"
# Actions whose name says how they ended, for callers that give no outcome.
_OUTCOME_OF = {"login_failed": "failed"}


class Row(NamedTuple):
    """One audit row's content, in the order it is hashed."""

    at: str
    user_id: str | None
    action: str
    record_type: str | None
    record_id: str | None
    detail: str
    outcome: str


def row_hash(prev_hash: str, row: Row | tuple) -> str:
    """SHA-256 over the previous row's hash and this row's content, each part prefixed with its length (None as
    '-'), so that no two different contents give the same text (migration m010 has a frozen copy)."""
    text = "".join(["-" if part is None else f"{len(str(part))}:{part}" for part in (prev_hash, *row)])
    return hashlib.sha256(text.encode()).hexdigest()


def head(db) -> str:
    """The newest row's hash: what the next row chains to ('' for the very first)."""
    row = db.conn.execute("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    return row[0] if row else ""


def append(db, rows: Iterable[Row]) -> None:
    """Append rows in order, each chained to the one before, with one statement, in the caller's write
    transaction (or one of its own: the head read and the insert must not be split by another writer)."""
    with write(db, savepoint=False):
        prev = head(db)
        values = []
        for row in rows:
            digest = row_hash(prev, row)
            values.append((*row, prev, digest))
            prev = digest
        db.conn.executemany(f"INSERT INTO audit_log ({_COLUMNS}, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            values)


def record(db, user_id: str | None, action: str, record_type: str | None = None,
           record_id: str | None = None, detail: str = "", outcome: str | None = None) -> None:
    """Append one audit row (who, when, what, which target, how it ended: 'ok' unless the action says)."""
    append(db, [Row(now_iso(), user_id, action, record_type, record_id, detail,
                    outcome or _OUTCOME_OF.get(action, "ok"))])


def refused(db, user_id: str | None, method: str, path: str, outcome: str) -> None:
    """A request turned away (403: 'refused'; 404 for an id that is unknown or not the user's: 'not_found'),
    logged for a logged-in user only (anonymous refusals are answered with the login page)."""
    if user_id is not None:
        record(db, user_id, "refused", "request", None, f"{method} {path}"[:500], outcome)


def read(db, user_id: str | None, action: str, record_type: str | None, record_id: str | None = None,
         **detail) -> None:
    """Log a read: one row for what one request showed (`detail`: how many, which filter), in a transaction of
    its own (a read has none), committed without waiting for the disk (synchronous=NORMAL for this one commit):
    in WAL mode the row is lost only if the machine itself stops before the next change's commit or checkpoint
    syncs it, never when the app crashes, and the chain stays whole either way. Waiting for the disk cost a
    page up to 2.7 ms on a busy disk (bench/README.md)."""
    text = json.dumps(detail, separators=(",", ":"), sort_keys=True) if detail else ""
    if db.conn.in_transaction:
        record(db, user_id, action, record_type, record_id, text)
        return
    level = db.conn.execute("PRAGMA synchronous").fetchone()[0]
    db.conn.execute("PRAGMA synchronous=NORMAL")
    try:
        record(db, user_id, action, record_type, record_id, text)
    finally:
        db.conn.execute(f"PRAGMA synchronous={int(level)}")


def for_record(db, record_type: str, record_id: str) -> list[dict]:
    """A record's changes, oldest first (a record synced from a device has its own 'sync' row); reads are left
    out (they are in the administrators' view of the log)."""
    reads = ", ".join(f"'{action}'" for action in sorted(READ_ACTIONS))
    return list(db.query("SELECT a.*, u.username FROM audit_log a LEFT JOIN users u ON u.id = a.user_id "
                         f"WHERE a.record_type = ? AND a.record_id = ? AND a.action NOT IN ({reads}) ORDER BY a.id",
                         [record_type, record_id]))


# ------------------------------------------------------------------------------------------ verifying


@dataclass
class Verification:
    """What verify() found: ok, how many rows it checked, and the first row that does not fit (if any)."""

    ok: bool
    checked: int
    first_id: int | None = None
    head_id: int | None = None
    head_hash: str = ""
    broken_id: int | None = None
    reason: str = ""


def _purge_anchor(db, first_id: int) -> str | None:
    """The hash the oldest kept row chains to, as the purge receipt that removed the rows before it recorded."""
    row = one(db, "SELECT detail FROM audit_log WHERE record_type = 'retention' AND action = 'purge' "
                  "AND record_id = ? ORDER BY id DESC LIMIT 1", [str(first_id)])
    if row is None:
        return None
    try:
        return json.loads(row["detail"])["audit_log"]["prev_hash"]
    except (ValueError, KeyError, TypeError):
        return None


def verify(db) -> Verification:
    """Walk the chain from the oldest row kept: each row's stored hash must be the hash of its content and of the
    row before it. The oldest row chains to '' (nothing was ever purged) or to the hash a purge receipt recorded."""
    cursor = db.conn.execute(f"SELECT id, {_COLUMNS}, prev_hash, hash FROM audit_log ORDER BY id")
    prev: str | None = None
    checked, first_id, last_id = 0, None, None
    for row_id, *content, stored_prev, stored_hash in cursor:
        if prev is None:
            first_id = row_id
            expected_prev = "" if stored_prev == "" else _purge_anchor(db, row_id)
            if expected_prev != stored_prev:
                return Verification(False, checked, first_id, broken_id=row_id,
                                    reason="the oldest row chains to a row no purge receipt accounts for")
            prev = stored_prev
        if stored_prev != prev:
            return Verification(False, checked, first_id, broken_id=row_id,
                                reason="the row does not chain to the row before it (a row was removed or changed)")
        if row_hash(prev, content) != stored_hash:
            return Verification(False, checked, first_id, broken_id=row_id,
                                reason="the row's content does not match its hash (the row was changed)")
        prev, last_id = stored_hash, row_id
        checked += 1
    return Verification(True, checked, first_id, last_id, prev or "")


# ------------------------------------------------------------------------------------------ the admin view


@dataclass
class LogQuery:
    """The administrators' filters: who, which record (or other target id), from and to (UTC text), before an id
    (the next page)."""

    user_id: str | None = None
    target: str | None = None
    start: str | None = None
    end: str | None = None
    before_id: int | None = None


def search(db, query: LogQuery, limit: int | None = 100) -> list[dict]:
    """Audit rows matching the filters, newest first. A record filter matches rows about the record and reads
    whose detail names it (a map cell's view lists the records it showed)."""
    where, params = [], []
    if query.user_id:
        where.append("a.user_id = ?")
        params.append(query.user_id)
    if query.target:
        where.append("(a.record_id = ? OR instr(a.detail, ?) > 0)")
        params += [query.target, query.target]
    if query.start:
        where.append("a.at >= ?")
        params.append(query.start)
    if query.end:
        where.append("a.at < ?")
        params.append(query.end)
    if query.before_id is not None:
        where.append("a.id < ?")
        params.append(query.before_id)
    sql = (f"SELECT a.id, {', '.join('a.' + c for c in _COLUMNS.split(', '))}, a.hash, u.username "
           "FROM audit_log a LEFT JOIN users u ON u.id = a.user_id "
           f"{'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY a.id DESC")
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [dict(row) for row in db.query(sql, params)]


CSV_COLUMNS = ("id", "at", "username", "user_id", "action", "record_type", "record_id", "outcome", "detail", "hash")


def to_csv(rows: Iterable[dict]) -> str:
    """Rows as CSV (text a spreadsheet could run as a formula is quoted with a leading apostrophe)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([_csv_safe(row.get(name)) for name in CSV_COLUMNS])
    return out.getvalue()


def _csv_safe(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
