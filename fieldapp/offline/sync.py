"""The server side of the sync protocol: device records in (one answer per record), changes out.

No web imports. A batch is one transaction. New records are validated together and written with one
statement per table (records.create_many); edits run one by one, each in its own savepoint. Either way a
record that is rejected or in conflict writes nothing of its own and never rolls back the others. A new
record is its own receipt (it keeps the hash of the submission that created it); edits and conflicts keep
theirs in sync_receipts. So a resend of the same submission (lost acknowledgement, two senders) gets the
same answer and never writes a second row.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any, Literal

import msgspec

from fieldapp import access, activities, categories, devices, records
from fieldapp import deployments as deployments_domain
from fieldapp.accounts import User
from fieldapp.clock import iso, parse, utcnow
from fieldapp.db import one, snapshot, write
from fieldapp.errors import Forbidden, NotFound, ValidationFailed
from fieldapp.i18n import gettext as _
from fieldapp.ids import is_valid_id
from fieldapp.offline import changes, sealing
from fieldapp.offline import pull as pull_domain
from fieldapp.offline.pull import PulledRecord, _pulled  # noqa: F401 (the device's copy of a record)

Status = Literal["accepted", "duplicate", "conflict", "rejected"]
# Deployments a device keeps offline: current and upcoming ones, and those that ended recently
# (records may be added up to 7 days back).
OFFLINE_DEPLOYMENTS_MAX = 12
RECENT_RECORDS_PER_KIND = pull_domain.WINDOW  # the newest records of each kind a device keeps
PULL_LIMIT = 500
ACTIVITY = "activity"  # a preventive activity (fieldapp/activities.py): synced through the same outbox, no deployment
# The largest integer SQLite stores: a version or conflict id beyond it is no version or conflict of ours.
SQLITE_INT_MAX = 2**63 - 1


class SyncRecord(msgspec.Struct, kw_only=True):
    """One record from a device's outbox."""

    id: str
    kind: str
    deployment_id: str
    values: dict[str, Any] = {}
    base_version: int | None = None  # None: a new record; N: an edit of version N
    device_time: str | None = None   # the device's clock when the record was saved
    resolves: int | None = None      # a conflict this record settles ("save mine as a new record", "use my version")
    sealed: sealing.SealedRecord | None = None  # the values, sealed to the server's key (then `values` is empty)


class SyncBatch(msgspec.Struct, kw_only=True):
    """What a device sends: up to the configured number of records, oldest first."""

    records: list[SyncRecord]
    sent_at: str | None = None  # the device's clock when sending: far from the server's, records are flagged


class ServerVersion(msgspec.Struct, kw_only=True):
    """The version the server holds, shown next to the device's version in a conflict."""

    kind: str
    version: int
    values: dict[str, Any]
    updated_at: str


class SyncResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The answer for one record."""

    id: str
    status: Status
    version: int | None = None
    received_at: str | None = None
    time_flagged: bool | None = None
    errors: dict[str, str] | None = None
    message: str | None = None
    conflict_id: int | None = None
    server: ServerVersion | None = None


class SyncResponse(msgspec.Struct, kw_only=True):
    results: list[SyncResult]
    server_time: str


class PullResponse(msgspec.Struct, kw_only=True):
    cursor: int
    more: bool
    records: list[PulledRecord]
    # The category lists' change count: a device that took its lists (and cached forms) at another one
    # refreshes them in the same sync round (categories.version).
    categories_version: int = 0
    # Deployments with any change in the range, also one not sent (a colleague's record older than the newest of
    # its kind): the device fetches their offline pages again.
    changed: list[str] = []


class ConflictResolution(msgspec.Struct, kw_only=True):
    resolution: Literal["kept_server", "saved_as_new"]
    record_id: str | None = None


_ENCODER = msgspec.json.Encoder(order="sorted")


def submission_hash(item: SyncRecord) -> str:
    """Identity of one submission: the same record sent again hashes the same."""
    body = _ENCODER.encode((item.kind, item.deployment_id, item.base_version, item.values))
    return hashlib.blake2b(body, digest_size=16).hexdigest()


def clock_off(sent_at: str | None, received: datetime) -> bool | None:
    """True when the device's clock at sending is far from ours; None when the device did not say."""
    if not sent_at:
        return None
    try:
        return abs(parse(sent_at) - received) > records.DEVICE_CLOCK_TOLERANCE
    except (ValueError, OverflowError):
        return True


