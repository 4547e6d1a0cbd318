"""The three field records as plain functions over an in-memory database: validation, defaults, history."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fieldapp import accounts, audit, deployments, i18n, records
from fieldapp.clock import HELSINKI, iso, parse, utcnow
from fieldapp.errors import Forbidden, NotFound
from fieldapp.ids import new_id
from fieldapp.services import recording
from tests.stored import store_new

PASSWORD = "a-long-test-password"
# A made-up personal identity code whose control character checks out, and the same with a wrong one.
VALID_CODE = "131052-308T"
WRONG_CONTROL = "131052-308U"


class Field:
    """A unit with a lead, two officers, and a deployment happening now at Senaatintori."""

    def __init__(self, db):
        self.db = db
        unit = accounts.ensure_unit(db, "Test unit")
        self.lead = accounts.create_user(db, "lead", PASSWORD, "lead", unit)
        self.officer = accounts.create_user(db, "officer", PASSWORD, "officer", unit)
        self.other_officer = accounts.create_user(db, "officer_b", PASSWORD, "officer", unit)
        now = utcnow()
        self.deployment = deployments.save(db, self.lead, {
            "name": "Demo", "kind": "demonstration", "place_name": "Senaatintori", "lat": 60.1695, "lon": 24.9525,
            "starts_at": iso(now - timedelta(hours=1)), "ends_at": iso(now + timedelta(hours=3)), "notes": "",
        }, assigned=[self.officer.id, self.other_officer.id])

    def create(self, kind, raw, user=None, **kw):
        return recording.create(self.db, user or self.officer, kind, self.deployment["id"], raw, **kw)

    def errors(self, kind, raw) -> dict:
        with pytest.raises(records.ValidationFailed) as caught:
            self.create(kind, raw)
        return caught.value.errors


@pytest.fixture
def field(memory_db):
    return Field(memory_db)


def test_unknown_category_value_is_refused(field):
    assert set(field.errors("contact", {"age_band": "toddler", "topics": ["rumour", "gossip"]})) == {"age_band", "topics"}
    assert "kind" in field.errors("tension", {"kind": "riot", "severity": "3"})


def test_time_more_than_seven_days_past_is_refused(field):
    too_old = iso(utcnow() - timedelta(days=7, minutes=5))
    assert "occurred_at" in field.errors("contact", {"occurred_at": too_old})
    ok = field.create("contact", {"occurred_at": iso(utcnow() - timedelta(days=6, hours=23))})
    assert ok["version"] == 1


def test_time_more_than_five_minutes_in_future_is_refused(field):
    assert "occurred_at" in field.errors("contact", {"occurred_at": iso(utcnow() + timedelta(minutes=6))})
    assert field.create("contact", {"occurred_at": iso(utcnow() + timedelta(minutes=4))})["id"]


def test_form_time_without_zone_is_helsinki_time(field):
    local = (utcnow() - timedelta(minutes=30)).astimezone(HELSINKI).strftime("%Y-%m-%dT%H:%M")
    record = field.create("contact", {"occurred_at": local})
    assert abs(parse(record["occurred_at"]) - (utcnow() - timedelta(minutes=30))) < timedelta(minutes=2)


def test_coordinates_outside_finland_are_refused(field):
    assert "lat" in field.errors("contact", {"lat": "59.3293", "lon": "18.0686"})  # Stockholm
    assert "lat" in field.errors("contact", {"lat": "nan", "lon": "24.9"})
    assert "lon" in field.errors("contact", {"lat": "60.17"})  # half a coordinate
    assert "lat" in field.errors("contact", {"lat": "north", "lon": "24.9"})


def test_coordinates_in_finland_with_a_decimal_comma_are_accepted(field):
    record = field.create("contact", {"lat": "60,1699", "lon": "24,9384"})
    assert (record["lat"], record["lon"]) == (60.1699, 24.9384)


def test_too_long_text_is_refused(field):
    assert "notes" in field.errors("contact", {"notes": "x" * 1001})
    assert "place_name" in field.errors("contact", {"place_name": "p" * 121})
    assert field.create("contact", {"notes": "x" * 1000})["notes"] == "x" * 1000


def test_identity_code_with_valid_control_character_is_refused(field):
    errors = field.errors("contact", {"notes": f"Gave their code {VALID_CODE} without being asked"})
    assert set(errors) == {"notes"}
    assert "place_name" in field.errors("tension", {"kind": "provocation", "severity": "2",
                                                    "place_name": f"Near {VALID_CODE}"})


def test_identity_code_like_text_with_wrong_control_character_is_accepted(field):
    record = field.create("contact", {"notes": f"Ticket number {WRONG_CONTROL}"})
    assert WRONG_CONTROL in record["notes"]


def test_required_fields_of_tension_and_intervention(field):
    assert set(field.errors("tension", {})) == {"kind", "severity"}
    assert set(field.errors("tension", {"kind": "provocation", "severity": "7"})) == {"severity"}
    assert set(field.errors("intervention", {"outcome": "resolved"})) == {"kind"}
    assert field.create("contact", {})["id"]  # every contact field is optional


def test_defaults_apply_to_a_minimal_record(field):
    before = utcnow()
    tension = field.create("tension", {"kind": "provocation", "severity": "3"})
    assert (tension["trend"], tension["basis"], tension["groups"]) == ("stable", "observed", [])
    assert before - timedelta(seconds=1) <= parse(tension["occurred_at"]) <= utcnow()
    assert (tension["place_name"], tension["lat"], tension["lon"]) == ("Senaatintori", 60.1695, 24.9525)
    contact = field.create("contact", {})
    assert (contact["feedback_promised"], contact["follow_up"], contact["topics"]) == (0, 0, [])
    # An empty trend from a form is the default, not an error.
    assert field.create("tension", {"kind": "provocation", "severity": "1", "trend": ""})["trend"] == "stable"


def test_errors_are_in_the_request_language(field):
    token = i18n.set_locale("sv")
    try:
        errors = field.errors("tension", {"severity": "many"})
        assert errors["kind"] == i18n.translations("sv").gettext("This field is required.")
        assert errors["kind"] != "This field is required."
    finally:
        i18n._current.reset(token)


def test_garbage_values_give_field_errors(field):
    errors = field.errors("tension", {
        "kind": ["provocation", "crowd_movement"], "severity": "high", "people_estimate": "lots",
        "occurred_at": "yesterday-ish", "groups": "x" * 500, "trend": {"a": 1},
    })
    assert set(errors) == {"kind", "severity", "people_estimate", "occurred_at", "groups", "trend"}
    assert "occurred_at" in field.errors("contact", {"occurred_at": "0001-01-01T00:00"})
    assert "occurred_at" in field.errors("contact", {"occurred_at": "9999-12-31T23:59"})
    assert "lat" in field.errors("contact", {"lat": "1e400", "lon": "24.9"})


def test_invalid_client_id_is_refused(field):
    with pytest.raises(records.ValidationFailed) as caught:
        field.create("contact", {}, record_id="not-a-uuid")
    assert set(caught.value.errors) == {"id"}


def test_resend_with_same_id_and_content_is_stored_once(field):
    record_id = new_id()
    first = field.create("contact", {"topics": ["rumour"], "notes": "same"}, record_id=record_id)
    again = field.create("contact", {"topics": ["rumour"], "notes": "same"}, record_id=record_id)
    assert again["duplicate"] is True and again["id"] == first["id"] == record_id
    assert field.db.execute("SELECT COUNT(*) FROM contacts WHERE id = ?", [record_id]).fetchone()[0] == 1


def test_same_id_with_other_content_is_a_conflict(field):
    record_id = new_id()
    field.create("contact", {"notes": "first"}, record_id=record_id)
    with pytest.raises(records.IdConflict):
        field.create("contact", {"notes": "second"}, record_id=record_id)
    with pytest.raises(records.IdConflict):
        field.create("tension", {"kind": "provocation", "severity": "2"}, record_id=record_id)
    assert records.get(field.db, "contact", record_id)["notes"] == "first"


def test_edit_keeps_history_and_bumps_version(field):
    record = field.create("tension", {"kind": "provocation", "severity": "2"})
    edited = recording.update(field.db, field.officer, "tension", record["id"],
                            {"kind": "provocation", "severity": "4", "trend": "rising"}, base_version=1)
    assert (edited["version"], edited["severity"], edited["trend"]) == (2, 4, "rising")
    versions = records.history(field.db, "tension", record["id"])
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[1]["data"]["severity"] == 2
    assert records.changed_fields("tension", versions[1]["data"], versions[0]["data"]) == ["severity", "trend"]
    actions = [row["action"] for row in audit.for_record(field.db, "tension", record["id"])]
    assert actions == ["create", "update"]


def test_stale_edit_raises_and_changes_nothing(field):
    record = field.create("contact", {"notes": "original"})
    recording.update(field.db, field.lead, "contact", record["id"], {"notes": "lead's edit"}, base_version=1)
    with pytest.raises(records.StaleVersion) as caught:
        recording.update(field.db, field.officer, "contact", record["id"], {"notes": "my edit"}, base_version=1)
    assert caught.value.current["notes"] == "lead's edit"
    assert records.get(field.db, "contact", record["id"])["version"] == 2


def test_only_creator_or_lead_may_edit_and_delete(field):
    record = field.create("contact", {"notes": "mine"})
    with pytest.raises(Forbidden):
        recording.update(field.db, field.other_officer, "contact", record["id"], {}, base_version=1)
    with pytest.raises(Forbidden):
        recording.delete(field.db, field.other_officer, "contact", record["id"])
    recording.delete(field.db, field.lead, "contact", record["id"])
    assert records.get(field.db, "contact", record["id"]) is None
    assert [r["action"] for r in audit.for_record(field.db, "contact", record["id"])] == ["create", "delete"]


def test_intervention_links_only_to_records_of_the_same_deployment(field):
    tension = field.create("tension", {"kind": "provocation", "severity": "3"})
    linked = field.create("intervention", {"kind": "dialogue", "tension_id": tension["id"]})
    assert linked["tension_id"] == tension["id"]
    other = deployments.save(field.db, field.lead, {**{k: field.deployment[k] for k in (
        "kind", "place_name", "lat", "lon", "starts_at", "ends_at", "notes")}, "name": "Other"},
        assigned=[field.officer.id])
    foreign = recording.create(field.db, field.officer, "tension", other["id"], {"kind": "provocation", "severity": "1"})
    assert "tension_id" in field.errors("intervention", {"kind": "dialogue", "tension_id": foreign["id"]})
    assert "contact_id" in field.errors("intervention", {"kind": "dialogue", "contact_id": "garbage"})


def test_device_clock_far_off_flags_the_record(field):
    off = field.create("contact", {}, device_time=iso(utcnow() - timedelta(hours=2)))
    right = field.create("contact", {}, device_time=iso(utcnow()))
    garbage = field.create("contact", {}, device_time="x" * 500)
    assert (off["time_flagged"], right["time_flagged"], garbage["time_flagged"]) == (1, 0, 1)
    assert len(garbage["device_time"]) <= 40


def test_records_outside_the_users_deployments_are_refused(field):
    unit = accounts.ensure_unit(field.db, "Another unit")
    stranger = accounts.create_user(field.db, "lead_x", PASSWORD, "lead", unit)
    with pytest.raises(NotFound):  # another unit's deployment is answered as unknown: its id tells nothing
        recording.create(field.db, stranger, "contact", field.deployment["id"], {})
    with pytest.raises(NotFound):
        recording.create(field.db, field.officer, "contact", new_id(), {})


def test_edit_of_an_older_record_keeps_its_time(field):
    old_time = iso(utcnow() - timedelta(days=12, seconds=17))
    record = store_new(field.db, field.officer, "contact", field.deployment["id"], {
        "occurred_at": old_time, "lat": 60.17, "lon": 24.95, "place_name": "Kamppi", "notes": ""})
    as_form_shows_it = parse(old_time).astimezone(HELSINKI).strftime("%Y-%m-%dT%H:%M")
    edited = recording.update(field.db, field.lead, "contact", record["id"],
                            {"occurred_at": as_form_shows_it, "lat": "60.17", "lon": "24.95",
                             "place_name": "Kamppi", "notes": "checked"}, base_version=1)
    assert edited["occurred_at"] == old_time
    versions = records.history(field.db, "contact", record["id"])
    assert records.changed_fields("contact", versions[1]["data"], versions[0]["data"]) == ["notes"]


def test_order_of_chosen_groups_is_not_a_change(field):
    record = field.create("tension", {"kind": "provocation", "severity": "2", "groups": ["youth", "residents", "youth"]})
    assert record["groups"] == ["youth", "residents"]
    recording.update(field.db, field.officer, "tension", record["id"],
                   {"kind": "provocation", "severity": "2", "groups": ["residents", "youth"]}, base_version=1)
    versions = records.history(field.db, "tension", record["id"])
    assert records.changed_fields("tension", versions[1]["data"], versions[0]["data"]) == []


def test_the_count_of_a_deployment_leaves_out_deleted_records_edited_or_not(field):
    kept = [field.create("tension", {"kind": "provocation", "severity": "2"}) for _ in range(3)]
    edited = recording.update(field.db, field.officer, "tension", kept[0]["id"],
                              {"kind": "provocation", "severity": "4"}, base_version=1)
    assert edited["version"] == 2
    deleted = field.create("tension", {"kind": "provocation", "severity": "1"})
    recording.delete(field.db, field.lead, "tension", deleted["id"])
    edited_then_deleted = field.create("tension", {"kind": "provocation", "severity": "1"})
    recording.update(field.db, field.officer, "tension", edited_then_deleted["id"],
                     {"kind": "provocation", "severity": "5"}, base_version=1)
    recording.delete(field.db, field.lead, "tension", edited_then_deleted["id"])
    assert records.count_for_deployment(field.db, "tension", field.deployment["id"]) == 3
    assert records.count_for_deployment(field.db, "contact", field.deployment["id"]) == 0
    assert records.count_for_deployment(field.db, "tension", new_id()) == 0
    # Counted in the indexes: the rows of the table are not read (a storm's 15,000 records made every deployment
    # page read them all).
    statements: list[str] = []
    field.db.conn.set_trace_callback(statements.append)
    records.count_for_deployment(field.db, "tension", field.deployment["id"])
    field.db.conn.set_trace_callback(None)
    plan = [row[3] for row in field.db.conn.execute("EXPLAIN QUERY PLAN " + statements[-1])]
    assert any("COVERING INDEX tensions_deployment" in step for step in plan), plan
    assert all(step.startswith(("SEARCH", "SCALAR", "SCAN CONSTANT")) for step in plan), plan
    assert not any("COVERING" not in step and "tensions_deployment" in step for step in plan), plan
