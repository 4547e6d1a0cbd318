"""POR problems and the partner directory over HTTP: every route for every role (officer, staff, lead, admin, a
lead of another unit, anonymous), forms that keep what was typed, CSV import and export."""

from __future__ import annotations

import re

import h3
import pytest

from fieldapp import accounts, audit, demo, deployments, partners, picture, problems, records
from fieldapp.clock import utcnow

OTHER_UNIT = "Oulu preventive unit (test)"
ROLES = ("officer1", "staff1", "lead1", "admin1", "lead_other")


@pytest.fixture
def other_lead(db):
    unit = accounts.ensure_unit(db, OTHER_UNIT)
    return accounts.create_user(db, "lead_other", demo.DEMO_PASSWORD, "lead", unit, "Other Lead")


@pytest.fixture
def sessions(login, other_lead):
    return {name: login(name) for name in ROLES}


@pytest.fixture
def seeded(db):
    lead = accounts.by_username(db, "lead1")
    partner = partners.save(db, lead, {"name": "Kontula youth centre", "kind": "youth_services",
                                       "languages": ["fi", "so"], "contact_role": "Youth worker on duty"})
    problem = problems.open_problem(db, lead, {"title": "Evenings at the mall", "place_name": "Kontula",
                                               "partner_ids": [partner["id"]]})
    measure = problems.add_measure(db, lead, problem, {"what": "Joint walks", "due_date": "2026-01-10"})
    deployment = db.execute("SELECT id FROM deployments ORDER BY starts_at LIMIT 1").fetchone()[0]
    return {"partner": partner, "problem": problems.get(db, lead, problem["id"]), "measure": measure,
            "deployment": deployment}


def _hotspot_cell(db) -> str:
    """The highest hotspot of the week without an open problem (the demo data opened one from the top one)."""
    lead = accounts.by_username(db, "lead1")
    flt = picture.parse_filter(db, {"window": "7d"})
    return next(h.summary.h3 for h in picture.hotspots(db, picture.resolve_scope(db, lead, None), flt, 8)
                if not problems.has_open_problem(db, lead.unit_id, h.summary.h3))


# What each role gets: (method, path, form) -> {role: status}. 303 is a done write (POST-redirect-GET).
READ = {"officer1": 200, "staff1": 200, "lead1": 200, "admin1": 200, "lead_other": 404}
EDIT_GET = {"officer1": 403, "staff1": 403, "lead1": 200, "admin1": 200, "lead_other": 404}


def _routes(s):
    p, part, m, d = s["problem"]["id"], s["partner"]["id"], s["measure"]["id"], s["deployment"]
    valid_problem = {"title": "New", "place_name": "Itäkeskus"}
    valid_partner = {"name": "Mediation office", "kind": "mediation_office", "active": "1"}
    return [
        ("GET", "/problems", None, {**READ, "lead_other": 200}),  # another unit's list: empty, its own
        ("GET", "/problems/new", None, {**EDIT_GET, "lead_other": 200}),
        ("POST", "/problems", valid_problem, {"officer1": 403, "staff1": 403, "lead1": 303, "admin1": 303,
                                              "lead_other": 303}),
        ("GET", f"/problems/{p}", None, READ),
        ("GET", f"/problems/{p}/edit", None, EDIT_GET),
        ("POST", f"/problems/{p}", {"title": "Evenings", "place_name": "Kontula"},
         {"officer1": 403, "staff1": 403, "lead1": 303, "admin1": 303, "lead_other": 404}),
        ("POST", f"/problems/{p}/measures", {"what": "Meet the school"},
         {"officer1": 403, "staff1": 403, "lead1": 303, "admin1": 303, "lead_other": 404}),
        ("POST", f"/problems/{p}/measures/{m}", {"state": "in_progress"},
         {"officer1": 403, "staff1": 403, "lead1": 303, "admin1": 303, "lead_other": 404}),
        ("GET", "/problems/openers", None, {"officer1": 403, "staff1": 403, "lead1": 200, "admin1": 403,
                                            "lead_other": 200}),
        ("GET", "/partners", None, {**READ, "lead_other": 200}),
        ("GET", "/partners/new", None, {**EDIT_GET, "lead_other": 200}),
        ("POST", "/partners", valid_partner, {"officer1": 403, "staff1": 403, "lead1": 303, "admin1": 400,
                                              "lead_other": 303}),  # admin1 after lead1: the same name
        ("GET", f"/partners/{part}", None, READ),
        ("GET", f"/partners/{part}/edit", None, EDIT_GET),
        ("POST", f"/partners/{part}", {"name": "Kontula youth centre", "kind": "youth_services", "active": "1"},
         {"officer1": 403, "staff1": 403, "lead1": 303, "admin1": 303, "lead_other": 404}),
        ("GET", "/partners/export.csv", None, {**READ, "lead_other": 200}),
        ("POST", f"/partners/deployments/{d}", {"partner_ids": part},  # another unit's deployment: as unknown
         {"officer1": 403, "staff1": 403, "lead1": 303, "admin1": 403, "lead_other": 404}),
        ("POST", f"/problems/{p}/records", {"deployment": d},
         {"officer1": 403, "staff1": 403, "lead1": 303, "admin1": 400, "lead_other": 404}),
        ("POST", f"/problems/{p}/close", {"outcome": "better"},
         {"officer1": 403, "staff1": 403, "lead1": 303, "admin1": 400, "lead_other": 404}),  # closed by lead1
    ]


