"""Retention: what is past its date is deleted, and every run leaves a receipt in the audit log.

The periods (settings, documented in the README with the reasons for the defaults):
- field records (contact, tension observation, intervention): counted from when the record was entered
  (created_at), 5 years by default (616/2019 §34, public-order work). A record that a kept intervention links
  to stays as long as that intervention (the link is part of its context; the foreign key asks the same).
  With the record go its previous versions, its device conflicts, its sync receipts, its POR payloads and its
  place on the situation picture (the hourly and daily counts stay: they hold no record).
- soft-deleted records: nobody can open one in the app, so their free text (notes, place name), previous versions,
  conflicts and POR payloads go at the first run after `deleted_days` (0: the next daily run); the coded
  remainder stays as a tombstone (devices learn of the deletion by pulling it) until the record's own period ends.
- device conflicts: `conflict_days` after they were stored, settled or not.
- POR payloads: `por_days` after the feed delivered them (undelivered ones wait for delivery).
- audit rows: `audit_days`. The chain can lose only its start: the rows before the first row that is not past its
  date go (a row written with an older time, such as a record stored with its device's time, waits for the rows
  before it). The chain stays verifiable: the receipt names the oldest row kept and the hash it chains to
  (audit.verify starts there), and the DELETE trigger lets only rows before that row go.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from fieldapp import audit
from fieldapp.clock import iso, utcnow
from fieldapp.db import one, write

# Record type -> table, oldest dependants last: interventions go first, so a tension or contact one of them
# linked to can go in the same run.
RECORD_TABLES = {"intervention": "interventions", "tension": "tensions", "contact": "contacts"}
# Which kept rows hold a record back: (table, column) pointing at it.
LINKED_FROM = {"tension": ("interventions", "tension_id"), "contact": ("interventions", "contact_id")}


@dataclass(frozen=True)
class Periods:
    """Retention periods in days (settings.FIELDAPP_RETENTION_*)."""

    contact_days: int = 1826
    tension_days: int = 1826
    intervention_days: int = 1826
    deleted_days: int = 0
    conflict_days: int = 90
    por_days: int = 30
    audit_days: int = 2192

    @classmethod
    def from_settings(cls, settings) -> "Periods":
        return cls(**{name: int(getattr(settings, f"retention_{name}")) for name in cls.__dataclass_fields__})

    def record_days(self, record_type: str) -> int:
        return getattr(self, f"{record_type}_days")


def _delete_dependants(db, record_type: str) -> dict[str, int]:
    """Delete what belongs to the records listed in temp.purged_records (of one type); counts per table."""
    ids = "SELECT record_id FROM temp.purged_records"
    counts = {
        "versions": db.execute(f"DELETE FROM record_versions WHERE record_type = ? AND record_id IN ({ids})",
                               [record_type]).rowcount,
        "conflicts": db.execute(f"DELETE FROM sync_conflicts WHERE record_type = ? AND record_id IN ({ids})",
                                [record_type]).rowcount,
        "por_payloads": db.execute(f"DELETE FROM por_outbox WHERE record_type = ? AND record_id IN ({ids})",
                                   [record_type]).rowcount,
    }
    db.execute(f"DELETE FROM sync_receipts WHERE record_type = ? AND record_id IN ({ids})", [record_type])
    # A record's follow-up (its note and reason) goes with it (fieldapp/followups.py).
    db.execute(f"DELETE FROM followups WHERE record_type = ? AND record_id IN ({ids})", [record_type])
    if record_type == "tension":
        db.execute(f"DELETE FROM picture_obs WHERE tension_id IN ({ids})")
        db.execute(f"DELETE FROM picture_links WHERE tension_id IN ({ids})")
    elif record_type == "intervention":
        db.execute(f"DELETE FROM picture_links WHERE intervention_id IN ({ids})")
    return counts


def _purge_records(db, record_type: str, before: str) -> dict[str, int]:
    """Delete the records of one type entered before `before` (unless a kept record links to them)."""
    table = RECORD_TABLES[record_type]
    keep = ""
    if record_type in LINKED_FROM:
        linking_table, column = LINKED_FROM[record_type]
        keep = f" AND id NOT IN (SELECT {column} FROM {linking_table} WHERE {column} IS NOT NULL)"
    db.execute("DELETE FROM temp.purged_records")
    db.execute(f"INSERT INTO temp.purged_records SELECT id FROM {table} WHERE created_at < ?{keep}", [before])
    counts = _delete_dependants(db, record_type)
    counts["records"] = db.execute(f"DELETE FROM {table} WHERE id IN (SELECT record_id FROM temp.purged_records)"
                                   ).rowcount
    return counts


def _erase_deleted(db, record_type: str, before: str) -> dict[str, int]:
    """Blank the free text of records soft-deleted before `before` and delete their versions, conflicts and POR
    payloads; the tombstone stays (counted: records whose text was blanked)."""
    table = RECORD_TABLES[record_type]
    db.execute("DELETE FROM temp.purged_records")
    db.execute(f"INSERT INTO temp.purged_records SELECT id FROM {table} WHERE deleted_at IS NOT NULL AND deleted_at < ?",
               [before])
    counts = _delete_dependants(db, record_type)
    counts["blanked"] = db.execute(
        f"UPDATE {table} SET notes = '', place_name = '' WHERE id IN (SELECT record_id FROM temp.purged_records) "
        "AND (notes != '' OR place_name != '')").rowcount
    return {name: count for name, count in counts.items()}


def _purge_audit(db, before: str) -> dict:
    """How the audit rows before `before` go: the oldest row kept (the newest row is always kept) and the hash it
    chains to. The rows are deleted after the receipt that names that row is written (the DELETE trigger asks
    for it)."""
    first = one(db, "SELECT id, prev_hash FROM audit_log WHERE at >= ? ORDER BY id LIMIT 1", [before]) \
        or one(db, "SELECT id, prev_hash FROM audit_log ORDER BY id DESC LIMIT 1")
    if first is None:
        return {"before": before, "rows": 0, "first_kept_id": None, "prev_hash": ""}
    rows = db.execute("SELECT COUNT(*) FROM audit_log WHERE id < ?", [first["id"]]).fetchone()[0]
    return {"before": before, "rows": rows, "first_kept_id": first["id"], "prev_hash": first["prev_hash"]}


def purge(db, periods: Periods, *, now: datetime | None = None, user_id: str | None = None) -> dict:
    """Delete everything past its retention date, in one transaction, and write the receipt (audit action
    'purge', target 'retention', record_id the id of the oldest audit row kept; detail: the counts per type and
    the cut-off of each period). Returns the receipt's detail."""
    now = now or utcnow()

    def before(days: int) -> str:
        return iso(now - timedelta(days=days))

    receipt: dict = {"at": iso(now), "periods": asdict(periods)}
    with write(db):
        db.execute("CREATE TEMP TABLE IF NOT EXISTS purged_records (record_id TEXT PRIMARY KEY)")
        for record_type in RECORD_TABLES:
            cutoff = before(periods.record_days(record_type))
            receipt[record_type] = {"before": cutoff, **_purge_records(db, record_type, cutoff)}
        deleted_cutoff = before(periods.deleted_days)
        receipt["deleted_records"] = {"before": deleted_cutoff, **{
            record_type: _erase_deleted(db, record_type, deleted_cutoff) for record_type in RECORD_TABLES}}
        conflict_cutoff = before(periods.conflict_days)
        receipt["conflicts"] = {"before": conflict_cutoff, "rows": db.execute(
            "DELETE FROM sync_conflicts WHERE created_at < ?", [conflict_cutoff]).rowcount}
        por_cutoff = before(periods.por_days)
        receipt["por_payloads"] = {"before": por_cutoff, "rows": db.execute(
            "DELETE FROM por_outbox WHERE state = 'delivered' AND delivered_at < ?", [por_cutoff]).rowcount}
        db.execute("DELETE FROM temp.purged_records")
        plan = receipt["audit_log"] = _purge_audit(db, before(periods.audit_days))
        audit.record(db, user_id, "purge", "retention", None if plan["first_kept_id"] is None
                     else str(plan["first_kept_id"]), json.dumps(receipt, separators=(",", ":"), sort_keys=True))
        if plan["rows"]:
            db.execute("DELETE FROM audit_log WHERE id < ?", [plan["first_kept_id"]])
    return receipt


def summary(receipt: dict) -> str:
    """The receipt in a few lines, for the command line and the server log."""
    lines = [f"purge at {receipt['at']}:"]
    for record_type in RECORD_TABLES:
        part = receipt[record_type]
        lines.append(f"  {record_type}: {part['records']} records entered before {part['before']} "
                     f"({part['versions']} versions, {part['conflicts']} conflicts, {part['por_payloads']} POR payloads)")
    deleted = receipt["deleted_records"]
    blanked = sum(deleted[t]["blanked"] for t in RECORD_TABLES)
    lines.append(f"  deleted records: text of {blanked} blanked (deleted before {deleted['before']})")
    lines.append(f"  conflicts: {receipt['conflicts']['rows']} stored before {receipt['conflicts']['before']}")
    lines.append(f"  POR payloads: {receipt['por_payloads']['rows']} delivered before {receipt['por_payloads']['before']}")
    lines.append(f"  audit rows: {receipt['audit_log']['rows']} written before {receipt['audit_log']['before']}")
    return "\n".join(lines)