class BatchTooLarge(ValueError):
    """More records than one request may carry (settings.sync_batch_max)."""

    def __init__(self, limit: int):
        super().__init__(limit)
        self.limit = limit


def ingest(db, user: User, batch: SyncBatch, *, max_records: int | None = None,
           keys: sealing.Keyring | None = None, opened: list[SyncResult | None] | None = None) -> list[SyncResult]:
    """Store a batch in one transaction and answer one result per record, in the order sent.

    New records go through records.create_many() together (validated first, then one statement per
    table); a rejected or conflicting record writes nothing of its own and never affects the others.
    Edits, conflict resolutions and a second submission of an id already in the batch each start a new run.
    Every record created is audited with a row of its own (action 'sync'), in the same transaction.
    Sealed records are opened with `keys` first; one that cannot be opened is rejected with the reason (the
    device keeps it) and the others go on. `opened`: what open_sealed() answered for this batch already (the
    server opens them before queueing the batch for its writer, so no decryption holds the write lock).
    The caller runs projections.catch_up() after this returns (the situation picture, alerts and POR feed
    follow the records; routes/offline.py does it once the device has its answer).
    """
    if max_records is not None and len(batch.records) > max_records:
        raise BatchTooLarge(max_records)
    cache = records.BatchCache(db, user)
    # Before hashing: a resend hashes its content, not its ciphertext.
    results = list(opened) if opened is not None else open_sealed(batch.records, user, keys)
    with write(db):
        received = utcnow()
        flagged = clock_off(batch.sent_at, received)
        run: list[int] = []
        run_ids: set[str] = set()
        for index, item in enumerate(batch.records):
            if results[index] is not None:  # a sealed record that could not be opened: refused already
                continue
            if item.kind == ACTIVITY:  # an activity has no deployment: fieldapp/activities.py answers it alone
                _ingest_new(db, user, batch.records, run, results, received, flagged, cache)
                run, run_ids = [], set()
                results[index] = _ingest_activity(db, user, item, received)
                continue
            new = item.base_version is None and item.resolves is None
            if new and item.id not in run_ids:
                run.append(index)
                run_ids.add(item.id)
                continue
            _ingest_new(db, user, batch.records, run, results, received, flagged, cache)
            run, run_ids = ([index], {item.id}) if new else ([], set())
            if not new:
                results[index] = _ingest_one(db, user, item, received, flagged, cache)
        _ingest_new(db, user, batch.records, run, results, received, flagged, cache)
    return results


def seal_refusal(code: str) -> str:
    """Why a sealed record was refused, in the user's language."""
    if code == "unknown_key":
        return _("The record is sealed with a key this server does not have. It is kept on the device: "
                 "ask the administrator.")
    if code == "tampered":
        return _("The sealed record was changed after it was saved, or was saved by another user, and cannot be "
                 "opened. It is kept on the device.")
    return _("The sealed record is damaged and cannot be opened. It is kept on the device.")


def open_sealed(items: list[SyncRecord], user: User, keys: sealing.Keyring | None) -> list[SyncResult | None]:
    """Replace each sealed record's values by what it holds; the refusal of each that cannot be opened, None for
    the others (no database: any thread may do this before the batch is written)."""
    results: list[SyncResult | None] = [None] * len(items)
    for index, item in enumerate(items):
        if item.sealed is None:
            continue
        try:
            if item.values or keys is None:
                raise sealing.SealBroken("malformed" if item.values else "unknown_key")
            item.values = sealing.open_sealed(keys, item.sealed, user.username)
        except sealing.SealBroken as exc:
            results[index] = _rejected(item.id, message=seal_refusal(exc.code))
    return results


