"""Alerts: a lead warns a deployment's people, rules warn the unit's leads; inbox, devices and push deliveries.

Every alert lands in the in-app inbox (alert_recipients) and, for each subscribed device of each
recipient, in the persistent push queue (push_deliveries, state queued -> sent | failed | expired).
The queue is worked off the request path by push_worker.py; this module only reads and writes rows.
The automatic rules run as a projection of the field records (fieldapp/projections.py, right after
the records' transaction); their thresholds live in the one-row table alert_config, written by the app
at start, because the projections have no settings. No web imports here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from fieldapp import audit, retry
from fieldapp import deployments as deployments_domain
from fieldapp.accounts import User
from fieldapp.clock import HELSINKI, iso, parse, utcnow
from fieldapp.db import one, write
from fieldapp.i18n import gettext as _
from fieldapp.ids import is_valid_id, new_id

log = logging.getLogger("fieldapp.alerts")
LEVELS = ("info", "warning", "urgent")
MAX_MESSAGE = 280
FIELD_ROLES = ("officer", "staff", "lead")
MAX_DEVICES = 10
# How long a push service keeps an alert for an unreachable device; retries stop at the same age.
TTL_SECONDS = {"info": 24 * 3600, "warning": 6 * 3600, "urgent": 3600}
URGENCY = {"info": "normal", "warning": "high", "urgent": "high"}
MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=2)  # a claimed delivery comes due again if its sender died mid-send
BACKOFF_BASE = 2.0  # seconds after the first failed attempt
BACKOFF_MAX = 300.0
BACKOFF_SPREAD = (0.8, 1.2)
# A tension observation that arrives long after it happened is history, not a warning.
AUTO_WINDOW = timedelta(hours=12)
HOTSPOT_RES = 8  # situation-picture cells about 0.9 km across: a square, a block
HOTSPOT_WINDOW = timedelta(hours=3)
ERROR_CHARS = 200


class AlertInvalid(ValueError):
    """Field errors of an alert or subscription, already translated into the current language."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(errors)
        self.errors = errors


# ---- rule thresholds -------------------------------------------------------------------------

def store_rule_settings(db, tension_severity: int, hotspot_score: float | None = None) -> None:
    """Record the running configuration's thresholds, so that the projections can read them."""
    with write(db):
        db.execute("UPDATE alert_config SET tension_severity = ?, hotspot_score = ?, updated_at = ? WHERE id = 1",
                   [int(tension_severity), hotspot_score, iso(utcnow())])


def rule_settings(db) -> dict:
    return one(db, "SELECT tension_severity, hotspot_score FROM alert_config WHERE id = 1") or {
        "tension_severity": 5, "hotspot_score": None}


# ---- devices (push subscriptions) ------------------------------------------------------------

def _b64url(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def endpoint_key(endpoint: str) -> str:
    """A short fingerprint of an endpoint: lets the page recognise 'this device' without printing the URL."""
    return hashlib.sha256(endpoint.encode()).hexdigest()[:16]


# The browsers' push services; a subscription elsewhere would let a user make the server POST to any host.
PUBLIC_PUSH_HOSTS = ("fcm.googleapis.com", "push.services.mozilla.com", "notify.windows.com", "push.apple.com")


def allowed_push_hosts(setting: str) -> tuple[str, ...]:
    """Host suffixes from FIELDAPP_PUSH_HOSTS (comma-separated), or the public push services."""
    hosts = tuple(h.strip().lower().lstrip(".") for h in (setting or "").split(",") if h.strip())
    return hosts or PUBLIC_PUSH_HOSTS


def _host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    return any(host == suffix or host.endswith("." + suffix) for suffix in allowed)


def _endpoint_ok(endpoint: str, allowed: tuple[str, ...] = PUBLIC_PUSH_HOSTS) -> bool:
    try:
        parts = urlsplit(endpoint)
    except ValueError:
        return False
    if not parts.hostname or parts.username or parts.password:
        return False
    # Push services speak https; plain http only on the loopback (a local push service in tests and demos).
    if parts.hostname in ("127.0.0.1", "localhost", "::1"):
        return parts.scheme in ("http", "https")
    return parts.scheme == "https" and _host_allowed(parts.hostname.lower(), allowed)


def validate_subscription(endpoint, p256dh, auth, allowed_hosts: tuple[str, ...] = PUBLIC_PUSH_HOSTS) -> dict:
    """Check a browser PushSubscription; returns clean values or raises AlertInvalid."""
    from cryptography.hazmat.primitives.asymmetric import ec

    errors: dict[str, str] = {}
    endpoint = endpoint.strip() if isinstance(endpoint, str) else ""
    p256dh = p256dh.strip() if isinstance(p256dh, str) else ""
    auth = auth.strip() if isinstance(auth, str) else ""
    if not endpoint or len(endpoint) > 2048 or not _endpoint_ok(endpoint, allowed_hosts):
        errors["endpoint"] = _("The browser sent an unusable push address.")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _b64url(p256dh))
    except (ValueError, TypeError):
        errors["p256dh"] = _("The browser sent an unusable encryption key.")
    try:
        if len(_b64url(auth)) != 16:
            raise ValueError
    except (ValueError, TypeError):
        errors["auth"] = _("The browser sent an unusable encryption key.")
    if errors:
        raise AlertInvalid(errors)
    return {"endpoint": endpoint, "p256dh": p256dh, "auth": auth}


