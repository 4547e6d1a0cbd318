"""POR problems and the partner directory, as domain functions: opening from a hotspot or a deployment, measures
falling due, closing with the area's tension before and after, history and audit, partners and their CSV."""

from __future__ import annotations

import json
from datetime import date, timedelta

import h3
import pytest

from fieldapp import accounts, audit, deployments, followups, i18n, needs_action, partners, picture, problems, records
from fieldapp.clock import iso, utcnow
from fieldapp.errors import Forbidden, NotFound
from tests.stored import store_new

SENAATINTORI = (60.1695, 24.9525)
KALLIO = (60.1845, 24.9500)
PASSWORD = "problems-test-password"


@pytest.fixture(autouse=True)
def english():
    token = i18n.set_locale("en")
    yield
    i18n._current.reset(token)


@pytest.fixture
def unit(memory_db):
    db = memory_db
    unit_id = accounts.ensure_unit(db, "Problems test unit")
    lead = accounts.create_user(db, "q_lead", PASSWORD, "lead", unit_id)
    officer = accounts.create_user(db, "q_officer", PASSWORD, "officer", unit_id)
    admin = accounts.create_user(db, "q_admin", PASSWORD, "admin", unit_id)
    other_unit = accounts.ensure_unit(db, "Other test unit")
    other_lead = accounts.create_user(db, "q_other", PASSWORD, "lead", other_unit)
    now = utcnow()
    dep = deployments.save(db, lead, {
        "name": "Square evening", "kind": "demonstration", "place_name": "Senaatintori",
        "lat": SENAATINTORI[0], "lon": SENAATINTORI[1], "starts_at": iso(now - timedelta(days=40)),
        "ends_at": iso(now + timedelta(hours=3)), "notes": ""}, assigned=[officer.id])
    return {"db": db, "unit_id": unit_id, "lead": lead, "officer": officer, "admin": admin, "other": other_lead,
            "dep": dep, "now": now}


def tension(u, at, where=SENAATINTORI, severity=3):
    return store_new(u["db"], u["lead"], "tension", u["dep"]["id"], {
        "occurred_at": iso(at), "lat": where[0], "lon": where[1], "place_name": "Test place", "notes": "",
        "kind": "provocation", "groups": ["youth"], "severity": severity, "trend": "rising", "basis": "observed",
        "people_estimate": 10})


def contact(u, at, where):
    return store_new(u["db"], u["lead"], "contact", u["dep"]["id"], {
        "occurred_at": iso(at), "lat": where[0], "lon": where[1], "place_name": "", "notes": "", "topics": []})


def intervention(u, at, tension_id):
    return store_new(u["db"], u["lead"], "intervention", u["dep"]["id"], {
        "occurred_at": iso(at), "lat": KALLIO[0], "lon": KALLIO[1], "place_name": "", "notes": "",
        "kind": "dialogue", "tension_id": tension_id})


def cell_of(where, res=8):
    return h3.latlng_to_cell(*where, res)


def test_problem_opened_from_a_hotspot_links_that_cells_records_of_the_window(unit):
    u, db = unit, unit["db"]
    inside = [tension(u, u["now"] - timedelta(hours=h)) for h in (1, 2, 3)]
    helped = intervention(u, u["now"] - timedelta(minutes=30), inside[0]["id"])  # placed elsewhere, linked
    talk = contact(u, u["now"] - timedelta(hours=1), SENAATINTORI)
    tension(u, u["now"] - timedelta(hours=1), KALLIO)  # another cell
    tension(u, u["now"] - timedelta(days=20))  # same cell, before the window
    cell = cell_of(SENAATINTORI)
    hot = picture.hotspots(db, picture.Scope(u["unit_id"]), picture.PictureFilter(
        start=u["now"] - timedelta(days=7), end=u["now"], window="7d"), 8)
    assert cell in [h.summary.h3 for h in hot]

    problem = problems.open_problem(db, u["lead"], {"title": "Evenings on the square"}, problems.Origin(
        "hotspot", cell, u["now"] - timedelta(days=7), u["now"]))

    assert problem["cells"] == [cell] and problem["origin"] == "hotspot"
    assert problem["record_counts"] == {"tension": 3, "contact": 1, "intervention": 1}
    linked = {r["id"] for r in problems.linked_records(db, u["lead"], problem["id"])}
    assert linked == {*(t["id"] for t in inside), helped["id"], talk["id"]}
    assert problems.has_open_problem(db, u["unit_id"], cell)
    assert problems.has_open_problem(db, u["unit_id"], h3.cell_to_parent(cell, 6))  # a coarser view overlaps
    assert not problems.has_open_problem(db, u["unit_id"], cell_of(KALLIO))
    # Counted live: a deleted record no longer counts.
    records.delete(db, u["lead"], "tension", records.get(db, "tension", inside[1]["id"]))
    assert problems.record_counts(db, problem["id"])["tension"] == 2


