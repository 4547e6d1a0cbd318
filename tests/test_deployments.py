"""Deployments: leads create and edit them, the field checks in and out, home lists "my deployments"."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from fieldapp import accounts, deployments, i18n, records
from fieldapp.clock import HELSINKI, iso, utcnow
from fieldapp.errors import Forbidden
from fieldapp.i18n import set_locale

OTHER_UNIT = "Turku preventive unit (test)"


def _local(dt) -> str:
    return dt.astimezone(HELSINKI).strftime("%Y-%m-%dT%H:%M")


def _user(db, username):
    return accounts.by_username(db, username)


def _current(db) -> dict:
    return [d for d in deployments.for_user(db, _user(db, "officer1")) if d["status"] == "current"][0]


def _form(db, **overrides) -> dict:
    start = utcnow() - timedelta(minutes=30)
    form = {"name": "Jalkapallo-ottelu Töölössä", "kind": "public_event", "place_name": "Töölön pallokenttä",
            "lat": "60,1880", "lon": "24.9250", "starts_at": _local(start),
            "ends_at": _local(start + timedelta(hours=4)), "notes": "Kaksi partiota.",
            "assigned": [_user(db, "officer1").id]}
    form.update(overrides)
    return form


def _make(db, *, assigned=("officer1",), start=None, hours=4, kind="public_event", name="Testitapahtuma") -> dict:
    start = start or utcnow() - timedelta(minutes=30)
    return deployments.save(db, _user(db, "lead1"), {
        "name": name, "kind": kind, "place_name": "Kamppi", "lat": 60.169, "lon": 24.932,
        "starts_at": iso(start), "ends_at": iso(start + timedelta(hours=hours)), "notes": ""},
        assigned=[_user(db, u).id for u in assigned])


@pytest.fixture
def other_lead(db):
    unit = accounts.ensure_unit(db, OTHER_UNIT)
    return accounts.create_user(db, "lead_turku", "fieldapp-demo", "lead", unit, "Turku Lead")


@pytest.fixture
def english():
    """Domain messages in English (outside a request the language is the default, Finnish)."""
    token = set_locale("en")
    yield
    i18n._current.reset(token)


# --- domain ---------------------------------------------------------------------------------

def test_form_values_become_utc_times_from_helsinki_local_time(db, english):
    unit = _user(db, "lead1").unit_id
    values, assigned = deployments.validate_input(db, unit, _form(db, starts_at="2026-06-01T10:00",
                                                                  ends_at="2026-06-01T14:30"),
                                                  now=utcnow().replace(year=2026, month=5, day=1))
    assert values["starts_at"] == "2026-06-01T07:00:00.000Z"  # EEST is UTC+3
    assert values["ends_at"] == "2026-06-01T11:30:00.000Z"
    assert values["lat"] == pytest.approx(60.188)  # decimal comma accepted
    assert assigned == [_user(db, "officer1").id]


@pytest.mark.parametrize("overrides, field", [
    ({"name": "   "}, "name"),
    ({"name": "x" * 121}, "name"),
    ({"kind": "rave"}, "kind"),
    ({"kind": ""}, "kind"),
    ({"lat": "70.5", "lon": "25.0"}, "lat"),
    ({"lat": "abc"}, "lat"),
    ({"lon": ""}, "lon"),
    ({"starts_at": "not a time"}, "starts_at"),
    ({"starts_at": "0202-01-01T10:00", "ends_at": "0202-01-01T12:00"}, "starts_at"),
    ({"ends_at": ""}, "ends_at"),
    ({"notes": "Henkilö 131052-308T paikalla"}, "notes"),
    ({"notes": "x" * 2001}, "notes"),
    ({"assigned": ["not-a-user"]}, "assigned"),
])
def test_invalid_deployment_input_names_the_field(db, english, overrides, field):
    with pytest.raises(records.ValidationFailed) as failed:
        deployments.validate_input(db, _user(db, "lead1").unit_id, _form(db, **overrides))
    assert field in failed.value.errors


def test_end_must_be_after_start_and_within_31_days(db, english):
    unit = _user(db, "lead1").unit_id
    start = utcnow() + timedelta(days=1)
    with pytest.raises(records.ValidationFailed) as failed:
        deployments.validate_input(db, unit, _form(db, starts_at=_local(start), ends_at=_local(start)))
    assert failed.value.errors["ends_at"] == "The end must be after the start."
    with pytest.raises(records.ValidationFailed) as failed:
        deployments.validate_input(db, unit, _form(db, starts_at=_local(start),
                                                   ends_at=_local(start + timedelta(days=32))))
    assert "31" in failed.value.errors["ends_at"]


def test_officer_of_another_unit_cannot_be_assigned(db, english, other_lead):
    with pytest.raises(records.ValidationFailed) as failed:
        deployments.validate_input(db, _user(db, "lead1").unit_id, _form(db, assigned=[other_lead.id]))
    assert "assigned" in failed.value.errors


def test_only_leads_save_deployments(db):
    with pytest.raises(Forbidden):
        deployments.save(db, _user(db, "officer1"), {"name": "x"})


def test_edit_based_on_old_version_is_refused_and_nothing_is_written(db):
    deployment = _make(db)
    lead = _user(db, "lead1")
    deployments.save(db, lead, {"name": "Uusi nimi"}, deployment["id"], base_version=1)
    with pytest.raises(deployments.EditConflict):
        deployments.save(db, lead, {"name": "Vanha pohja"}, deployment["id"], base_version=1)
    stored = deployments.get(db, deployment["id"])
    assert (stored["name"], stored["version"]) == ("Uusi nimi", 2)


def test_second_check_in_tap_keeps_one_presence(db):
    deployment = _make(db)
    officer = _user(db, "officer1")
    first = deployments.check_in(db, officer, deployment["id"])
    second = deployments.check_in(db, officer, deployment["id"])
    assert first["id"] == second["id"]
    assert db.execute("SELECT COUNT(*) FROM presence WHERE deployment_id = ?", [deployment["id"]]).fetchone()[0] == 1


def test_check_in_elsewhere_ends_the_open_presence(db):
    officer = _user(db, "officer1")
    demo_now = _current(db)
    assert deployments.open_presence(db, officer, demo_now["id"]) is not None  # demo data: checked in
    deployment = _make(db)
    deployments.check_in(db, officer, deployment["id"])
    assert deployments.open_presence(db, officer, demo_now["id"]) is None
    assert db.execute("SELECT COUNT(*) FROM presence WHERE user_id = ? AND checked_out_at IS NULL",
                      [officer.id]).fetchone()[0] == 1


def test_checking_in_elsewhere_ends_a_forgotten_presence_at_its_planned_end(db):
    officer = _user(db, "officer1")
    last_week = _make(db, start=utcnow() - timedelta(days=7), hours=4)
    db["presence"].insert({"id": records.new_id(), "deployment_id": last_week["id"], "user_id": officer.id,
                           "checked_in_at": last_week["starts_at"], "checked_out_at": None})
    deployments.check_in(db, officer, _make(db)["id"])
    row = db.execute("SELECT checked_out_at FROM presence WHERE deployment_id = ?", [last_week["id"]]).fetchone()
    assert row[0] == last_week["ends_at"]
    assert deployments.presence_hours(db, last_week["id"]) == pytest.approx(4.0, abs=0.01)


def test_check_in_is_refused_long_before_the_start_and_after_the_end(db, english):
    officer = _user(db, "officer1")
    later = _make(db, start=utcnow() + timedelta(hours=5))
    ended = _make(db, start=utcnow() - timedelta(hours=10), hours=2)
    soon = _make(db, start=utcnow() + timedelta(hours=2))
    for deployment in (later, ended):
        with pytest.raises(deployments.PresenceClosed):
            deployments.check_in(db, officer, deployment["id"])
    assert deployments.check_in(db, officer, soon["id"])["checked_out_at"] is None


def test_forgotten_check_out_counts_until_the_planned_end(db):
    deployment = _make(db, start=utcnow() - timedelta(hours=10), hours=3)
    officer = _user(db, "officer1")
    db["presence"].insert({"id": records.new_id(), "deployment_id": deployment["id"], "user_id": officer.id,
                           "checked_in_at": deployment["starts_at"], "checked_out_at": None})
    assert deployments.presence_hours(db, deployment["id"]) == pytest.approx(3.0, abs=0.01)
    assert deployments.presence_hours(db, deployment["id"], _user(db, "officer2").id) == 0


def test_staff_record_only_at_pop_up_stations(db):
    staff = _user(db, "staff1")
    station = _make(db, assigned=("staff1",), kind="popup_station")
    event = _make(db, assigned=("staff1",))
    assert deployments.presence_state(db, staff, station)["can_record"] is True
    with pytest.raises(Forbidden):
        deployments.check_in(db, staff, event["id"])


# --- HTTP: create and edit --------------------------------------------------------------------

def test_new_deployment_literal_route_wins_over_the_deployment_page(login):
    page = login("lead1").get("/deployments/new")
    assert page.status_code == 200
    assert 'action="/deployments"' in page.text and 'name="starts_at"' in page.text


def test_new_deployment_form_lists_the_units_officers_as_chips(login, db):
    page = login("lead1").get("/deployments/new")
    for username in ("officer1", "officer2", "staff1"):
        assert f'value="{_user(db, username).id}"' in page.text
    assert _user(db, "admin1").id not in page.text
    assert "<html" in page.text


def test_new_deployment_form_as_htmx_partial(login):
    page = login("lead1").get("/deployments/new", headers={"HX-Request": "true"})
    assert page.status_code == 200
    assert "<html" not in page.text and 'id="deployment-form"' in page.text


@pytest.mark.parametrize("username", ["officer1", "staff1", "admin1"])
def test_new_deployment_form_is_for_leads_only(login, username):
    assert login(username).get("/deployments/new").status_code == 403
    assert login(username).get("/deployments/new", headers={"HX-Request": "true"}).status_code == 403


def test_anonymous_user_is_sent_to_login_from_the_form(client):
    response = client.get("/deployments/new", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_lead_creates_deployment_with_assigned_officer(login, db):
    lead = login("lead1")
    response = lead.post("/deployments", data=_form(db))
    assert response.status_code == 303
    deployment_id = response.headers["location"].rsplit("/", 1)[1]
    stored = deployments.get(db, deployment_id)
    assert stored["name"] == "Jalkapallo-ottelu Töölössä" and stored["lat"] == pytest.approx(60.188)
    assert deployments.assigned_user_ids(db, deployment_id) == {_user(db, "officer1").id}
    assert [r["action"] for r in db.query(
        "SELECT action FROM audit_log WHERE record_type = 'deployment' AND record_id = ?", [deployment_id])] == ["create"]
    home = login("officer1").get("/")
    assert "Jalkapallo-ottelu Töölössä" in home.text
    assert "Jalkapallo-ottelu Töölössä" not in login("officer2").get("/").text


def test_htmx_create_answers_with_hx_redirect(login, db):
    response = login("lead1").post("/deployments", data=_form(db), htmx=True)
    assert response.status_code == 200
    assert response.headers["hx-redirect"].startswith("/deployments/")


def test_invalid_deployment_is_shown_again_with_errors_in_swedish(login, db):
    lead = login("lead1")
    form = _form(db, lat="71.0", ends_at=_form(db)["starts_at"], notes="Mina anteckningar")
    response = lead.post("/deployments", data=form, headers={"Accept-Language": "sv"})
    assert response.status_code == 400
    assert "Platsen ligger utanför Finland." in response.text or "utanför Finland" in response.text
    assert 'value="Jalkapallo-ottelu Töölössä"' in response.text and "Mina anteckningar" in response.text
    assert f'value="{_user(db, "officer1").id}" checked' in response.text
    assert 'aria-invalid="true"' in response.text
    assert db.execute("SELECT COUNT(*) FROM deployments WHERE name = ?", [form["name"]]).fetchone()[0] == 0


def test_invalid_deployment_as_htmx_gets_the_form_partial(login, db):
    response = login("lead1").post("/deployments", data=_form(db, kind="x"), htmx=True)
    assert response.status_code == 400
    assert "<html" not in response.text and 'id="deployment-form"' in response.text


@pytest.mark.parametrize("garbage", [
    {"name": "\x00" * 5000, "kind": ["a", "b"], "lat": "1e999", "lon": "nan"},
    {"starts_at": "2026-13-45T99:99", "ends_at": "yesterday", "assigned": ["", "x" * 500]},
    {"version": "-1", "notes": "😀" * 3000},
])
def test_garbage_input_is_a_400_never_a_500(login, db, garbage):
    lead = login("lead1")
    assert lead.post("/deployments", data=_form(db, **garbage)).status_code == 400
    deployment = _make(db)
    assert lead.post(f"/deployments/{deployment['id']}/edit", data=_form(db, **garbage)).status_code == 400


def test_json_body_to_the_form_endpoint_is_a_400(login):
    lead = login("lead1")
    assert lead.post_json("/deployments", {"name": "x"}).status_code == 400


@pytest.mark.parametrize("username", ["officer1", "staff1", "admin1"])
def test_only_leads_create_deployments(login, db, username):
    response = login(username).post("/deployments", data=_form(db))
    assert response.status_code == 403
    assert db.execute("SELECT COUNT(*) FROM deployments WHERE name = ?", [_form(db)["name"]]).fetchone()[0] == 0


def test_create_without_csrf_token_is_refused(login, db):
    lead = login("lead1")
    response = lead.client.post("/deployments", data=_form(db), follow_redirects=False)
    assert response.status_code == 403


def test_edit_form_shows_stored_values_in_helsinki_time(login, db):
    deployment = _make(db, start=utcnow().replace(month=1, day=10, hour=8, minute=0, second=0, microsecond=0)
                       + timedelta(days=366 if utcnow().month > 1 else 0))
    page = login("lead1").get(f"/deployments/{deployment['id']}/edit")
    assert page.status_code == 200
    assert 'value="Testitapahtuma"' in page.text
    assert "T10:00" in page.text  # 08:00 UTC is 10:00 in Helsinki in winter
    assert f'value="{_user(db, "officer1").id}" checked' in page.text
    partial = login("lead1").get(f"/deployments/{deployment['id']}/edit", headers={"HX-Request": "true"})
    assert partial.status_code == 200 and "<html" not in partial.text


def test_lead_edits_deployment_and_assignments(login, db):
    deployment = _make(db)
    lead = login("lead1")
    form = _form(db, name="Muutettu nimi", assigned=[_user(db, "officer2").id], version="1")
    response = lead.post(f"/deployments/{deployment['id']}/edit", data=form)
    assert response.status_code == 303 and response.headers["location"] == f"/deployments/{deployment['id']}"
    stored = deployments.get(db, deployment["id"])
    assert (stored["name"], stored["version"]) == ("Muutettu nimi", 2)
    assert deployments.assigned_user_ids(db, deployment["id"]) == {_user(db, "officer2").id}
    actions = [r["action"] for r in db.query(
        "SELECT action FROM audit_log WHERE record_type = 'deployment' AND record_id = ?", [deployment["id"]])]
    assert actions == ["create", "update"]


def test_conflicting_edit_is_409_and_keeps_what_was_typed(login, db):
    deployment = _make(db)
    lead = login("lead1")
    assert lead.post(f"/deployments/{deployment['id']}/edit", data=_form(db, name="Ensin", version="1")).status_code == 303
    response = lead.post(f"/deployments/{deployment['id']}/edit", data=_form(db, name="Toiseksi", version="1"))
    assert response.status_code == 409
    assert 'value="Toiseksi"' in response.text and 'name="version" value="2"' in response.text
    assert deployments.get(db, deployment["id"])["name"] == "Ensin"


def test_edit_of_unknown_deployment_is_404(login):
    lead = login("lead1")
    assert lead.get("/deployments/01900000-0000-7000-8000-000000000000/edit").status_code == 404
    assert lead.post("/deployments/nope/edit", data={"name": "x"}).status_code == 404


def test_lead_of_another_unit_cannot_edit_and_is_answered_as_for_an_unknown_deployment(login, db, other_lead):
    deployment = _make(db)
    other = login("lead_turku")
    assert other.get(f"/deployments/{deployment['id']}/edit").status_code == 404
    assert other.post(f"/deployments/{deployment['id']}/edit", data=_form(db, name="Kaapattu")).status_code == 404
    unknown = "01900000-0000-7000-8000-000000000000"
    english = {"Accept-Language": "en"}
    assert (other.get(f"/deployments/{deployment['id']}", headers=english).text.replace(deployment["id"], "ID")
            == other.get(f"/deployments/{unknown}", headers=english).text.replace(unknown, "ID"))
    assert deployments.get(db, deployment["id"])["name"] == "Testitapahtuma"
    assert "Testitapahtuma" not in other.get("/").text


@pytest.mark.parametrize("username", ["officer1", "staff1", "admin1"])
def test_only_leads_edit(login, db, username):
    deployment = _make(db, assigned=("officer1", "staff1"))
    session = login(username)
    assert session.get(f"/deployments/{deployment['id']}/edit").status_code == 403
    assert session.post(f"/deployments/{deployment['id']}/edit", data=_form(db)).status_code == 403


# --- HTTP: check-in / check-out --------------------------------------------------------------

def test_officer_checks_in_and_out_with_plain_forms(login, db):
    deployment = _make(db)
    officer = login("officer1")
    response = officer.post(f"/deployments/{deployment['id']}/check-in", data={})
    assert response.status_code == 303 and response.headers["location"] == f"/deployments/{deployment['id']}"
    user = _user(db, "officer1")
    assert deployments.open_presence(db, user, deployment["id"]) is not None
    response = officer.post(f"/deployments/{deployment['id']}/check-out", data={"next": "/"})
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert deployments.open_presence(db, user, deployment["id"]) is None
    actions = [r["action"] for r in db.query(
        "SELECT action FROM audit_log WHERE record_id = ? AND user_id = ?", [deployment["id"], user.id])]
    assert actions == ["check_in", "check_out"]


def test_check_in_with_htmx_returns_the_presence_partial(login, db):
    deployment = _make(db)
    officer = login("officer1")
    response = officer.post(f"/deployments/{deployment['id']}/check-in", data={"next": "/"}, htmx=True)
    assert response.status_code == 200
    assert "<html" not in response.text
    assert f'id="presence-{deployment["id"]}"' in response.text
    assert f'action="/deployments/{deployment["id"]}/check-out"' in response.text
    assert 'name="next" value="/"' in response.text
    response = officer.post(f"/deployments/{deployment['id']}/check-out", data={}, htmx=True)
    assert f'action="/deployments/{deployment["id"]}/check-in"' in response.text


def test_check_in_only_needs_the_csrf_header(login, db):
    deployment = _make(db)
    officer = login("officer1")
    response = officer.client.post(f"/deployments/{deployment['id']}/check-in",
                                   headers={"X-CSRF-Token": officer.csrf, "HX-Request": "true"})
    assert response.status_code == 200


def test_officer_not_assigned_cannot_check_in(login, db):
    deployment = _make(db, assigned=("officer2",))
    assert login("officer1").post(f"/deployments/{deployment['id']}/check-in", data={}).status_code == 403
    assert login("officer1").post(f"/deployments/{deployment['id']}/check-in", data={}, htmx=True).status_code == 403


def test_staff_check_in_at_pop_up_station_but_not_elsewhere(login, db):
    station = _make(db, assigned=("staff1",), kind="popup_station")
    event = _make(db, assigned=("staff1",))
    staff = login("staff1")
    assert staff.post(f"/deployments/{station['id']}/check-in", data={}).status_code == 303
    assert staff.post(f"/deployments/{event['id']}/check-in", data={}).status_code == 403


def test_admin_and_other_unit_cannot_check_in(login, db, other_lead):
    deployment = _make(db)
    assert login("admin1").post(f"/deployments/{deployment['id']}/check-in", data={}).status_code == 403
    assert login("lead_turku").post(f"/deployments/{deployment['id']}/check-in", data={}).status_code == 404


def test_check_in_to_unknown_deployment_is_404(login):
    officer = login("officer1")
    assert officer.post("/deployments/unknown/check-in", data={}).status_code == 404
    assert officer.post("/deployments/unknown/check-out", data={}, htmx=True).status_code == 404


def test_check_in_after_the_end_is_400_with_a_message(login, db):
    ended = _make(db, start=utcnow() - timedelta(days=2))
    response = login("officer1").post(f"/deployments/{ended['id']}/check-in", data={},
                                      headers={"Accept-Language": "en"})
    assert response.status_code == 400
    assert "three hours before the start" in response.text


def test_next_to_another_site_is_ignored(login, db):
    deployment = _make(db)
    response = login("officer1").post(f"/deployments/{deployment['id']}/check-in", data={"next": "//evil.example"})
    assert response.headers["location"] == f"/deployments/{deployment['id']}"


def test_lead_sees_hours_of_presence_per_person(login, db):
    deployment = _make(db, start=utcnow() - timedelta(hours=2))
    officer = _user(db, "officer1")
    db["presence"].insert({"id": records.new_id(), "deployment_id": deployment["id"], "user_id": officer.id,
                           "checked_in_at": iso(utcnow() - timedelta(minutes=90)),
                           "checked_out_at": iso(utcnow() - timedelta(minutes=30))})
    lead = login("lead1")
    response = lead.post(f"/deployments/{deployment['id']}/check-in", data={}, htmx=True,
                         headers={"Accept-Language": "en"})
    assert "Hours of presence in total: 1.0 h" in response.text
    assert "Officer One" in response.text and "Lead One" in response.text
    officer_view = login("officer1").post(f"/deployments/{deployment['id']}/check-out", data={}, htmx=True,
                                          headers={"Accept-Language": "en"})
    assert "Hours of presence in total" not in officer_view.text
    assert "Your hours of presence: 1.0 h" in officer_view.text


# --- home: my deployments --------------------------------------------------------------------

def test_home_lists_current_then_upcoming_then_past_with_a_big_current_card(login, db):
    page = login("officer1").get("/", headers={"Accept-Language": "en"})
    text = page.text
    current = text.index("Mielenosoitus Senaatintorilla")
    assert current < text.index("Yhteisövierailu Malmilla") < text.index("Nuorten ilta Kontulassa")
    assert re.search(r'class="card deployment current big"', text)
    assert f'href="/deployments/{_current(db)["id"]}"' in text
    assert "Check out" in text  # the demo has officer1 checked in now: one tap away from the start page


def test_home_check_out_returns_to_home(login, db):
    officer = login("officer1")
    current = _current(db)
    response = officer.post(f"/deployments/{current['id']}/check-out", data={"next": "/"})
    assert response.headers["location"] == "/"
    assert "Check in" in officer.get("/", headers={"Accept-Language": "en"}).text


def test_home_as_htmx_partial(login):
    page = login("officer1").get("/", headers={"HX-Request": "true"})
    assert page.status_code == 200 and "<html" not in page.text and 'id="deployment-list"' in page.text


def test_staff_home_shows_the_pop_up_station(login):
    page = login("staff1").get("/")
    assert "Pop-up-piste Itäkeskuksessa" in page.text
    assert "Mielenosoitus Senaatintorilla" not in page.text


def test_lead_home_has_new_and_edit_links(login, db):
    page = login("lead1").get("/")
    assert 'href="/deployments/new"' in page.text
    assert f'href="/deployments/{_current(db)["id"]}/edit"' in page.text
    assert "/edit" not in login("officer1").get("/").text


def test_admin_home_goes_to_users(login):
    response = login("admin1").get("/", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/admin/users"
