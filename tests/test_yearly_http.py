"""The yearly report and activities over HTTP: who may use which route (officer, staff, lead, department, admin,
another department's head), forms that keep what was typed, exports that hold the page's numbers."""

from __future__ import annotations

import re

import pytest

from fieldapp import accounts, demo, yearly_ods, yearly_report
from fieldapp.ids import new_id

YEAR = yearly_report.this_year()
EN = {"Accept-Language": "en"}


@pytest.fixture
def other_head(db):
    """The head of preventive work of another department, with a unit of its own."""
    db.execute("INSERT INTO departments (id, name, created_at) VALUES ('dep-other', 'Other', '2026-01-01')")
    unit = accounts.ensure_unit(db, "Other unit (test)")
    db.execute("UPDATE units SET department_id = 'dep-other' WHERE id = ?", [unit])
    accounts.create_user(db, "head9", demo.DEMO_PASSWORD, "department", unit, "Head Nine")
    return unit


def _unit(db, name):
    return db.execute("SELECT id FROM units WHERE name = ?", [name]).fetchone()[0]


@pytest.mark.parametrize("username, page, csv, ods, targets", [
    ("officer1", 403, 403, 403, 403),
    ("staff1", 403, 403, 403, 403),
    ("admin1", 403, 403, 403, 403),
    ("lead1", 200, 200, 200, 403),
    ("head1", 200, 200, 200, 200),
])
def test_who_may_open_the_yearly_report_and_the_targets(login, username, page, csv, ods, targets):
    session = login(username)
    assert session.get(f"/yearly?year={YEAR}").status_code == page
    assert session.get(f"/yearly/export.csv?year={YEAR}").status_code == csv
    assert session.get(f"/yearly/export.ods?year={YEAR}").status_code == ods
    assert session.get(f"/yearly/targets?year={YEAR}").status_code == targets


def test_a_lead_sees_only_their_unit_and_the_head_every_unit_of_the_department(login, db, other_head):
    second = _unit(db, "Eastern preventive unit (demo)")
    lead = login("lead1")
    assert lead.get(f"/yearly?year={YEAR}&unit={second}").status_code == 404
    assert "Eastern preventive unit" not in lead.get(f"/yearly?year={YEAR}").text
    head = login("head1")
    page = head.get(f"/yearly?year={YEAR}").text
    assert "Eastern preventive unit" in page and "Helsinki preventive unit" in page
    assert head.get(f"/yearly?year={YEAR}&unit={other_head}").status_code == 404
    other = login("head9")
    assert "Eastern preventive unit" not in other.get(f"/yearly?year={YEAR}").text
    assert other.post("/yearly/targets", {"year": str(YEAR), "unit": second, "activities": "5"}).status_code == 404
    assert other.get(f"/yearly/targets?year={YEAR}&unit={second}").status_code == 404


def test_the_head_sets_a_target_and_it_shows_beside_the_figure(login, db):
    second = _unit(db, "Eastern preventive unit (demo)")
    head = login("head1")
    answer = head.post("/yearly/targets", {"year": str(YEAR), "unit": second, "activities": "17", "contacts": "x"})
    assert answer.status_code == 400 and 'value="x"' in answer.text and 'value="17"' in answer.text
    answer = head.post("/yearly/targets", {"year": str(YEAR), "unit": second, "activities": "17"})
    assert answer.status_code == 303
    rows = head.get(f"/yearly/export.csv?year={YEAR}&unit={second}").text.splitlines()
    assert any(row.startswith(f"{second},tasks,activities,,") and row.endswith(",17") for row in rows)
    assert db.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'targets_set'").fetchone()[0] >= 1


def test_the_ods_download_holds_the_numbers_of_the_page(login):
    head = login("head1")
    sheets = yearly_ods.read_ods(head.get(f"/yearly/export.ods?year={YEAR}", headers=EN).content)
    csv_rows = head.get(f"/yearly/export.csv?year={YEAR}").text.lstrip("\ufeff").splitlines()[1:]
    page = head.get(f"/yearly?year={YEAR}").text
    total_activities = next(float(r[4]) for rows in sheets.values() for r in rows[1:]
                            if r[1] == "activities" and r[2] == "" and r[0] == "All units")
    assert total_activities == 4  # demo: three activities in the first unit, one in the second this year
    assert any(r.startswith("all,tasks,activities,,") and ",4," in r for r in csv_rows)
    block = page.split('id="block-all"')[1].split('class="yearly-block"', 1)[0]
    row = re.search(r'data-indicator="activities" data-code="" class="total">.*?<td class="num">([^<]*)</td>', block,
                    re.S)
    assert row.group(1) == "4"


