"""The follow-up queue (fieldapp/followups.py): made from the records, each state change, the reminder, the
report's numbers, the offline actions' exactly-once answers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from fieldapp import accounts, deployments, followups, i18n, needs_action, projections, records, reports, yearly_report
from fieldapp.clock import HELSINKI, iso, utcnow
from fieldapp.errors import NotFound
from fieldapp.ids import new_id
from fieldapp.offline import followup_actions, refusals
from fieldapp.services import recording

PW = "long-enough-pw"


@pytest.fixture
def unit(memory_db):
    """A unit with a lead, two officers, staff, an admin; a deployment of last month with everyone assigned;
    a lead of another unit."""
    db = memory_db
    unit_id = accounts.ensure_unit(db, "Unit A")
    other = accounts.ensure_unit(db, "Unit B")
    people = {
        "lead": accounts.create_user(db, "lead", PW, "lead", unit_id, "Lead"),
        "officer": accounts.create_user(db, "officer", PW, "officer", unit_id, "Officer"),
        "officer2": accounts.create_user(db, "officer2", PW, "officer", unit_id, "Officer Two"),
        "staff": accounts.create_user(db, "staff", PW, "staff", unit_id, "Staff"),
        "admin": accounts.create_user(db, "admin", PW, "admin", None, "Admin"),
        "other_lead": accounts.create_user(db, "otherlead", PW, "lead", other, "Other Lead"),
    }
    start = utcnow() - timedelta(days=40)
    deployment = deployments.save(db, people["lead"], {
        "name": "Community visit", "kind": "community_visit", "place_name": "Hall", "lat": 60.17, "lon": 24.94,
        "starts_at": iso(start), "ends_at": iso(start + timedelta(days=39)), "notes": ""},
        assigned=[people["officer"].id, people["officer2"].id, people["staff"].id])
    return {"db": db, "deployment": deployment, **people}


def contact(u, who="officer", days_ago=30, **flags) -> dict:
    """A contact of `days_ago` (older than a form allows: stored as demo data is), projected."""
    values = {"occurred_at": iso(utcnow() - timedelta(days=days_ago)), "topics": ["rumour"], **flags}
    record = records.store_unchecked(u["db"], u[who], "contact", u["deployment"]["id"], values)
    projections.catch_up(u["db"])
    return record


def followup_of(db, record_id: str) -> dict | None:
    row = db.execute("SELECT id FROM followups WHERE record_id = ?", [record_id]).fetchone()
    return None if row is None else db.execute("SELECT * FROM followups WHERE id = ?", [row[0]]).fetchone()


def state_of(db, record_id: str) -> dict:
    cursor = db.execute("SELECT * FROM followups WHERE record_id = ?", [record_id])
    return dict(zip([c[0] for c in cursor.description], cursor.fetchone()))


# ---------------------------------------------------------------- made from the records


def test_a_contact_with_feedback_promised_becomes_an_open_followup_owned_by_its_officer_due_in_the_units_days(unit):
    db = unit["db"]
    record = contact(unit, feedback_promised=True, days_ago=3)
    row = state_of(db, record["id"])
    assert row["state"] == "open" and row["owner_id"] == unit["officer"].id and row["feedback_promised"] == 1
    occurred = datetime.fromisoformat(record["occurred_at"].replace("Z", "+00:00")).astimezone(HELSINKI).date()
    assert row["due_on"] == (occurred + timedelta(days=followups.DEFAULT_DUE_DAYS)).isoformat()


def test_the_units_due_days_are_the_leads_to_set_and_apply_to_new_followups(unit):
    db = unit["db"]
    assert followups.set_due_days(db, unit["lead"], "7") == 7
    with pytest.raises(followups.FollowupInvalid):
        followups.set_due_days(db, unit["lead"], "0")
    with pytest.raises(NotFound):
        followups.set_due_days(db, unit["officer"], "3")
    record = contact(unit, follow_up=True, days_ago=1)
    due = datetime.fromisoformat(state_of(db, record["id"])["due_on"]).date()
    assert (due - (utcnow() - timedelta(days=1)).astimezone(HELSINKI).date()).days == 7


def test_records_that_ask_for_nothing_make_no_followup_and_a_resend_makes_no_second(unit):
    db = unit["db"]
    plain = contact(unit)
    given = contact(unit, feedback_promised=True, feedback_given=True)
    ongoing = recording.create(db, unit["officer"], "intervention", unit["deployment"]["id"],
                               {"kind": "dialogue", "outcome": "ongoing", "occurred_at": iso(utcnow())})
    assert followup_of(db, plain["id"]) is None and followup_of(db, given["id"]) is None
    assert followup_of(db, ongoing["id"]) is not None
    db.execute("UPDATE sequences SET value = 0 WHERE name = 'projected'")  # everything projected again
    projections.catch_up(db)
    assert db.execute("SELECT COUNT(*) FROM followups").fetchone()[0] == 1


def test_a_contact_edited_to_feedback_given_closes_its_followup_and_a_deleted_one_drops_it(unit):
    db = unit["db"]
    first = contact(unit, feedback_promised=True)
    second = contact(unit, follow_up=True)
    recording.update(db, unit["officer"], "contact", first["id"],
                     {"topics": ["rumour"], "feedback_promised": True, "feedback_given": True}, base_version=1)
    assert state_of(db, first["id"])["state"] == "done"
    recording.delete(db, unit["officer"], "contact", second["id"])
    assert followup_of(db, second["id"]) is None


# ---------------------------------------------------------------- state changes


def test_open_to_done_records_when_how_and_the_note_and_marks_the_contact_feedback_given(unit):
    db = unit["db"]
    record = contact(unit, feedback_promised=True)
    fid = state_of(db, record["id"])["id"]
    when = (utcnow() - timedelta(hours=2)).astimezone(HELSINKI).strftime("%Y-%m-%dT%H:%M")
    done = followups.mark_given(db, unit["officer"], fid, {"given_how": "community_meeting", "given_at": when,
                                                           "note": "Told the group what was done."})
    assert done["state"] == "done" and done["given_how"] == "community_meeting" and done["closed_by"] == unit["officer"].id
    assert done["note"] == "Told the group what was done." and done["given_at"].startswith(iso(utcnow())[:4])
    stored = db.execute("SELECT feedback_given, version FROM contacts WHERE id = ?", [record["id"]]).fetchone()
    assert tuple(stored) == (1, 2)  # a new version of the contact, the old one in its history
    assert db.execute("SELECT COUNT(*) FROM record_versions WHERE record_id = ?", [record["id"]]).fetchone()[0] == 1
    actions = [r[0] for r in db.execute("SELECT action FROM audit_log WHERE record_id = ?", [fid])]
    assert "followup_done" in actions
    assert followups.own_queue(db, unit["officer"]) == []
    with pytest.raises(followups.FollowupInvalid) as closed:
        followups.mark_given(db, unit["officer"], fid, {"given_how": "phone"})
    assert "state" in closed.value.errors


def test_feedback_given_needs_how_and_refuses_an_identity_code_in_the_note(unit):
    db = unit["db"]
    fid = state_of(db, contact(unit, feedback_promised=True)["id"])["id"]
    with pytest.raises(followups.FollowupInvalid) as missing:
        followups.mark_given(db, unit["officer"], fid, {"given_how": "", "note": ""})
    assert set(missing.value.errors) == {"given_how"}
    with pytest.raises(followups.FollowupInvalid) as personal:
        followups.mark_given(db, unit["officer"], fid, {"given_how": "phone", "note": "called 131052-308T"})
    assert set(personal.value.errors) == {"note"}
    assert db.execute("SELECT state FROM followups WHERE id = ?", [fid]).fetchone()[0] == "open"


def test_a_time_given_in_the_future_is_taken_as_now(unit):
    db = unit["db"]
    fid = state_of(db, contact(unit, follow_up=True)["id"])["id"]
    now = utcnow()
    done = followups.mark_given(db, unit["officer"], fid, {"given_how": "phone",
                                                           "given_at": iso(now + timedelta(days=3))}, now=now)
    assert done["given_at"] == iso(now)


def test_overdue_is_an_open_followup_past_its_day_and_shows_on_the_leads_needs_action(unit):
    db = unit["db"]
    late = contact(unit, feedback_promised=True, days_ago=30)  # due 16 days ago
    fresh = contact(unit, feedback_promised=True, days_ago=1)
    overdue = followups.overdue(db, unit["lead"])
    assert [row["record_id"] for row in overdue] == [late["id"]] and overdue[0]["overdue"]
    assert not followups.visible(db, unit["lead"], state_of(db, fresh["id"])["id"])["overdue"]
    section = needs_action.sections(db, unit["lead"])[0]
    assert section.key == "overdue_followups" and section.total == 1
    assert needs_action.sections(db, unit["officer"]) == []
    # The day after the fresh one's due day, it is overdue too.
    later = utcnow() + timedelta(days=followups.DEFAULT_DUE_DAYS + 1)
    assert followups.count_overdue(db, unit["lead"], later) == 2


def test_own_queue_is_due_soonest_first_and_only_the_owners(unit):
    db = unit["db"]
    newer = contact(unit, follow_up=True, days_ago=2)
    older = contact(unit, follow_up=True, days_ago=20)
    contact(unit, who="officer2", follow_up=True, days_ago=25)
    assert [row["record_id"] for row in followups.own_queue(db, unit["officer"])] == [older["id"], newer["id"]]


def test_a_lead_reassigns_and_the_new_owner_sees_it_and_the_old_does_not(unit):
    db = unit["db"]
    fid = state_of(db, contact(unit, follow_up=True)["id"])["id"]
    with pytest.raises(NotFound):
        followups.reassign(db, unit["officer"], fid, unit["officer2"].id)
    with pytest.raises(followups.FollowupInvalid):
        followups.reassign(db, unit["lead"], fid, unit["other_lead"].id)  # not of the unit
    followups.reassign(db, unit["lead"], fid, unit["officer2"].id)
    assert followups.visible(db, unit["officer2"], fid)["owner_id"] == unit["officer2"].id
    with pytest.raises(NotFound):
        followups.visible(db, unit["officer"], fid)
    with pytest.raises(NotFound):
        followups.visible(db, unit["other_lead"], fid)
    with pytest.raises(NotFound):
        followups.visible(db, unit["admin"], fid)


def test_cannot_be_done_needs_a_reason(unit):
    db = unit["db"]
    fid = state_of(db, contact(unit, follow_up=True)["id"])["id"]
    with pytest.raises(followups.FollowupInvalid) as empty:
        followups.mark_cannot(db, unit["officer"], fid, "  ")
    assert "cannot_reason" in empty.value.errors
    closed = followups.mark_cannot(db, unit["officer"], fid, "The group has moved away.")
    assert closed["state"] == "cannot" and closed["cannot_reason"] == "The group has moved away."
    assert followups.unit_queue(db, unit["lead"], state="cannot")[0]["id"] == fid


# ---------------------------------------------------------------- reopening a done one


def done_followup(unit, days_ago=30, **flags) -> tuple[dict, str]:
    """A contact whose follow-up the officer marked done by phone (given now), and the follow-up's id."""
    record = contact(unit, days_ago=days_ago, **(flags or {"feedback_promised": True}))
    fid = state_of(unit["db"], record["id"])["id"]
    followups.mark_given(unit["db"], unit["officer"], fid, {"given_how": "phone", "note": "Told them."})
    return record, fid


