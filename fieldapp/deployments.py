"""Deployments (events, demonstrations, pop-up stations), assignments, presence, and who may see what."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

import msgspec

from fieldapp import audit, categories
from fieldapp.access import can_record, can_view, recordable, visible, visible_sql
from fieldapp.accounts import User, officers_of_unit
from fieldapp.clock import iso, now_iso, parse, utcnow
from fieldapp.db import one, write
from fieldapp.errors import Forbidden, ValidationFailed
from fieldapp.geo import in_finland
from fieldapp.i18n import gettext as _
from fieldapp.ids import new_id
from fieldapp.personal_ids import find_identity_codes
from fieldapp.text import clean

# Officers often arrive before the planned start; check-in opens this long before it.
CHECK_IN_EARLY = timedelta(hours=3)
MAX_LENGTH = timedelta(days=31)
# Catches typing slips in the year (a deployment in 0202 or 2062).
PLAN_PAST = timedelta(days=366)
PLAN_AHEAD = timedelta(days=2 * 366)


class EditConflict(Exception):
    """The deployment was changed by someone else after the edit form was opened."""

    def __init__(self, current: dict):
        super().__init__(current["id"])
        self.current = current


class PresenceClosed(ValueError):
    """Check-in outside the deployment's time (the message is translated)."""


Name = Annotated[str, msgspec.Meta(min_length=1, max_length=120)]
Text120 = Annotated[str, msgspec.Meta(max_length=120)]


class DeploymentInput(msgspec.Struct, kw_only=True):
    """What a lead enters for a deployment (form strings are cleaned first, see validate_input)."""

    name: Name
    kind: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
    place_name: Text120 = ""
    lat: float | None = None
    lon: float | None = None
    starts_at: datetime
    ends_at: datetime
    notes: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    assigned: list[Annotated[str, msgspec.Meta(max_length=64)]] = []


INPUT_FIELDS = [f.name for f in msgspec.structs.fields(DeploymentInput)]


def _type_error(field: str) -> str:
    messages = {
        "name": _("Enter a name (at most 120 characters)."),
        "kind": _("Choose a kind."),
        "place_name": _("The place name is too long (at most 120 characters)."),
        "lat": _("Enter the latitude as a number."),
        "lon": _("Enter the longitude as a number."),
        "starts_at": _("Enter a date and time."),
        "ends_at": _("Enter a date and time."),
        "notes": _("The notes are too long (at most 2000 characters)."),
        "assigned": _("Choose officers of your unit."),
    }
    return messages.get(field, _("This value is not valid."))


def _clean(raw: dict) -> dict:
    """Form strings to typed values: blanks are missing, decimal commas accepted, local times in Helsinki."""
    cleaned: dict = {}
    for name in INPUT_FIELDS:
        if name not in raw:
            continue
        value = raw[name]
        if name == "assigned":
            value = value if isinstance(value, list) else [value]
            cleaned[name] = [v.strip() if isinstance(v, str) else v for v in value if v not in ("", None)]
            continue
        if isinstance(value, list):  # a field sent twice: keep the last, like a browser would
            value = value[-1] if value else None
        if isinstance(value, str):
            value = clean(value)
            if name in ("notes", "place_name"):
                value = value.strip()
            else:
                value = value.strip() or None
            if value is not None and name in ("lat", "lon"):
                value = value.replace(",", ".")
            if value is not None and name in ("starts_at", "ends_at"):
                try:
                    value = parse(value)  # datetime-local: Helsinki time without a zone
                except ValueError:
                    pass
                except OverflowError:  # a time (year 1 or 9999 at the edge of a zone), but none in UTC: _utc()
                    value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if value is None:
            continue
        cleaned[name] = value
    return cleaned


def _utc(value: datetime | None) -> datetime | None:
    """A time entered as UTC; None when there is none (year 1 or 9999 at the edge of a time zone)."""
    try:
        return None if value is None else parse(value)
    except OverflowError:
        return None