@pytest.mark.parametrize("username, status", [("officer1", 200), ("staff1", 200), ("lead1", 200),
                                               ("head1", 403), ("admin1", 403)])
def test_who_may_log_activities(login, username, status):
    session = login(username)
    assert session.get("/activities").status_code == status
    assert session.get("/activities/new").status_code == status
    answer = session.post("/activities", {"id": new_id(), "kind": "other", "day": "2026-11-30", "minutes": "30"})
    assert answer.status_code == (303 if status == 200 else 403)


def test_a_refused_activity_form_keeps_what_was_typed(login, db):
    officer = login("officer1")
    answer = officer.post("/activities", {"id": new_id(), "kind": "online_presence", "day": "2026-11-30",
                                          "minutes": "45", "platform": "@someone", "online_activity": "Live Q&A",
                                          "people_reached": "12"}, headers=EN)
    assert answer.status_code == 400
    assert "Live Q&amp;A" in answer.text and 'value="45"' in answer.text and "account names" in answer.text
    before = db.execute("SELECT COUNT(*) FROM activities").fetchone()[0]
    activity_id = new_id()
    form = {"id": activity_id, "kind": "online_presence", "day": "2026-11-30", "minutes": "45",
            "platform": "A video service", "online_activity": "Live Q&A", "people_reached": "12"}
    assert officer.post("/activities", form).status_code == 303
    assert officer.post("/activities", form).status_code == 303  # a resend is the same activity
    assert db.execute("SELECT COUNT(*) FROM activities").fetchone()[0] == before + 1
    assert "A video service" in officer.get("/activities").text


def test_an_activity_from_the_outbox_is_stored_once_and_counts_in_the_report(login, db):
    officer = login("officer1")
    activity_id = new_id()
    values = {"kind": "online_presence", "day": "2026-11-30", "start": "19:00", "minutes": "60",
              "platform": "A game platform", "online_activity": "Answering questions", "people_reached": "33",
              "languages": ["fi", "en"], "occurred_at": "2026-11-30T19:05"}
    item = {"id": activity_id, "kind": "activity", "deployment_id": "", "values": values,
            "device_time": "2026-11-30T17:05:00.000Z"}
    bad = {**item, "id": new_id(), "values": {**values, "platform": "www.example.invalid/someone"}}
    first = officer.post_json("/api/sync", {"records": [item, bad]}).json()["results"]
    assert [r["status"] for r in first] == ["accepted", "rejected"] and "platform" in first[1]["errors"]
    again = officer.post_json("/api/sync", {"records": [item]}).json()["results"]
    assert again[0]["status"] == "duplicate"
    other = officer.post_json("/api/sync", {"records": [{**item, "values": {**values, "minutes": "61"}}]}).json()
    assert other["results"][0]["status"] == "rejected"
    assert db.execute("SELECT COUNT(*) FROM activities WHERE id = ?", [activity_id]).fetchone()[0] == 1
    rows = login("lead1").get(f"/yearly/export.csv?year={YEAR}").text.splitlines()
    online = next(row for row in rows if ",tasks,activities,online_presence," in row)
    assert online.split(",")[5] == "2"  # the demo's one and this one


def test_a_field_device_keeps_the_activity_form_for_offline_work(login):
    assert "/activities/new" in login("officer1").get("/api/offline/bootstrap?records=false").json()["pages"]


@pytest.mark.parametrize("url", ["/yearly?year=abc", "/yearly?year=99999999999999999999999", "/yearly?unit=%00x",
                                 "/yearly/export.ods?year=-1", "/yearly/export.csv?year=1999",
                                 "/yearly/targets?year=x", "/yearly/targets?unit=nope"])
def test_odd_report_choices_get_a_clear_4xx_never_a_server_error(login, url):
    answer = login("head1").get(url, headers=EN)
    assert 200 <= answer.status_code < 500 and answer.status_code != 500


def test_odd_target_and_activity_posts_get_a_4xx(login):
    head = login("head1")
    assert head.post("/yearly/targets", {"year": ["x", "y"], "unit": ["a", "b"]}).status_code in (400, 404)
    officer = login("officer1")
    answer = officer.post("/activities", {"id": ["a", "b"], "kind": ["x", "y"], "day": "x" * 5000, "minutes": "1e9",
                                          "start": "99:99", "languages": ["zz"], "contact_ids": ["../x"]})
    assert answer.status_code == 400