def test_a_done_followup_reopened_with_a_reason_is_open_again_due_in_the_units_days_with_its_history_kept(unit):
    db = unit["db"]
    followups.set_due_days(db, unit["lead"], "7")
    record, fid = done_followup(unit)
    before = state_of(db, record["id"])
    reopened = followups.reopen(db, unit["lead"], fid, "  They asked what the city decided.  ")
    assert reopened["state"] == "open" and reopened["reopened_at"] and not reopened["overdue"]
    assert reopened["due_on"] == (followups.today() + timedelta(days=7)).isoformat()
    assert (reopened["given_at"], reopened["given_how"], reopened["note"], reopened["closed_at"],
            reopened["reminded_at"]) == (None, None, "", None, None)
    [history] = followups.reopenings(db, fid)
    assert history["reason"] == "They asked what the city decided." and history["reopened_by"] == unit["lead"].id
    assert (history["due_on"], history["given_at"], history["given_how"], history["note"], history["closed_by"]) == (
        before["due_on"], before["given_at"], "phone", "Told them.", unit["officer"].id)
    assert history["new_due_on"] == reopened["due_on"] and history["reopened_by_name"] == "Lead"
    audited = db.execute("SELECT user_id, detail FROM audit_log WHERE action = 'followup_reopen' AND record_id = ?",
                         [fid]).fetchall()
    assert [tuple(row) for row in audited] == [(unit["lead"].id, f"due_on={reopened['due_on']}")]
    # The contact says so too (a new version, the one before in its history), and the owner has it in the queue.
    stored = db.execute("SELECT feedback_given, version FROM contacts WHERE id = ?", [record["id"]]).fetchone()
    assert tuple(stored) == (0, 3)
    assert [row["id"] for row in followups.own_queue(db, unit["officer"])] == [fid]
    # Done again: the history keeps the first round.
    again = followups.mark_given(db, unit["officer"], fid, {"given_how": "in_person", "note": "Met them."})
    assert again["state"] == "done" and again["given_how"] == "in_person"
    assert len(followups.reopenings(db, fid)) == 1
    assert db.execute("SELECT feedback_given FROM contacts WHERE id = ?", [record["id"]]).fetchone()[0] == 1


