"""The outbound POR feed: a persistent outbox of changed field records and their delivery.

Every new or changed record is queued in `por_outbox` in the same transaction as the write, with
the idempotency key `<record_type>:<id>:v<version>`. Delivery is at least once: a row stays
undelivered until the endpoint answered 2xx, so a crash between sending and recording the answer
means one resend of the same key, which the receiver recognises by the key. The queue lives in
SQLite, so a restarted server resumes where it stopped.

On the wire: POST <FIELDAPP_POR_URL> with `Authorization: Bearer <FIELDAPP_POR_TOKEN>`, `Idempotency-Key`
and a JSON body {idempotency_key, record_type, record_id, version, deleted, queued_at, record}, where
record is the row as stored (the department's own system). Versions may arrive out of order after
retries: the receiver keeps the highest version per record.

Whether to queue at all is decided per database: the app writes its configured endpoint into the
one-row table `por_config` at start (configure()); records.py, which has no settings, then asks
that table. No endpoint: nothing is queued. No web imports here; the thread is in por_worker.py.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from fieldapp import audit, retry
from fieldapp.clock import iso, now_iso, parse, utcnow
from fieldapp.db import one, write
from fieldapp.record_values import KINDS, decode

STATES = ("pending", "retrying", "delivered")
DEFAULT_BACKOFF_BASE = 2.0      # seconds before the first retry
DEFAULT_BACKOFF_MAX = 600.0     # the longest wait between two attempts
ERROR_CHARS = 300
RETRY_AFTER_MAX = 3600.0        # a Retry-After is honoured up to an hour (a broken header must not stop the feed)
# Answers that describe the endpoint rather than the record: the whole queue waits, not just this row.
ENDPOINT_BUSY = (429, 503)


def configure(db, endpoint: str) -> None:
    """Record which POR endpoint this database feeds (empty: the feed is off and nothing is queued)."""
    with write(db):
        db.execute("INSERT INTO por_config (id, endpoint, configured_at) VALUES (1, ?, ?) "
                   "ON CONFLICT(id) DO UPDATE SET endpoint = excluded.endpoint, configured_at = excluded.configured_at",
                   [endpoint.strip(), now_iso()])


def configured_endpoint(db) -> str:
    """The endpoint set by the running app, or '' when the feed is off."""
    row = one(db, "SELECT endpoint FROM por_config WHERE id = 1")
    return row["endpoint"] if row else ""


def idempotency_key(record_type: str, record_id: str, version: int) -> str:
    return f"{record_type}:{record_id}:v{version}"


def record_written(db, kind_name: str, record: dict) -> dict | None:
    """Queue this version of a record for the POR feed (a projection: fieldapp/projections.py).

    Does nothing when no endpoint is configured; a second call for the same version is ignored.
    """
    if not configured_endpoint(db):
        return None
    kind = KINDS[kind_name]
    # The row as stored (a delete passes the record as it was before the delete).
    stored = decode(kind_name, one(db, f"SELECT * FROM {kind.table} WHERE id = ?", [record["id"]])) or record
    stored = {k: v for k, v in stored.items() if k not in ("record_type", "duplicate")}
    key = idempotency_key(kind_name, stored["id"], stored["version"])
    now = now_iso()
    payload = {
        "idempotency_key": key, "record_type": kind_name, "record_id": stored["id"],
        "version": stored["version"], "deleted": stored.get("deleted_at") is not None,
        "queued_at": now, "record": stored,
    }
    with write(db):
        db.execute(
            "INSERT INTO por_outbox (record_type, record_id, record_version, idempotency_key, payload, state, "
            "attempts, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?) "
            "ON CONFLICT(idempotency_key) DO NOTHING",
            [kind_name, stored["id"], stored["version"], key, json.dumps(payload, sort_keys=True), now, now])
    return payload


def records_written(db, kind_name: str, records: list[dict]) -> None:
    """record_written() for many records of one kind (a sync batch): the endpoint is looked up once."""
    if records and configured_endpoint(db):
        for record in records:
            record_written(db, kind_name, record)


def due(db, limit: int = 20, now: datetime | None = None) -> list[dict]:
    """Undelivered rows whose next attempt is due, oldest first."""
    return list(db.query(
        "SELECT * FROM por_outbox WHERE state != 'delivered' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?",
        [iso(now or utcnow()), limit]))


def next_due_at(db) -> datetime | None:
    """When the next undelivered row becomes due (None: nothing is waiting)."""
    row = one(db, "SELECT MIN(next_attempt_at) AS at FROM por_outbox WHERE state != 'delivered'")
    return parse(row["at"]) if row and row["at"] else None


@dataclass
class Outcome:
    """What one delivery attempt came to."""

    delivered: bool
    error: str = ""
    wait: float = 0.0            # seconds until this row's next attempt
    hold_queue: bool = False     # the endpoint is down or busy: every undelivered row waits as long


def deliver(db, client, row: dict, url: str, token: str, *, backoff_base: float = DEFAULT_BACKOFF_BASE,
            backoff_max: float = DEFAULT_BACKOFF_MAX, rng: random.Random | None = None) -> Outcome:
    """POST one outbox row to the endpoint and record the result (delivered on 2xx, else a later retry).

    `client` is an httpx.Client (short timeout); no transaction is open while the request runs.
    """
    import httpx

    headers = {"Content-Type": "application/json", "Idempotency-Key": row["idempotency_key"]}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    attempts = row["attempts"] + 1
    retry_after = None
    try:
        response = client.post(url, content=row["payload"].encode(), headers=headers)
    except httpx.HTTPError as exc:
        outcome = Outcome(False, f"{type(exc).__name__}: {exc}"[:ERROR_CHARS], hold_queue=True)
    else:
        if 200 <= response.status_code < 300:
            outcome = Outcome(True)
        else:
            outcome = Outcome(False, f"HTTP {response.status_code} {response.reason_phrase}".strip()[:ERROR_CHARS],
                              hold_queue=response.status_code in ENDPOINT_BUSY)
            retry_after = retry.retry_after_seconds(response.headers.get("retry-after"))
    now = utcnow()
    if outcome.delivered:
        with write(db):
            db.execute("UPDATE por_outbox SET state = 'delivered', attempts = ?, delivered_at = ?, last_error = '' "
                       "WHERE id = ?", [attempts, iso(now), row["id"]])
        return outcome
    wait = retry.backoff(attempts, backoff_base, backoff_max, rng)  # equal jitter: half to all of the delay
    if retry_after is not None:
        wait = max(wait, min(retry_after, RETRY_AFTER_MAX))
        outcome.hold_queue = True
    outcome.wait = wait
    next_at = iso(now + timedelta(seconds=wait))
    with write(db):
        db.execute("UPDATE por_outbox SET state = 'retrying', attempts = ?, next_attempt_at = ?, last_error = ? "
                   "WHERE id = ?", [attempts, next_at, outcome.error, row["id"]])
        if outcome.hold_queue:
            # Rows not tried yet keep their attempt count; they only wait until the endpoint is back.
            db.execute("UPDATE por_outbox SET next_attempt_at = ? WHERE state != 'delivered' AND next_attempt_at < ?",
                       [next_at, next_at])
    return outcome


def retry_now(db, user_id: str | None) -> int:
    """Make every undelivered row due at once (an admin's 'retry now', audited); returns how many."""
    with write(db):
        count = db.execute("UPDATE por_outbox SET next_attempt_at = ? WHERE state != 'delivered'", [now_iso()]).rowcount
        audit.record(db, user_id, "por_retry_now", "por_outbox", None, f"rows={count}")
    return count


def summary(db, recent: int = 20) -> dict:
    """Delivery state for the admin page: counts by state, waiting rows (with their last errors), latest deliveries."""
    counts = {state: 0 for state in STATES}
    for row in db.query("SELECT state, COUNT(*) AS n FROM por_outbox GROUP BY state"):
        counts[row["state"]] = row["n"]
    columns = "id, idempotency_key, record_type, record_id, record_version, state, attempts, next_attempt_at, " \
              "last_error, created_at, delivered_at"
    waiting = list(db.query(
        f"SELECT {columns} FROM por_outbox WHERE state != 'delivered' ORDER BY next_attempt_at, id LIMIT ?", [recent]))
    delivered = list(db.query(
        f"SELECT {columns} FROM por_outbox WHERE state = 'delivered' ORDER BY delivered_at DESC, id DESC LIMIT ?",
        [recent]))
    oldest = one(db, "SELECT MIN(created_at) AS at FROM por_outbox WHERE state != 'delivered'")
    next_at = next_due_at(db)
    return {
        "endpoint": configured_endpoint(db), "counts": counts, "total": sum(counts.values()),
        "waiting": waiting, "delivered": delivered,
        "oldest_waiting_at": oldest["at"] if oldest else None,
        "next_attempt_at": iso(next_at) if next_at else None,
        "last_delivered_at": delivered[0]["delivered_at"] if delivered else None,
    }


def cleanup(db, deployment_ids: list[str]) -> None:
    """Drop the queued rows of these deployments' records (the demo data is rebuilt)."""
    if not deployment_ids:
        return
    marks = ",".join("?" * len(deployment_ids))
    for table in ("contacts", "tensions", "interventions"):
        db.execute(f"DELETE FROM por_outbox WHERE record_id IN "
                   f"(SELECT id FROM {table} WHERE deployment_id IN ({marks}))", deployment_ids)
