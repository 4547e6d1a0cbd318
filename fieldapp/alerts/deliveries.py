"""The push queue: one row per alert and subscribed device (push_deliveries), worked off the request path.

State queued -> sent | failed | expired. Rows are queued in the alert's own transaction (enqueue) and
sent by fieldapp/push_worker.py, which claims due rows, sends them through fieldapp/push.py and stores
the answers here. The lowest module of the package: it imports none of the others. No web imports.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from fieldapp import retry
from fieldapp.accounts import User
from fieldapp.clock import iso, parse, utcnow
from fieldapp.db import one, write

# How long a push service keeps an alert for an unreachable device; retries stop at the same age.
TTL_SECONDS = {"info": 24 * 3600, "warning": 6 * 3600, "urgent": 3600}
URGENCY = {"info": "normal", "warning": "high", "urgent": "high"}
MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=2)  # a claimed delivery comes due again if its sender died mid-send
BACKOFF_BASE = 2.0  # seconds after the first failed attempt
BACKOFF_MAX = 300.0
BACKOFF_SPREAD = (0.8, 1.2)
ERROR_CHARS = 200


def enqueue(db, alert_id: str, recipients: list[str], now: str) -> None:
    """Queue the alert for every subscribed device of these users (one statement; inside the alert's transaction)."""
    db.execute(
        "INSERT INTO push_deliveries (alert_id, subscription_id, user_id, device_label, state, attempts, "
        "next_attempt_at, updated_at) SELECT ?, s.id, s.user_id, s.user_agent, 'queued', 0, ?, ? "
        "FROM push_subscriptions s WHERE s.user_id IN (SELECT value FROM json_each(?))",
        [alert_id, now, now, json.dumps(recipients)])


def claim_due(db, limit: int, now: datetime | None = None) -> list[dict]:
    """Take up to `limit` due deliveries for sending (leased: they come due again if never answered)."""
    now = now or utcnow()
    stamp = iso(now)
    rows = list(db.query(
        "SELECT p.id, p.alert_id, p.attempts, p.subscription_id, a.level, a.created_at AS alert_created_at, "
        "s.endpoint, s.p256dh, s.auth, u.locale, u.active FROM push_deliveries p "
        "JOIN alerts a ON a.id = p.alert_id JOIN users u ON u.id = p.user_id "
        "LEFT JOIN push_subscriptions s ON s.id = p.subscription_id AND s.user_id = p.user_id "
        "WHERE p.state = 'queued' AND p.next_attempt_at <= ? ORDER BY p.next_attempt_at, p.id LIMIT ?",
        [stamp, limit]))
    if not rows:
        return []
    claimed, closed = [], []
    for row in rows:
        if row["endpoint"] is None:
            closed.append(("expired", "subscription removed", stamp, row["id"]))
        elif not row["active"]:
            closed.append(("failed", "account deactivated", stamp, row["id"]))
        elif now - parse(row["alert_created_at"]) > timedelta(seconds=TTL_SECONDS[row["level"]]):
            closed.append(("failed", "older than its time to live", stamp, row["id"]))
        else:
            claimed.append(row)
    lease_until = iso(now + LEASE)
    with write(db):
        db.conn.executemany("UPDATE push_deliveries SET state = ?, last_error = ?, next_attempt_at = NULL, "
                            "updated_at = ? WHERE id = ?", closed)
        db.conn.executemany("UPDATE push_deliveries SET attempts = attempts + 1, next_attempt_at = ?, updated_at = ? "
                            "WHERE id = ?", [(lease_until, stamp, row["id"]) for row in claimed])
    for row in claimed:
        row["attempts"] += 1
    return claimed


def _retry_delay(attempts: int, retry_after: float | None) -> float:
    """Seconds until the next try: what the push service asked for, else exponential backoff with jitter."""
    if retry_after is not None:
        return max(float(retry_after), 1.0)
    return retry.backoff(attempts, BACKOFF_BASE, BACKOFF_MAX, spread=BACKOFF_SPREAD)


def record_outcomes(db, outcomes: list, now: datetime | None = None) -> None:
    """Store what the push service answered for claimed deliveries (push.Outcome objects), in one transaction.

    sent -> the device got it; expired (404/410) -> the subscription is deleted; retry (429, 5xx, network)
    -> queued again after Retry-After or backoff, until the attempts or the alert's time to live run out.
    """
    if not outcomes:
        return
    now = now or utcnow()
    stamp = iso(now)
    with write(db):
        for outcome in outcomes:
            row = one(db, "SELECT p.attempts, p.subscription_id, a.level, a.created_at FROM push_deliveries p "
                          "JOIN alerts a ON a.id = p.alert_id WHERE p.id = ?", [outcome.delivery_id])
            if row is None:
                continue
            state, next_at, error = outcome.outcome, None, (outcome.error or "")[:ERROR_CHARS]
            if state == "retry":
                due = now + timedelta(seconds=_retry_delay(row["attempts"], outcome.retry_after))
                expires = parse(row["created_at"]) + timedelta(seconds=TTL_SECONDS[row["level"]])
                if row["attempts"] >= MAX_ATTEMPTS or due > expires:
                    state, error = "failed", (error + "; gave up")[:ERROR_CHARS]
                else:
                    state, next_at = "queued", iso(due)
            db.execute("UPDATE push_deliveries SET state = ?, next_attempt_at = ?, status_code = ?, last_error = ?, "
                       "updated_at = ? WHERE id = ?",
                       [state, next_at, outcome.status_code, error, stamp, outcome.delivery_id])
            if state == "sent":
                db.execute("UPDATE push_subscriptions SET last_success_at = ? WHERE id = ?",
                           [stamp, row["subscription_id"]])
            elif state == "expired":
                db.execute("DELETE FROM push_subscriptions WHERE id = ?", [row["subscription_id"]])


def next_due_at(db) -> datetime | None:
    """When the next queued delivery comes due (None: nothing is waiting), so the sender sleeps until then."""
    row = one(db, "SELECT MIN(next_attempt_at) AS at FROM push_deliveries WHERE state = 'queued'")
    return parse(row["at"]) if row and row["at"] else None


def can_see_deliveries(user: User, alert: dict) -> bool:
    """The sender sees each device's delivery; for an automatic alert, so do the leads who received it."""
    return bool(alert["sent"]) or (alert["kind"] == "auto" and user.role == "lead" and bool(alert["received"]))


def delivery_report(db, alert_id: str) -> dict:
    """Per device: recipient, state, answer and attempts; plus counts by state and whether any are pending."""
    rows = list(db.query(
        "SELECT p.id, p.state, p.attempts, p.status_code, p.last_error, p.updated_at, p.device_label, "
        "u.display_name, u.username FROM push_deliveries p JOIN users u ON u.id = p.user_id "
        "WHERE p.alert_id = ? ORDER BY u.display_name, u.username, p.id", [alert_id]))
    counts = {state: 0 for state in ("queued", "sent", "failed", "expired")}
    for row in rows:
        counts[row["state"]] += 1
    recipients = one(db, "SELECT COUNT(*) AS n, COUNT(read_at) AS seen FROM alert_recipients WHERE alert_id = ?",
                     [alert_id])
    return {"rows": rows, "counts": counts, "pending": counts["queued"] > 0,
            "recipients": recipients["n"], "read": recipients["seen"]}
