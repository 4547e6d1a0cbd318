"""Deployments (events, demonstrations, pop-up stations), assignments, presence, and who may see what."""

from __future__ import annotations

from fieldapp import audit
from fieldapp.accounts import User
from fieldapp.clock import now_iso
from fieldapp.db import one, write
from fieldapp.ids import new_id

POPUP = "popup_station"


class NotFound(LookupError):
    """No such record (or not visible to this user: the same answer, so ids do not leak)."""


class Forbidden(PermissionError):
    """The user's role does not allow this."""


def get(db, deployment_id: str) -> dict | None:
    return one(db, "SELECT * FROM deployments WHERE id = ? AND deleted_at IS NULL", [deployment_id])


def assigned_user_ids(db, deployment_id: str) -> set[str]:
    return {r["user_id"] for r in db.query("SELECT user_id FROM assignments WHERE deployment_id = ?", [deployment_id])}


def can_view(db, user: User, deployment: dict) -> bool:
    """Leads see their unit; officers and staff what they are assigned to (staff also their unit's pop-up stations)."""
    if user.role == "admin" or deployment["unit_id"] != user.unit_id:
        return False
    if user.role == "lead":
        return True
    if user.id in assigned_user_ids(db, deployment["id"]):
        return True
    return user.role == "staff" and deployment["kind"] == POPUP


def can_record(db, user: User, deployment: dict) -> bool:
    """Who may add field records: leads of the unit, assigned officers, staff at pop-up stations."""
    if not can_view(db, user, deployment):
        return False
    if user.role == "staff":
        return deployment["kind"] == POPUP
    return True


def visible(db, user: User, deployment_id: str) -> dict:
    """The deployment if this user may see it; NotFound for unknown ids, Forbidden for a wrong role."""
    deployment = get(db, deployment_id)
    if deployment is None:
        raise NotFound(deployment_id)
    if not can_view(db, user, deployment):
        raise Forbidden(deployment_id)
    return deployment


def for_user(db, user: User) -> list[dict]:
    """Deployments this user works in: current ones first, then upcoming, then past (newest first)."""
    now = now_iso()
    if user.role == "lead":
        where, params = "d.unit_id = ?", [user.unit_id]
    elif user.role == "staff":
        where = "d.unit_id = ? AND (d.kind = ? OR d.id IN (SELECT deployment_id FROM assignments WHERE user_id = ?))"
        params = [user.unit_id, POPUP, user.id]
    elif user.role == "officer":
        where, params = "d.id IN (SELECT deployment_id FROM assignments WHERE user_id = ?)", [user.id]
    else:
        return []
    rows = list(db.query(
        f"SELECT d.* FROM deployments d WHERE {where} AND d.deleted_at IS NULL ORDER BY d.starts_at DESC", params))
    for row in rows:
        row["status"] = "current" if row["starts_at"] <= now <= row["ends_at"] else (
            "upcoming" if row["starts_at"] > now else "past")
    order = {"current": 0, "upcoming": 1, "past": 2}
    upcoming_first = sorted((r for r in rows if r["status"] == "upcoming"), key=lambda r: r["starts_at"])
    others = [r for r in rows if r["status"] != "upcoming"]
    return sorted(others + upcoming_first, key=lambda r: order[r["status"]])


def current_for_user(db, user: User) -> dict | None:
    rows = [r for r in for_user(db, user) if r["status"] == "current"]
    return rows[0] if rows else None


def save(db, user: User, values: dict, deployment_id: str | None = None, assigned: list[str] | None = None) -> dict:
    """Create or update a deployment of the lead's unit, with its assigned officers."""
    if user.role != "lead":
        raise Forbidden("only leads manage deployments")
    now = now_iso()
    with write(db):
        if deployment_id is None:
            deployment_id = new_id()
            db["deployments"].insert({
                "id": deployment_id, "unit_id": user.unit_id, **values, "version": 1,
                "created_at": now, "updated_at": now, "created_by": user.id, "updated_by": user.id,
            })
            action = "create"
        else:
            existing = visible(db, user, deployment_id)
            db["deployments"].update(deployment_id, {
                **values, "version": existing["version"] + 1, "updated_at": now, "updated_by": user.id})
            action = "update"
        if assigned is not None:
            allowed = {r["id"] for r in db.query(
                "SELECT id FROM users WHERE unit_id = ? AND role IN ('officer','staff','lead')", [user.unit_id])}
            db.execute("DELETE FROM assignments WHERE deployment_id = ?", [deployment_id])
            db["assignments"].insert_all(
                [{"deployment_id": deployment_id, "user_id": uid, "created_at": now} for uid in assigned if uid in allowed])
        audit.record(db, user.id, action, "deployment", deployment_id)
    return get(db, deployment_id)


def open_presence(db, user: User, deployment_id: str) -> dict | None:
    return one(db, "SELECT * FROM presence WHERE deployment_id = ? AND user_id = ? AND checked_out_at IS NULL",
               [deployment_id, user.id])


def check_in(db, user: User, deployment_id: str) -> dict:
    """Start presence at a deployment (a second tap while checked in changes nothing)."""
    deployment = visible(db, user, deployment_id)
    if not can_record(db, user, deployment):
        raise Forbidden(deployment_id)
    with write(db):
        existing = open_presence(db, user, deployment_id)
        if existing:
            return existing
        row = {"id": new_id(), "deployment_id": deployment_id, "user_id": user.id,
               "checked_in_at": now_iso(), "checked_out_at": None}
        db["presence"].insert(row)
        audit.record(db, user.id, "check_in", "deployment", deployment_id)
    return row


def check_out(db, user: User, deployment_id: str) -> dict | None:
    """End the open presence, if any."""
    visible(db, user, deployment_id)
    with write(db):
        existing = open_presence(db, user, deployment_id)
        if not existing:
            return None
        db.execute("UPDATE presence SET checked_out_at = ? WHERE id = ?", [now_iso(), existing["id"]])
        audit.record(db, user.id, "check_out", "deployment", deployment_id)
    return one(db, "SELECT * FROM presence WHERE id = ?", [existing["id"]])


def presence_hours(db, deployment_id: str) -> float:
    """Hours of presence at a deployment (open check-ins count up to now)."""
    row = one(db, """SELECT COALESCE(SUM((julianday(COALESCE(checked_out_at, ?)) - julianday(checked_in_at)) * 24), 0) AS h
                     FROM presence WHERE deployment_id = ?""", [now_iso(), deployment_id])
    return round(row["h"], 2)