def test_every_route_answers_each_role_as_the_rules_say(sessions, seeded):
    for method, path, form, expected in _routes(seeded):
        for role in ROLES:
            s = sessions[role]
            response = s.get(path, follow_redirects=False) if method == "GET" else s.post(path, form or {})
            assert response.status_code == expected[role], (method, path, role, response.status_code)


def test_anonymous_is_sent_to_log_in_everywhere(client, seeded):
    for method, path, form, _expected in _routes(seeded):
        response = client.request(method, path, data=form, follow_redirects=False)
        assert response.status_code in (303, 401, 403), (method, path, response.status_code)
        if method == "GET":
            assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_other_unit_gets_the_same_answer_as_for_an_unknown_id(sessions, seeded):
    other = sessions["lead_other"]
    unknown = "01890000-0000-7000-8000-000000000000"
    for kind, known in (("problems", seeded["problem"]["id"]), ("partners", seeded["partner"]["id"])):
        a, b = other.get(f"/{kind}/{known}"), other.get(f"/{kind}/{unknown}")
        assert a.status_code == b.status_code == 404
        assert seeded["problem"]["title"] not in a.text and "Kontula youth centre" not in a.text
    a, b = (other.post(f"/partners/deployments/{deployment}", {"partner_ids": seeded["partner"]["id"]})
            for deployment in (seeded["deployment"], unknown))
    assert a.status_code == b.status_code == 404


def test_an_allowed_officer_may_open_problems(sessions, db):
    lead, officer = sessions["lead1"], sessions["officer1"]
    officer_id = accounts.by_username(db, "officer1").id
    assert lead.post("/problems/openers", {"user_id": officer_id, "allowed": "1"}).status_code == 303
    assert officer.get("/problems/new").status_code == 200
    response = officer.post("/problems", {"title": "Officer's problem", "place_name": "Malmi"})
    assert response.status_code == 303


def test_opening_from_a_hotspot_links_its_records_and_the_list_then_says_so(sessions, db):
    lead = sessions["lead1"]
    cell = _hotspot_cell(db)
    page = lead.get(f"/picture/hotspots?window=7d&res=8")
    assert f"/problems/new?cell={cell}&amp;window=7d" in page.text
    form = lead.get(f"/problems/new?cell={cell}&window=7d")
    assert form.status_code == 200 and f'name="cell" value="{cell}"' in form.text
    response = lead.post("/problems", {"title": "Square", "cell": cell, "window": "7d"})
    assert response.status_code == 303
    problem_id = response.headers["location"].rsplit("/", 1)[1]
    problem = problems.get(db, accounts.by_username(db, "lead1"), problem_id)
    assert problem["cells"] == [cell] and sum(problem["record_counts"].values()) > 0
    page = lead.get("/picture/hotspots?window=7d&res=8")
    assert f'href="/problems/{problem_id}"' in page.text
    assert f"/problems/new?cell={cell}&amp;" not in page.text


def test_bad_problem_form_is_a_400_that_keeps_what_was_typed(sessions):
    lead = sessions["lead1"]
    response = lead.post("/problems", {"title": "", "place_name": "Kallio", "description": "Kept text",
                                       "review_date": "soon"})
    assert response.status_code == 400
    assert "Kept text" in response.text and 'value="Kallio"' in response.text
    assert lead.get("/problems/new?cell=nonsense").status_code == 400