def test_problem_opened_from_a_deployment_links_its_records(unit):
    u, db = unit, unit["db"]
    t = tension(u, u["now"] - timedelta(hours=1), KALLIO)
    problem = problems.open_problem(db, u["lead"], {"title": "After the evening", "place_name": "Senaatintori"},
                                    problems.Origin("deployment", deployment=u["dep"]))
    assert problem["deployment_id"] == u["dep"]["id"]
    assert [r["id"] for r in problems.linked_records(db, u["lead"], problem["id"])] == [t["id"]]


def test_problem_needs_a_title_and_an_area_and_refuses_identity_codes(unit):
    u = unit
    with pytest.raises(problems.ProblemInvalid) as exc:
        problems.open_problem(u["db"], u["lead"], {"title": "", "description": "hetu 131052-308T"})
    assert set(exc.value.errors) == {"title", "place_name", "description"}
    with pytest.raises(problems.ProblemInvalid) as exc:
        problems.open_problem(u["db"], u["lead"], {"title": "x", "cells": "not-a-cell"})
    assert "cells" in exc.value.errors


def test_only_leads_admins_and_allowed_officers_open_problems_and_other_units_see_nothing(unit):
    u, db = unit, unit["db"]
    with pytest.raises(Forbidden):
        problems.open_problem(db, u["officer"], {"title": "T", "place_name": "Kallio"})
    problems.set_opener(db, u["lead"], u["officer"].id, True)
    problem = problems.open_problem(db, u["officer"], {"title": "T", "place_name": "Kallio"})
    assert problems.open_problem(db, u["admin"], {"title": "U", "place_name": "Kallio"})["unit_id"] == u["unit_id"]
    with pytest.raises(NotFound):
        problems.get(db, u["other"], problem["id"])
    problems.set_opener(db, u["lead"], u["officer"].id, False)
    with pytest.raises(Forbidden):
        problems.update(db, u["officer"], problem, {"title": "T2", "place_name": "Kallio"})


def test_measure_past_its_date_is_overdue_until_done(unit):
    u, db = unit, unit["db"]
    today = date(2026, 12, 3)
    problem = problems.open_problem(db, u["lead"], {"title": "Litter and noise", "place_name": "Narinkka",
                                                    "review_date": "2026-12-03"})
    late = problems.add_measure(db, u["lead"], problem, {"what": "Evening walks with youth workers",
                                                         "who": "City youth services", "due_date": "2026-12-02"})
    problems.add_measure(db, u["lead"], problem, {"what": "Lighting", "due_date": "2026-12-03"})  # due today
    problems.add_measure(db, u["lead"], problem, {"what": "No date"})
    assert [m["id"] for m in problems.measures_overdue(db, u["unit_id"], today)] == [late["id"]]
    assert [p["id"] for p in problems.problems_due_for_review(db, u["unit_id"], today)] == [problem["id"]]
    assert problems.problems_due_for_review(db, u["unit_id"], today - timedelta(days=1)) == []
    problems.set_measure_state(db, u["lead"], problem, late["id"], "done")
    assert problems.measures_overdue(db, u["unit_id"], today) == []


