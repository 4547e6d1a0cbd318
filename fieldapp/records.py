"""The three field records (contact, tension observation, intervention): saving, resends, history.

No web imports. Callers check access once (fieldapp/access.py) and pass the deployment or record on; after the
write's transaction they run the projections (fieldapp/services/recording.py for forms, routes/offline.py for
sync batches). Forms and sync both come through create_many() with the same raw values, checked by
record_values.validate().
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import msgspec
from sqlite_utils.db import jsonify_if_needed

from fieldapp import access, audit
from fieldapp.accounts import User
from fieldapp.clock import iso, parse, utcnow
from fieldapp.db import one, write
from fieldapp.errors import Forbidden, NotFound
from fieldapp.i18n import gettext as _
from fieldapp.ids import is_valid_id, new_id  # noqa: F401 (new_id is used by demo data too)
from fieldapp.offline import changes as offline_changes
from fieldapp.record_values import (  # noqa: F401 (the kinds, their fields and validate() are part of this API)
    DEVICE_CLOCK_TOLERANCE,
    FIELD_NAMES,
    KINDS,
    BatchCache,
    RecordKind,
    ValidationFailed,
    content,
    decode,
    unreadable_device_time,
    validate,
)


class IdConflict(Exception):
    """A record with this id exists with different content: nothing is overwritten."""

    def __init__(self, existing: dict, kind_name: str):
        super().__init__(existing["id"])
        self.existing = existing
        self.kind_name = kind_name


class StaleVersion(Exception):
    """An edit based on an older version than the stored one."""

    def __init__(self, current: dict):
        super().__init__(current["id"])
        self.current = current


_JSON = msgspec.json.Encoder()


def _to_row(kind: RecordKind, values: dict) -> dict:
    row = values.copy()
    for name in kind.multi:
        if name in row:
            row[name] = _JSON.encode(row[name] or []).decode()
    for name in kind.booleans:
        if name in row:
            row[name] = int(bool(row[name]))
    return row


def get(db, kind_name: str, record_id: str) -> dict | None:
    kind = KINDS[kind_name]
    return decode(kind_name, one(db, f"SELECT * FROM {kind.table} WHERE id = ? AND deleted_at IS NULL", [record_id]))


def get_any(db, kind_name: str, record_id: str) -> dict | None:
    """A record whether or not it is deleted."""
    kind = KINDS[kind_name]
    return decode(kind_name, one(db, f"SELECT * FROM {kind.table} WHERE id = ?", [record_id]))


def _version_data(record: dict) -> str:
    return json.dumps({k: v for k, v in record.items() if k not in ("record_type", "duplicate", "seq")},
                      sort_keys=True)


def _snapshot(db, kind_name: str, record: dict) -> None:
    """Keep a version that is about to be replaced (edit) or deleted: record_versions holds the previous
    versions only; the current one is the record's row itself (see history())."""
    db.execute("INSERT OR REPLACE INTO record_versions (record_type, record_id, version, data, changed_by, changed_at) "
               "VALUES (?, ?, ?, ?, ?, ?)", [kind_name, record["id"], record["version"], _version_data(record),
                                             record["updated_by"], record["updated_at"]])


@dataclass(slots=True)
class NewRecord:
    """One record to create: what create() takes, as one item of create_many()."""

    kind: str
    deployment_id: str
    raw: dict
    record_id: str | None = None
    device_time: str | None = None
    clock_off: bool | None = None  # the device's clock is far off (None: judged from device_time)
    submission_hash: str | None = None  # the device's submission (sync): a resend of it is a duplicate at once


def create(db, user: User, kind_name: str, deployment: dict, raw: dict, *, record_id: str | None = None,
           device_time: str | None = None, action: str = "create") -> dict:
    """Validate and store a new record in a deployment the caller has checked (access.recordable); returns the
    stored record ("duplicate": True for a resend of the same record)."""
    cache = BatchCache(db, user, recordable=deployment)
    [outcome] = create_many(db, user, [NewRecord(kind_name, deployment["id"], raw, record_id, device_time)], cache=cache,
                            action=action)
    if isinstance(outcome, Exception):
        raise outcome
    return {**get_any(db, kind_name, outcome["id"]), **{k: v for k, v in outcome.items() if k.startswith("duplicate")}}