def test_the_owner_reopens_too_but_not_a_colleague_another_units_lead_nor_an_admin(unit):
    db = unit["db"]
    _record, fid = done_followup(unit)
    for who in ("officer2", "staff", "other_lead", "admin"):
        with pytest.raises(NotFound):
            followups.reopen(db, unit[who], fid, "Reason enough.")
    with pytest.raises(NotFound):
        followups.reopen(db, unit["lead"], new_id(), "Reason enough.")
    assert state_of(db, _record["id"])["state"] == "done"
    assert followups.reopen(db, unit["officer"], fid, "I forgot a part.")["state"] == "open"


def test_reopening_needs_a_short_reason_without_personal_data_and_a_followup_that_is_done(unit):
    db = unit["db"]
    record, fid = done_followup(unit)
    token = i18n.set_locale("en")  # the messages read in English
    try:
        for reason, says in (("", "required"), (" \n ", "required"), ("x" * (followups.REASON_MAX + 1), "At most"),
                             ("Called 131052-308T back", "identity code"), (None, "required"), (["list"], "required")):
            with pytest.raises(followups.FollowupInvalid) as refused:
                followups.reopen(db, unit["officer"], fid, reason)
            assert list(refused.value.errors) == ["reopen_reason"] and says in refused.value.errors["reopen_reason"]
    finally:
        i18n._current.reset(token)
    assert state_of(db, record["id"])["state"] == "done" and followups.reopenings(db, fid) == []
    followups.reopen(db, unit["officer"], fid, "More to tell.")
    with pytest.raises(followups.FollowupInvalid) as still_open:  # twice: the second finds it open
        followups.reopen(db, unit["officer"], fid, "More to tell.")
    assert list(still_open.value.errors) == ["state"]
    cannot = state_of(db, contact(unit, follow_up=True)["id"])["id"]
    followups.mark_cannot(db, unit["officer"], cannot, "Moved away.")
    with pytest.raises(followups.FollowupInvalid) as not_done:
        followups.reopen(db, unit["officer"], cannot, "More to tell.")
    assert list(not_done.value.errors) == ["state"]
    assert len(followups.reopenings(db, fid)) == 1 and followups.reopenings(db, cannot) == []


