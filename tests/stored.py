"""Test data written as demo data and imports are: stored without validation, then projected."""

from fieldapp import projections, records


def store_new(db, user, kind_name: str, deployment_id: str, values: dict, **kw) -> dict:
    """records.store_unchecked(), then the projections (at once unless inside the caller's transaction)."""
    record = records.store_unchecked(db, user, kind_name, deployment_id, values, **kw)
    if not db.conn.in_transaction:
        projections.catch_up(db)
    return record
