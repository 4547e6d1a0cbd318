"""The follow-up queue: no "black hole" for the people who gave information (strategy 2019-2023, feedback).

A contact with feedback promised (and not yet given) or a follow-up needed, and an intervention whose outcome is
"ongoing", get one follow-up each: owned by the officer who recorded it, due a number of days later (per unit,
unit_followup_settings, DEFAULT_DUE_DAYS without a row), open until it is done ("feedback given": when, how and a
short note without personal data) or cannot be done (with a reason). A done one may be reopened, with a reason:
open again, due the unit's days from then, its earlier feedback kept in followup_reopenings. A lead of the unit may
reassign it and see the unit's queue; anyone else sees only their own. Created by the projections (records_written)
from the records' current state, so a form, a sync batch and demo data all make them the same way, once (unique per
record).

The contact's own flag stays true to the queue: feedback given here sets the contact's feedback_given (a new
version of the contact, as an edit would), reopening takes it back, and a contact edited to "feedback given" closes
its open follow-up.

No web imports.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from fieldapp import audit, records
from fieldapp.accounts import User
from fieldapp.alerts.messages import create as create_alert
from fieldapp.clock import HELSINKI, iso, parse, utcnow
from fieldapp.db import one, write
from fieldapp.errors import NotFound
from fieldapp.i18n import gettext as _
from fieldapp.i18n import lazy
from fieldapp.ids import new_id
from fieldapp.offline import changes as offline_changes
from fieldapp.personal_ids import find_identity_codes
from fieldapp.text import clean

FIELD_ROLES = ("officer", "staff", "lead")
DEFAULT_DUE_DAYS = 14
DUE_DAYS_RANGE = (1, 365)
NOTE_MAX = 300
REASON_MAX = 300
# How feedback was given (the four ways), with their labels.
HOW = {
    "in_person": lazy("In person"),
    "phone": lazy("By phone"),
    "partner": lazy("Through a partner"),
    "community_meeting": lazy("At a community meeting"),
}
STATES = {"open": lazy("Open"), "done": lazy("Done"), "cannot": lazy("Cannot be done")}
# Feedback marked on a page that showed fewer reopenings than the follow-up has now: made about an earlier round.
REOPENED_SINCE = lazy("This follow-up was reopened after the page you marked it on was loaded. If you gave feedback "
                      "after the reopening, open the follow-up and mark it again.")
# An intervention with this outcome is not finished: someone has to come back to it.
INTERVENTION_OPEN_OUTCOME = "ongoing"
# A device's time for "given at" is believed up to this far back (as for presence taps), never in the future.
OLDEST_GIVEN = timedelta(days=30)


class FollowupInvalid(ValueError):
    """Values refused, with a message per field in the user's language."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(errors)
        self.errors = errors


class FollowupReopened(FollowupInvalid):
    """Feedback marked on a page from before a reopening: it must not close the reopened follow-up."""

    def __init__(self):
        super().__init__({"state": _(REOPENED_SINCE)})


# ---------------------------------------------------------------- the per-unit due days


def due_days(db, unit_id: str | None) -> int:
    """Days from a record to its follow-up's due day in this unit."""
    row = one(db, "SELECT due_days FROM unit_followup_settings WHERE unit_id = ?", [unit_id])
    return row["due_days"] if row else DEFAULT_DUE_DAYS