def test_partner_csv_round_trip_over_http(sessions, seeded, db):
    lead = sessions["lead1"]
    exported = lead.get("/partners/export.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    assert "Kontula youth centre" in exported.text and "fi;so" in exported.text
    unit_id = accounts.by_username(db, "lead1").unit_id
    before = partners.for_unit(db, unit_id)
    response = lead.post("/partners/import", files={"csv_file": ("p.csv", exported.text.encode(), "text/csv")},
                         data={"_csrf": lead.csrf})
    assert response.status_code == 303
    after = partners.for_unit(db, unit_id)
    assert [{k: p[k] for k in partners.CSV_COLUMNS} for p in after] == \
        [{k: p[k] for k in partners.CSV_COLUMNS} for p in before]
    assert ("Kontula youth centre", ["fi", "so"]) in [(p["name"], p["languages"]) for p in after]
    assert any(r["action"] == "export" and r["record_type"] == "partner" for r in audit.search(db, audit.LogQuery()))


def test_bad_csv_is_a_400_with_translated_errors_per_row_and_nothing_imported(sessions, db):
    lead = sessions["lead1"]
    lead.client.cookies.set("fieldapp_lang", "fi")
    text = "name,kind\nHyvä,ngo\n,ngo\nHuono,avaruusalus\n"
    before = partners.for_unit(db, accounts.by_username(db, "lead1").unit_id)
    response = lead.post("/partners/import", {"csv_text": text})
    assert response.status_code == 400
    assert re.search(r"Rivi 3.*name", response.text) and re.search(r"Rivi 4.*kind", response.text)
    assert "Tämä kenttä on pakollinen." in response.text
    assert partners.for_unit(db, accounts.by_username(db, "lead1").unit_id) == before
    assert "Hyvä,ngo" in response.text  # the pasted text is kept


def test_partners_form_refuses_an_identity_code_with_a_400(sessions):
    lead = sessions["lead1"]
    response = lead.post("/partners", {"name": "Club", "kind": "ngo", "contact_role": "Matti 131052-308T"})
    assert response.status_code == 400 and 'value="Club"' in response.text


def test_an_intervention_can_refer_to_a_partner_of_the_units_directory(sessions, db, seeded, other_lead):
    officer = sessions["officer1"]
    deployment = deployments.current_for_user(db, accounts.by_username(db, "officer1"))
    form = officer.get(f"/deployments/{deployment['id']}/interventions/new")
    assert f'<option value="{seeded["partner"]["id"]}">Kontula youth centre' in form.text
    foreign = partners.save(db, other_lead, {"name": "Elsewhere", "kind": "ngo"})
    refused = officer.post(f"/deployments/{deployment['id']}/interventions",
                           {"kind": "referral", "referral_partner_id": foreign["id"], "notes": "kept"})
    assert refused.status_code == 400 and "kept" in refused.text
    saved = officer.post(f"/deployments/{deployment['id']}/interventions",
                         {"kind": "referral", "referral_target": "youth_services",
                          "referral_partner_id": seeded["partner"]["id"]})
    assert saved.status_code == 303
    stored = records.for_deployment(db, "intervention", deployment["id"], limit=1)[0]
    assert stored["referral_partner_id"] == seeded["partner"]["id"]
    page = officer.get(f"/records/intervention/{stored['id']}")
    assert f'<a href="/partners/{seeded["partner"]["id"]}">Kontula youth centre</a>' in page.text
    assert partners.usage(db, seeded["partner"]["id"])["referrals"] == 1


def test_a_lead_links_the_records_of_another_deployment_and_they_count(sessions, seeded, db):
    lead = sessions["lead1"]
    problem_id = seeded["problem"]["id"]
    assert lead.post(f"/problems/{problem_id}/records", {"deployment": "nonsense"}).status_code == 400
    assert lead.post(f"/problems/{problem_id}/records", {"deployment": seeded["deployment"]}).status_code == 303
    counts = problems.record_counts(db, problem_id)
    expected = len(problems.deployment_records(db, seeded["deployment"]))
    assert sum(counts.values()) == expected > 0
    assert [row["action"] for row in audit.for_record(db, "problem", problem_id)][-1] == "link"


def test_deployment_page_records_who_was_there_and_opens_a_problem_from_it(sessions, seeded, db):
    lead, officer = sessions["lead1"], sessions["officer1"]
    deployment_id, partner_id = seeded["deployment"], seeded["partner"]["id"]
    page = lead.get(f"/deployments/{deployment_id}")
    assert f'href="/problems/new?deployment={deployment_id}"' in page.text
    assert lead.post(f"/partners/deployments/{deployment_id}", {"partner_ids": partner_id}).status_code == 303
    assert [p["id"] for p in partners.for_deployment(db, deployment_id)] == [partner_id]
    assert re.search(rf'value="{partner_id}" checked', lead.get(f"/deployments/{deployment_id}").text)
    officer_page = officer.get(f"/deployments/{deployment_id}")
    assert f'<a href="/partners/{partner_id}">Kontula youth centre</a>' in officer_page.text
    assert "/problems/new?deployment=" not in officer_page.text
    form = lead.get(f"/problems/new?deployment={deployment_id}")
    assert re.search(rf'value="{partner_id}" checked', form.text)  # who was there, proposed
    response = lead.post("/problems", {"title": "After the event", "place_name": "Somewhere",
                                       "deployment": deployment_id, "partner_ids": partner_id})
    assert response.status_code == 303
    problem = problems.get(db, accounts.by_username(db, "lead1"), response.headers["location"].rsplit("/", 1)[1])
    assert problem["origin"] == "deployment" and problem["deployment_id"] == deployment_id
    assert sum(problem["record_counts"].values()) == len(problems.deployment_records(db, deployment_id)) > 0