def test_a_reopened_followup_is_not_dropped_when_its_box_is_taken_back_but_goes_with_a_deleted_record(unit):
    db = unit["db"]
    record, fid = done_followup(unit, follow_up=True)
    followups.reopen(db, unit["officer"], fid, "Not finished after all.")
    recording.update(db, unit["officer"], "contact", record["id"], {"topics": ["rumour"], "follow_up": False},
                     base_version=1)
    assert state_of(db, record["id"])["state"] == "open"  # reopened on purpose: an unticked box does not drop it
    recording.delete(db, unit["officer"], "contact", record["id"])
    assert followup_of(db, record["id"]) is None
    assert db.execute("SELECT COUNT(*) FROM followup_reopenings WHERE followup_id = ?", [fid]).fetchone()[0] == 0


def test_an_edit_of_the_contact_does_not_close_a_reopened_followup_again(unit):
    db = unit["db"]
    record, fid = done_followup(unit)
    followups.reopen(db, unit["officer"], fid, "They asked again.")
    version = db.execute("SELECT version FROM contacts WHERE id = ?", [record["id"]]).fetchone()[0]
    recording.update(db, unit["officer"], "contact", record["id"], {"topics": ["rumour", "safety_worry"],
                                                                   "feedback_promised": True}, base_version=version)
    assert state_of(db, record["id"])["state"] == "open"


