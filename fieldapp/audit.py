"""Audit rows, written inside the same transaction as the change they describe."""

from __future__ import annotations

from fieldapp.clock import now_iso


def record(db, user_id: str | None, action: str, record_type: str | None = None,
           record_id: str | None = None, detail: str = "") -> None:
    """Append one audit row (who, when, what, which record)."""
    db["audit_log"].insert({
        "at": now_iso(), "user_id": user_id, "action": action,
        "record_type": record_type, "record_id": record_id, "detail": detail,
    })


def for_record(db, record_type: str, record_id: str) -> list[dict]:
    return list(db.query(
        "SELECT a.*, u.username FROM audit_log a LEFT JOIN users u ON u.id = a.user_id "
        "WHERE record_type = ? AND record_id = ? ORDER BY a.id", [record_type, record_id]))