def _ingest_activity(db, user: User, item: SyncRecord, received: datetime) -> SyncResult:
    """A preventive activity from the outbox (kind "activity", no deployment): stored once, a resend of the same
    id and content answered as a duplicate, the same id with other content refused (activities are not edited)."""
    try:
        with write(db):  # a savepoint: a refused activity leaves the rest of the batch alone
            row = activities.create(db, user, item.values, item.id, device_time=item.device_time, now=received,
                                    action="sync")
    except ValidationFailed as exc:
        return _rejected(item.id, exc.errors)
    except activities.ActivityConflict:
        return _rejected(item.id, message=_("Another activity was already saved with this form. Check the list; "
                                            "to log a new one, send the form again."))
    except Forbidden:
        return _rejected(item.id, message=_("Your role does not allow this."))
    return SyncResult(id=item.id, status="duplicate" if row.get("duplicate") else "accepted", version=1,
                      received_at=row["received_at"], time_flagged=False)


def _ingest_new(db, user: User, items: list[SyncRecord], run: list[int], results: list, received: datetime,
                flagged: bool | None, cache: records.BatchCache) -> None:
    """New records with distinct ids, all at once through records.create_many(). The stored record is the
    receipt of an accepted one (a resend finds the same id with the same first content: a duplicate, with the
    same version 1 and receive time); a conflict's receipt is kept in sync_receipts."""
    if not run:
        return
    checked: list[int] = []
    new: list[records.NewRecord] = []
    for index in run:
        item = items[index]
        if item.kind not in records.KINDS:  # (create_many checks the id)
            results[index] = _rejected(item.id, message=_("Unknown record type."))
        else:
            checked.append(index)
            new.append(records.NewRecord(item.kind, item.deployment_id, item.values, item.id, item.device_time,
                                         flagged, submission_hash(item)))
    if not checked:
        return
    outcomes = records.create_many(db, user, new, cache=cache, now=received, action="sync")
    for index, outcome in zip(checked, outcomes):
        item = items[index]
        if type(outcome) is dict and not outcome.get("duplicate"):  # the common case first
            results[index] = SyncResult(id=item.id, status="accepted", version=1, received_at=outcome["received_at"],
                                        time_flagged=bool(outcome["time_flagged"]))
        elif isinstance(outcome, records.IdConflict):
            digest = submission_hash(item)
            receipt = one(db, "SELECT * FROM sync_receipts WHERE record_id = ? AND base_version = 0 AND "
                              "submission_hash = ? AND user_id = ?", [item.id, digest, user.id])
            results[index] = _from_receipt(db, user, item, receipt) if receipt is not None else \
                _failed(db, user, item, digest, outcome, received, cache)
        elif isinstance(outcome, Exception):
            results[index] = _failed(db, user, item, "", outcome, received, cache)
        else:
            results[index] = SyncResult(id=item.id, status="duplicate", version=outcome["duplicate_of_version"],
                                        received_at=outcome["received_at"], time_flagged=bool(outcome["time_flagged"]))


def _failed(db, user: User, item: SyncRecord, digest: str, exc: Exception, received: datetime,
            cache: records.BatchCache) -> SyncResult:
    """The answer for a record the records domain refused (nothing of it was stored)."""
    if isinstance(exc, records.ValidationFailed):
        return _rejected(item.id, exc.errors)
    if isinstance(exc, records.IdConflict):  # create_many() checked the deployment (cache.recordable) first
        return _conflict(db, user, item, digest, "same_id_other_content", exc.kind_name, exc.existing, received,
                         cache, cache.recordable(item.deployment_id))
    if isinstance(exc, NotFound):
        return _rejected(item.id, message=_("The deployment or record was not found."))
    if isinstance(exc, Forbidden):
        return _rejected(item.id, message=_("You may not save records in this deployment."))
    raise exc