def test_a_reopened_followup_counts_as_given_on_time_only_once_given_again_by_its_new_due_day(unit):
    """The yearly report's and the period report's "on time": a reopened follow-up counts nowhere while open; given
    again, it counts once, against the due day it got when reopened."""
    db = unit["db"]
    now = utcnow()
    record, fid = done_followup(unit, days_ago=3)  # due in 11 days, given now: on time
    year = followups.today(now).year

    def on_time(at=None):
        return yearly_report.unit_figures(db, unit["lead"].unit_id, (at or followups.today(now)).year)[
            "followups_on_time"][""]

    def period(at):
        scope = reports._Scope(unit["lead"], reports.ReportQuery())
        return reports.followup_numbers(db, scope, iso(now - timedelta(days=60)), iso(at + timedelta(days=1)), now=at)

    assert on_time() == 1 and year == followups.today().year
    followups.reopen(db, unit["officer"], fid, "More to tell.", now=now)
    assert on_time() == 0
    assert period(now)["given_on_time"] == 0 and period(now)["open"] == 1
    # Given again well after the first due day but by the new one: on time, once.
    later = now + timedelta(days=followups.DEFAULT_DUE_DAYS - 1)
    followups.mark_given(db, unit["officer"], fid, {"given_how": "phone"}, now=later)
    assert on_time(followups.today(later)) == 1
    assert period(later)["given_on_time"] == 1 and period(later)["given_late"] == 0
    # Reopened and given again after its new due day: late, not on time.
    followups.reopen(db, unit["officer"], fid, "Still more.", now=later)
    latest = later + timedelta(days=followups.DEFAULT_DUE_DAYS + 2)
    followups.mark_given(db, unit["officer"], fid, {"given_how": "phone"}, now=latest)
    assert on_time(followups.today(latest)) == 0
    assert period(latest)["given_late"] == 1 and period(latest)["promised"] == 1


def test_a_reopened_followup_is_reminded_again_on_its_new_due_day(unit):
    db = unit["db"]
    record = contact(unit, feedback_promised=True, days_ago=1)
    fid = state_of(db, record["id"])["id"]
    first_due = datetime.fromisoformat(state_of(db, record["id"])["due_on"]).replace(hour=9, tzinfo=HELSINKI)
    assert followups.remind_due(db, first_due.astimezone(timezone.utc)) == 1
    followups.mark_given(db, unit["officer"], fid, {"given_how": "phone"}, now=first_due.astimezone(timezone.utc))
    reopened = followups.reopen(db, unit["officer"], fid, "More to tell.", now=first_due.astimezone(timezone.utc))
    new_due = datetime.fromisoformat(reopened["due_on"]).replace(hour=9, tzinfo=HELSINKI).astimezone(timezone.utc)
    assert followups.remind_due(db, new_due) == 1


# ---------------------------------------------------------------- the reminder


def test_the_owner_gets_one_content_free_reminder_on_the_due_day(unit):
    db = unit["db"]
    record = contact(unit, feedback_promised=True, days_ago=1)
    row = state_of(db, record["id"])
    due = datetime.fromisoformat(row["due_on"]).replace(hour=9, tzinfo=HELSINKI).astimezone(timezone.utc)
    assert followups.remind_due(db, due - timedelta(days=1)) == 0  # the day before: nothing
    assert followups.remind_due(db, due) == 1
    assert followups.remind_due(db, due + timedelta(hours=3)) == 0  # once
    alert = db.execute("SELECT unit_id, message, rule, kind FROM alerts WHERE source_key LIKE 'followup:%'").fetchall()
    assert [tuple(a) for a in alert] == [(row["unit_id"], "", "followup_due", "auto")]
    recipients = db.execute("SELECT user_id FROM alert_recipients").fetchall()
    assert [r[0] for r in recipients] == [unit["officer"].id]