def validate_input(db, unit_id: str, raw: dict, *, now: datetime | None = None) -> tuple[dict, list[str]]:
    """Check a deployment form (or JSON); returns (row values, assigned user ids) or raises ValidationFailed."""
    now = now or utcnow()
    cleaned = _clean(raw)
    errors: dict[str, str] = {}
    values: dict = {}
    for field in msgspec.structs.fields(DeploymentInput):
        if field.name not in cleaned:
            if field.default is not msgspec.NODEFAULT:
                values[field.name] = field.default
            elif field.default_factory is not msgspec.NODEFAULT:
                values[field.name] = field.default_factory()
            elif field.name == "name":
                errors["name"] = _("Enter a name.")
            else:
                errors[field.name] = _("Choose a kind.") if field.name == "kind" else _("Enter a date and time.")
            continue
        try:
            values[field.name] = msgspec.convert(cleaned[field.name], field.type, strict=False)
        except msgspec.ValidationError:
            errors[field.name] = _type_error(field.name)
    if values.get("kind") and "kind" not in errors and values["kind"] not in categories.codes(db, "deployment_kind"):
        errors["kind"] = _("Choose a value from the list.")
    lat, lon = values.get("lat"), values.get("lon")
    if "lat" not in errors and "lon" not in errors:
        if (lat is None) != (lon is None):
            errors["lat" if lat is None else "lon"] = _("Give both latitude and longitude, or neither.")
        elif lat is not None and not in_finland(lat, lon):
            errors["lat"] = _("The location is outside Finland.")
    start, end = _utc(values.get("starts_at")), _utc(values.get("ends_at"))
    if "starts_at" not in errors and values.get("starts_at") is not None:
        if start is None or not (now - PLAN_PAST <= start <= now + PLAN_AHEAD):
            errors["starts_at"] = _("The start must be at most a year back and two years ahead.")
    if "ends_at" not in errors and "starts_at" not in errors and values.get("ends_at") is not None \
            and start is not None:
        if end is None:  # beyond what UTC holds: year 1 or 9999
            errors["ends_at"] = _("The end must be after the start.") if values["ends_at"].year == 1 \
                else _("A deployment can last at most 31 days.")
        elif end <= start:
            errors["ends_at"] = _("The end must be after the start.")
        elif end - start > MAX_LENGTH:
            errors["ends_at"] = _("A deployment can last at most 31 days.")
    for text_field in ("name", "place_name", "notes"):  # clean text (_clean): the scan sees what is stored
        if text_field not in errors and find_identity_codes(values.get(text_field) or ""):
            errors[text_field] = _("Remove the personal identity code: these records must not identify people.")
    assigned = values.pop("assigned", []) or []
    if "assigned" not in errors:
        allowed = {row["id"] for row in officers_of_unit(db, unit_id)}
        if any(uid not in allowed for uid in assigned):
            errors["assigned"] = _("Choose officers of your unit.")
    if errors:
        raise ValidationFailed(errors)
    values["starts_at"], values["ends_at"] = iso(start), iso(end)
    return values, list(dict.fromkeys(assigned))


def get(db, deployment_id: str) -> dict | None:
    return one(db, "SELECT * FROM deployments WHERE id = ? AND deleted_at IS NULL", [deployment_id])


def assigned_user_ids(db, deployment_id: str) -> set[str]:
    rows = db.conn.execute("SELECT user_id FROM assignments WHERE deployment_id = ?", [deployment_id])
    return {row[0] for row in rows}


def for_user(db, user: User) -> list[dict]:
    """Deployments this user works in (access.visible_sql): current ones first, then upcoming, then past (newest first)."""
    now = now_iso()
    where, params = visible_sql(user)
    rows = list(db.query(
        f"SELECT d.* FROM deployments d WHERE {where} AND d.deleted_at IS NULL ORDER BY d.starts_at DESC", params))
    for row in rows:
        row["status"] = status(row, now)
    order = {"current": 0, "upcoming": 1, "past": 2}
    upcoming_first = sorted((r for r in rows if r["status"] == "upcoming"), key=lambda r: r["starts_at"])
    others = [r for r in rows if r["status"] != "upcoming"]
    return sorted(others + upcoming_first, key=lambda r: order[r["status"]])


def current_for_user(db, user: User) -> dict | None:
    rows = [r for r in for_user(db, user) if r["status"] == "current"]
    return rows[0] if rows else None


def save(db, user: User, values: dict, deployment_id: str | None = None, assigned: list[str] | None = None,
         *, base_version: int | None = None) -> dict:
    """Create or update a deployment of the lead's unit, with its assigned officers.

    With base_version, an update based on an older version raises EditConflict (nothing is written).
    """
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
            if base_version is not None and existing["version"] != base_version:
                raise EditConflict(existing)
            db["deployments"].update(deployment_id, {
                **values, "version": existing["version"] + 1, "updated_at": now, "updated_by": user.id})
            action = "update"
        if assigned is not None:
            allowed = {r["id"] for r in db.query(
                "SELECT id FROM users WHERE unit_id = ? AND role IN ('officer','staff','lead')", [user.unit_id])}
            db.execute("DELETE FROM assignments WHERE deployment_id = ?", [deployment_id])
            db["assignments"].insert_all(
                [{"deployment_id": deployment_id, "user_id": uid, "created_at": now} for uid in assigned if uid in allowed])
        detail = "" if assigned is None else f"assigned={len(assigned_user_ids(db, deployment_id))}"
        audit.record(db, user.id, action, "deployment", deployment_id, detail)
    return get(db, deployment_id)


def open_presence(db, user: User, deployment_id: str) -> dict | None:
    return one(db, "SELECT * FROM presence WHERE deployment_id = ? AND user_id = ? AND checked_out_at IS NULL",
               [deployment_id, user.id])


# When a presence ends (SQL over presence p JOIN deployments d, parameter :now): a forgotten check-out
# counts until the deployment's planned end (or now, if that is earlier), so it cannot grow for days.
PRESENCE_END_SQL = "COALESCE(p.checked_out_at, MIN(:now, MAX(d.ends_at, p.checked_in_at)))"
_HOURS = f"(julianday({PRESENCE_END_SQL}) - julianday(p.checked_in_at)) * 24"


