"""Preventive activities: work outside a deployment's presence that an officer logs in a few taps (online
presence, a school visit, a community meeting, a partner meeting, Anchor team work...).

No web imports. An activity is made on the device (its id) and arrives by a form post or through the sync
outbox (fieldapp/offline/sync.py, kind "activity"); the same id with the same content is the same activity
(a resend gets 'duplicate', nothing is written twice), the same id with other content is refused. Activities
name no people: place or platform and the kind of online activity, never account names, handles, links or
identity codes. Hours from activities and from presence at deployments are merged per officer in
fieldapp/yearly_report.py.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date, datetime, time, timedelta

from fieldapp import audit, categories
from fieldapp.accounts import User
from fieldapp.clock import HELSINKI, iso, utcnow
from fieldapp.db import one, write
from fieldapp.errors import Forbidden, ValidationFailed
from fieldapp.i18n import gettext as _
from fieldapp.ids import is_valid_id
from fieldapp.personal_ids import find_identity_codes
from fieldapp.text import clean

KIND_LIST = "activity_kinds"
ONLINE = "online_presence"
RECORDING_ROLES = ("officer", "staff", "lead")
MAX_PAST_DAYS = 400          # an activity may be logged afterwards, up to a little over a year back
MAX_MINUTES = 24 * 60
MAX_PEOPLE = 1_000_000
TEXT_MAX = 120
LINKS_MAX = 20
FIELDS = ("kind", "day", "start", "minutes", "place_name", "platform", "online_activity", "people_reached",
          "languages", "topics", "contact_ids", "intervention_ids")
MULTI = ("languages", "topics", "contact_ids", "intervention_ids")
# An account name, a handle or a link: '@name', 'u/name', 'http://', 'www.' (activities never name people).
ACCOUNT_RE = re.compile(r"(?:^|[\s(])[@＠]\w|https?://|www\.|\b[ur]/\w", re.IGNORECASE)


class ActivityConflict(ValueError):
    """Another activity (or someone else's) already has this id."""


def _list(value) -> list[str]:
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else [value]
    return [str(item).strip() for item in items if str(item).strip()]


def _one(value) -> str:
    if isinstance(value, list):
        value = value[-1] if value else ""
    return clean(str(value if value is not None else "")).strip()


def _free_text(raw: dict, name: str, errors: dict) -> str:
    text = _one(raw.get(name))
    if len(text) > TEXT_MAX:
        errors[name] = _("Use at most %(n)s characters.", n=TEXT_MAX)
    elif find_identity_codes(text):
        errors[name] = _("Remove the personal identity code: activities do not identify people.")
    elif ACCOUNT_RE.search(text):
        errors[name] = _("Name the platform and the kind of activity only, never account names, handles or links.")
    return text


def _whole(raw: dict, name: str, low: int, high: int, errors: dict, message: str, default: int | None = None):
    text = _one(raw.get(name))
    if not text:
        if default is None:
            errors[name] = message
        return default
    try:
        number = int(text)
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        errors[name] = message
        return default
    return number


def validate(db, user: User, raw: dict, *, now: datetime | None = None) -> dict:
    """Raw values (form strings or JSON) -> the activity's row values; ValidationFailed with messages in the
    user's language otherwise."""
    now = now or utcnow()
    errors: dict[str, str] = {}
    codes = categories.all_codes(db)
    kind = _one(raw.get("kind"))
    if kind not in codes.get(KIND_LIST, ()):
        errors["kind"] = _("Choose the kind of activity.")
    today = now.astimezone(HELSINKI).date()
    day = None
    day_text = _one(raw.get("day"))
    try:
        day = date.fromisoformat(day_text)
    except ValueError:
        errors["day"] = _("Enter the date as YYYY-MM-DD.")
    if day is not None and not today - timedelta(days=MAX_PAST_DAYS) <= day <= today:
        errors["day"] = _("The date must be today or within the past %(n)s days.", n=MAX_PAST_DAYS)
        day = None
    start_text = _one(raw.get("start")) or "12:00"
    try:
        start = time.fromisoformat(start_text)
    except ValueError:
        errors["start"] = _("Enter the time as HH:MM.")
        start = time(12)
    minutes = _whole(raw, "minutes", 1, MAX_MINUTES, errors,
                     _("Enter the duration in minutes (1–%(n)s).", n=MAX_MINUTES))
    people = _whole(raw, "people_reached", 0, MAX_PEOPLE, errors,
                    _("Enter the number of people reached as a whole number (0 if none)."), default=0)
    values = {"kind": kind, "minutes": minutes, "people_reached": people}
    for name in ("place_name", "platform", "online_activity"):
        values[name] = _free_text(raw, name, errors)
    if kind == ONLINE and not values["platform"] and "platform" not in errors:
        errors["platform"] = _("Name the platform (for example a social media service or a game).")
    for name, list_name in (("languages", "language"), ("topics", "topic")):
        chosen = list(dict.fromkeys(_list(raw.get(name))))
        if any(code not in codes.get(list_name, ()) for code in chosen):
            errors[name] = _("Choose from the list.")
        values[name] = chosen
    for name, table in (("contact_ids", "contacts"), ("intervention_ids", "interventions")):
        chosen = list(dict.fromkeys(_list(raw.get(name))))[:LINKS_MAX + 1]
        if len(chosen) > LINKS_MAX or any(not is_valid_id(i) for i in chosen) or \
                any(not _own_record(db, user, table, i) for i in chosen):
            errors[name] = _("Link only records you made yourself.")
        values[name] = chosen
    if errors:
        raise ValidationFailed(errors)
    starts = datetime.combine(day, start, tzinfo=HELSINKI)
    values["starts_at"] = iso(starts)
    values["ends_at"] = iso(starts + timedelta(minutes=minutes))
    return values


def _own_record(db, user: User, table: str, record_id: str) -> bool:
    return one(db, f"SELECT 1 AS found FROM {table} WHERE id = ? AND created_by = ? AND deleted_at IS NULL",
               [record_id, user.id]) is not None


def content_hash(values: dict) -> str:
    """The identity of an activity's content: the same activity sent again hashes the same."""
    stored = {k: values[k] for k in ("kind", "starts_at", "minutes", "place_name", "platform", "online_activity",
                                      "people_reached", "languages", "topics", "contact_ids", "intervention_ids")}
    return hashlib.blake2b(json.dumps(stored, sort_keys=True).encode(), digest_size=16).hexdigest()


def create(db, user: User, raw: dict, activity_id: str, *, device_time: str | None = None,
           now: datetime | None = None, action: str = "create") -> dict:
    """Store one activity of this user (in the user's unit) and audit it; a resend of the same id and content
    answers the stored row with duplicate=True. ValidationFailed, Forbidden or ActivityConflict otherwise."""
    if user.role not in RECORDING_ROLES or not user.unit_id:
        raise Forbidden("activity")
    if not is_valid_id(activity_id):
        raise ValidationFailed({"id": _("The record id is not valid.")})
    now = now or utcnow()
    values = validate(db, user, raw, now=now)
    digest = content_hash(values)
    with write(db):
        existing = one(db, "SELECT * FROM activities WHERE id = ?", [activity_id])
        if existing is not None:
            if existing["user_id"] == user.id and existing["submission_hash"] == digest:
                return {**decode(existing), "duplicate": True}
            raise ActivityConflict(activity_id)
        row = {"id": activity_id, "unit_id": user.unit_id, "user_id": user.id, **values,
               **{name: json.dumps(values[name]) for name in MULTI},
               "submission_hash": digest, "device_time": clean(device_time)[:40] if device_time else None,
               "received_at": iso(now), "version": 1, "created_at": iso(now)}
        db["activities"].insert(row)
        audit.record(db, user.id, action, "activity", activity_id, f"kind={values['kind']}")
    return decode(row)


def decode(row: dict) -> dict:
    out = dict(row)
    for name in MULTI:
        if isinstance(out.get(name), str):
            out[name] = json.loads(out[name])
    return out


def recent(db, user: User, limit: int = 20) -> list[dict]:
    """The user's own latest activities, newest first."""
    return [decode(row) for row in db.query(
        "SELECT * FROM activities WHERE user_id = ? AND deleted_at IS NULL ORDER BY starts_at DESC LIMIT ?",
        [user.id, limit])]


def own_recent_records(db, user: User, table: str, limit: int = 20) -> list[dict]:
    """The user's latest records of one table, for linking them to an activity."""
    return list(db.query(f"SELECT id, occurred_at, place_name FROM {table} WHERE created_by = ? AND deleted_at "
                         "IS NULL ORDER BY occurred_at DESC LIMIT ?", [user.id, limit]))


def new_values(now: datetime | None = None) -> dict:
    """What a new activity form starts with: today, now rounded down to the quarter hour, an hour."""
    local = (now or utcnow()).astimezone(HELSINKI)
    return {"kind": "", "day": local.date().isoformat(), "start": f"{local.hour:02d}:{local.minute // 15 * 15:02d}",
            "minutes": "60", "place_name": "", "platform": "", "online_activity": "", "people_reached": "",
            "languages": [], "topics": [], "contact_ids": [], "intervention_ids": []}