def test_a_closed_followup_gets_no_reminder(unit):
    db = unit["db"]
    record = contact(unit, follow_up=True, days_ago=1)
    row = state_of(db, record["id"])
    followups.mark_cannot(db, unit["officer"], row["id"], "Moved away.")
    due = datetime.fromisoformat(row["due_on"]).replace(hour=9, tzinfo=HELSINKI).astimezone(timezone.utc)
    assert followups.remind_due(db, due) == 0


# ---------------------------------------------------------------- offline actions


def test_feedback_sent_from_a_device_is_applied_once_and_a_resend_is_a_duplicate(unit):
    db = unit["db"]
    fid = state_of(db, contact(unit, feedback_promised=True)["id"])["id"]
    action = followup_actions.FeedbackAction(id=new_id(), followup_id=fid, given_how="in_person",
                                             given_at=iso(utcnow() - timedelta(minutes=30)), note="At the visit.")
    first = followup_actions.apply(db, unit["officer"], [action])
    again = followup_actions.apply(db, unit["officer"], [action])
    assert [r.status for r in first + again] == ["accepted", "duplicate"]
    changed = followup_actions.FeedbackAction(id=action.id, followup_id=fid, given_how="phone")
    assert followup_actions.apply(db, unit["officer"], [changed])[0].status == "rejected"
    assert db.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'followup_done'").fetchone()[0] == 1
    other = followup_actions.FeedbackAction(id=new_id(), followup_id=fid, given_how="phone")
    refused = followup_actions.apply(db, unit["officer2"], [other])[0]
    assert refused.status == "rejected" and refused.message_code == followup_actions.NOT_FOUND


def feedback_action(fid: str, **values) -> followup_actions.FeedbackAction:
    return followup_actions.FeedbackAction(id=new_id(), followup_id=fid, given_how="in_person", **values)


def test_feedback_marked_on_a_device_before_a_reopening_does_not_close_the_reopened_followup(unit):
    # Marked offline on the page that showed no reopening; meanwhile a colleague closed it and the lead reopened it.
    db = unit["db"]
    record = contact(unit, feedback_promised=True)
    fid = state_of(db, record["id"])["id"]
    marked = feedback_action(fid, reopenings=0, given_at=iso(utcnow() - timedelta(hours=2)), note="At the visit.")
    followups.mark_given(db, unit["lead"], fid, {"given_how": "phone"})  # closed by the lead, online
    followups.reopen(db, unit["lead"], fid, "They asked what the city decided.")
    [refused] = followup_actions.apply(db, unit["officer"], [marked])
    assert (refused.status, refused.message_code) == ("rejected", followup_actions.REOPENED)
    assert refused.message_code in refusals.codes()  # the device shows it in its own language
    after = state_of(db, record["id"])
    assert (after["state"], after["given_at"], after["closed_at"]) == ("open", None, None)
    assert db.execute("SELECT feedback_given FROM contacts WHERE id = ?", [record["id"]]).fetchone()[0] == 0
    # A resend gets the same answer and changes nothing; the refusal is kept with the action.
    [again] = followup_actions.apply(db, unit["officer"], [marked])
    assert (again.status, again.message_code) == ("rejected", followup_actions.REOPENED)
    assert db.execute("SELECT outcome FROM followup_actions WHERE id = ?", [marked.id]).fetchone()[0] == \
        followup_actions.REOPENED
    assert db.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'followup_done' AND record_id = ?",
                      [fid]).fetchone()[0] == 1