def test_closing_keeps_the_areas_tension_before_and_after(unit):
    u, db = unit, unit["db"]
    opened = u["now"] - timedelta(days=35)
    for days in (36, 38, 40, 70):  # before opening: three in the 30 days before, one earlier
        tension(u, u["now"] - timedelta(days=days), severity=4)
    tension(u, u["now"] - timedelta(days=2), severity=2)  # in the 30 days before closing: one, milder
    tension(u, u["now"] - timedelta(days=2), KALLIO, severity=6)  # outside the area
    problem = problems.open_problem(db, u["lead"], {"title": "Square", "cells": cell_of(SENAATINTORI)},
                                    now=opened)
    closed = problems.close(db, u["lead"], problem, "better", now=u["now"])
    assert closed["state"] == "closed" and closed["outcome"] == "better"
    assert (closed["trend_before"]["observations"], closed["trend_before"]["score"]) == (3, 24)
    assert (closed["trend_after"]["observations"], closed["trend_after"]["score"]) == (1, 2)
    assert problems.trend_change(closed["trend_before"], closed["trend_after"]) == -92
    assert not problems.has_open_problem(db, u["unit_id"], cell_of(SENAATINTORI))
    with pytest.raises(problems.ProblemInvalid):
        problems.close(db, u["lead"], closed, "worse")


def test_every_change_is_a_version_and_an_audit_row(unit):
    u, db = unit, unit["db"]
    partner = partners.save(db, u["lead"], {"name": "Youth centre", "kind": "youth_services"})
    problem = problems.open_problem(db, u["lead"], {"title": "First title", "place_name": "Kallio"})
    problem = problems.update(db, u["lead"], problem, {"title": "Second title", "place_name": "Kallio",
                                                       "partner_ids": [partner["id"]]})
    measure = problems.add_measure(db, u["lead"], problem, {"what": "Meet the school"})
    problem = problems.get(db, u["lead"], problem["id"])
    problems.set_measure_state(db, u["lead"], problem, measure["id"], "in_progress")
    problem = problems.get(db, u["lead"], problem["id"])
    problems.close(db, u["lead"], problem, "no_change")

    versions = problems.history(db, problem["id"])
    assert [v["version"] for v in versions] == [5, 4, 3, 2, 1]
    assert versions[-1]["data"]["title"] == "First title" and versions[-1]["data"]["partner_ids"] == []
    assert versions[-2]["data"]["partner_ids"] == [partner["id"]]
    assert [m["state"] for m in versions[1]["data"]["measures"]] == ["in_progress"]
    actions = [row["action"] for row in audit.for_record(db, "problem", problem["id"])]
    assert actions == ["create", "edit", "measure_add", "measure_state", "close"]
    assert audit.verify(db).ok


def test_public_summary_has_the_public_title_and_public_measures_only(unit):
    u, db = unit, unit["db"]
    problem = problems.open_problem(db, u["lead"], {"title": "Internal title", "description": "internal notes",
                                                    "place_name": "Kallio"})
    problems.add_measure(db, u["lead"], problem, {"what": "Public walk", "public": "1", "due_date": "2027-01-10"})
    problems.add_measure(db, u["lead"], problem, {"what": "Internal step", "who": "Officer One"})
    assert problems.public_summary(db, problem) is None  # no public title: nothing to share
    problem = problems.update(db, u["lead"], problems.get(db, u["lead"], problem["id"]), {
        "title": "Internal title", "place_name": "Kallio", "public_title": "Safer evenings in Kallio"})
    summary = problems.public_summary(db, problem)
    assert summary == {"title": "Safer evenings in Kallio", "state": "open", "outcome": None,
                       "measures": [{"what": "Public walk", "state": "agreed", "due_date": "2027-01-10"}]}
    assert "internal" not in json.dumps(summary).lower() and "Officer" not in json.dumps(summary)
    assert problems.public_summaries(db, u["unit_id"]) == [summary]


# ------------------------------------------------------------------------------------------ partners


def test_partner_directory_refuses_identity_codes_and_duplicates_and_other_units_see_nothing(unit):
    u, db = unit, unit["db"]
    with pytest.raises(partners.PartnerInvalid) as exc:
        partners.save(db, u["lead"], {"name": "Club", "kind": "ngo", "contact_role": "Matti 131052-308T"})
    assert set(exc.value.errors) == {"contact_role"}
    entry = partners.save(db, u["lead"], {"name": "Club", "kind": "ngo", "languages": ["fi", "ar"]})
    assert entry["languages"] == ["ar", "fi"]
    with pytest.raises(partners.PartnerInvalid) as exc:
        partners.save(db, u["admin"], {"name": "club", "kind": "ngo"})
    assert "name" in exc.value.errors
    with pytest.raises(Forbidden):
        partners.save(db, u["officer"], {"name": "Other", "kind": "ngo"})
    assert partners.get(db, u["officer"], entry["id"])["name"] == "Club"
    with pytest.raises(NotFound):
        partners.get(db, u["other"], entry["id"])


