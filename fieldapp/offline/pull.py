"""The pull, bounded to what a device needs (issue 13): its deployments' recent picture, not every colleague's every
record.

What a device does with pulled records (sync-client.js, outbox.js): it keeps them as copies of its deployments
(bounded to the current and next deployment and the last day, device-wipe.js), notes which deployments changed so
that their offline pages are fetched again, and learns the server's version of its own records. What it shows
offline of a deployment is that deployment's page with the newest records of each kind (the bootstrap's
`recent_records`, RECENT_RECORDS_PER_KIND a kind). So a pull from `cursor` gives, for the range (cursor, newest]:

- the **window**: the newest WINDOW records of each kind of each of the device's deployments (of the last day, not
  deleted) that changed in the range; when a (deployment, kind) had an edit or a deletion in the range, its whole
  window (a deleted or back-dated record lets an older one into it);
- every **edit and deletion** in the range (a device may keep a copy of any record that was once in a window);
- the device's **own records** changed in the range, each with its server version;
- `changed`: every deployment that had any change in the range (its offline pages are fetched again), also when
  the change itself is not sent (a colleague's new record older than the window).

Left out: colleagues' new records that are not among the newest of their kind: in a storm of 300 officers each
syncing 50 records, 60 records a deployment instead of 15,000, which no device would show anyway.

**Shared**: the window of a deployment is computed once for each state of it (the newest change position of each
kind) and kept in memory (WINDOW_CACHE deployments at most, least recently used out first), so 300 devices asking
about the same deployment cost one query; each device then only filters it by its cursor. Edits, deletions and
own records are read through indexes that hold only those (migration m017), so the cost of a pull follows what it
returns, not how many records colleagues added.

Pages: `limit` bounds the records of one answer, cut at a change position (the cursor goes to the last position
given and `more` is true); positions only grow. No web imports.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import msgspec

from fieldapp import records

WINDOW = 20  # the newest records of each kind of a deployment a device keeps (as the bootstrap's recent records)
WINDOW_CACHE = 512  # deployments whose windows are kept in memory
WINDOW_MAX_AGE = 300.0  # seconds a window is trusted without a change position moving (writes outside the app)


class PulledRecord(msgspec.Struct, kw_only=True):
    """A field record as a device keeps it: its current values, or deleted."""

    id: str
    kind: str
    deployment_id: str
    version: int
    deleted: bool
    record: dict[str, Any]


# Left out of a device's copy: bookkeeping, and what the pulled record says beside it (id, deployment, version).
# Empty (null) values are left out too: a device's copy is compact (issue 13: 300 devices pull at once).
_NOT_COPIED = frozenset({"submission_hash", "record_type", "duplicate", "id", "deployment_id", "version", "seq",
                         "updated_by"})


def _device_copy(kind_name: str, row: dict) -> dict:
    multi = records.KINDS[kind_name].multi
    decoded = row if all(not isinstance(row.get(name), str) for name in multi) else records.decode(kind_name, row)
    return {k: v for k, v in decoded.items() if k not in _NOT_COPIED and v is not None}


def _pulled(kind_name: str, row: dict) -> PulledRecord:
    return PulledRecord(id=row["id"], kind=kind_name, deployment_id=row["deployment_id"], version=row["version"],
                        deleted=row.get("deleted_at") is not None,
                        record={} if row.get("deleted_at") else _device_copy(kind_name, row))


@dataclass(frozen=True)
class Entry:
    seq: int
    occurred_at: str
    record: PulledRecord


@dataclass
class _Window:
    stamp: tuple
    made: float
    since: str
    kinds: dict  # kind name -> [Entry], newest first


class WindowCache:
    """Windows per (database, deployment), each valid for one state of the deployment (its change marks)."""

    def __init__(self, size: int = WINDOW_CACHE):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self.computed = 0  # how many windows were read from the database (tests, the bench)
        self.served = 0

    def get(self, db, db_key: str, deployment_id: str, stamp: tuple, since: str, make) -> dict:
        key = (db_key, deployment_id)
        now = time.monotonic()
        with self._lock:
            found = self._items.get(key)
            if found is not None and found.stamp == stamp and now - found.made < WINDOW_MAX_AGE \
                    and found.since <= since:
                self._items.move_to_end(key)
                self.served += 1
                return found.kinds
        kinds = make(db, deployment_id, since)
        with self._lock:
            self.computed += 1
            self.served += 1
            self._items[key] = _Window(stamp, now, since, kinds)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return kinds

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


WINDOWS = WindowCache()


def database_key(db) -> str:
    """Which database this is (windows of two databases never mix: tests copy the same demo data)."""
    for _number, name, path in db.conn.execute("PRAGMA database_list"):
        if name == "main":
            return path or f"memory:{id(db.conn)}"
    return f"memory:{id(db.conn)}"


def marks(db, deployment_id: str) -> tuple:
    """The newest change position of each kind of records of a deployment (index deployment_id, seq)."""
    return tuple(db.conn.execute(f"SELECT max(seq) FROM {kind.table} WHERE deployment_id = ?",
                                 [deployment_id]).fetchone()[0] or 0 for kind in records.KINDS.values())


def _select(kind) -> str:
    return f"SELECT r.*, u.display_name AS author FROM {kind.table} r LEFT JOIN users u ON u.id = r.created_by "


def _read_window(db, deployment_id: str, since: str) -> dict:
    out = {}
    for kind_name, kind in records.KINDS.items():
        rows = db.query(_select(kind) + "WHERE r.deployment_id = ? AND r.deleted_at IS NULL AND r.occurred_at >= ? "
                                        "ORDER BY r.occurred_at DESC, r.id DESC LIMIT ?", [deployment_id, since, WINDOW])
        out[kind_name] = [Entry(row["seq"], row["occurred_at"], _pulled(kind_name, row)) for row in rows]
    return out


def window(db, deployment_id: str, since: str, db_key: str | None = None, stamp: tuple | None = None) -> dict:
    """The newest WINDOW records of each kind of a deployment (of the last day, not deleted), shared."""
    stamp = marks(db, deployment_id) if stamp is None else stamp
    return WINDOWS.get(db, db_key or database_key(db), deployment_id, stamp, since, _read_window)


def recent(db, deployment_ids: list[str], since: str) -> list:
    """The window of each deployment as a flat list (the bootstrap's recent records)."""
    key = database_key(db)
    return [entry.record for deployment_id in deployment_ids
            for entries in window(db, deployment_id, since, key).values()
            for entry in entries if entry.occurred_at >= since]


class Page(msgspec.Struct, kw_only=True):
    cursor: int
    more: bool
    records: list
    changed: list[str]


def pull(db, user_id: str, deployment_ids: list[str], cursor: int, newest: int, since: str, limit: int) -> Page:
    """What a device with these deployments needs of the changes in (cursor, newest]; see the module docstring.
    Run it inside one read transaction (db.snapshot) so that every part sees the same state."""
    if not deployment_ids or cursor >= newest:
        return Page(cursor=max(cursor, newest) if deployment_ids else newest, more=False, records=[], changed=[])
    key = database_key(db)
    marks_in = ",".join("?" * len(deployment_ids))
    candidates: dict[str, tuple[int, object]] = {}  # record id -> (position it is given at, record)
    hit_limit = False

    def add(position: int, record) -> None:
        known = candidates.get(record.id)
        if known is None or known[0] > position:
            candidates[record.id] = (position, record)

    edited: dict[tuple[str, str], int] = {}  # (deployment, kind) -> the first change that may move its window
    changed_rows: list[tuple[str, str, str, int]] = []
    stamps = {deployment_id: marks(db, deployment_id) for deployment_id in deployment_ids}
    for kind_name, kind in records.KINDS.items():
        for own in (True, False):
            if own:  # the device's own records: their server versions (index created_by, seq)
                where = "r.created_by = ? AND r.seq > ? AND r.seq <= ? AND r.deployment_id IN (" + marks_in + ") "
                params = [user_id, cursor, newest, *deployment_ids]
            else:  # edits and deletions (the partial index m017 holds only those)
                where = ("r.deployment_id IN (" + marks_in + ") AND r.seq > ? AND r.seq <= ? "
                         "AND (r.version > 1 OR r.deleted_at IS NOT NULL) ")
                params = [*deployment_ids, cursor, newest]
            rows = db.query(_select(kind) + "WHERE " + where + "AND (r.occurred_at >= ? OR r.deleted_at IS NOT NULL) "
                            "ORDER BY r.seq LIMIT ?", [*params, since, limit])
            count = 0
            for row in rows:
                count += 1
                add(row["seq"], _pulled(kind_name, row))
                if row["version"] > 1 or row["deleted_at"] is not None:
                    changed_rows.append((row["deployment_id"], kind_name, row["id"], row["seq"]))
            hit_limit = hit_limit or count >= limit
    for deployment_id, kind_name, record_id, position in changed_rows:
        # A deletion, or an edit of a record outside the window (back-dated, say), may let an older record into the
        # window without that record changing: the whole window then comes with it. An edit inside it does not.
        entries = window(db, deployment_id, since, key, stamps[deployment_id])[kind_name]
        if any(entry.record.id == record_id for entry in entries):
            continue
        pair = (deployment_id, kind_name)
        edited[pair] = min(edited.get(pair, position), position)
    changed = []
    for deployment_id in deployment_ids:
        stamp = stamps[deployment_id]
        kinds = window(db, deployment_id, since, key, stamp)
        for kind_name, entries in kinds.items():
            first_edit = edited.get((deployment_id, kind_name))
            for entry in entries:
                if entry.occurred_at < since:
                    continue
                if first_edit is not None:  # the whole window comes with the edit that may have changed it
                    add(min(first_edit, entry.seq) if cursor < entry.seq <= newest else first_edit, entry.record)
                elif cursor < entry.seq <= newest:
                    add(entry.seq, entry.record)
        if max(stamp) > cursor:  # any change at all in the range: the device fetches its pages again
            changed.append(deployment_id)
    ordered = sorted(candidates.values(), key=lambda pair: pair[0])
    more = hit_limit or len(ordered) > limit
    if more:
        last = ordered[min(limit, len(ordered)) - 1][0]
        ordered = [pair for pair in ordered if pair[0] <= last]
        new_cursor = last
    else:
        new_cursor = newest
    return Page(cursor=new_cursor, more=more, records=[record for _position, record in ordered], changed=changed)