def _rejected(item_id: str, errors: dict[str, str] | None = None, message: str | None = None) -> SyncResult:
    return SyncResult(id=item_id, status="rejected", errors=errors or {},
                      message=message or _("The record could not be saved. Check the marked fields."))


def _ingest_one(db, user: User, item: SyncRecord, received: datetime, flagged: bool | None,
                cache: records.BatchCache) -> SyncResult:
    if not is_valid_id(item.id):
        return _rejected(item.id, {"id": _("The record id is not valid.")})
    if item.kind not in records.KINDS:
        return _rejected(item.id, message=_("Unknown record type."))
    if item.base_version is not None and not 1 <= item.base_version <= SQLITE_INT_MAX:
        return _rejected(item.id, {"base_version": _("The version this edit is based on is not valid.")})
    if item.resolves is not None and not 1 <= item.resolves <= SQLITE_INT_MAX:
        return _rejected(item.id, {"resolves": _("The conflict this record settles is not valid.")})
    digest = submission_hash(item)
    base = item.base_version or 0
    receipt = one(db, "SELECT * FROM sync_receipts WHERE record_id = ? AND base_version = ? AND submission_hash = ? "
                      "AND user_id = ?", [item.id, base, digest, user.id])
    if receipt is not None:
        return _from_receipt(db, user, item, receipt)
    deployment, stored_time = None, None  # what the device's values were checked against (a conflict keeps them)
    try:
        with write(db):  # a savepoint: a failure here leaves the rest of the batch alone
            if item.base_version is None:
                deployment = cache.recordable(item.deployment_id)
                record = records.create(db, user, item.kind, deployment, item.values,
                                        record_id=item.id, device_time=item.device_time, action="sync")
            else:
                current = records.visible_record(db, user, item.kind, item.id)
                if current["deployment_id"] != item.deployment_id:
                    raise NotFound(item.id)
                deployment, stored_time = access.editable(db, user, current), current["occurred_at"]
                record = records.update(db, user, item.kind, current, deployment,
                                        item.values, base_version=item.base_version)
            duplicate = bool(record.get("duplicate"))
            if not duplicate and item.base_version is None and flagged is not None \
                    and bool(record["time_flagged"]) != flagged:
                # The device's save time may be hours old (it was offline): its clock at sending tells skew.
                db.execute(f"UPDATE {records.KINDS[item.kind].table} SET time_flagged = ? WHERE id = ?",
                           [int(flagged), item.id])
                record = {**record, "time_flagged": int(flagged)}
            if item.resolves is not None:  # a new record, or an edit saved over the server's version
                _resolve(db, user, item.resolves, "saved_as_new" if item.base_version is None else "saved_over",
                         item.id)
            version = record.get("duplicate_of_version") or record["version"]
            received_at = record["received_at"] if item.base_version is None else iso(received)
            _store_receipt(db, user, item, digest, "accepted", version, received_at)
    except records.ValidationFailed as exc:
        return _rejected(item.id, exc.errors)
    except records.IdConflict as exc:
        return _conflict(db, user, item, digest, "same_id_other_content", exc.kind_name, exc.existing, received,
                         cache, deployment)
    except records.StaleVersion as exc:
        return _conflict(db, user, item, digest, "stale_edit", item.kind, exc.current, received, cache, deployment,
                         stored_time)
    except NotFound:
        return _rejected(item.id, message=_("The deployment or record was not found."))
    except Forbidden:
        return _rejected(item.id, message=_("You may not save records in this deployment."))
    return SyncResult(id=item.id, status="duplicate" if duplicate else "accepted", version=version,
                      received_at=received_at, time_flagged=bool(record["time_flagged"]))