def test_csv_export_and_import_round_trip(unit):
    u, db = unit, unit["db"]
    partners.save(db, u["lead"], {"name": "=Mosque council", "kind": "religious_community", "languages": ["ar", "so"],
                                  "area": "Itäkeskus", "offers": "Interpreters, a hall", "contact_role": "Chair"})
    partners.save(db, u["lead"], {"name": "Victim Support Helsinki", "kind": "victim_support", "active": False})
    text = partners.to_csv(partners.for_unit(db, u["unit_id"]))
    assert "'=Mosque council" in text
    before = partners.for_unit(db, u["unit_id"])
    assert partners.import_csv(db, u["lead"], text) == {"created": 0, "updated": 2}
    assert [{k: p[k] for k in partners.CSV_COLUMNS} for p in partners.for_unit(db, u["unit_id"])] == \
        [{k: p[k] for k in partners.CSV_COLUMNS} for p in before]
    # Into another unit: its ids are unknown there (refused); without the id column, new entries.
    other_admin = accounts.create_user(db, "q_other_admin", PASSWORD, "admin", u["other"].unit_id)
    with pytest.raises(partners.ImportInvalid) as exc:
        partners.import_csv(db, other_admin, text)
    assert [(row, column) for row, column, _m in exc.value.errors] == [(2, "id"), (3, "id")]
    without_ids = "\n".join(line.split(",", 1)[1] for line in text.splitlines()) + "\n"
    assert partners.import_csv(db, other_admin, without_ids) == {"created": 2, "updated": 0}
    moved = partners.for_unit(db, u["other"].unit_id)
    assert [(p["name"], p["languages"], p["active"]) for p in moved] == [
        ("=Mosque council", ["ar", "so"], True), ("Victim Support Helsinki", [], False)]


def test_bad_csv_is_refused_whole_with_errors_per_row(unit):
    u, db = unit, unit["db"]
    text = ("name,kind,languages,contact_role\n"
            "Good one,ngo,fi,Coordinator\n"
            ",ngo,,\n"
            "Bad kind,spaceship,xx,\n"
            "Person,ngo,,Matti 131052-308T\n")
    with pytest.raises(partners.ImportInvalid) as exc:
        partners.import_csv(db, u["lead"], text)
    assert sorted(exc.value.errors) == [
        (3, "name", "This field is required."), (4, "kind", "Choose a value from the list."),
        (4, "languages", "Choose a value from the list."),
        (5, "contact_role", "Remove the personal identity code: the directory holds organisations, not people.")]
    assert partners.for_unit(db, u["unit_id"]) == []  # nothing half-imported
    with pytest.raises(partners.ImportInvalid):
        partners.import_csv(db, u["lead"], "title\nx\n")


def test_partners_of_a_deployment_and_their_use(unit):
    u, db = unit, unit["db"]
    entry = partners.save(db, u["lead"], {"name": "Anchor team", "kind": "anchor_team"})
    partners.set_for_deployment(db, u["lead"], u["dep"], [entry["id"]])
    assert [p["id"] for p in partners.for_deployment(db, u["dep"]["id"])] == [entry["id"]]
    problems.open_problem(db, u["lead"], {"title": "T", "place_name": "P", "partner_ids": [entry["id"]]})
    assert partners.usage(db, entry["id"]) == {"problems": 1, "referrals": 0, "deployments": 1}
    with pytest.raises(Forbidden):
        partners.set_for_deployment(db, u["officer"], u["dep"], [])


def test_the_migration_seeds_an_editable_list_of_partner_kinds(memory_db):
    from fieldapp import categories
    from fieldapp.migrations import M012_PARTNER_KINDS
    assert [code for code, _label in categories.options(memory_db, "partner_kinds", "fi")] == \
        [code for code, *_labels in M012_PARTNER_KINDS]
    memory_db.execute("UPDATE categories SET active = 0 WHERE list = 'partner_kinds' AND code = 'business'")
    assert "business" not in categories.codes(memory_db, "partner_kinds")