def create_many(db, user: User, items: list[NewRecord], *, cache: BatchCache | None = None,
                now: datetime | None = None, action: str = "create") -> list[dict | Exception]:
    """Many new records at once: one outcome per item, in order: the brief of a stored record (id, version,
    received_at, time_flagged), a resend of the same record (its brief or row with "duplicate": True), or the
    exception that refused it (ValidationFailed, IdConflict, NotFound, Forbidden).

    Access is checked here once per deployment (cache.recordable): a sync batch may name several.
    Existing ids are looked up with one statement (a resend of the very submission that created a
    record is answered without validating it again); every other item is validated; the new records are
    written with one statement per table, each with its audit row (`action`: 'create' from a form, 'sync'
    from a device), in the caller's transaction (or one of their own). The caller runs projections.catch_up()
    after its commit (the situation picture, alerts, POR feed).
    An item that depends on an earlier one (the same id, or an intervention linking to a record of the
    batch) starts a new round, so it sees that record stored.
    """
    cache = cache or BatchCache(db, user)
    outcomes: list = []
    start, seen = 0, set()
    for index, item in enumerate(items):
        if item.record_id in seen or (item.kind == "intervention" and seen.intersection(
                (item.raw.get("tension_id"), item.raw.get("contact_id")))):
            outcomes += _create_round(db, user, items[start:index], cache, now, action)
            start, seen = index, set()
        if item.record_id is not None:
            seen.add(item.record_id)
    outcomes += _create_round(db, user, items[start:], cache, now, action)
    return outcomes


def _create_round(db, user: User, items: list[NewRecord], cache: BatchCache, now: datetime | None,
                  action: str) -> list:
    """create_many() for items of which none depends on another."""
    if not items:
        return []
    now = now or utcnow()
    outcomes: list = [None] * len(items)
    existing = _existing_with_ids(db, [item.record_id for item in items if item.record_id is not None])
    new_at: list[int] = []
    new: list[NewRow] = []
    deployment_id = deployment = None
    for index, item in enumerate(items):
        found = existing.get(item.record_id) if existing else None
        if found is not None and item.submission_hash and found[0] == item.kind \
                and found[1]["submission_hash"] == item.submission_hash:
            # The very submission that created the record, again (lost acknowledgement): no need to validate;
            # its answer is the brief (only sync sends submissions).
            outcomes[index] = {**found[1], "duplicate": True, "duplicate_of_version": 1}
            continue
        try:
            if item.deployment_id != deployment_id:  # a batch is mostly of one deployment
                deployment = cache.recordable(item.deployment_id)
                deployment_id = item.deployment_id
            if item.record_id is not None and not is_valid_id(item.record_id):
                raise ValidationFailed({"id": _("The record id is not valid. Reload the form and try again.")})
            values = validate(db, item.kind, item.raw, deployment, now=now, cache=cache)
        except (NotFound, Forbidden, ValidationFailed) as exc:
            outcomes[index] = exc
            continue
        if found is None:
            new_at.append(index)
            new.append(NewRow(item.kind, item.deployment_id, _to_row(KINDS[item.kind], values), item.record_id,
                              _clean_device_time(item.device_time), item.clock_off, item.submission_hash))
            continue
        # A resend of the same record (double tap, lost acknowledgement) is the same success, once: the
        # same content as the first version (answered as version 1) or as the current one.
        existing_kind, existing_row = _existing_with_id(db, item.record_id)
        first = _first_version(db, existing_kind, existing_row)
        if existing_kind == item.kind and _same_content(item, values, first):
            outcomes[index] = {**existing_row, "duplicate": True, "duplicate_of_version": 1}
        elif existing_kind == item.kind and _same_content(item, values, existing_row):
            outcomes[index] = {**existing_row, "duplicate": True, "duplicate_of_version": existing_row["version"]}
        else:
            outcomes[index] = IdConflict(existing_row, existing_kind)
    for index, stored in zip(new_at, _insert(db, user, new, now, action)):
        outcomes[index] = stored._asdict()
    return outcomes


