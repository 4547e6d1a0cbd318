"""Audit rows, written inside the same transaction as the change they describe."""

from __future__ import annotations

from fieldapp.clock import now_iso


def record(db, user_id: str | None, action: str, record_type: str | None = None,
           record_id: str | None = None, detail: str = "") -> None:
    """Append one audit row (who, when, what, which record)."""
    db.conn.execute("INSERT INTO audit_log (at, user_id, action, record_type, record_id, detail) "
                    "VALUES (?, ?, ?, ?, ?, ?)", [now_iso(), user_id, action, record_type, record_id, detail])


def for_record(db, record_type: str, record_id: str) -> list[dict]:
    """A record's audit rows, oldest first (a record synced from a device has its own 'sync' row)."""
    return list(db.query("SELECT a.*, u.username FROM audit_log a LEFT JOIN users u ON u.id = a.user_id "
                         "WHERE a.record_type = ? AND a.record_id = ? ORDER BY a.id", [record_type, record_id]))