def _store_receipt(db, user: User, item: SyncRecord, digest: str, status: str, version: int | None,
                   received_at: str, conflict_id: int | None = None) -> None:
    """The answer to an edit or a conflict, for a resend of the same submission."""
    db.conn.execute(
        "INSERT OR IGNORE INTO sync_receipts (record_id, base_version, submission_hash, user_id, record_type, status, "
        "version, received_at, conflict_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [item.id, item.base_version or 0, digest, user.id, item.kind, status, version, received_at, conflict_id])


def _server_version(kind_name: str, row: dict) -> ServerVersion:
    values = {name: row.get(name) for name in records.FIELD_NAMES[kind_name]}
    return ServerVersion(kind=kind_name, version=row["version"], values=values, updated_at=row["updated_at"])


def _conflict(db, user: User, item: SyncRecord, digest: str, reason: str, server_kind: str, server_row: dict,
              received: datetime, cache: records.BatchCache, deployment: dict,
              stored_time: str | None = None) -> SyncResult:
    """Keep the device's version beside the server's; nothing is overwritten. What is kept is what would have been
    stored: the validated values of the record's own fields (bounded, clean text, no identity code) and the cleaned
    device time; values that do not pass are refused like any record (rejected, nothing kept)."""
    raw = item.values
    if stored_time is not None and not raw.get("occurred_at"):  # as records.update() reads an edit
        raw = {**raw, "occurred_at": stored_time}
    try:
        values = records.validate(db, item.kind, raw, deployment, now=received, stored_time=stored_time, cache=cache)
    except records.ValidationFailed as exc:
        return _rejected(item.id, exc.errors)
    kept = json.dumps(records.content(item.kind, values), sort_keys=True, ensure_ascii=False)
    with write(db):
        cursor = db.execute(
            "INSERT INTO sync_conflicts (record_type, record_id, deployment_id, user_id, reason, base_version, "
            "server_version, device_values, device_time, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [item.kind, item.id, item.deployment_id, user.id, reason, item.base_version, server_row["version"],
             kept, records._clean_device_time(item.device_time), iso(received)])
        conflict_id = cursor.lastrowid
        _store_receipt(db, user, item, digest, "conflict", server_row["version"], iso(received), conflict_id)
    return _conflict_result(db, user, item.id, conflict_id, reason, server_kind, server_row)


def _conflict_result(db, user: User, record_id: str, conflict_id: int, reason: str, server_kind: str,
                     server_row: dict) -> SyncResult:
    if reason == "stale_edit":
        message = _("This record was changed on the server after you opened it. Both versions are kept: choose one.")
    else:
        message = _("A different record with the same id is already on the server. Both versions are kept: choose one.")
    deployment = deployments_domain.get(db, server_row.get("deployment_id") or "")
    # The server's values are shown only to someone who may see that record anyway.
    shown = deployment is not None and access.can_view(db, user, deployment)
    return SyncResult(id=record_id, status="conflict", conflict_id=conflict_id, message=message,
                      version=server_row["version"], server=_server_version(server_kind, server_row) if shown else None)


def _from_receipt(db, user: User, item: SyncRecord, receipt: dict) -> SyncResult:
    """The same answer as the first time this submission arrived."""
    if receipt["status"] == "conflict":
        conflict = one(db, "SELECT reason FROM sync_conflicts WHERE id = ?", [receipt["conflict_id"]])
        found = records._existing_with_id(db, item.id)
        server_kind, server_row = found if found else (item.kind, {"version": receipt["version"], "updated_at": ""})
        return _conflict_result(db, user, item.id, receipt["conflict_id"],
                                conflict["reason"] if conflict else "stale_edit", server_kind, server_row)
    row = one(db, f"SELECT time_flagged FROM {records.KINDS[item.kind].table} WHERE id = ?", [item.id])
    return SyncResult(id=item.id, status="duplicate", version=receipt["version"], received_at=receipt["received_at"],
                      time_flagged=bool(row["time_flagged"]) if row else None)