def _first_version(db, kind_name: str, record: dict) -> dict:
    """The record as first stored: its row while at version 1, else the version 1 kept in the history."""
    if record["version"] == 1:
        return record
    row = one(db, "SELECT data FROM record_versions WHERE record_type = ? AND record_id = ? AND version = 1",
              [kind_name, record["id"]])
    return json.loads(row["data"]) if row else record


def _same_content(item: NewRecord, values: dict, stored: dict) -> bool:
    """Whether validated values are the content of a stored version (row or history snapshot)."""
    if not item.raw.get("occurred_at"):  # "now" of a resend is not a change of content
        values = {**values, "occurred_at": stored["occurred_at"]}
    return stored.get("deployment_id") == item.deployment_id and content(item.kind, stored) == content(item.kind, values)


def _existing_with_id(db, record_id: str) -> tuple[str, dict] | None:
    """(kind, record) of any stored record with this id, deleted ones included."""
    for kind_name, kind in KINDS.items():
        row = one(db, f"SELECT * FROM {kind.table} WHERE id = ?", [record_id])
        if row is not None:
            return kind_name, decode(kind_name, row)
    return None


_BRIEF = ("id", "version", "received_at", "time_flagged", "submission_hash")
# Which of the given ids (a JSON list) exist, in any of the three tables, with the brief of each.
_ANY_WITH_IDS = "WITH given(id) AS (SELECT value FROM json_each(?1)) " + " UNION ALL ".join(
    f"SELECT '{name}', {', '.join(f'{kind.table}.{column}' for column in _BRIEF)} "
    f"FROM given JOIN {kind.table} ON {kind.table}.id = given.id" for name, kind in KINDS.items())


def _existing_with_ids(db, record_ids: list[str]) -> dict[str, tuple[str, dict]]:
    """id -> (kind, brief) of the stored records with these ids, deleted ones included, with one statement (usually
    finding none, for new records). The brief (id, version, received_at, time_flagged, submission_hash) answers a
    resend of the very submission that created a record; _existing_with_id() reads the whole record."""
    found: dict[str, tuple[str, dict]] = {}
    if record_ids:
        for kind_name, *brief in db.conn.execute(_ANY_WITH_IDS, [json.dumps(record_ids)]):
            found.setdefault(brief[0], (kind_name, dict(zip(_BRIEF, brief))))
    return found


def store_unchecked(db, user: User, kind_name: str, deployment_id: str, values: dict, *,
                    record_id: str | None = None, device_time: str | None = None,
                    received_at: datetime | None = None) -> dict:
    """Insert values that did not come through validate() (demo data, imports): any subset of the fields, turned
    into SQLite types as sqlite-utils does. Returns the stored record; the caller runs the projections."""
    row = {name: jsonify_if_needed(value) for name, value in _to_row(KINDS[kind_name], values).items()}
    [stored] = _insert(db, user, [NewRow(kind_name, deployment_id, row, record_id, device_time, None, None)],
                       received_at or utcnow(), "create")
    return get(db, kind_name, stored.id)


class NewRow(NamedTuple):
    """One new record ready to insert: its field columns already in SQLite's types (_to_row)."""

    kind: str
    deployment_id: str
    columns: dict
    record_id: str | None
    device_time: str | None  # the device's clock when it was saved, as UTC text
    clock_off: bool | None  # the device's clock is far off (None: judged from device_time)
    submission_hash: str | None  # the device's submission (sync): a resend of it is a duplicate at once


