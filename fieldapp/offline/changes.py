"""The change log devices pull from: one row per write of a field record, in a sequence that only grows.

Kept apart from sync.py so that records.py can call it without importing the sync protocol.
"""

from __future__ import annotations

from fieldapp.clock import now_iso


def log(db, kind_name: str, record: dict) -> None:
    """Append one change (called by records._after_write, inside the write's transaction)."""
    db.execute(
        "INSERT INTO changes (record_type, record_id, deployment_id, version, changed_at) VALUES (?, ?, ?, ?, ?)",
        [kind_name, record["id"], record["deployment_id"], record["version"], now_iso()])


def log_many(db, written: list[tuple[str, dict]]) -> None:
    """log() for many (kind, record) pairs at once, in their order."""
    now = now_iso()
    db.conn.executemany(
        "INSERT INTO changes (record_type, record_id, deployment_id, version, changed_at) VALUES (?, ?, ?, ?, ?)",
        [(kind_name, record["id"], record["deployment_id"], record["version"], now) for kind_name, record in written])


def latest_seq(db) -> int:
    """The newest position in the log (0 when empty): a device that has everything up to here is current."""
    return db.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()[0]