def status(deployment: dict, now: str | None = None) -> str:
    """current, upcoming or past."""
    now = now or now_iso()
    if deployment["starts_at"] <= now <= deployment["ends_at"]:
        return "current"
    return "upcoming" if deployment["starts_at"] > now else "past"


def check_in_open(deployment: dict, now: datetime | None = None) -> bool:
    """Check-in is possible from CHECK_IN_EARLY before the start until the end."""
    now = now or utcnow()
    return parse(deployment["starts_at"]) - CHECK_IN_EARLY <= now <= parse(deployment["ends_at"])


def check_in(db, user: User, deployment_id: str, at: datetime | None = None) -> dict:
    """Start presence at a deployment (a second tap while checked in changes nothing).

    An open presence at another deployment is ended first: one person is in one place at a time.
    `at`: when the officer tapped, for a tap kept on the device while offline (default: now).
    """
    deployment = recordable(db, user, deployment_id)
    with write(db):
        existing = open_presence(db, user, deployment_id)
        if existing:
            return existing
        if not check_in_open(deployment, at):
            raise PresenceClosed(_("Check-in is possible from three hours before the start until the end."))
        now = iso(at) if at else now_iso()
        # A forgotten check-out elsewhere ends at that deployment's planned end (or now, if earlier).
        for other in list(db.query(f"SELECT p.id, p.deployment_id, {PRESENCE_END_SQL} AS until FROM presence p "
                                   "JOIN deployments d ON d.id = p.deployment_id "
                                   "WHERE p.user_id = :user AND p.checked_out_at IS NULL",
                                   {"user": user.id, "now": now})):
            db.execute("UPDATE presence SET checked_out_at = ? WHERE id = ?", [other["until"], other["id"]])
            audit.record(db, user.id, "check_out", "deployment", other["deployment_id"], "automatic")
        row = {"id": new_id(), "deployment_id": deployment_id, "user_id": user.id,
               "checked_in_at": now, "checked_out_at": None}
        db["presence"].insert(row)
        audit.record(db, user.id, "check_in", "deployment", deployment_id)
    return row


def check_out(db, user: User, deployment_id: str, at: datetime | None = None) -> dict | None:
    """End the open presence, if any (`at`: when the officer tapped; never before the check-in)."""
    visible(db, user, deployment_id)
    with write(db):
        existing = open_presence(db, user, deployment_id)
        if not existing:
            return None
        until = max(iso(at), existing["checked_in_at"]) if at else now_iso()
        db.execute("UPDATE presence SET checked_out_at = ? WHERE id = ?", [until, existing["id"]])
        audit.record(db, user.id, "check_out", "deployment", deployment_id)
    return one(db, "SELECT * FROM presence WHERE id = ?", [existing["id"]])




def presence_hours(db, deployment_id: str, user_id: str | None = None) -> float:
    """Hours of presence at a deployment, of everyone or of one person (open check-ins count up to now)."""
    sql = (f"SELECT COALESCE(SUM({_HOURS}), 0) AS h FROM presence p JOIN deployments d ON d.id = p.deployment_id "
           "WHERE p.deployment_id = :deployment")
    params = {"now": now_iso(), "deployment": deployment_id}
    if user_id is not None:
        sql += " AND p.user_id = :user"
        params["user"] = user_id
    row = one(db, sql, params)
    return round(max(row["h"], 0.0), 2)


def presence_by_person(db, deployment_id: str) -> list[dict]:
    """Per person at a deployment: name, hours and whether they are checked in now (for leads)."""
    return list(db.query(
        f"""SELECT u.id AS user_id, u.display_name, u.username, ROUND(MAX(SUM({_HOURS}), 0), 2) AS hours,
                   MAX(p.checked_out_at IS NULL) AS checked_in
            FROM presence p JOIN deployments d ON d.id = p.deployment_id JOIN users u ON u.id = p.user_id
            WHERE p.deployment_id = :deployment GROUP BY u.id ORDER BY u.display_name""",
        {"now": now_iso(), "deployment": deployment_id}))


def presence_state(db, user: User, deployment: dict | str) -> dict:
    """What the check-in button needs: may this user check in, is they checked in, since when, hours."""
    if isinstance(deployment, str):
        deployment = get(db, deployment)
    state = {"deployment": deployment, "can_record": False, "checked_in": False, "since": None,
             "check_in_open": False, "opens_at": None, "ended": False, "my_hours": 0.0, "total_hours": None,
             "people": None}
    if deployment is None or user is None or not can_view(db, user, deployment):
        return state
    open_row = open_presence(db, user, deployment["id"])
    state.update({
        "can_record": can_record(db, user, deployment),
        "checked_in": open_row is not None,
        "since": open_row["checked_in_at"] if open_row else None,
        "check_in_open": check_in_open(deployment),
        "opens_at": iso(parse(deployment["starts_at"]) - CHECK_IN_EARLY),
        "ended": deployment["ends_at"] < now_iso(),
        "my_hours": presence_hours(db, deployment["id"], user.id),
    })
    if user.role == "lead":
        state["total_hours"] = presence_hours(db, deployment["id"])
        state["people"] = presence_by_person(db, deployment["id"])
    return state