def device_label(user_agent: str | None) -> str:
    """'Firefox · Android' from a User-Agent header: enough to tell one's devices apart."""
    ua = user_agent or ""
    browser = next((name for token, name in (
        ("Edg/", "Edge"), ("SamsungBrowser", "Samsung Internet"), ("Firefox/", "Firefox"), ("FxiOS", "Firefox"),
        ("CriOS", "Chrome"), ("Chromium/", "Chromium"), ("Chrome/", "Chrome"), ("Safari/", "Safari")) if token in ua), "")
    system = next((name for token, name in (
        ("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"), ("Windows", "Windows"),
        ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux")) if token in ua), "")
    return " · ".join(part for part in (browser, system) if part)


def subscribe(db, user: User, endpoint, p256dh, auth, user_agent: str | None = None,
              allowed_hosts: tuple[str, ...] = PUBLIC_PUSH_HOSTS) -> dict:
    """Turn alerts on for one device of this user (a browser endpoint moves to whoever subscribes it last)."""
    if user.role not in FIELD_ROLES:
        raise deployments_domain.Forbidden("alerts are for field users")
    values = validate_subscription(endpoint, p256dh, auth, allowed_hosts)
    now = iso(utcnow())
    label = device_label(user_agent)
    with write(db):
        existing = one(db, "SELECT id, user_id FROM push_subscriptions WHERE endpoint = ?", [values["endpoint"]])
        if existing is None:
            count = one(db, "SELECT COUNT(*) AS n FROM push_subscriptions WHERE user_id = ?", [user.id])["n"]
            if count >= MAX_DEVICES:
                raise AlertInvalid({"endpoint": _(
                    "Alerts are on for %(n)s devices already. Turn them off on a device you no longer use.",
                    n=MAX_DEVICES)})
            subscription_id = new_id()
            db["push_subscriptions"].insert({
                "id": subscription_id, "user_id": user.id, **values, "user_agent": label,
                "created_at": now, "last_success_at": None})
        else:
            subscription_id = existing["id"]
            db.execute("UPDATE push_subscriptions SET user_id = ?, p256dh = ?, auth = ?, user_agent = ? WHERE id = ?",
                       [user.id, values["p256dh"], values["auth"], label, subscription_id])
        audit.record(db, user.id, "subscribe", "push_subscription", subscription_id, label)
    return one(db, "SELECT * FROM push_subscriptions WHERE id = ?", [subscription_id])


def unsubscribe(db, user: User, *, subscription_id: str | None = None, endpoint: str | None = None) -> bool:
    """Turn alerts off for one of the user's own devices; False when there was nothing to remove."""
    if subscription_id is not None:
        row = one(db, "SELECT id FROM push_subscriptions WHERE id = ? AND user_id = ?", [subscription_id, user.id])
    else:
        row = one(db, "SELECT id FROM push_subscriptions WHERE endpoint = ? AND user_id = ?", [endpoint or "", user.id])
    if row is None:
        return False
    with write(db):
        db.execute("DELETE FROM push_subscriptions WHERE id = ?", [row["id"]])
        audit.record(db, user.id, "unsubscribe", "push_subscription", row["id"])
    return True


def devices(db, user: User) -> list[dict]:
    """The user's subscribed devices, newest first (no endpoint URLs, only their fingerprints)."""
    rows = db.query("SELECT id, endpoint, user_agent, created_at, last_success_at FROM push_subscriptions "
                    "WHERE user_id = ? ORDER BY created_at DESC", [user.id])
    return [{"id": r["id"], "key": endpoint_key(r["endpoint"]), "label": r["user_agent"],
             "created_at": r["created_at"], "last_success_at": r["last_success_at"]} for r in rows]


# ---- sending ---------------------------------------------------------------------------------

def alertable_deployments(db, user: User) -> list[dict]:
    """Deployments a lead may alert: the unit's current and upcoming ones."""
    if user.role != "lead":
        return []
    return [d for d in deployments_domain.for_user(db, user) if d["status"] in ("current", "upcoming")]


def deployment_recipients(db, deployment: dict) -> list[str]:
    """Everyone assigned to the deployment who works in its unit and is active."""
    rows = db.query(
        "SELECT u.id FROM assignments a JOIN users u ON u.id = a.user_id WHERE a.deployment_id = ? "
        "AND u.unit_id = ? AND u.active = 1 AND u.role IN ('officer', 'staff', 'lead') ORDER BY u.id",
        [deployment["id"], deployment["unit_id"]])
    return [r["id"] for r in rows]


def validate_alert(raw: dict) -> dict:
    """Level and message of a lead's alert; returns clean values or raises AlertInvalid."""
    level = raw.get("level")
    message = raw.get("message")
    message = message.strip() if isinstance(message, str) else ""
    errors: dict[str, str] = {}
    if level not in LEVELS:
        errors["level"] = _("Choose a level.")
    if not message:
        errors["message"] = _("Write a message.")
    elif len(message) > MAX_MESSAGE:
        errors["message"] = _("The message is too long (%(n)s characters, at most %(max)s).",
                              n=len(message), max=MAX_MESSAGE)
    if not is_valid_id(str(raw.get("deployment_id") or "")):
        errors["deployment_id"] = _("Choose a deployment.")
    if errors:
        raise AlertInvalid(errors)
    return {"level": level, "message": message, "deployment_id": raw["deployment_id"]}


def send_alert(db, user: User, raw: dict) -> dict:
    """A lead alerts everyone assigned to one of the unit's deployments; deliveries are queued, not sent here."""
    values = validate_alert(raw)
    deployment = deployments_domain.visible(db, user, values["deployment_id"])
    if user.role != "lead":
        raise deployments_domain.Forbidden(values["deployment_id"])
    recipients = [uid for uid in deployment_recipients(db, deployment) if uid != user.id]
    with write(db):
        alert = _create(db, unit_id=deployment["unit_id"], deployment_id=deployment["id"], level=values["level"],
                        message=values["message"], kind="manual", created_by=user.id, recipients=recipients)
        audit.record(db, user.id, "send_alert", "alert", alert["id"], f"recipients={len(recipients)}")
    return alert


def _create(db, *, unit_id: str, deployment_id: str | None, level: str, message: str, kind: str,
            recipients: list[str], created_by: str | None = None, rule: str | None = None,
            source_key: str | None = None, detail: dict | None = None) -> dict:
    """Insert an alert, its inbox rows and one queued delivery per subscribed device (inside a transaction)."""
    now = iso(utcnow())
    alert = {"id": new_id(), "unit_id": unit_id, "deployment_id": deployment_id, "level": level, "message": message,
             "kind": kind, "rule": rule, "source_key": source_key, "detail": json.dumps(detail or {}),
             "created_by": created_by, "created_at": now}
    db.execute(f"INSERT INTO alerts ({', '.join(alert)}) VALUES ({', '.join('?' * len(alert))})", list(alert.values()))
    # Two set-based statements, whatever the number of recipients: the lead's request stays fast.
    ids = json.dumps(recipients)
    db.execute("INSERT INTO alert_recipients (alert_id, user_id) SELECT ?, value FROM json_each(?)", [alert["id"], ids])
    db.execute(
        "INSERT INTO push_deliveries (alert_id, subscription_id, user_id, device_label, state, attempts, "
        "next_attempt_at, updated_at) SELECT ?, s.id, s.user_id, s.user_agent, 'queued', 0, ?, ? "
        "FROM push_subscriptions s WHERE s.user_id IN (SELECT value FROM json_each(?))", [alert["id"], now, now, ids])
    return alert


# ---- inbox -----------------------------------------------------------------------------------

_ALERT_COLUMNS = ("a.*, d.name AS deployment_name, u.display_name AS sender_name, u.username AS sender_username")


def _decoded(row: dict) -> dict:
    return {**row, "detail": json.loads(row.get("detail") or "{}")}


def inbox(db, user: User, limit: int = 100) -> list[dict]:
    """Alerts this user received or sent, newest first, with read state."""
    rows = db.query(
        f"SELECT {_ALERT_COLUMNS}, r.read_at, (r.user_id IS NOT NULL) AS received, (a.created_by = ?) AS sent "
        "FROM alerts a LEFT JOIN alert_recipients r ON r.alert_id = a.id AND r.user_id = ? "
        "LEFT JOIN deployments d ON d.id = a.deployment_id LEFT JOIN users u ON u.id = a.created_by "
        "WHERE r.user_id IS NOT NULL OR a.created_by = ? ORDER BY a.created_at DESC, a.id DESC LIMIT ?",
        [user.id, user.id, user.id, limit])
    return [_decoded(r) for r in rows]


def unread_count(db, user: User | None) -> int:
    if user is None or user.role not in FIELD_ROLES:
        return 0
    return one(db, "SELECT COUNT(*) AS n FROM alert_recipients WHERE user_id = ? AND read_at IS NULL", [user.id])["n"]


def get_for_user(db, user: User, alert_id: str) -> dict:
    """One alert for its recipient or sender; NotFound for anyone else (ids do not leak)."""
    row = one(db, f"SELECT {_ALERT_COLUMNS}, r.read_at, (r.user_id IS NOT NULL) AS received, (a.created_by = ?) AS sent "
                  "FROM alerts a LEFT JOIN alert_recipients r ON r.alert_id = a.id AND r.user_id = ? "
                  "LEFT JOIN deployments d ON d.id = a.deployment_id LEFT JOIN users u ON u.id = a.created_by "
                  "WHERE a.id = ?", [user.id, user.id, alert_id])
    if row is None or not (row["received"] or row["sent"]):
        raise deployments_domain.NotFound(alert_id)
    return _decoded(row)


def mark_read(db, user: User, alert_id: str) -> None:
    with write(db):
        db.execute("UPDATE alert_recipients SET read_at = ? WHERE alert_id = ? AND user_id = ? AND read_at IS NULL",
                   [iso(utcnow()), alert_id, user.id])


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


# ---- the push queue (worked by push_worker) --------------------------------------------------

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


def retry_delay(attempts: int, retry_after: float | None) -> float:
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
                due = now + timedelta(seconds=retry_delay(row["attempts"], outcome.retry_after))
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
    row = one(db, "SELECT MIN(next_attempt_at) AS at FROM push_deliveries WHERE state = 'queued'")
    return parse(row["at"]) if row and row["at"] else None


# ---- automatic rules -------------------------------------------------------------------------

def _unit_leads(db, unit_id: str) -> list[str]:
    return [r["id"] for r in db.query(
        "SELECT id FROM users WHERE unit_id = ? AND role = 'lead' AND active = 1 ORDER BY id", [unit_id])]


def record_written(db, kind_name: str, record: dict) -> None:
    """The automatic rules, applied to every created, edited and deleted record (fieldapp/projections.py).

    A recent tension observation at or above the configured severity alerts the unit's leads (once per
    observation); a situation-picture cell whose recent score reaches the configured level alerts them
    too (once per cell and day).
    """
    records_written(db, kind_name, [record])


def records_written(db, kind_name: str, records: list[dict]) -> None:
    """record_written() for many records of one kind (a sync batch), in their order: the rule settings
    and each deployment are read once."""
    if kind_name != "tension":
        return
    now = utcnow()
    config = None
    deployments: dict[str, dict | None] = {}
    for record in records:
        if record.get("deleted_at"):
            continue
        try:
            if now - parse(record["occurred_at"]) > AUTO_WINDOW:
                continue
        except (ValueError, OverflowError, TypeError, KeyError):
            continue
        if record["deployment_id"] not in deployments:
            deployments[record["deployment_id"]] = deployments_domain.get(db, record["deployment_id"])
        deployment = deployments[record["deployment_id"]]
        if deployment is None:
            continue
        config = config or rule_settings(db)
        _severe_tension(db, record, deployment, config["tension_severity"])
        if config["hotspot_score"]:
            _hotspot(db, record, deployment, config["hotspot_score"])


def _severe_tension(db, record: dict, deployment: dict, threshold: int) -> dict | None:
    severity = record.get("severity") or 0
    if severity < threshold:
        return None
    source_key = f"tension:{record['id']}"
    if one(db, "SELECT 1 AS x FROM alerts WHERE source_key = ?", [source_key]):
        return None
    author = record.get("updated_by") or record.get("created_by")
    leads = [uid for uid in _unit_leads(db, deployment["unit_id"]) if uid != author]  # the author knows already
    if not leads:
        return None
    return _create(db, unit_id=deployment["unit_id"], deployment_id=deployment["id"],
                   level="urgent" if severity >= 6 else "warning", message="", kind="auto", rule="tension_severity",
                   source_key=source_key, recipients=leads,
                   detail={"record_id": record["id"], "severity": severity, "kind": record.get("kind"),
                           "trend": record.get("trend")})


def _hotspot(db, record: dict, deployment: dict, threshold: float) -> dict | None:
    """Alert the leads when the observation's cell (about 0.9 km) reaches the score level in the last hours."""
    if record.get("lat") is None or record.get("lon") is None:
        return None
    try:
        from fieldapp import picture  # the situation picture's own scores (projected just before the alerts)

        now = utcnow()
        cell = picture.parent_of(picture.cell_int(record["lat"], record["lon"]), HOTSPOT_RES)
        window = picture.PictureFilter(start=now - HOTSPOT_WINDOW, end=now + timedelta(minutes=10), window="custom")
        score = picture.cell_summary(db, picture.Scope(deployment["unit_id"]), window, cell).score
        if score < threshold:
            return None
        cell_text = picture.CellSummary(cell, HOTSPOT_RES).h3
        source_key = f"hotspot:{deployment['unit_id']}:{cell_text}:{now.astimezone(HELSINKI).date().isoformat()}"
        if one(db, "SELECT 1 AS x FROM alerts WHERE source_key = ?", [source_key]):
            return None
        leads = _unit_leads(db, deployment["unit_id"])
        if not leads:
            return None
        with write(db):  # a savepoint: a failure here leaves no half-made alert behind
            return _create(db, unit_id=deployment["unit_id"], deployment_id=deployment["id"], level="warning",
                           message="", kind="auto", rule="hotspot", source_key=source_key, recipients=leads,
                           detail={"cell": cell_text, "score": score, "threshold": threshold,
                                   "hours": HOTSPOT_WINDOW.total_seconds() / 3600})
    except Exception:  # the officer's record must be stored even if the hotspot check fails
        log.exception("hotspot alert rule failed")
        return None


def cleanup(db, deployment_ids: list[str]) -> None:
    """Remove the alerts of these deployments (the demo data is rebuilt)."""
    if not deployment_ids:
        return
    marks = ",".join("?" * len(deployment_ids))
    inner = f"SELECT id FROM alerts WHERE deployment_id IN ({marks})"
    db.execute(f"DELETE FROM push_deliveries WHERE alert_id IN ({inner})", deployment_ids)
    db.execute(f"DELETE FROM alert_recipients WHERE alert_id IN ({inner})", deployment_ids)
    db.execute(f"DELETE FROM alerts WHERE deployment_id IN ({marks})", deployment_ids)