def test_feedback_marked_after_the_reopening_closes_it_once_and_a_resend_is_a_duplicate(unit):
    db = unit["db"]
    record, fid = done_followup(unit)
    followups.reopen(db, unit["lead"], fid, "They asked again.")
    marked = feedback_action(fid, reopenings=1, note="Told them again.")
    first = followup_actions.apply(db, unit["officer"], [marked])
    assert [r.status for r in first] == ["accepted"]
    assert state_of(db, record["id"])["state"] == "done" and state_of(db, record["id"])["note"] == "Told them again."
    # Reopened once more: the resend of the accepted action is still a duplicate and does not close it again.
    followups.reopen(db, unit["lead"], fid, "And once more.")
    again = followup_actions.apply(db, unit["officer"], [marked])
    assert [r.status for r in again] == ["duplicate"] and state_of(db, record["id"])["state"] == "open"
    # Same id, another count: other content, refused as any changed resend.
    changed = followup_actions.FeedbackAction(id=marked.id, followup_id=fid, given_how="in_person",
                                              note="Told them again.", reopenings=2)
    assert followup_actions.apply(db, unit["officer"], [changed])[0].message_code == followup_actions.OTHER_CONTENT


def test_an_older_clients_action_without_the_count_closes_a_never_reopened_followup_but_not_a_reopened_one(unit):
    db = unit["db"]
    fresh = state_of(db, contact(unit, feedback_promised=True)["id"])["id"]
    old_style = feedback_action(fresh)  # no reopenings: an outbox kept by the script before this change
    assert [r.status for r in followup_actions.apply(db, unit["officer"], [old_style])] == ["accepted"]
    assert [r.status for r in followup_actions.apply(db, unit["officer"], [old_style])] == ["duplicate"]
    record, reopened = done_followup(unit)
    followups.reopen(db, unit["lead"], reopened, "They asked again.")
    [refused] = followup_actions.apply(db, unit["officer"], [feedback_action(reopened)])
    assert (refused.status, refused.message_code) == ("rejected", followup_actions.REOPENED)
    assert state_of(db, record["id"])["state"] == "open"


def test_a_closed_followup_is_still_answered_closed_whatever_the_count(unit):
    db = unit["db"]
    _record, fid = done_followup(unit)
    followups.reopen(db, unit["lead"], fid, "They asked again.")
    followups.mark_given(db, unit["lead"], fid, {"given_how": "phone"})
    [refused] = followup_actions.apply(db, unit["officer"], [feedback_action(fid, reopenings=0)])
    assert refused.message_code == followup_actions.CLOSED


def test_the_form_refuses_a_mark_made_on_a_page_from_before_a_reopening_in_the_users_language(unit):
    db = unit["db"]
    record, fid = done_followup(unit)
    followups.reopen(db, unit["lead"], fid, "They asked again.")
    token = i18n.set_locale("fi")
    try:
        with pytest.raises(followups.FollowupReopened) as refused:
            followups.mark_given(db, unit["officer"], fid, {"given_how": "phone"}, reopenings_seen=0)
    finally:
        i18n._current.reset(token)
    assert list(refused.value.errors) == ["state"] and "avattiin uudelleen" in refused.value.errors["state"]
    assert state_of(db, record["id"])["state"] == "open"
    assert followups.mark_given(db, unit["officer"], fid, {"given_how": "phone"}, reopenings_seen=1)["state"] == "done"


# ---------------------------------------------------------------- the period report


def test_the_report_counts_promised_given_on_time_late_open_overdue_and_the_share_closed(unit):
    db = unit["db"]
    now = utcnow()
    made = [contact(unit, feedback_promised=True, days_ago=30) for _ in range(5)]
    made += [contact(unit, follow_up=True, days_ago=2)]  # open, not overdue
    ids = [state_of(db, r["id"])["id"] for r in made]
    # On time: given 20 days ago (due 16 days ago); late: given yesterday; one cannot be done; two open overdue.
    followups.mark_given(db, unit["officer"], ids[0], {"given_how": "phone", "given_at": iso(now - timedelta(days=20))})
    followups.mark_given(db, unit["officer"], ids[1], {"given_how": "phone", "given_at": iso(now - timedelta(days=1))})
    followups.mark_cannot(db, unit["officer"], ids[2], "Moved away.")
    scope = reports._Scope(unit["lead"], reports.ReportQuery())
    numbers = reports.followup_numbers(db, scope, iso(now - timedelta(days=60)), iso(now + timedelta(days=1)), now=now)
    assert numbers == {"promised": 6, "given_on_time": 1, "given_late": 1, "cannot": 1, "open_overdue": 2,
                       "open": 1, "share_closed": 50}
    # Outside the period: nothing.
    assert reports.followup_numbers(db, scope, iso(now - timedelta(days=90)), iso(now - timedelta(days=60)),
                                    now=now)["promised"] == 0


