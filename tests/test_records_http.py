"""The field records over HTTP: every route, full page and htmx partial, each role allowed and refused."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest

from fieldapp import accounts, deployments, i18n, ids, records
from fieldapp import demo as demo_data
from fieldapp.clock import iso, utcnow
from fieldapp.services import recording

SLUG_KIND = {"contacts": "contact", "tensions": "tension", "interventions": "intervention"}
MINIMAL = {"contact": {}, "tension": {"kind": "provocation", "severity": "3"}, "intervention": {"kind": "dialogue"}}


def deployment_of_kind(db, kind: str) -> dict:
    return list(db.query("SELECT * FROM deployments WHERE kind = ? ORDER BY starts_at DESC LIMIT 1", [kind]))[0]


@pytest.fixture
def demo(db):
    """The current demonstration (officers assigned, staff not) and the pop-up station (staff assigned)."""
    officer = accounts.by_username(db, "officer1")
    return {"demonstration": deployments.current_for_user(db, officer),
            "popup": deployment_of_kind(db, "popup_station")}


@pytest.fixture
def other_lead(db):
    unit = accounts.ensure_unit(db, "Turku preventive unit (test)")
    accounts.create_user(db, "lead_turku", demo_data.DEMO_PASSWORD, "lead", unit, "Lead Turku")
    return "lead_turku"


def form_ids(page: str) -> list[str]:
    return re.findall(r'name="id" value="([^"]*)"', page)


def save(session, deployment_id: str, slug: str, data: dict | None = None, **kw):
    return session.post(f"/deployments/{deployment_id}/{slug}", data={**MINIMAL[SLUG_KIND[slug]], **(data or {})}, **kw)


def newest(db, kind: str, deployment_id: str) -> dict:
    return records.for_deployment(db, kind, deployment_id, limit=1)[0]


def translated(locale: str, message: str) -> str:
    return html.escape(i18n.translations(locale).gettext(message), quote=False)


# ------------------------------------------------------------------ deployment page


@pytest.mark.parametrize("username", ["officer1", "officer2", "lead1"])
def test_deployment_page_shows_buttons_and_three_lists(login, demo, username):
    session = login(username)
    deployment = demo["demonstration"]
    page = session.get(f"/deployments/{deployment['id']}")
    assert page.status_code == 200
    assert deployment["name"] in page.text and "<html" in page.text
    for slug in ("contacts", "tensions", "interventions"):
        assert f'href="/deployments/{deployment["id"]}/{slug}/new"' in page.text
    order = [page.text.index(f'id="list-{kind}"') for kind in ("tension", "intervention", "contact")]
    assert order == sorted(order)
    assert 'id="presence-' in page.text  # the presence partial of the deployments area is included


def test_deployment_page_for_htmx_is_the_lists_partial(login, demo):
    page = login("officer1").get(f"/deployments/{demo['demonstration']['id']}", headers={"HX-Request": "true"})
    assert page.status_code == 200
    assert "<html" not in page.text and 'id="deployment-records"' in page.text


def test_staff_sees_the_popup_station_and_unknown_deployment_is_404(login, demo):
    staff = login("staff1")
    page = staff.get(f"/deployments/{demo['popup']['id']}")
    assert page.status_code == 200 and "/contacts/new" in page.text
    assert staff.get(f"/deployments/{ids.new_id()}").status_code == 404
    assert staff.get("/deployments/not-an-id").status_code == 404


def test_literal_new_deployment_path_is_not_taken_by_the_deployment_page(login):
    page = login("lead1").get("/deployments/new")
    assert page.status_code == 200
    assert 'id="deployment-records"' not in page.text


# ------------------------------------------------------------------ capture forms


@pytest.mark.parametrize("slug", ["contacts", "tensions", "interventions"])
def test_capture_form_follows_the_outbox_contract(login, demo, slug):
    session = login("officer1")
    deployment_id = demo["demonstration"]["id"]
    page = session.get(f"/deployments/{deployment_id}/{slug}/new")
    assert page.status_code == 200
    form_tag = re.search(r"<form [^>]*data-outbox[^>]*>", page.text).group(0)
    assert f'method="post" action="/deployments/{deployment_id}/{slug}" class="capture"' in form_tag
    assert f'data-outbox="{SLUG_KIND[slug]}" data-deployment="{deployment_id}"' in form_tag
    assert f'name="_csrf" value="{session.csrf}"' in page.text
    assert 'name="device_time" value=""' in page.text
    first_id = form_ids(page.text)[0]
    assert ids.is_valid_id(first_id) and first_id[14] == "7"  # UUIDv7
    assert form_ids(session.get(f"/deployments/{deployment_id}/{slug}/new").text)[0] != first_id
    assert re.search(r'type="datetime-local" value="\d{4}-\d\d-\d\dT\d\d:\d\d"', page.text)
    assert re.search(r'<button type="button" data-locate data-locating="[^"]+" data-located="[^"]+" data-failed="[^"]+"',
                     page.text)
    assert re.search(r'data-locate-status aria-live="polite"', page.text)
    assert '<button type="submit" class="primary">' in page.text
    # The form asks for nothing that identifies a person: no field is named for a name, birth date or id code
    # (field names only: the random CSRF token or an id may contain any letters).
    fields = set(re.findall(r'<(?:input|select|textarea)\b[^>]*\bname="([^"]+)"', page.text))
    assert fields and {"_csrf", "id", "notes"} <= fields
    for forbidden in ("name", "birth", "hetu", "ssn", "identity", "person"):
        assert not [field for field in fields if forbidden in field.lower() and field != "place_name"], forbidden


def test_capture_form_for_htmx_is_the_form_alone(login, demo):
    page = login("officer1").get(f"/deployments/{demo['demonstration']['id']}/tensions/new",
                                 headers={"HX-Request": "true"})
    assert page.status_code == 200 and "<html" not in page.text and 'data-outbox="tension"' in page.text


def test_form_options_come_from_the_categories_table(login, db, demo):
    db["categories"].insert({"list": "topic", "code": "graffiti_test", "label_fi": "Töhryt", "label_sv": "Klotter",
                             "label_en": "Graffiti (test)", "sort": 99, "active": 1})
    db.execute("UPDATE categories SET active = 0 WHERE list = 'topic' AND code = 'rumour'")
    session = login("officer1")
    page = session.get(f"/deployments/{demo['demonstration']['id']}/contacts/new", headers={"Accept-Language": "en"})
    assert 'name="topics" value="graffiti_test"' in page.text and "Graffiti (test)" in page.text
    assert 'value="rumour"' not in page.text
    assert 'name="severity" value="6"' in session.get(f"/deployments/{demo['demonstration']['id']}/tensions/new").text


def test_unknown_deployment_or_record_kind_is_404(login, demo):
    session = login("officer1")
    assert session.get(f"/deployments/{ids.new_id()}/contacts/new").status_code == 404
    assert session.get(f"/deployments/{demo['demonstration']['id']}/arrests/new").status_code == 404
    assert session.get(f"/deployments/{demo['demonstration']['id']}/arrests").status_code == 404
    assert save(session, demo["demonstration"]["id"], "contacts", headers={}).status_code == 303
    assert session.post(f"/deployments/{demo['demonstration']['id']}/arrests", data={}).status_code == 404


# ------------------------------------------------------------------ create


@pytest.mark.parametrize("slug", ["contacts", "tensions", "interventions"])
def test_minimal_record_is_saved_and_redirects_to_the_deployment(login, db, demo, slug):
    deployment_id = demo["demonstration"]["id"]
    record_id = ids.new_id()
    response = save(login("officer1"), deployment_id, slug, {"id": record_id, "device_time": iso(utcnow())})
    assert response.status_code == 303 and response.headers["location"] == f"/deployments/{deployment_id}"
    record = records.get(db, SLUG_KIND[slug], record_id)
    assert record["deployment_id"] == deployment_id and record["time_flagged"] == 0


def test_full_contact_is_saved_with_its_categories(login, db, demo):
    deployment_id = demo["demonstration"]["id"]
    response = save(login("officer1"), deployment_id, "contacts", {
        "topics": ["rumour", "safety_worry"], "age_band": "18_29", "group_size": "2_5", "group_category": "youth",
        "language": "sv", "feedback_promised": "1", "follow_up": "1", "referral_target": "ankkuri",
        "notes": "Asked about the route", "lat": "60,1701", "lon": "24,9510"})
    assert response.status_code == 303
    contact = newest(db, "contact", deployment_id)
    assert contact["topics"] == ["rumour", "safety_worry"] and contact["feedback_promised"] == 1
    assert (contact["lat"], contact["referral_target"]) == (60.1701, "ankkuri")


def test_staff_records_at_the_popup_station(login, db, demo):
    staff = login("staff1")
    assert save(staff, demo["popup"]["id"], "contacts", {"topics": "licence_matter"}).status_code == 303
    assert newest(db, "contact", demo["popup"]["id"])["topics"] == ["licence_matter"]


def test_create_without_csrf_token_is_refused(login, demo):
    session = login("officer1")
    response = session.client.post(f"/deployments/{demo['demonstration']['id']}/contacts", data={"notes": "x"},
                                   follow_redirects=False)
    assert response.status_code == 403


def test_validation_errors_are_shown_next_to_fields_with_typed_values_kept(login, demo):
    session = login("officer1")
    form = {"kind": "", "severity": "", "notes": "Said 131052-308T", "place_name": "Kauppatori, lähellä kojuja",
            "people_estimate": "many", "groups": ["youth", "residents"], "occurred_at": "2020-01-01T10:00"}
    page = save(session, demo["demonstration"]["id"], "tensions", form, headers={"Accept-Language": "en"})
    assert page.status_code == 400 and "<html" in page.text
    for field in ("kind", "severity", "notes", "people_estimate", "occurred_at"):
        assert f'id="err-{field}"' in page.text
    assert 'aria-describedby="err-kind"' in page.text
    assert re.search(r'id="f-notes"[^>]*aria-describedby="err-notes hint-notes"', page.text)
    assert "Said 131052-308T</textarea>" in page.text
    assert 'value="Kauppatori, lähellä kojuja"' in page.text and 'value="many"' in page.text
    assert 'value="2020-01-01T10:00"' in page.text
    assert re.search(r'value="youth" checked', page.text) and re.search(r'value="residents" checked', page.text)
    assert translated("en", "Remove the personal identity code: these records must not identify people.") in page.text
    assert page.headers.get("hx-push-url") == "false"


def test_validation_errors_keep_the_submitted_id(login, demo):
    record_id = ids.new_id()
    page = save(login("officer1"), demo["demonstration"]["id"], "tensions", {"id": record_id, "severity": "9"})
    assert page.status_code == 400 and form_ids(page.text) == [record_id]


def test_htmx_create_with_errors_gets_the_form_partial(login, demo):
    page = save(login("officer1"), demo["demonstration"]["id"], "interventions", {"kind": ""}, htmx=True)
    assert page.status_code == 400 and "<html" not in page.text and 'id="err-kind"' in page.text


@pytest.mark.parametrize("locale", ["sv", "fi"])
def test_errors_follow_accept_language(login, demo, locale):
    page = save(login("officer1"), demo["demonstration"]["id"], "tensions", {"kind": ""},
                headers={"Accept-Language": f"{locale},en;q=0.5"})
    assert page.status_code == 400
    message = translated(locale, "This field is required.")
    assert message != "This field is required." and message in page.text
    assert f'<html lang="{locale}"' in page.text


def test_errors_follow_the_users_own_language(login, db, demo):
    session = login("officer1")
    accounts.set_locale(db, session.user["id"], "sv")
    page = save(session, demo["demonstration"]["id"], "tensions", {"severity": "x"},
                headers={"Accept-Language": "en"})
    assert translated("sv", "Choose a severity from 1 to 6.") in page.text


GARBAGE = [
    {"severity": "high"},
    {"severity": ["2", "3"]},
    {"severity": "1e999"},
    {"notes": "x" * 200_000},
    {"place_name": "€" * 5000},
    {"occurred_at": "yesterday"},
    {"occurred_at": "0001-01-01T00:00"},
    {"occurred_at": "9999-12-31T23:59"},
    {"occurred_at": "2026-02-30T25:61"},
    {"lat": "abc", "lon": "24.9"},
    {"lat": "nan", "lon": "inf"},
    {"lat": "1" * 500, "lon": "2"},
    {"people_estimate": "-5"},
    {"people_estimate": "9" * 400},
    {"groups": ["x" * 3000] * 50},
    {"kind": "<script>alert(1)</script>"},
    {"id": "not-a-uuid"},
    {"id": "z" * 10_000},
    {"device_time": "\x00" * 100},
    {"unknown_field": "whatever", "another[]": ["a", "b"]},
    {"trend": "", "basis": ""},
]


def test_garbage_input_gives_a_clear_answer_never_a_500(login, demo):
    session = login("officer1")
    for garbage in GARBAGE:
        response = save(session, demo["demonstration"]["id"], "tensions", garbage)
        assert response.status_code in (303, 400), garbage
        if response.status_code == 400:
            assert 'class="error-summary"' in response.text
            assert "<script>alert(1)</script>" not in response.text


def test_garbage_on_contact_and_intervention_forms_never_500(login, demo):
    session = login("officer1")
    for slug in ("contacts", "interventions"):
        for garbage in ({"topics": {"a": 1}.keys()}, {"tension_id": "x" * 400}, {"contact_id": ids.new_id()},
                        {"follow_up": "maybe"}, {"outcome": "y" * 100}, {"age_band": ["a", "b"]}):
            response = save(session, demo["demonstration"]["id"], slug, {k: list(v) if not isinstance(v, str) else v
                                                                           for k, v in garbage.items()})
            assert response.status_code in (303, 400), (slug, garbage)


def test_resend_of_the_same_record_is_stored_once(login, db, demo):
    session = login("officer1")
    deployment_id = demo["demonstration"]["id"]
    form = {"id": ids.new_id(), "occurred_at": "", "topics": "rumour", "notes": "once"}
    assert save(session, deployment_id, "contacts", form).status_code == 303
    again = save(session, deployment_id, "contacts", form)
    assert again.status_code == 303 and again.headers["location"] == f"/deployments/{deployment_id}"
    assert db.execute("SELECT COUNT(*) FROM contacts WHERE notes = 'once'").fetchone()[0] == 1


def test_same_id_with_other_content_is_409_and_keeps_what_was_typed(login, db, demo):
    session = login("officer1")
    deployment_id = demo["demonstration"]["id"]
    record_id = ids.new_id()
    assert save(session, deployment_id, "contacts", {"id": record_id, "notes": "first"}).status_code == 303
    page = save(session, deployment_id, "tensions", {"id": record_id, "notes": "second"})
    assert page.status_code == 409
    assert "second</textarea>" in page.text and form_ids(page.text)[0] != record_id
    assert records.get(db, "contact", record_id)["notes"] == "first"


def test_far_off_device_clock_shows_a_flag_in_the_list(login, demo):
    session = login("officer1")
    deployment_id = demo["demonstration"]["id"]
    save(session, deployment_id, "tensions", {"device_time": iso(utcnow() - timedelta(hours=3)),
                                              "kind": "crowd_movement"})
    listing = session.get(f"/deployments/{deployment_id}/tensions", headers={"Accept-Language": "en"})
    first_row = listing.text.split('class="card record tension"')[1]
    assert "Crowd movement" in first_row and translated("en", "Device clock differed") in first_row


# ------------------------------------------------------------------ lists


@pytest.mark.parametrize("slug", ["contacts", "tensions", "interventions"])
def test_list_page_and_htmx_partial_newest_first(login, db, demo, slug):
    session = login("lead1")
    deployment_id = demo["demonstration"]["id"]
    page = session.get(f"/deployments/{deployment_id}/{slug}")
    assert page.status_code == 200 and "<html" in page.text
    times = re.findall(r'<time datetime="([^"]+)"', page.text)
    assert len(times) == db.execute(f"SELECT COUNT(*) FROM {records.KINDS[SLUG_KIND[slug]].table} "
                                    "WHERE deployment_id = ? AND deleted_at IS NULL", [deployment_id]).fetchone()[0]
    assert times == sorted(times, reverse=True)
    partial = session.get(f"/deployments/{deployment_id}/{slug}", headers={"HX-Request": "true"})
    assert partial.status_code == 200 and "<html" not in partial.text and f'id="list-{SLUG_KIND[slug]}"' in partial.text


def test_list_rows_show_labels_and_author(login, demo):
    page = login("officer1").get(f"/deployments/{demo['demonstration']['id']}/tensions",
                                 headers={"Accept-Language": "sv"})
    assert "Officer One" in page.text or "Officer Two" in page.text or "Lead One" in page.text
    assert re.search(r"\d – (Lugnt|Lätt spänning|Tydlig spänning|Tillspetsad|Allvarlig|Våldsam)", page.text)


# ------------------------------------------------------------------ detail, edit, delete


@pytest.fixture
def tension(db, demo):
    """A tension observation officer1 saved at the demonstration (made directly: one test client per test)."""
    officer = accounts.by_username(db, "officer1")
    return recording.create(db, officer, "tension", demo["demonstration"]["id"],
                          {"kind": "provocation", "severity": "2", "notes": "calm so far"})


@pytest.mark.parametrize("username", ["officer1", "officer2", "lead1"])
def test_detail_page_and_partial(login, demo, tension, username):
    session = login(username)
    page = session.get(f"/records/tension/{tension['id']}")
    assert page.status_code == 200 and "calm so far" in page.text and "<html" in page.text
    link = f'href="/deployments/{demo["demonstration"]["id"]}/interventions/new?tension_id={tension["id"]}"'
    assert link in page.text
    partial = session.get(f"/records/tension/{tension['id']}", headers={"HX-Request": "true"})
    assert partial.status_code == 200 and "<html" not in partial.text and "calm so far" in partial.text
    can_edit = username in ("officer1", "lead1")
    assert (f'href="/records/tension/{tension["id"]}/edit"' in page.text) is can_edit


def test_unknown_record_or_kind_is_404(login, tension):
    session = login("officer1")
    assert session.get(f"/records/tension/{ids.new_id()}").status_code == 404
    assert session.get(f"/records/contact/{tension['id']}").status_code == 404  # the id belongs to another kind
    assert session.get(f"/records/arrest/{tension['id']}").status_code == 404
    assert session.get(f"/records/tension/{ids.new_id()}/edit").status_code == 404
    assert session.post(f"/records/tension/{ids.new_id()}", data={"version": "1"}).status_code == 404
    assert session.post(f"/records/tension/{ids.new_id()}/delete", data={}).status_code == 404


def test_intervention_form_preselects_the_tension_and_saves_the_link(login, db, demo, tension):
    session = login("officer1")
    deployment_id = demo["demonstration"]["id"]
    page = session.get(f"/deployments/{deployment_id}/interventions/new?tension_id={tension['id']}")
    assert re.search(rf'<option value="{tension["id"]}" selected>', page.text)
    assert session.get(f"/deployments/{deployment_id}/interventions/new?tension_id=garbage").status_code == 200
    assert save(session, deployment_id, "interventions", {"tension_id": tension["id"]}).status_code == 303
    assert newest(db, "intervention", deployment_id)["tension_id"] == tension["id"]


def test_edit_form_and_partial(login, tension):
    session = login("officer1")
    page = session.get(f"/records/tension/{tension['id']}/edit")
    assert page.status_code == 200 and 'name="version" value="1"' in page.text
    assert f'action="/records/tension/{tension["id"]}"' in page.text
    assert 'data-outbox="tension"' in page.text and 'data-base-version="1"' in page.text  # edits go through the outbox
    assert f'name="id" value="{tension["id"]}"' in page.text
    assert re.search(r'value="2" checked', page.text)
    partial = session.get(f"/records/tension/{tension['id']}/edit", headers={"HX-Request": "true"})
    assert partial.status_code == 200 and "<html" not in partial.text


@pytest.mark.parametrize("username", ["staff1", "admin1", "lead_turku"])
def test_every_route_is_refused_to_users_outside_the_deployment(login, db, demo, other_lead, tension, username):
    """staff1 is not assigned to the demonstration, admin1 only manages users, lead_turku leads another unit."""
    session = login(username)
    deployment_id = demo["demonstration"]["id"]
    pages = [f"/deployments/{deployment_id}", f"/deployments/{deployment_id}/contacts",
             *[f"/deployments/{deployment_id}/{slug}/new" for slug in SLUG_KIND]]
    record_pages = [f"/records/tension/{tension['id']}", f"/records/tension/{tension['id']}/edit"]
    hidden = 404 if username == "lead_turku" else 403  # another unit's deployment is answered as an unknown one
    for url, status in [(url, hidden) for url in pages] + [(url, 404) for url in record_pages]:  # a record: as unknown
        assert session.get(url).status_code == status, url
        assert session.get(url, headers={"HX-Request": "true"}).status_code == status, url
    contacts_before = db.execute("SELECT COUNT(*) FROM contacts").fetchone()[0]
    for slug in SLUG_KIND:
        assert save(session, deployment_id, slug).status_code == hidden
    assert db.execute("SELECT COUNT(*) FROM contacts").fetchone()[0] == contacts_before
    assert session.post(f"/records/tension/{tension['id']}", data={
        "version": "1", "kind": "provocation", "severity": "6"}).status_code == 404
    assert session.post(f"/records/tension/{tension['id']}/delete", data={}).status_code == 404
    assert records.get(db, "tension", tension["id"])["severity"] == 2


def test_another_officer_sees_but_may_not_edit_or_delete(login, db, tension):
    session = login("officer2")
    assert session.get(f"/records/tension/{tension['id']}").status_code == 200
    assert session.get(f"/records/tension/{tension['id']}/edit").status_code == 403
    assert session.post(f"/records/tension/{tension['id']}", data={
        "version": "1", "kind": "provocation", "severity": "6"}).status_code == 403
    assert session.post(f"/records/tension/{tension['id']}/delete", data={}).status_code == 403
    assert records.get(db, "tension", tension["id"])["severity"] == 2


def test_edit_keeps_history_shown_on_the_detail_page(login, db, tension):
    session = login("lead1")
    form = {"version": "1", "kind": tension["kind"], "severity": "5", "trend": "rising", "basis": "observed",
            "notes": "calm so far", "occurred_at": "", "place_name": tension["place_name"],
            "lat": str(tension["lat"]), "lon": str(tension["lon"])}
    response = session.post(f"/records/tension/{tension['id']}", data=form)
    assert response.status_code == 303 and response.headers["location"] == f"/records/tension/{tension['id']}"
    assert records.get(db, "tension", tension["id"])["version"] == 2
    page = session.get(f"/records/tension/{tension['id']}", headers={"Accept-Language": "en"})
    history = page.text.split('id="history-heading"')[1]
    assert "Version 2" in history and "Version 1" in history and "Lead One" in history
    changes = history.split("Version 1")[0]
    assert "Severity" in changes and "Trend" in changes and "Notes" not in changes
    assert "5 – Serious" in changes and "2 – Slight tension" in changes


def test_edit_with_errors_is_400_with_values_kept(login, tension):
    session = login("officer1")
    form = {"version": "1", "kind": "provocation", "severity": "0", "notes": "x" * 1200}
    page = session.post(f"/records/tension/{tension['id']}", data=form)
    assert page.status_code == 400 and 'id="err-severity"' in page.text and 'id="err-notes"' in page.text
    assert "x" * 1200 + "</textarea>" in page.text and 'name="version" value="1"' in page.text
    partial = session.post(f"/records/tension/{tension['id']}", data=form, htmx=True)
    assert partial.status_code == 400 and "<html" not in partial.text and 'id="err-severity"' in partial.text


def test_stale_edit_is_409_showing_both_versions(login, db, tension):
    officer = login("officer1")
    base = {"kind": "provocation", "severity": "2", "trend": "stable", "basis": "observed", "occurred_at": ""}
    recording.update(db, accounts.by_username(db, "lead1"), "tension", tension["id"],
                   {**base, "notes": "lead saw a crowd"}, base_version=1)
    page = officer.post(f"/records/tension/{tension['id']}",
                        data={**base, "version": "1", "notes": "officer saw banners"},
                        headers={"Accept-Language": "en"})
    assert page.status_code == 409
    assert "lead saw a crowd" in page.text and "officer saw banners</textarea>" in page.text
    assert 'name="version" value="2"' in page.text
    assert records.get(db, "tension", tension["id"])["notes"] == "lead saw a crowd"
    # Saving again from the conflict page keeps the officer's version on top of the lead's.
    assert officer.post(f"/records/tension/{tension['id']}",
                        data={**base, "version": "2", "notes": "officer saw banners"}).status_code == 303
    assert [v["data"]["notes"] for v in records.history(db, "tension", tension["id"])] == [
        "officer saw banners", "lead saw a crowd", "calm so far"]


def test_garbage_version_does_not_overwrite(login, db, tension):
    page = login("officer1").post(f"/records/tension/{tension['id']}", data={
        "version": "latest", "kind": "provocation", "severity": "3"})
    assert page.status_code == 409
    assert records.get(db, "tension", tension["id"])["version"] == 1


def test_creator_deletes_and_the_record_leaves_the_lists(login, db, demo, tension):
    session = login("officer1")
    response = session.post(f"/records/tension/{tension['id']}/delete", data={})
    assert response.status_code == 303 and response.headers["location"] == f"/deployments/{demo['demonstration']['id']}"
    assert session.get(f"/records/tension/{tension['id']}").status_code == 404
    assert tension["id"] not in session.get(f"/deployments/{demo['demonstration']['id']}/tensions").text
    assert db.execute("SELECT deleted_at FROM tensions WHERE id = ?", [tension["id"]]).fetchone()[0]


def test_lead_may_delete_an_officers_record(login, db, tension):
    assert login("lead1").post(f"/records/tension/{tension['id']}/delete", data={}, htmx=True).status_code == 303
    assert records.get(db, "tension", tension["id"]) is None
