"""Audit rows, written inside the same transaction as the change they describe."""

from __future__ import annotations

from fieldapp.clock import now_iso


def record(db, user_id: str | None, action: str, record_type: str | None = None,
           record_id: str | None = None, detail: str = "") -> None:
    """Append one audit row (who, when, what, which record)."""
    db.conn.execute("INSERT INTO audit_log (at, user_id, action, record_type, record_id, detail) "
                    "VALUES (?, ?, ?, ?, ?, ?)", [now_iso(), user_id, action, record_type, record_id, detail])


SYNC_BATCH = "sync_batch"


def for_record(db, record_type: str, record_id: str, *, received: tuple[str, str] | None = None) -> list[dict]:
    """A record's audit rows, oldest first.

    received: (created_by, received_at) of a field record. A sync batch is audited with one row (action
    'sync', record_type 'sync_batch', record_id its receive time, user_id the sender, detail the counts):
    the records it created are exactly those with that creator and receive time, so that row is part of
    each of their trails.
    """
    sql = ("SELECT a.*, u.username FROM audit_log a LEFT JOIN users u ON u.id = a.user_id "
           "WHERE a.record_type = ? AND a.record_id = ?")
    params: list = [record_type, record_id]
    if received is not None:
        sql += " UNION ALL " + sql.replace("a.record_id = ?", "a.record_id = ? AND a.user_id = ?")
        params += [SYNC_BATCH, received[1], received[0]]
    return list(db.query(f"SELECT * FROM ({sql}) ORDER BY id", params))