class Stored(NamedTuple):
    """What a new record's insert gives back: enough to answer the device."""

    id: str
    version: int
    received_at: str
    time_flagged: int


_STORED_COLUMNS = ("id", "deployment_id", "device_time", "received_at", "time_flagged", "version",
                   "created_at", "updated_at", "created_by", "updated_by", "seq", "submission_hash")


def _insert(db, user: User, rows: list[NewRow], now: datetime, action: str) -> list[Stored]:
    """Insert new records: one statement per table and set of columns, their positions in the change sequence,
    and one audit row each (`action`), all in one transaction (the caller's, if any)."""
    if not rows:
        return []
    stamp = iso(now)
    statements: dict[tuple, list[tuple]] = {}
    stored: list[Stored] = []
    with write(db, savepoint=False):  # nothing here is caught and carried on from: no savepoint needed
        seq = offline_changes.claim(db, len(rows))
        for offset, row in enumerate(rows):
            flagged = int(_clock_off(row.device_time, now) if row.clock_off is None else row.clock_off)
            record_id = row.record_id or new_id()
            statements.setdefault((row.kind, tuple(row.columns)), []).append(
                (record_id, row.deployment_id, row.device_time, stamp, flagged, 1, stamp, stamp, user.id, user.id,
                 seq + offset, row.submission_hash, *row.columns.values()))
            stored.append(Stored(record_id, 1, stamp, flagged))
        for (kind_name, names), values in statements.items():
            columns = (*_STORED_COLUMNS, *names)
            db.conn.executemany(f"INSERT INTO {KINDS[kind_name].table} ({', '.join(columns)}) "
                                f"VALUES ({', '.join('?' * len(columns))})", values)
        audit.append(db, [audit.Row(stamp, user.id, action, row.kind, s.id, "", "ok") for row, s in zip(rows, stored)])
    return stored


def _clean_device_time(device_time) -> str | None:
    """The device's clock as UTC text; unreadable values are kept short and clean (and get the record flagged)."""
    if device_time in (None, ""):
        return None
    if isinstance(device_time, str) and len(device_time) == 24 and device_time[19] == "." \
            and device_time[23] == "Z":  # already as iso() writes it (what the outbox sends): check it only
        try:
            datetime.fromisoformat(device_time[:23])
            return device_time
        except ValueError:
            pass
    try:
        return iso(parse(str(device_time)))
    except (ValueError, OverflowError):
        return unreadable_device_time(device_time)


def _clock_off(device_time: str | None, now: datetime) -> bool:
    if not device_time:
        return False
    try:
        return abs(parse(device_time) - now) > DEVICE_CLOCK_TOLERANCE
    except (ValueError, OverflowError):
        return True


def visible_record(db, user: User, kind_name: str, record_id: str) -> dict:
    """The record if the user may see its deployment; NotFound otherwise (unknown and hidden ids alike)."""
    record = get(db, kind_name, record_id)
    if record is None:
        raise NotFound(record_id)
    access.record_visible(db, user, record)
    return record


def update(db, user: User, kind_name: str, record: dict, deployment: dict, raw: dict, *, base_version: int) -> dict:
    """Store an edit of a record the caller may edit (access.editable gave its deployment); the previous version
    stays in the history. StaleVersion if base_version is old."""
    if not raw.get("occurred_at"):  # an edit without a time keeps the record's time, not "now"
        raw = {**raw, "occurred_at": record["occurred_at"]}
    values = validate(db, kind_name, raw, deployment, stored_time=record["occurred_at"], stored=record)
    kind = KINDS[kind_name]
    with write(db):
        current = get(db, kind_name, record["id"])
        if current is None:
            raise NotFound(record["id"])
        if current["version"] != base_version:
            raise StaleVersion(current)
        _snapshot(db, kind_name, current)
        changes = {**_to_row(kind, values), "version": current["version"] + 1, "updated_at": iso(utcnow()),
                   "updated_by": user.id, "seq": offline_changes.claim(db)}
        db[kind.table].update(record["id"], changes)
        updated = get(db, kind_name, record["id"])
        audit.record(db, user.id, "update", kind_name, record["id"], f"version={updated['version']}")
    return updated


