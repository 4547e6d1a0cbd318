"""The perceived motive of an act of hatred: on contacts (with the flags 'advised on how to report' and 'report of
an offence made') and on tension observations; stored, validated, synced, shown, and a filter of the picture."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from fieldapp import accounts, categories, deployments, picture, records
from fieldapp.clock import iso, utcnow
from fieldapp.ids import new_id
from fieldapp.migrations import M014_ADDED
from tests.stored import store_new

EN = {"Accept-Language": "en"}
GUIDE_MOTIVES = ["race_colour", "origin", "religion_belief", "sexual_orientation", "disability", "gender_identity",
                 "other"]


def _current(db, username="officer1") -> dict:
    return deployments.current_for_user(db, accounts.by_username(db, username))


def _form(session, db, slug: str, values: dict):
    deployment = _current(db)
    page = session.get(f"/deployments/{deployment['id']}/{slug}/new", headers=EN)
    assert page.status_code == 200
    return session.post(f"/deployments/{deployment['id']}/{slug}", values, headers=EN)


def test_the_motive_list_is_the_guides_definition_and_the_seeds_entries_are_added(memory_db):
    assert [code for code, _label in categories.options(memory_db, "motive", "en")] == GUIDE_MOTIVES
    groups = [code for code, _label in categories.options(memory_db, "group_category", "en")]
    assert {"sami", "roma", "persons_with_disabilities"} <= set(groups) and groups[-1] == "other"
    for list_name, items in M014_ADDED.items():
        for code, fi, sv, en in items:
            assert categories.label(memory_db, list_name, code, "fi") == fi
            assert categories.label(memory_db, list_name, code, "sv") == sv


def test_contact_form_stores_motives_and_flags(login, db):
    officer = login("officer1")
    response = _form(officer, db, "contacts", {
        "topics": "hate_act", "motives": ["religion_belief", "origin"], "advised_to_report": "1",
        "offence_reported": "1"})
    assert response.status_code == 303, response.text
    row = db.execute("SELECT motives, advised_to_report, offence_reported FROM contacts ORDER BY created_at DESC, "
                     "rowid DESC LIMIT 1").fetchone()
    assert json.loads(row[0]) == ["religion_belief", "origin"] and row[1] == 1 and row[2] == 1


def test_contact_form_explains_that_the_motive_is_the_events(login, db):
    page = login("officer1").get(f"/deployments/{_current(db)['id']}/contacts/new", headers=EN)
    assert "never a trait of the person" in page.text
    assert 'name="motives" value="sexual_orientation"' in page.text
    assert 'name="advised_to_report"' in page.text and 'name="offence_reported"' in page.text


def test_an_unknown_motive_is_refused_in_the_users_language_and_the_form_keeps_its_values(login, db):
    officer = login("officer1")
    before = db.execute("SELECT count(*) FROM contacts").fetchone()[0]
    deployment = _current(db)
    response = officer.post(f"/deployments/{deployment['id']}/contacts",
                            {"topics": "hate_act", "motives": "hair_colour", "notes": "Kerrottu teko"},
                            headers={"Accept-Language": "fi"})
    assert response.status_code == 400
    assert "Valitse arvo listasta." in response.text and "Kerrottu teko" in response.text
    assert db.execute("SELECT count(*) FROM contacts").fetchone()[0] == before


def test_tension_observation_stores_motives(login, db):
    response = _form(login("officer1"), db, "tensions", {"kind": "hate_speech_symbols", "severity": "3",
                                                        "motives": "sexual_orientation"})
    assert response.status_code == 303, response.text
    row = db.execute("SELECT motives FROM tensions ORDER BY created_at DESC, rowid DESC LIMIT 1").fetchone()
    assert json.loads(row[0]) == ["sexual_orientation"]


def test_an_unknown_motive_on_a_tension_observation_is_refused(login, db):
    response = _form(login("officer1"), db, "tensions", {"kind": "provocation", "severity": "3", "motives": "nope"})
    assert response.status_code == 400 and "Choose a value from the list." in response.text


def test_the_record_page_shows_motive_labels_and_flags(login, db):
    officer = login("officer1")
    _form(officer, db, "contacts", {"topics": "hate_speech", "motives": "disability", "advised_to_report": "1"})
    record_id = db.execute("SELECT id FROM contacts ORDER BY created_at DESC, rowid DESC LIMIT 1").fetchone()[0]
    page = officer.get(f"/records/contact/{record_id}", headers=EN)
    assert "Perceived motive" in page.text and "Disability" in page.text
    assert "Advised on how to report" in page.text and "Report of an offence made" in page.text


def test_motives_captured_offline_sync_once(login, db):
    officer = login("officer1")
    item = {"id": new_id(), "kind": "contact", "deployment_id": _current(db)["id"], "base_version": None,
            "device_time": iso(utcnow()),
            "values": {"topics": ["hate_act"], "motives": ["race_colour", "gender_identity"],
                       "advised_to_report": "1", "offence_reported": "on"}}
    for _ in range(2):  # a resend is a duplicate, not a second record
        response = officer.post_json("/api/sync", {"records": [item]})
        assert response.status_code == 200
    [result] = response.json()["results"]
    assert result["status"] in ("accepted", "duplicate")
    stored = records.get(db, "contact", item["id"])
    assert stored["motives"] == ["race_colour", "gender_identity"]
    assert stored["advised_to_report"] == 1 and stored["offence_reported"] == 1
    assert db.execute("SELECT count(*) FROM contacts WHERE id = ?", [item["id"]]).fetchone()[0] == 1
    bad = {**item, "id": new_id(), "values": {"motives": ["unknown"]}}
    [refused] = officer.post_json("/api/sync", {"records": [bad]}).json()["results"]
    assert refused["status"] == "rejected" and "motives" in refused["errors"]


def test_a_retired_motive_stays_on_the_record_and_in_the_picture_filter(db):
    categories.set_active(db, "motive", "other", False, by=None)
    assert "other" not in categories.codes(db, "motive")
    assert picture.parse_filter(db, {"motive": "other"}).motive == "other"
    with pytest.raises(picture.FilterInvalid):
        picture.parse_filter(db, {"motive": "never_was"})


# ---------------------------------------------------------------- the picture's motive filter


@pytest.fixture
def observed(memory_db):
    """A unit with tension observations: three with religion or belief (one also with origin), two with origin
    only, four without a motive; one with religion or belief in another unit."""
    db = memory_db
    now = utcnow()
    made = {}
    for name in ("a", "b"):
        unit_id = accounts.ensure_unit(db, f"Motive unit {name}")
        lead = accounts.create_user(db, f"m_lead_{name}", "motive-test-password", "lead", unit_id)
        deployment = deployments.save(db, lead, {
            "name": "Evening", "kind": "demonstration", "place_name": "Senaatintori", "lat": 60.1695,
            "lon": 24.9525, "starts_at": iso(now - timedelta(days=20)), "ends_at": iso(now + timedelta(hours=3)),
            "notes": ""}, assigned=[])
        made[name] = (unit_id, lead, deployment)
    motives = [["religion_belief"], ["religion_belief"], ["religion_belief", "origin"], ["origin"], ["origin"],
               [], [], [], []]
    unit_id, lead, deployment = made["a"]
    for i, these in enumerate(motives):
        # spread over 15 days: the unit's picture reads roll-ups for whole days, observations for the rest
        store_new(db, lead, "tension", deployment["id"], {
            "occurred_at": iso(now - timedelta(days=i * 1.7, minutes=5)), "lat": 60.1695 + i * 0.002,
            "lon": 24.9525, "place_name": "P", "notes": "", "kind": "provocation", "groups": ["youth"],
            "severity": 3, "trend": "stable", "basis": "observed", "motives": these})
    other_unit, other_lead, other_deployment = made["b"]
    store_new(db, other_lead, "tension", other_deployment["id"], {
        "occurred_at": iso(now - timedelta(hours=1)), "lat": 60.1695, "lon": 24.9525, "place_name": "P",
        "notes": "", "kind": "provocation", "groups": [], "severity": 3, "trend": "stable", "basis": "observed",
        "motives": ["religion_belief"]})
    return {"db": db, "unit_id": unit_id, "deployment": deployment, "now": now}


@pytest.mark.parametrize("motive, expected", [("religion_belief", 3), ("origin", 3), ("disability", 0), ("", 9)])
def test_the_picture_counts_observations_by_motive(observed, motive, expected):
    db = observed["db"]
    flt = picture.parse_filter(db, {"window": "30d", "motive": motive} if motive else {"window": "30d"})
    assert flt.tension_filtered == bool(motive)
    for scope in (picture.Scope(observed["unit_id"]), picture.Scope(observed["unit_id"], observed["deployment"])):
        cells = picture.aggregate(db, scope, flt, 9)
        assert sum(c.observations for c in cells) == expected
    assert flt.query().get("motive", "") == motive


def test_the_picture_page_filters_by_motive(login, db):
    lead = login("lead1")
    page = lead.get("/picture?window=30d&motive=religion_belief", headers=EN)
    assert page.status_code == 200 and 'value="religion_belief" selected' in page.text
    refused = lead.get("/picture?window=30d&motive=hair_colour", headers=EN)
    assert refused.status_code == 400 and "Choose a value from the list." in refused.text