def test_report_numbers_match_what_was_done_on_generated_data(unit):
    """Random contacts and interventions; each follow-up given before or after its day, closed as cannot be done
    or left open; the report's numbers are what the test did, counted by the test itself."""
    import random
    rng = random.Random(14)
    db = unit["db"]
    expected = dict.fromkeys(("promised", "given_on_time", "given_late", "cannot", "open_overdue", "open"), 0)
    for _ in range(40):
        days_ago = rng.randint(20, 40)
        if rng.random() < 0.25:
            values = {"occurred_at": iso(utcnow() - timedelta(days=days_ago)), "kind": "dialogue",
                      "outcome": rng.choice(["ongoing", "resolved"])}
            record = records.store_unchecked(db, unit["officer"], "intervention", unit["deployment"]["id"], values)
        else:
            flags = {"feedback_promised": rng.random() < 0.6, "follow_up": rng.random() < 0.3,
                     "feedback_given": rng.random() < 0.1}
            values = {"occurred_at": iso(utcnow() - timedelta(days=days_ago)), "topics": ["rumour"], **flags}
            record = records.store_unchecked(db, unit["officer"], "contact", unit["deployment"]["id"], values)
        projections.catch_up(db)
        row = followup_of(db, record["id"])
        if row is None:
            continue
        expected["promised"] += 1
        fid, due_on = row[0], datetime.fromisoformat(state_of(db, record["id"])["due_on"]).date()
        noon = datetime(due_on.year, due_on.month, due_on.day, 12, tzinfo=HELSINKI)
        choice = rng.choice(["on_time", "late", "cannot", "open"])
        if choice in ("on_time", "late"):
            shift = -rng.randint(0, 3) if choice == "on_time" else rng.randint(1, 3)
            followups.mark_given(db, unit["officer"], fid, {"given_how": "phone",
                                                            "given_at": iso(noon + timedelta(days=shift))})
            expected["given_on_time" if choice == "on_time" else "given_late"] += 1
        elif choice == "cannot":
            followups.mark_cannot(db, unit["officer"], fid, "Moved away.")
            expected["cannot"] += 1
        else:
            expected["open_overdue"] += 1  # every due day here is at least six days ago
    closed = expected["given_on_time"] + expected["given_late"] + expected["cannot"]
    expected["share_closed"] = round(100 * closed / expected["promised"])
    scope = reports._Scope(unit["lead"], reports.ReportQuery())
    now = utcnow()
    assert expected["promised"] > 15
    assert reports.followup_numbers(db, scope, iso(now - timedelta(days=60)), iso(now), now=now) == expected


def _plans(db, call) -> list[str]:
    """The query plan of every statement `call` runs on the connection (its SQL with the values bound)."""
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    try:
        call()
    finally:
        db.conn.set_trace_callback(None)
    return [" / ".join(row[3] for row in db.conn.execute("EXPLAIN QUERY PLAN " + sql))
            for sql in statements if sql.lstrip().upper().startswith("SELECT")]


def test_the_queues_take_their_first_rows_in_order_from_the_index_without_sorting_them_all(unit):
    """An officer with thousands of open follow-ups of one due day: the first 50 are read in order from the index
    (before m019 every open one of that day was joined and sorted: 7.6 ms for 3,900)."""
    db = unit["db"]
    for days_ago in (3, 2):
        contact(unit, follow_up=True, days_ago=days_ago)
    plans = _plans(db, lambda: followups.own_queue(db, unit["officer"]))
    plans += _plans(db, lambda: followups.unit_queue(db, unit["lead"]))
    queue_plans = [plan for plan in plans if "followups_owner" in plan or "followups_unit" in plan]
    assert len(queue_plans) == 2, plans
    assert all("TEMP B-TREE" not in plan for plan in queue_plans), queue_plans