def test_the_leads_needs_action_lists_problems_due_measures_late_and_rising_hotspots_no_problem_covers(unit):
    u, db = unit, unit["db"]
    for h in (1, 2, 3):
        tension(u, u["now"] - timedelta(hours=h))  # new this week at the square
        tension(u, u["now"] - timedelta(hours=h), KALLIO)  # and in Kallio

    def shown():
        return {s.key: s for s in needs_action.sections(db, u["lead"], u["now"])}

    rising = [h.summary.h3 for h in shown()["rising_hotspots"].items]
    assert cell_of(SENAATINTORI) in rising and cell_of(KALLIO) in rising
    assert shown()["problems_due"].total == 0 and shown()["measures_overdue"].total == 0

    today = followups.today(u["now"])
    problem = problems.open_problem(db, u["lead"], {"title": "Evenings on the square", "cells": cell_of(SENAATINTORI),
                                                    "review_date": today.isoformat()})
    late = problems.add_measure(db, u["lead"], problem, {"what": "Evening walks",
                                                         "due_date": (today - timedelta(days=1)).isoformat()})
    sections = shown()
    assert [h.summary.h3 for h in sections["rising_hotspots"].items] == [cell_of(KALLIO)]  # the square is covered
    assert [p["id"] for p in sections["problems_due"].items] == [problem["id"]]
    assert [m["id"] for m in sections["measures_overdue"].items] == [late["id"]]
    assert needs_action.sections(db, u["other"], u["now"])[2].total == 0  # another unit's lead: not theirs
    problems.close(db, u["lead"], problem, "better")
    sections = shown()
    assert sections["problems_due"].total == 0 and sections["measures_overdue"].total == 0
    assert cell_of(SENAATINTORI) in [h.summary.h3 for h in sections["rising_hotspots"].items]


def test_partners_see_open_problems_public_title_and_public_measures_only(unit):
    u, db = unit, unit["db"]
    now = u["now"]
    square = problems.open_problem(db, u["lead"], {"title": "Internal: the square", "cells": cell_of(SENAATINTORI),
                                                   "public_title": "Calmer evenings on the square",
                                                   "description": "internal notes"})
    problems.add_measure(db, u["lead"], square, {"what": "Evening walks", "public": "1", "due_date": "2027-01-15"})
    problems.add_measure(db, u["lead"], square, {"what": "Internal measure"})
    problems.open_problem(db, u["lead"], {"title": "No public title", "cells": cell_of(KALLIO)})
    start, end = iso(now - timedelta(days=30)), iso(now + timedelta(minutes=1))
    found = problems.for_partners(db, u["unit_id"], None, start, end)
    assert [(p.title, [(m.what, m.state, m.due) for m in p.measures]) for p in found] == [
        ("Calmer evenings on the square", [("Evening walks", "agreed", "2027-01-15")])]
    square_area = h3.str_to_int(h3.cell_to_parent(cell_of(SENAATINTORI), 6))  # a coarser area around the square
    assert problems.for_partners(db, u["unit_id"], square_area, start, end)[0].title == "Calmer evenings on the square"
    assert problems.for_partners(db, u["unit_id"], h3.str_to_int(cell_of(KALLIO)), start, end) == []
    assert problems.for_partners(db, u["unit_id"], None, iso(now - timedelta(days=60)), start) == []  # not yet open
    summary = picture.summarise(db, picture.Scope(u["unit_id"]), picture.PictureFilter(
        start=now - timedelta(days=30), end=now + timedelta(minutes=1), window="30d"), 8,
        problems=problems.for_partners)
    assert [p.title for p in summary.problems] == ["Calmer evenings on the square"]
    assert "internal" not in repr(summary).lower()


def test_a_problems_cells_are_named_by_the_nearest_deployment_place_not_by_their_id(unit):
    u, db = unit, unit["db"]
    far = h3.latlng_to_cell(61.5, 23.8, 8)  # Tampere: no deployment place within reach
    problem = problems.open_problem(db, u["lead"], {"title": "Square", "cells": f"{cell_of(KALLIO)} {far}"})
    named = dict(problems.cell_places(db, u["unit_id"], problems.get(db, u["lead"], problem["id"])["cells"]))
    assert named[cell_of(KALLIO)].name == "Senaatintori" and named[cell_of(KALLIO)].direction == "north"
    assert named[far] is None