def set_due_days(db, user: User, raw) -> int:
    """A lead sets the unit's days (follow-ups made from now on; open ones keep their day). FollowupInvalid."""
    if user.role != "lead" or not user.unit_id:
        raise NotFound("unit")
    low, high = DUE_DAYS_RANGE
    try:
        days = int(str(raw).strip())
    except (TypeError, ValueError):
        days = None
    if days is None or not low <= days <= high:
        raise FollowupInvalid({"due_days": _("Give a number of days from %(low)s to %(high)s.", low=low, high=high)})
    now = iso(utcnow())
    with write(db):
        db.execute("INSERT INTO unit_followup_settings (unit_id, due_days, updated_by, updated_at) VALUES (?, ?, ?, ?) "
                   "ON CONFLICT (unit_id) DO UPDATE SET due_days = excluded.due_days, "
                   "updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                   [user.unit_id, days, user.id, now])
        audit.record(db, user.id, "update", "followup_settings", user.unit_id, f"due_days={days}")
    return days


# ---------------------------------------------------------------- made from the records (a projection hook)


def needs_followup(kind_name: str, record: dict) -> bool:
    """Whether a record (in its current state) asks for a follow-up."""
    if record.get("deleted_at"):
        return False
    if kind_name == "contact":
        return bool((record.get("feedback_promised") and not record.get("feedback_given")) or record.get("follow_up"))
    if kind_name == "intervention":
        return record.get("outcome") == INTERVENTION_OPEN_OUTCOME
    return False


def local_day(value) -> date:
    return parse(value).astimezone(HELSINKI).date()


def today(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(HELSINKI).date()


def records_written(db, kind_name: str, records: list[dict]) -> None:
    """Follow the records' current state (fieldapp/projections.py): a new follow-up where one is asked for, the
    open one closed where the contact now says feedback was given, dropped where nothing asks for it any more (a
    ticked box taken back, a deleted record). Applying a record twice changes nothing."""
    if kind_name not in ("contact", "intervention") or not records:
        return
    units: dict[str, str | None] = {}  # per batch: each deployment's unit and each unit's days to the due day
    days: dict[str, int] = {}
    ids = [record["id"] for record in records]
    found = {row["record_id"]: row for row in db.query(
        f"SELECT * FROM followups WHERE record_type = ? AND record_id IN ({','.join('?' * len(ids))})", [kind_name, *ids])}
    for record in records:
        existing = found.get(record["id"])
        wanted = needs_followup(kind_name, record)
        if existing is None:
            if wanted and record.get("created_by"):
                _create(db, kind_name, record, units, days)
            continue
        if existing["state"] != "open":
            continue
        now = iso(utcnow())
        if kind_name == "contact" and not record.get("deleted_at") and record.get("feedback_given") \
                and existing["feedback_promised"] and not record.get("follow_up"):
            db.execute("UPDATE followups SET state = 'done', given_at = ?, closed_at = ?, closed_by = ?, updated_at = ? "
                       "WHERE id = ?", [record.get("updated_at") or now, now, record.get("updated_by"), now,
                                        existing["id"]])
        elif not wanted and (record.get("deleted_at") or not existing["reopened_at"]):
            # A reopened one was reopened on purpose, for a reason: a box taken back on the record does not drop it.
            db.execute("DELETE FROM followups WHERE id = ?", [existing["id"]])


def _create(db, kind_name: str, record: dict, units: dict, days: dict) -> None:
    deployment_id = record["deployment_id"]
    if deployment_id not in units:
        row = one(db, "SELECT unit_id FROM deployments WHERE id = ?", [deployment_id])
        units[deployment_id] = row["unit_id"] if row else None
    unit_id = units[deployment_id]
    if unit_id is None:
        return
    if unit_id not in days:
        days[unit_id] = due_days(db, unit_id)
    due = local_day(record["occurred_at"]) + timedelta(days=days[unit_id])
    now = iso(utcnow())
    db.execute("INSERT OR IGNORE INTO followups (id, unit_id, record_type, record_id, deployment_id, feedback_promised, "
               "owner_id, due_on, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?)",
               [new_id(), unit_id, kind_name, record["id"], deployment_id,
                1 if kind_name == "contact" and record.get("feedback_promised") else 0,
                record["created_by"], due.isoformat(), now, now])


# ---------------------------------------------------------------- reading


_SELECT = (
    "SELECT f.*, u.display_name AS owner_name, u.username AS owner_username, d.name AS deployment_name, "
    "d.kind AS deployment_kind, COALESCE(c.occurred_at, i.occurred_at) AS occurred_at, "
    "c.topics AS topics, c.group_category AS group_category, i.kind AS intervention_kind "
    "FROM followups f JOIN users u ON u.id = f.owner_id JOIN deployments d ON d.id = f.deployment_id "
    "LEFT JOIN contacts c ON f.record_type = 'contact' AND c.id = f.record_id "
    "LEFT JOIN interventions i ON f.record_type = 'intervention' AND i.id = f.record_id ")


def _shown(row: dict, on: date) -> dict:
    row["overdue"] = row["state"] == "open" and row["due_on"] < on.isoformat()
    row["due_today"] = row["state"] == "open" and row["due_on"] == on.isoformat()
    row["given_late"] = row["state"] == "done" and bool(row["given_at"]) and local_day(row["given_at"]).isoformat() > \
        row["due_on"]
    return row


def own_queue(db, user: User, *, limit: int = 50, now: datetime | None = None) -> list[dict]:
    """The user's open follow-ups, due soonest first."""
    on = today(now)
    return [_shown(row, on) for row in db.query(
        _SELECT + "WHERE f.owner_id = ? AND f.state = 'open' ORDER BY f.due_on, f.created_at LIMIT ?",
        [user.id, limit])]


def unit_queue(db, user: User, *, state: str = "open", limit: int = 200, now: datetime | None = None) -> list[dict]:
    """A lead's view of the unit's follow-ups in one state (open: due soonest first, overdue ones marked;
    closed states: the newest first)."""
    if user.role != "lead" or not user.unit_id:
        return []
    on = today(now)
    order = "f.due_on, f.created_at" if state == "open" else "f.closed_at DESC"
    return [_shown(row, on) for row in db.query(
        _SELECT + f"WHERE f.unit_id = ? AND f.state = ? ORDER BY {order} LIMIT ?", [user.unit_id, state, limit])]


def overdue(db, user: User, *, limit: int = 50, now: datetime | None = None) -> list[dict]:
    """The unit's open follow-ups whose day has passed (a lead's "needs action"), the oldest first."""
    if user.role != "lead" or not user.unit_id:
        return []
    on = today(now)
    return [_shown(row, on) for row in db.query(
        _SELECT + "WHERE f.unit_id = ? AND f.state = 'open' AND f.due_on < ? ORDER BY f.due_on LIMIT ?",
        [user.unit_id, on.isoformat(), limit])]


def count_overdue(db, user: User, now: datetime | None = None) -> int:
    if user.role != "lead" or not user.unit_id:
        return 0
    return db.execute("SELECT COUNT(*) FROM followups WHERE unit_id = ? AND state = 'open' AND due_on < ?",
                      [user.unit_id, today(now).isoformat()]).fetchone()[0]


def may_see(user: User, row: dict) -> bool:
    """The owner, or a lead of the follow-up's unit."""
    if user.role not in FIELD_ROLES or not user.unit_id or row["unit_id"] != user.unit_id:
        return False
    return user.role == "lead" or row["owner_id"] == user.id


def visible(db, user: User, followup_id: str, now: datetime | None = None) -> dict:
    """The follow-up if this user may see it; NotFound otherwise (unknown and others' ids alike)."""
    row = one(db, _SELECT + "WHERE f.id = ?", [followup_id])
    if row is None or not may_see(user, row):
        raise NotFound(followup_id)
    return _shown(row, today(now))


def owners(db, user: User) -> list[dict]:
    """Whom a lead may give a follow-up to: the unit's active field users."""
    return list(db.query("SELECT id, username, display_name, role FROM users WHERE unit_id = ? AND active = 1 "
                         "AND role IN ('officer', 'staff', 'lead') ORDER BY display_name, username", [user.unit_id]))


# ---------------------------------------------------------------- state changes


def _short_text(value, limit: int, field: str, errors: dict, *, required: bool) -> str:
    text = clean(value if isinstance(value, str) else "").strip()
    if required and not text:
        errors[field] = _("This field is required.")
    elif len(text) > limit:
        errors[field] = _("At most %(n)s characters.", n=limit)
    elif find_identity_codes(text):
        errors[field] = _("Remove the personal identity code: no personal data here.")
    return text


def _given_time(value, now: datetime) -> str:
    """The time feedback was given: what was typed or sent (a form's local time, a device's ISO time), never in
    the future nor older than OLDEST_GIVEN; blank means now."""
    if not value:
        return iso(now)
    when = parse(value)
    return iso(min(max(when, now - OLDEST_GIVEN), now))


def validate_given(raw: dict, now: datetime | None = None) -> dict:
    """{given_at, given_how, note} from a form or a device; FollowupInvalid with per-field messages."""
    now = now or utcnow()
    errors: dict[str, str] = {}
    how = raw.get("given_how")
    if how not in HOW:
        errors["given_how"] = _("Choose how feedback was given.")
    note = _short_text(raw.get("note", ""), NOTE_MAX, "note", errors, required=False)
    given_at = None
    try:
        given_at = _given_time(raw.get("given_at"), now)
    except (ValueError, OverflowError, TypeError):
        errors["given_at"] = _("Enter a date and time.")
    if errors:
        raise FollowupInvalid(errors)
    return {"given_at": given_at, "given_how": how, "note": note}


def _open_for_change(db, user: User, followup_id: str) -> dict:
    row = one(db, "SELECT * FROM followups WHERE id = ?", [followup_id])
    if row is None or not may_see(user, row):
        raise NotFound(followup_id)
    if row["state"] != "open":
        raise FollowupInvalid({"state": _("This follow-up is already closed.")})
    return row


def reopening_count(db, followup_id: str) -> int:
    """How many times a follow-up has been reopened: what a page showing it knew (see mark_given)."""
    return db.execute("SELECT COUNT(*) FROM followup_reopenings WHERE followup_id = ?", [followup_id]).fetchone()[0]


def mark_given(db, user: User, followup_id: str, raw: dict, *, now: datetime | None = None,
               reopenings_seen: int | None = None) -> dict:
    """Feedback given (or the follow-up done): open -> done, with when, how and a note. The owner or a lead.
    A contact that promised feedback is marked "feedback given" too, as a new version.

    `reopenings_seen`: how many reopenings the page the mark was made on showed (a device's copy may be days old).
    When the follow-up has been reopened since, the mark was about an earlier round and is refused
    (FollowupReopened): a lead's reopening is never undone by an older mark, and no clock is trusted for it.
    None: not checked."""
    now = now or utcnow()
    values = validate_given(raw, now)
    stamp = iso(now)
    with write(db):
        row = _open_for_change(db, user, followup_id)
        if reopenings_seen is not None and reopening_count(db, followup_id) > reopenings_seen:
            raise FollowupReopened()
        db.execute("UPDATE followups SET state = 'done', given_at = ?, given_how = ?, note = ?, closed_at = ?, "
                   "closed_by = ?, updated_at = ? WHERE id = ?",
                   [values["given_at"], values["given_how"], values["note"], stamp, user.id, stamp, followup_id])
        audit.record(db, user.id, "followup_done", "followup", followup_id, values["given_how"])
        if row["record_type"] == "contact" and row["feedback_promised"]:
            _contact_feedback_given(db, user, row["record_id"], stamp)
    return visible(db, user, followup_id, now)


def _contact_feedback_given(db, user: User, contact_id: str, stamp: str) -> None:
    """The contact's flag follows the queue: a new version with feedback_given, the old one kept in the history
    (as records.update does; a device editing the old version then gets the usual conflict)."""
    current = records.get(db, "contact", contact_id)
    if current is None or current["feedback_given"]:
        return
    records._snapshot(db, "contact", current)  # the history's own step, shared rather than copied
    db.execute("UPDATE contacts SET feedback_given = 1, version = version + 1, updated_at = ?, updated_by = ?, "
               "seq = ? WHERE id = ?", [stamp, user.id, offline_changes.claim(db), contact_id])
    audit.record(db, user.id, "update", "contact", contact_id, f"version={current['version'] + 1} feedback_given")


def mark_cannot(db, user: User, followup_id: str, reason, *, now: datetime | None = None) -> dict:
    """Open -> cannot be done, with a reason (required, short, no personal data). The owner or a lead."""
    now = now or utcnow()
    errors: dict[str, str] = {}
    text = _short_text(reason, REASON_MAX, "cannot_reason", errors, required=True)
    if errors:
        raise FollowupInvalid(errors)
    stamp = iso(now)
    with write(db):
        _open_for_change(db, user, followup_id)
        db.execute("UPDATE followups SET state = 'cannot', cannot_reason = ?, closed_at = ?, closed_by = ?, "
                   "updated_at = ? WHERE id = ?", [text, stamp, user.id, stamp, followup_id])
        audit.record(db, user.id, "followup_cannot", "followup", followup_id)
    return visible(db, user, followup_id, now)


def reopen(db, user: User, followup_id: str, reason, *, now: datetime | None = None) -> dict:
    """Done -> open again, with a reason (required, short, no personal data). The owner or a lead of the unit.

    Due again the unit's days from today (as a new follow-up would be), reminded again on that day. What the done
    follow-up said (its feedback, its due day, who closed it) moves to followup_reopenings with who reopened it,
    when and why; a contact that promised feedback no longer says "feedback given" (a new version), so the record
    and the queue agree. Until it is done again it counts nowhere as given (reports, yearly report)."""
    now = now or utcnow()
    errors: dict[str, str] = {}
    text = _short_text(reason, REASON_MAX, "reopen_reason", errors, required=True)
    stamp = iso(now)
    with write(db):
        row = one(db, "SELECT * FROM followups WHERE id = ?", [followup_id])
        if row is None or not may_see(user, row):
            raise NotFound(followup_id)
        if row["state"] != "done":
            errors = {"state": _("Only a follow-up that is done can be reopened.")}
        if errors:
            raise FollowupInvalid(errors)
        new_due = (today(now) + timedelta(days=due_days(db, row["unit_id"]))).isoformat()
        db.execute("INSERT INTO followup_reopenings (id, followup_id, reopened_at, reopened_by, reason, due_on, "
                   "new_due_on, given_at, given_how, note, closed_at, closed_by) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   [new_id(), followup_id, stamp, user.id, text, row["due_on"], new_due, row["given_at"],
                    row["given_how"], row["note"], row["closed_at"], row["closed_by"]])
        db.execute("UPDATE followups SET state = 'open', due_on = ?, given_at = NULL, given_how = NULL, note = '', "
                   "closed_at = NULL, closed_by = NULL, reminded_at = NULL, reopened_at = ?, updated_at = ? "
                   "WHERE id = ?", [new_due, stamp, stamp, followup_id])
        audit.record(db, user.id, "followup_reopen", "followup", followup_id, f"due_on={new_due}")
        if row["record_type"] == "contact" and row["feedback_promised"]:
            _contact_feedback_taken_back(db, user, row["record_id"], stamp)
    return visible(db, user, followup_id, now)


def _contact_feedback_taken_back(db, user: User, contact_id: str, stamp: str) -> None:
    """The reverse of _contact_feedback_given: the contact says feedback is not given (a new version), so that its
    next edit or resend does not close the reopened follow-up again."""
    current = records.get(db, "contact", contact_id)
    if current is None or not current["feedback_given"]:
        return
    records._snapshot(db, "contact", current)
    db.execute("UPDATE contacts SET feedback_given = 0, version = version + 1, updated_at = ?, updated_by = ?, "
               "seq = ? WHERE id = ?", [stamp, user.id, offline_changes.claim(db), contact_id])
    audit.record(db, user.id, "update", "contact", contact_id, f"version={current['version'] + 1} feedback_not_given")


def reopenings(db, followup_id: str) -> list[dict]:
    """A follow-up's reopenings, the oldest first, with who reopened and who had closed it (the caller has checked
    that the user may see the follow-up)."""
    return list(db.query(
        "SELECT r.*, u.display_name AS reopened_by_name, u.username AS reopened_by_username, "
        "c.display_name AS closed_by_name, c.username AS closed_by_username FROM followup_reopenings r "
        "JOIN users u ON u.id = r.reopened_by LEFT JOIN users c ON c.id = r.closed_by "
        "WHERE r.followup_id = ? ORDER BY r.reopened_at, r.id", [followup_id]))


def reassign(db, user: User, followup_id: str, owner_id, *, now: datetime | None = None) -> dict:
    """A lead gives an open follow-up to another active field user of the unit (who gets its reminder)."""
    if user.role != "lead":
        raise NotFound(followup_id)
    allowed = {row["id"] for row in owners(db, user)}
    if owner_id not in allowed:
        raise FollowupInvalid({"owner_id": _("Choose someone of the unit.")})
    stamp = iso(now or utcnow())
    with write(db):
        row = _open_for_change(db, user, followup_id)
        if row["owner_id"] != owner_id:
            # A new owner gets the reminder of the due day even if the previous one already had it.
            db.execute("UPDATE followups SET owner_id = ?, reminded_at = NULL, updated_at = ? WHERE id = ?",
                       [owner_id, stamp, followup_id])
            audit.record(db, user.id, "followup_reassign", "followup", followup_id, f"{row['owner_id']}->{owner_id}")
    return visible(db, user, followup_id, now)


def cleanup(db, deployment_ids: list[str]) -> None:
    """Drop the follow-ups of these deployments, their device receipts and reminders (demo data reloaded)."""
    marks = ",".join("?" * len(deployment_ids))
    inner = f"SELECT id FROM followups WHERE deployment_id IN ({marks})"
    keys = f"SELECT id FROM alerts WHERE rule = 'followup_due' AND json_extract(detail, '$.followup_id') IN ({inner})"
    db.execute(f"DELETE FROM push_deliveries WHERE alert_id IN ({keys})", deployment_ids)
    db.execute(f"DELETE FROM alert_recipients WHERE alert_id IN ({keys})", deployment_ids)
    db.execute(f"DELETE FROM alerts WHERE id IN ({keys})", deployment_ids)
    db.execute(f"DELETE FROM followup_actions WHERE followup_id IN ({inner})", deployment_ids)
    db.execute(f"DELETE FROM followups WHERE deployment_id IN ({marks})", deployment_ids)


# ---------------------------------------------------------------- the reminder on the due day


def remind_due(db, now: datetime | None = None) -> int:
    """A content-free Web Push reminder (an automatic alert to the owner alone, through the alerts' push queue)
    for each open follow-up due today that has not had one; returns how many. Each once: reminded_at is set in
    the same transaction, and the alert's source key (follow-up, owner and due day: a reopened one is due again on
    another day) is unique."""
    now = now or utcnow()
    on = today(now).isoformat()
    stamp = iso(now)
    sent = 0
    rows = list(db.query("SELECT f.id, f.unit_id, f.owner_id, f.due_on FROM followups f JOIN users u ON u.id = f.owner_id "
                         "WHERE f.state = 'open' AND f.due_on = ? AND f.reminded_at IS NULL AND u.active = 1",
                         [on]))
    for row in rows:
        source_key = f"followup:{row['id']}:{row['owner_id']}:{row['due_on']}"
        with write(db):
            if one(db, "SELECT 1 AS x FROM alerts WHERE source_key = ?", [source_key]) is None:
                create_alert(db, unit_id=row["unit_id"], deployment_id=None, level="info", message="", kind="auto",
                             rule="followup_due", source_key=source_key, recipients=[row["owner_id"]],
                             detail={"followup_id": row["id"]})
                sent += 1
            db.execute("UPDATE followups SET reminded_at = ? WHERE id = ?", [stamp, row["id"]])
    return sent
