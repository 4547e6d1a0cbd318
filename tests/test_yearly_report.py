"""The strategy's yearly report against generated data with known answers: hours of presence and activities with
overlaps counted once, targets beside actuals, the previous year, the department's sum of its units, the .ods."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from fieldapp import activities, yearly_ods, yearly_report
from fieldapp.accounts import User
from fieldapp.errors import Forbidden, NotFound, ValidationFailed
from fieldapp.ids import new_id

T = "2025-01-01T00:00:00.000Z"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def _user(db, uid, role, unit):
    db.execute("INSERT INTO users (id, username, password_hash, role, unit_id, created_at, updated_at) "
               "VALUES (?, ?, 'x', ?, ?, ?, ?)", [uid, uid, role, unit, T, T])
    return User(uid, uid, uid, role, unit, "en")


@pytest.fixture
def world(memory_db):
    db = memory_db
    db.execute("INSERT INTO departments (id, name, created_at) VALUES ('dep1', 'Dep 1', ?), ('dep2', 'Dep 2', ?)",
               [T, T])
    for unit, dep in (("ua", "dep1"), ("ub", "dep1"), ("uc", "dep2")):
        db.execute("INSERT INTO units (id, name, created_at, department_id) VALUES (?, ?, ?, ?)",
                   [unit, unit.upper(), T, dep])
    users = {name: _user(db, name, role, unit) for name, role, unit in (
        ("off_a", "officer", "ua"), ("off_b", "officer", "ub"), ("off_c", "officer", "uc"), ("lead_a", "lead", "ua"),
        ("head", "department", "ua"), ("head_c", "department", "uc"), ("admin", "admin", None),
        ("staff_a", "staff", "ua"))}
    return db, users


def _deployment(db, unit, kind, starts, ends):
    did = new_id()
    db["deployments"].insert({"id": did, "unit_id": unit, "name": "D", "kind": kind, "starts_at": starts,
                              "ends_at": ends, "created_at": T, "updated_at": T})
    return did


def _presence(db, did, user, began, ended):
    db["presence"].insert({"id": new_id(), "deployment_id": did, "user_id": user, "checked_in_at": began,
                           "checked_out_at": ended})


def _activity(db, user, kind, day, start, minutes, **extra):
    raw = {"kind": kind, "day": day, "start": start, "minutes": str(minutes), **extra}
    if kind == "online_presence":
        raw.setdefault("platform", "A video platform")
    return activities.create(db, user, raw, new_id(), now=NOW)


def test_overlapping_presence_and_activities_of_one_officer_count_once(world):
    db, users = world
    # Presence 10:00-12:00 UTC (12-14 Helsinki) at a demonstration; an activity 13:00-15:00 Helsinki overlaps
    # one hour of it; a second presence 11:00-11:30 UTC inside the first adds nothing.
    did = _deployment(db, "ua", "demonstration", "2026-03-02T09:00:00.000Z", "2026-03-02T13:00:00.000Z")
    _presence(db, did, "off_a", "2026-03-02T10:00:00.000Z", "2026-03-02T12:00:00.000Z")
    _presence(db, did, "off_a", "2026-03-02T11:00:00.000Z", "2026-03-02T11:30:00.000Z")
    _activity(db, users["off_a"], "school_visit", "2026-03-02", "13:00", 120)
    # Another officer at the same time counts separately.
    _presence(db, did, "lead_a", "2026-03-02T10:00:00.000Z", "2026-03-02T11:00:00.000Z")
    hours = yearly_report.unit_figures(db, "ua", 2026)["hours"]
    assert hours[""] == 4.0  # off_a 2 h + 1 h of the activity not covered; lead_a 1 h
    assert hours["d.demonstration"] == 3.0 and hours["a.school_visit"] == 1.0


def test_merged_hours_credits_the_stretch_to_the_work_that_began_first():
    at = lambda h: datetime(2026, 1, 1, h, tzinfo=timezone.utc)  # noqa: E731
    hours = yearly_report.merged_hours([(at(9), at(12), 1, "a.x"), (at(10), at(14), 0, "d.y"),
                                        (at(13), at(13), 1, "a.empty")])
    assert hours == {"a.x": 3.0, "d.y": 2.0}


def test_counts_targets_previous_year_and_department_sum(world):
    db, users = world
    _activity(db, users["off_a"], "online_presence", "2026-05-05", "10:00", 30, people_reached="40",
              languages=["fi", "ar"])
    _activity(db, users["off_a"], "school_visit", "2026-06-05", "10:00", 60, people_reached="25", languages="fi")
    _activity(db, users["off_b"], "school_visit", "2026-06-06", "10:00", 60, people_reached="10")
    _activity(db, users["off_a"], "school_visit", "2025-12-10", "10:00", 60, people_reached="7")  # previous year
    _activity(db, users["off_c"], "school_visit", "2026-06-06", "10:00", 60, people_reached="99")  # other department
    _deployment(db, "ua", "demonstration", "2026-02-01T10:00:00.000Z", "2026-02-01T12:00:00.000Z")
    _deployment(db, "ub", "youth_event", "2025-02-01T10:00:00.000Z", "2025-02-01T12:00:00.000Z")
    yearly_report.set_targets(db, users["head"], "ua", 2026, {"activities": "10", "people_reached": "100"})
    yearly_report.set_targets(db, users["head"], "ub", 2026, {"activities": "4"})

    report = yearly_report.build(db, users["head"], 2026)
    assert [b.key for b in report.blocks] == ["all", "ua", "ub"]
    lines = {(b.key, line.indicator, line.code): line for b, _s, line in yearly_report.rows(report)}
    assert lines[("ua", "activities", "")].value == 2 and lines[("ua", "activities", "")].previous == 1
    assert lines[("ua", "activities", "")].target == 10
    assert lines[("ua", "activities", "online_presence")].value == 1
    assert lines[("ua", "people_reached", "")].value == 65 and lines[("ua", "people_reached", "")].target == 100
    assert lines[("ua", "languages", "fi")].value == 2 and lines[("ua", "languages", "ar")].value == 1
    assert lines[("ub", "deployments", "")].value == 0 and lines[("ub", "deployments", "youth_event")].previous == 1
    # The sum is the sum of the units, targets included; the other department's unit is not in it.
    for indicator in yearly_report.INDICATORS:
        for field in ("value", "previous"):
            assert getattr(lines[("all", indicator.key, "")], field) == \
                getattr(lines[("ua", indicator.key, "")], field) + getattr(lines[("ub", indicator.key, "")], field)
    assert lines[("all", "people_reached", "")].value == 75
    assert lines[("all", "activities", "")].target == 14
    assert lines[("all", "hours", "")].value == 2.5


def test_who_sees_which_units(world):
    db, users = world
    assert yearly_report.visible_unit_ids(db, users["lead_a"]) == ["ua"]
    assert sorted(yearly_report.visible_unit_ids(db, users["head"])) == ["ua", "ub"]
    assert yearly_report.visible_unit_ids(db, users["head_c"]) == ["uc"]
    for name in ("off_a", "staff_a", "admin"):
        assert yearly_report.visible_unit_ids(db, users[name]) == []
        with pytest.raises(Forbidden):
            yearly_report.build(db, users[name], 2026)
    with pytest.raises(NotFound):
        yearly_report.build(db, users["lead_a"], 2026, "ub")
    with pytest.raises(NotFound):
        yearly_report.set_targets(db, users["head"], "uc", 2026, {"activities": "1"})
    with pytest.raises(Forbidden):
        yearly_report.set_targets(db, users["lead_a"], "ua", 2026, {"activities": "1"})


def test_targets_refuse_what_is_not_a_number_and_clear_when_empty(world):
    db, users = world
    with pytest.raises(ValidationFailed) as caught:
        yearly_report.set_targets(db, users["head"], "ua", 2026, {"activities": "many", "contacts": "-1"})
    assert set(caught.value.errors) == {"activities", "contacts"}
    yearly_report.set_targets(db, users["head"], "ua", 2026, {"activities": "1\u00a0000,5"})
    assert yearly_report.targets(db, ["ua"], 2026)["ua"] == {"activities": 1000.5}
    yearly_report.set_targets(db, users["head"], "ua", 2026, {"activities": ""})
    assert yearly_report.targets(db, ["ua"], 2026)["ua"] == {}


def test_hate_figures_count_contacts_by_perceived_motive_once_in_the_total(world):
    db, users = world
    did = _deployment(db, "ua", "demonstration", "2026-02-01T10:00:00.000Z", "2026-02-01T12:00:00.000Z")
    rows = [('["hate_act"]', '["religion_belief", "origin"]', 1, 0), ('["hate_act", "rumour"]', '[]', 0, 0),
            ('["rumour"]', '["religion_belief"]', 1, 1), ('["rumour"]', '[]', 1, 1)]
    for topics, motives, advised, reported in rows:
        db["contacts"].insert({"id": new_id(), "deployment_id": did, "occurred_at": "2026-02-01T10:30:00.000Z",
                               "received_at": T, "created_at": T, "updated_at": T, "topics": topics,
                               "motives": motives, "advised_to_report": advised, "offence_reported": reported})
    figures = yearly_report.unit_figures(db, "ua", 2026)
    # three contacts: two with the topic, one with a motive only; the one with two motives is counted under each
    assert figures["hate_contacts"] == {"": 3.0, "religion_belief": 2.0, "origin": 1.0,
                                        yearly_report.NOT_RECORDED: 1.0}
    assert figures["advised_to_report"][""] == 3 and figures["offence_reported"][""] == 2


def test_followups_on_time_count_those_given_by_their_due_day_in_helsinki(world):
    db, users = world
    did = _deployment(db, "ua", "demonstration", "2026-02-01T10:00:00.000Z", "2026-02-01T12:00:00.000Z")
    # (due day, given at UTC, state): 22:30 UTC on 10 March is already the 11th in Helsinki (UTC+2): late
    for due_on, given_at, state in (("2026-03-10", "2026-03-10T20:30:00.000Z", "done"),
                                    ("2026-03-10", "2026-03-10T22:30:00.000Z", "done"),
                                    ("2026-03-10", "2026-03-01T09:00:00.000Z", "done"),
                                    ("2026-03-10", None, "open"), ("2026-03-10", None, "cannot"),
                                    ("2025-12-30", "2025-12-29T09:00:00.000Z", "done")):
        db["followups"].insert({"id": new_id(), "unit_id": "ua", "record_type": "contact", "record_id": new_id(),
                                "deployment_id": did, "owner_id": users["off_a"].id, "due_on": due_on,
                                "state": state, "given_at": given_at, "created_at": T, "updated_at": T})
    assert yearly_report.unit_figures(db, "ua", 2026)["followups_on_time"] == {"": 2.0}
    assert yearly_report.unit_figures(db, "ub", 2026)["followups_on_time"] == {"": 0.0}


def test_activities_refuse_account_names_identity_codes_and_unknown_kinds(world):
    db, users = world
    with pytest.raises(ValidationFailed) as caught:
        activities.create(db, users["off_a"], {"kind": "online_presence", "day": "2026-05-05", "minutes": "30",
                                               "platform": "chat with @someone", "online_activity": "131052-308T"},
                          new_id(), now=NOW)
    assert set(caught.value.errors) == {"platform", "online_activity"}
    with pytest.raises(ValidationFailed) as caught:
        activities.create(db, users["off_a"], {"kind": "nope", "day": "2030-01-01", "minutes": "0"}, new_id(), now=NOW)
    assert set(caught.value.errors) == {"kind", "day", "minutes"}
    with pytest.raises(Forbidden):
        activities.create(db, users["admin"], {"kind": "other", "day": "2026-05-05", "minutes": "30"}, new_id(), now=NOW)


def test_the_same_activity_sent_twice_is_stored_once(world):
    db, users = world
    raw = {"kind": "online_presence", "day": "2026-05-05", "start": "18:00", "minutes": "45",
           "platform": "A game platform", "online_activity": "Q&A in a public channel", "people_reached": "12"}
    activity_id = new_id()
    first = activities.create(db, users["off_a"], raw, activity_id, now=NOW)
    again = activities.create(db, users["off_a"], dict(raw), activity_id, now=NOW + timedelta(minutes=5))
    assert not first.get("duplicate") and again["duplicate"]
    assert db.execute("SELECT COUNT(*) FROM activities").fetchone()[0] == 1
    with pytest.raises(activities.ActivityConflict):
        activities.create(db, users["off_a"], {**raw, "minutes": "50"}, activity_id, now=NOW)


def test_the_ods_holds_the_same_numbers_as_the_report(world):
    db, users = world
    _activity(db, users["off_a"], "school_visit", "2026-06-05", "10:00", 90, people_reached="25")
    _activity(db, users["off_b"], "online_presence", "2026-06-05", "10:00", 30, people_reached="5")
    yearly_report.set_targets(db, users["head"], "ua", 2026, {"hours": "100"})
    report = yearly_report.build(db, users["head"], 2026)
    sheets = yearly_ods.read_ods(yearly_ods.to_ods(report))
    assert len(sheets) == len(yearly_report.SECTIONS)
    from_sheets = {}
    for rows in sheets.values():
        for unit, indicator, code, _label, value, previous, target in rows[1:]:
            from_sheets[(unit, indicator, code)] = (value, previous, target or None)
    from_page = {(b.name, line.indicator, line.code): (line.value, line.previous, line.target)
                 for b, _s, line in yearly_report.rows(report)}
    assert from_sheets == from_page
    assert from_sheets[("UA", "hours", "")] == (1.5, 0.0, 100.0)


def test_contacts_count_by_channel_and_deleted_records_do_not_count(world):
    db, users = world
    did = _deployment(db, "ua", "community_visit", "2026-04-01T10:00:00.000Z", "2026-04-01T12:00:00.000Z")
    for channel, deleted in (("online", None), ("online", None), ("in_person", None), (None, None),
                             ("online", "2026-04-02T00:00:00.000Z")):
        db["contacts"].insert({"id": new_id(), "deployment_id": did, "occurred_at": "2026-04-01T10:30:00.000Z",
                               "received_at": T, "created_at": T, "updated_at": T, "channel": channel,
                               "deleted_at": deleted})
    contacts = yearly_report.unit_figures(db, "ua", 2026)["contacts"]
    assert contacts == {"": 4.0, "online": 2.0, "in_person": 1.0, yearly_report.NOT_RECORDED: 1.0}


def test_a_year_is_the_helsinki_calendar_year():
    assert yearly_report.year_bounds(2026) == ("2025-12-31T22:00:00.000Z", "2026-12-31T22:00:00.000Z")


def test_viewing_the_report_is_audited(world):
    db, users = world
    yearly_report.build(db, users["lead_a"], 2026)
    row = db.execute("SELECT action, record_type, record_id, detail FROM audit_log WHERE user_id = 'lead_a' "
                     "ORDER BY id DESC LIMIT 1").fetchone()
    assert tuple(row) == ("yearly_report_view", "unit", "ua", '{"year":2026}')


def test_placing_a_unit_in_a_department_shows_it_to_that_department_head(world):
    from fieldapp import departments

    db, users = world
    unit_id, department_id = departments.place_unit(db, "UC", "Dep 1")
    assert unit_id == "uc" and department_id == "dep1"
    assert sorted(yearly_report.visible_unit_ids(db, users["head"])) == ["ua", "ub", "uc"]
    assert sorted(yearly_report.visible_unit_ids(db, users["head_c"])) == ["ua", "ub", "uc"]  # its home unit moved
    new_unit, new_department = departments.place_unit(db, "New unit", "New department")
    assert db.execute("SELECT department_id FROM units WHERE id = ?", [new_unit]).fetchone()[0] == new_department

_spans = st.lists(st.tuples(st.integers(0, 600), st.integers(0, 240), st.integers(0, 1), st.sampled_from("abc")),
                  max_size=8)


@hypothesis_settings(max_examples=200, deadline=None)
@given(_spans)
def test_merged_hours_add_up_to_the_time_covered_at_least_once(spans):
    """Whatever the overlaps, the hours by kind add up to the minutes covered by any interval (counted on a grid)."""
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    intervals = [(base + timedelta(minutes=start), base + timedelta(minutes=start + length), origin, kind)
                 for start, length, origin, kind in spans]
    covered = {minute for start, length, _o, _k in spans for minute in range(start, start + length)}
    hours = yearly_report.merged_hours(intervals)
    assert abs(sum(hours.values()) - len(covered) / 60) < 1e-9
    assert all(value > 0 for value in hours.values())