def _resolve(db, user: User, conflict_id: int, resolution: str, record_id: str | None) -> bool:
    if record_id is not None and not is_valid_id(record_id):
        return False  # the record saved instead must be one of ours
    cursor = db.execute(
        "UPDATE sync_conflicts SET resolved_at = ?, resolution = ?, resolved_record_id = ? "
        "WHERE id = ? AND user_id = ? AND resolved_at IS NULL",
        [iso(utcnow()), resolution, record_id, conflict_id, user.id])
    return cursor.rowcount == 1


def resolve(db, user: User, conflict_id: int, resolution: str, record_id: str | None = None) -> bool:
    """The officer chose between the two versions of a conflict; False if it is not theirs or settled already.
    NotFound for an id no conflict can have (beyond what SQLite stores)."""
    if not 1 <= conflict_id <= SQLITE_INT_MAX:
        raise NotFound(conflict_id)
    with write(db):
        return _resolve(db, user, conflict_id, resolution, record_id)


def conflicts_of(db, user: User, open_only: bool = True) -> list[dict]:
    """A user's conflicts, newest first, with the device's values decoded."""
    where = " AND resolved_at IS NULL" if open_only else ""
    rows = db.query(f"SELECT * FROM sync_conflicts WHERE user_id = ?{where} ORDER BY id DESC", [user.id])
    return [{**row, "device_values": json.loads(row["device_values"])} for row in rows]


# --- Out: what a device keeps offline -------------------------------------------------------------

def offline_deployments(db, user: User) -> list[dict]:
    """The deployments a device keeps for offline work: the current ones (ended in the last day too) and the next
    one (devices.offline_window, issue 12: a lost phone holds as little as the work needs)."""
    rows = [d for d in deployments_domain.for_user(db, user) if access.can_record(db, user, d)]
    return devices.offline_window(rows)[:OFFLINE_DEPLOYMENTS_MAX]


def recent_records(db, deployment_ids: list[str]) -> list[PulledRecord]:
    """The newest records of each deployment (of the last day), as a device keeps them: the shared window
    (offline/pull.py) that the pull keeps current."""
    return pull_domain.recent(db, deployment_ids, devices.offline_since())


def pull(db, user: User, cursor: int, limit: int = PULL_LIMIT) -> PullResponse:
    """What a device needs of the changes to its deployments after `cursor`, each record in its current state, and
    the new cursor (offline/pull.py: the deployments' recent records, every edit and deletion, the device's own
    records; not colleagues' new records older than the newest of their kind)."""
    cursor = max(0, int(cursor))
    with snapshot(db):
        newest = changes.latest_seq(db)
        visible = [d["id"] for d in offline_deployments(db, user)]  # what the device keeps, nothing more
        # A cursor past the end (the server was restored from a backup) comes back to the end.
        page = pull_domain.pull(db, user.id, visible, min(cursor, newest), newest, devices.offline_since(), limit)
        return PullResponse(cursor=page.cursor, more=page.more, records=page.records, changed=page.changed,
                            categories_version=categories.version(db))


def bootstrap(db, user: User, locale: str, *, with_records: bool = True) -> dict:
    """What a device needs to work offline: its deployments, the category lists in the user's language,
    recent records, and the change-log position to pull from next."""
    deployments = offline_deployments(db, user)
    labels = categories.all_options(db, locale)
    return {
        "user": {"id": user.id, "username": user.username, "display_name": user.display_name, "role": user.role},
        "locale": locale,
        "cursor": changes.latest_seq(db),
        "deployments": [
            {"id": d["id"], "name": d["name"], "kind": d["kind"], "place_name": d["place_name"], "lat": d["lat"],
             "lon": d["lon"], "starts_at": d["starts_at"], "ends_at": d["ends_at"], "status": d["status"]}
            for d in deployments],
        "categories": {name: [[code, label] for code, label in options] for name, options in labels.items()},
        "categories_version": categories.version(db),
        "records": recent_records(db, [d["id"] for d in deployments]) if with_records else [],
    }