def delete(db, user: User, kind_name: str, record: dict) -> None:
    """Soft-delete a record the caller may edit (it stays in the history and the audit log)."""
    kind = KINDS[kind_name]
    now = iso(utcnow())
    with write(db):
        _snapshot(db, kind_name, record)  # a deleted record's history ends with its last version
        db.execute(f"UPDATE {kind.table} SET deleted_at = ?, updated_at = ?, updated_by = ?, version = version + 1, "
                   "seq = ? WHERE id = ?", [now, now, user.id, offline_changes.claim(db), record["id"]])
        audit.record(db, user.id, "delete", kind_name, record["id"])


def history(db, kind_name: str, record_id: str) -> list[dict]:
    """Every stored version of a record, newest first, with who made it: the current row (unless the
    record is deleted) and the previous versions kept in record_versions."""
    kind = KINDS[kind_name]
    current = one(db, f"SELECT * FROM {kind.table} WHERE id = ?", [record_id])
    out = []
    if current is not None and current["deleted_at"] is None:
        author = one(db, "SELECT username, display_name FROM users WHERE id = ?", [current["updated_by"]]) or {}
        out.append({"version": current["version"], "data": json.loads(_version_data(decode(kind_name, current))),
                    "changed_at": current["updated_at"], "username": author.get("username"),
                    "display_name": author.get("display_name")})
    rows = db.query(
        "SELECT v.version, v.data, v.changed_at, u.username, u.display_name FROM record_versions v "
        "LEFT JOIN users u ON u.id = v.changed_by WHERE v.record_type = ? AND v.record_id = ? AND v.version < ? "
        "ORDER BY v.version DESC", [kind_name, record_id, out[0]["version"] if out else 1 << 62])
    return out + [{**row, "data": json.loads(row["data"])} for row in rows]


def changed_fields(kind_name: str, older: dict, newer: dict) -> list[str]:
    """Names of the record fields whose value differs between two versions (for the history).

    Lists of codes are compared as sets: the order in which chips were tapped is not a change.
    """
    multi = KINDS[kind_name].multi

    def same(name):
        a, b = older.get(name), newer.get(name)
        if name in multi and isinstance(a, list) and isinstance(b, list):
            return sorted(map(str, a)) == sorted(map(str, b))
        return a == b
    return [name for name in FIELD_NAMES[kind_name] if not same(name)]


def count_for_deployment(db, kind_name: str, deployment_id: str) -> int:
    """How many records of one kind a deployment has (deleted ones not counted). All of them are counted in the
    index alone and the deleted ones, few, through the index of changed records ({table}_changed_seq, whose
    condition the second count repeats so that SQLite uses it): counting `deleted_at IS NULL` directly read every
    row of the table (a deployment page after a storm of 15,000 records: bench/README.md)."""
    table = KINDS[kind_name].table
    return db.execute(
        f"SELECT (SELECT COUNT(*) FROM {table} WHERE deployment_id = ?) - (SELECT COUNT(*) FROM {table} "
        "WHERE deployment_id = ? AND (version > 1 OR deleted_at IS NOT NULL) AND deleted_at IS NOT NULL)",
        [deployment_id, deployment_id]).fetchone()[0]


def for_deployment(db, kind_name: str, deployment_id: str, limit: int = 200) -> list[dict]:
    """A deployment's records of one kind, newest first."""
    kind = KINDS[kind_name]
    rows = db.query(
        f"SELECT r.*, u.display_name AS author FROM {kind.table} r LEFT JOIN users u ON u.id = r.created_by "
        "WHERE r.deployment_id = ? AND r.deleted_at IS NULL ORDER BY r.occurred_at DESC, r.id DESC LIMIT ?",
        [deployment_id, limit])
    return [decode(kind_name, row) for row in rows]
