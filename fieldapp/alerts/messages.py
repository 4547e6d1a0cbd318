"""The alerts themselves: a lead's alert to a deployment's people, who receives each alert, who has read it.

Every alert (a lead's, or a rule's from fieldapp/alerts/rules.py) is made by create(): the alert, one
inbox row per recipient (alert_recipients, with read state) and, in the same transaction, the queued
push deliveries (fieldapp/alerts/deliveries.py). No web imports.

(Not named inbox.py: the package re-exports the function inbox(), which would hide a submodule of
that name.)
"""

from __future__ import annotations

import json

from fieldapp import access, audit
from fieldapp import deployments as deployments_domain
from fieldapp.accounts import User
from fieldapp.alerts import deliveries
from fieldapp.clock import iso, utcnow
from fieldapp.db import one, write
from fieldapp.errors import Forbidden, NotFound
from fieldapp.i18n import gettext as _
from fieldapp.ids import is_valid_id, new_id
from fieldapp.personal_ids import find_identity_codes
from fieldapp.text import clean

LEVELS = ("info", "warning", "urgent")
MAX_MESSAGE = 280
FIELD_ROLES = ("officer", "staff", "lead")


class AlertInvalid(ValueError):
    """Field errors of an alert or subscription, already translated into the current language."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(errors)
        self.errors = errors


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
    """Level and message of a lead's alert; returns clean values (the message as fieldapp.text.clean() stores text)
    or raises AlertInvalid."""
    level = raw.get("level")
    message = raw.get("message")
    message = clean(message).strip() if isinstance(message, str) else ""
    errors: dict[str, str] = {}
    if level not in LEVELS:
        errors["level"] = _("Choose a level.")
    if not message:
        errors["message"] = _("Write a message.")
    elif len(message) > MAX_MESSAGE:
        errors["message"] = _("The message is too long (%(n)s characters, at most %(max)s).",
                              n=len(message), max=MAX_MESSAGE)
    elif find_identity_codes(message):
        errors["message"] = _("Remove the personal identity code: alerts must not identify people.")
    if not is_valid_id(str(raw.get("deployment_id") or "")):
        errors["deployment_id"] = _("Choose a deployment.")
    if errors:
        raise AlertInvalid(errors)
    return {"level": level, "message": message, "deployment_id": raw["deployment_id"]}


def send_alert(db, user: User, raw: dict) -> dict:
    """A lead alerts everyone assigned to one of the unit's deployments; deliveries are queued, not sent here."""
    values = validate_alert(raw)
    deployment = access.visible(db, user, values["deployment_id"])
    if user.role != "lead":
        raise Forbidden(values["deployment_id"])
    recipients = [uid for uid in deployment_recipients(db, deployment) if uid != user.id]
    with write(db):
        alert = create(db, unit_id=deployment["unit_id"], deployment_id=deployment["id"], level=values["level"],
                       message=values["message"], kind="manual", created_by=user.id, recipients=recipients)
        audit.record(db, user.id, "send_alert", "alert", alert["id"], f"recipients={len(recipients)}")
    return alert


def create(db, *, unit_id: str, deployment_id: str | None, level: str, message: str, kind: str,
           recipients: list[str], created_by: str | None = None, rule: str | None = None,
           source_key: str | None = None, detail: dict | None = None) -> dict:
    """Insert an alert, its inbox rows and one queued delivery per subscribed device (inside a transaction)."""
    now = iso(utcnow())
    alert = {"id": new_id(), "unit_id": unit_id, "deployment_id": deployment_id, "level": level, "message": message,
             "kind": kind, "rule": rule, "source_key": source_key, "detail": json.dumps(detail or {}),
             "created_by": created_by, "created_at": now}
    db.execute(f"INSERT INTO alerts ({', '.join(alert)}) VALUES ({', '.join('?' * len(alert))})", list(alert.values()))
    # Two set-based statements, whatever the number of recipients: the lead's request stays fast.
    db.execute("INSERT INTO alert_recipients (alert_id, user_id) SELECT ?, value FROM json_each(?)",
               [alert["id"], json.dumps(recipients)])
    deliveries.enqueue(db, alert["id"], recipients, now)
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
    """Unread alerts of a field user (the header badge); 0 for anyone else."""
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
        raise NotFound(alert_id)
    return _decoded(row)


def mark_read(db, user: User, alert_id: str) -> None:
    """The recipient opened the alert (the first time counts)."""
    with write(db):
        db.execute("UPDATE alert_recipients SET read_at = ? WHERE alert_id = ? AND user_id = ? AND read_at IS NULL",
                   [iso(utcnow()), alert_id, user.id])


def cleanup(db, deployment_ids: list[str]) -> None:
    """Remove the alerts of these deployments (the demo data is rebuilt)."""
    if not deployment_ids:
        return
    marks = ",".join("?" * len(deployment_ids))
    inner = f"SELECT id FROM alerts WHERE deployment_id IN ({marks})"
    db.execute(f"DELETE FROM push_deliveries WHERE alert_id IN ({inner})", deployment_ids)
    db.execute(f"DELETE FROM alert_recipients WHERE alert_id IN ({inner})", deployment_ids)
    db.execute(f"DELETE FROM alerts WHERE deployment_id IN ({marks})", deployment_ids)
