"""The period report: exact counts on known synthetic data, CSV, locale, roles, audit."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest

from fieldapp import accounts, deployments, i18n, reports
from fieldapp.clock import HELSINKI, iso, parse, utcnow
from fieldapp.errors import Forbidden
from fieldapp.ids import new_id
from fieldapp.services import recording
from tests.stored import store_new

MARCH = {"period": "month", "year": "2026", "month": "3"}


def _contact(**values):
    return {"lat": 60.17, "lon": 24.95, "place_name": "", "notes": "", "age_band": None, "group_size": None,
            "group_category": None, "language": None, "topics": [], "feedback_promised": False,
            "feedback_given": False, "follow_up": False, "referral_target": None, **values}


def _tension(**values):
    return {"lat": 60.17, "lon": 24.95, "place_name": "", "notes": "", "groups": [], "trend": "stable",
            "basis": "observed", "people_estimate": None, **values}


def _intervention(**values):
    return {"lat": 60.17, "lon": 24.95, "place_name": "", "notes": "", "outcome": None, "referral_target": None,
            "tension_id": None, "contact_id": None, **values}


def _presence(db, deployment_id, user, checked_in_at, checked_out_at):
    db["presence"].insert({"id": new_id(), "deployment_id": deployment_id, "user_id": user.id,
                           "checked_in_at": checked_in_at, "checked_out_at": checked_out_at})


class Unit:
    """Two units with known records around March 2026 (Helsinki: UTC+2 until 29 March, then UTC+3)."""

    def __init__(self, db):
        self.db = db
        unit_a, unit_b = accounts.ensure_unit(db, "Unit A"), accounts.ensure_unit(db, "Unit B")
        self.lead = accounts.create_user(db, "lead_a", "long-enough-pw", "lead", unit_a, "Lead A")
        self.officer = accounts.create_user(db, "officer_a", "long-enough-pw", "officer", unit_a, "Officer A")
        self.other_lead = accounts.create_user(db, "lead_b", "long-enough-pw", "lead", unit_b, "Lead B")
        save = deployments.save
        self.demo = save(db, self.lead, {"name": "Demo", "kind": "demonstration", "place_name": "Senaatintori",
                                         "lat": 60.17, "lon": 24.95, "starts_at": "2026-03-10T10:00:00.000Z",
                                         "ends_at": "2026-03-10T15:00:00.000Z", "notes": ""})
        # Runs over the period's end: 31 March 21:00 UTC is midnight in Helsinki.
        self.popup = save(db, self.lead, {"name": "Popup", "kind": "popup_station", "place_name": "Itäkeskus",
                                          "lat": 60.21, "lon": 25.08, "starts_at": "2026-03-31T18:00:00.000Z",
                                          "ends_at": "2026-04-01T02:00:00.000Z", "notes": ""})
        # Runs over the period's start: 28 February 22:00 UTC is midnight in Helsinki.
        self.youth = save(db, self.lead, {"name": "Youth", "kind": "youth_event", "place_name": "Kontula",
                                          "lat": 60.23, "lon": 25.08, "starts_at": "2026-02-28T20:00:00.000Z",
                                          "ends_at": "2026-02-28T23:59:00.000Z", "notes": ""})
        self.foreign = save(db, self.other_lead, {"name": "Other unit", "kind": "demonstration",
                                                  "place_name": "Senaatintori", "lat": 60.17, "lon": 24.95,
                                                  "starts_at": "2026-03-10T10:00:00.000Z",
                                                  "ends_at": "2026-03-10T15:00:00.000Z", "notes": ""})
        new = lambda kind, dep, at, values, user=self.lead: store_new(  # noqa: E731
            db, user, kind, dep["id"], {**values, "occurred_at": at}, received_at=parse(at))
        at = "2026-03-10T11:00:00.000Z"
        self.c1 = new("contact", self.demo, at, _contact(
            age_band="18_29", group_category="youth", language="fi", topics=["safety_worry", "rumour"],
            feedback_promised=True, feedback_given=True, referral_target="ankkuri"))
        self.c2 = new("contact", self.demo, at, _contact(
            age_band="18_29", group_category="youth", language="sv", topics=["rumour"], feedback_promised=True))
        new("contact", self.demo, at, _contact(group_category="residents", language="fi"))   # no age band
        deleted = new("contact", self.demo, at, _contact(age_band="65_plus", language="fi"))
        recording.delete(db, self.lead, "contact", deleted["id"])
        new("contact", self.youth, "2026-02-28T21:30:00.000Z", _contact(age_band="15_17"))   # 23:30 on 28 Feb
        new("contact", self.youth, "2026-02-28T22:30:00.000Z", _contact(age_band="15_17"))   # 00:30 on 1 March
        new("contact", self.popup, "2026-03-31T20:30:00.000Z", _contact(age_band="30_49"))   # 23:30 on 31 March
        new("contact", self.popup, "2026-03-31T21:30:00.000Z", _contact(age_band="30_49"))   # 00:30 on 1 April
        new("contact", self.foreign, at, _contact(age_band="18_29", language="fi", feedback_promised=True,
                                                  referral_target="victim_support"), self.other_lead)
        t1 = new("tension", self.demo, at, _tension(kind="verbal_confrontation", severity=3))
        new("tension", self.demo, at, _tension(kind="provocation", severity=5))
        new("tension", self.demo, at, _tension(kind="provocation", severity=5))
        new("tension", self.foreign, at, _tension(kind="provocation", severity=6), self.other_lead)
        new("intervention", self.demo, at, _intervention(kind="dialogue", outcome="resolved", tension_id=t1["id"]))
        # The same referral as contact 1's: counted once.
        new("intervention", self.demo, at, _intervention(kind="referral", outcome="referred",
                                                         referral_target="ankkuri", contact_id=self.c1["id"]))
        new("intervention", self.demo, at, _intervention(kind="referral", outcome="referred",
                                                         referral_target="youth_services", contact_id=self.c2["id"]))
        new("intervention", self.foreign, at, _intervention(kind="referral", referral_target="victim_support"),
            self.other_lead)
        _presence(db, self.demo["id"], self.officer, "2026-03-10T10:00:00.000Z", "2026-03-10T15:00:00.000Z")  # 5 h
        _presence(db, self.demo["id"], self.lead, "2026-03-10T11:00:00.000Z", "2026-03-10T12:30:00.000Z")  # 1.5 h
        _presence(db, self.popup["id"], self.officer, "2026-03-31T18:00:00.000Z", None)  # open: 3 h up to the end
        _presence(db, self.youth["id"], self.officer, "2026-02-28T20:00:00.000Z", "2026-02-28T23:00:00.000Z")  # 1 h
        _presence(db, self.foreign["id"], self.other_lead, "2026-03-10T05:00:00.000Z", "2026-03-10T15:00:00.000Z")

    def report(self, raw=None, user=None, action="report_view"):
        user = user or self.lead
        return reports.build(self.db, user, reports.parse_query(self.db, user, raw or MARCH), action=action)


@pytest.fixture
def unit(memory_db):
    token = i18n.set_locale("en")
    yield Unit(memory_db)
    i18n._current.reset(token)


def test_month_report_counts_each_category_exactly(unit):
    report = unit.report()
    assert report.counts("totals") == {"deployments": 3, "contacts": 5, "tensions": 3, "interventions": 3}
    age = report.counts("contacts_age_band")
    assert (age["18_29"], age["15_17"], age["30_49"], age["65_plus"], age[""]) == (2, 1, 1, 0, 1)
    assert report.counts("contacts_group_category")["youth"] == 2
    assert report.counts("contacts_group_category")["residents"] == 1
    assert report.counts("contacts_language")["fi"] == 2 and report.counts("contacts_language")["sv"] == 1
    topics = report.counts("contacts_topic")
    assert (topics["rumour"], topics["safety_worry"], topics["tip"]) == (2, 1, 0)
    assert report.counts("interventions_kind") == {**{c: 0 for c in report.counts("interventions_kind")},
                                                   "dialogue": 1, "referral": 2}
    assert report.counts("interventions_outcome")["referred"] == 2
    assert report.counts("tensions_kind")["provocation"] == 2
    assert report.counts("tensions_severity") == {"1": 0, "2": 0, "3": 1, "4": 0, "5": 2, "6": 0}


def test_feedback_promised_and_given_are_counted(unit):
    assert unit.report().counts("feedback") == {"promised": 2, "given": 1, "promised_not_given": 1}


def test_referrals_come_from_contacts_and_interventions_without_double_counting(unit):
    referrals = unit.report().counts("referrals_target")
    assert referrals["ankkuri"] == 1
    assert referrals["youth_services"] == 1
    assert referrals["victim_support"] == 0


def test_presence_hours_are_clipped_to_the_period(unit):
    hours = unit.report().counts("presence_hours")
    assert hours["demonstration"] == 6.5
    assert hours["popup_station"] == 3.0      # open check-in counted up to the period's end
    assert hours["youth_event"] == 1.0        # 20:00-23:00 UTC, period starts 22:00 UTC
    assert hours["community_visit"] == 0


def test_open_check_in_counts_up_to_now_in_a_running_period(unit):
    now = utcnow()
    running = deployments.save(unit.db, unit.lead, {
        "name": "Now", "kind": "community_visit", "place_name": "Malmi", "lat": 60.25, "lon": 25.01,
        "starts_at": iso(now - timedelta(hours=3)), "ends_at": iso(now + timedelta(hours=3)), "notes": ""})
    _presence(unit.db, running["id"], unit.officer, iso(now - timedelta(minutes=90)), None)
    today = now.astimezone(HELSINKI).date()
    report = unit.report({"period": "custom", "start": (today - timedelta(days=1)).isoformat(),
                          "end": (today + timedelta(days=1)).isoformat()})
    assert report.counts("presence_hours")["community_visit"] == 1.5


def test_forgotten_check_out_ends_at_the_planned_end_as_on_the_deployment_page(unit):
    now = utcnow()
    ended = deployments.save(unit.db, unit.lead, {
        "name": "Ended", "kind": "community_visit", "place_name": "Malmi", "lat": 60.25, "lon": 25.01,
        "starts_at": iso(now - timedelta(hours=5)), "ends_at": iso(now - timedelta(hours=3)), "notes": ""})
    _presence(unit.db, ended["id"], unit.officer, iso(now - timedelta(hours=5)), None)
    today = now.astimezone(HELSINKI).date()
    report = unit.report({"period": "custom", "start": (today - timedelta(days=1)).isoformat(),
                          "end": (today + timedelta(days=1)).isoformat()})
    assert report.counts("presence_hours")["community_visit"] == 2.0
    assert deployments.presence_hours(unit.db, ended["id"]) == 2.0


def test_area_filters_narrow_the_report(unit):
    by_kind = unit.report({**MARCH, "deployment_kind": "popup_station"})
    assert by_kind.counts("totals")["contacts"] == 1
    assert by_kind.counts("presence_hours")["demonstration"] == 0
    by_place = unit.report({**MARCH, "place": "Kontula"})
    assert by_place.counts("contacts_age_band")["15_17"] == 1
    assert by_place.counts("totals")["contacts"] == 1
    by_deployment = unit.report({**MARCH, "deployment_id": unit.demo["id"]})
    assert by_deployment.counts("totals") == {"deployments": 1, "contacts": 3, "tensions": 3, "interventions": 3}


def test_another_units_records_are_never_counted(unit):
    other = unit.report(user=unit.other_lead)
    assert other.counts("totals") == {"deployments": 1, "contacts": 1, "tensions": 1, "interventions": 1}
    assert other.counts("presence_hours")["demonstration"] == 10.0
    with pytest.raises(reports.InvalidQuery) as caught:
        reports.parse_query(unit.db, unit.other_lead, {**MARCH, "deployment_id": unit.demo["id"]})
    assert "deployment_id" in caught.value.errors


def test_quarter_year_and_custom_periods_cover_the_right_days(unit):
    q1 = unit.report({"period": "quarter", "year": "2026", "quarter": "1"})
    assert (q1.first_day, q1.last_day) == (date(2026, 1, 1), date(2026, 3, 31))
    assert q1.counts("totals")["contacts"] == 6        # adds the one on 28 February
    year = unit.report({"period": "year", "year": "2026"})
    assert year.counts("totals")["contacts"] == 7      # adds the one on 1 April
    assert year.starts_at == "2025-12-31T22:00:00.000Z"
    day = unit.report({"period": "custom", "start": "2026-03-01", "end": "2026-03-01"})
    assert day.counts("totals")["contacts"] == 1
    assert day.ends_at == "2026-03-01T22:00:00.000Z"


def test_bad_choices_give_messages_per_field(unit):
    with pytest.raises(reports.InvalidQuery) as caught:
        reports.parse_query(unit.db, unit.lead, {"period": "week", "year": "19", "month": "13",
                                                 "deployment_kind": "parade", "place": "Nowhere"})
    assert set(caught.value.errors) == {"period", "year", "month", "deployment_kind", "place"}
    with pytest.raises(reports.InvalidQuery) as caught:
        reports.parse_query(unit.db, unit.lead, {"period": "custom", "start": "2026-03-05", "end": "2026-03-01"})
    assert set(caught.value.errors) == {"end"}


def test_only_leads_get_reports(unit):
    query = reports.parse_query(unit.db, unit.lead, MARCH)
    with pytest.raises(Forbidden):
        reports.build(unit.db, unit.officer, query)


def test_every_report_build_writes_an_audit_row(unit):
    unit.report()
    unit.report(action="report_export_csv")
    rows = list(unit.db.query("SELECT * FROM audit_log WHERE record_type = 'report' ORDER BY id"))
    assert [(r["user_id"], r["action"]) for r in rows] == [(unit.lead.id, "report_view"),
                                                          (unit.lead.id, "report_export_csv")]
    assert rows[0]["detail"] == "period=month&year=2026&month=3"


def test_csv_has_one_table_per_section_and_matches_the_report(unit):
    report = unit.report()
    rows = list(csv.reader(io.StringIO(reports.to_csv(report))))
    assert tuple(rows[0]) == reports.CSV_COLUMNS
    body = rows[1:]
    assert all(len(r) == 4 for r in body)
    assert [s.key for s in report.sections] == list(dict.fromkeys(r[0] for r in body))
    assert ["presence_hours", "demonstration", "Demonstration", "6.5"] in body
    assert ["contacts_age_band", "", "Not recorded", "1"] in body
    assert ["totals", "contacts", "Contacts", "5"] in body


# --- over HTTP, on the demo data -------------------------------------------------------------------


def _demo_lead(db):
    return accounts.by_username(db, "lead1")


@pytest.mark.parametrize("username", ["officer1", "staff1", "admin1"])
def test_reports_are_refused_to_other_roles(login, username):
    session = login(username)
    assert session.get("/reports").status_code == 403
    assert session.get("/reports/export.csv").status_code == 403


def test_lead_sees_report_page_with_every_section(login):
    page = login("lead1").get("/reports", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    for key, *_ in reports.CATEGORY_SECTIONS:
        assert f'id="section-{key}"' in page.text
    assert "Hours of presence by deployment kind" in page.text
    assert 'href="/reports/export.csv?period=month' in page.text


def test_report_page_and_csv_are_audited(login, db):
    session = login("lead1")
    before = db.execute("SELECT COUNT(*) FROM audit_log WHERE record_type = 'report'").fetchone()[0]
    session.get("/reports?period=year&year=2026")
    session.get("/reports/export.csv?period=year&year=2026")
    rows = list(db.query("SELECT user_id, action, detail FROM audit_log WHERE record_type = 'report' ORDER BY id"))
    assert len(rows) == before + 2
    lead = _demo_lead(db)
    assert rows[-2:] == [{"user_id": lead.id, "action": "report_view", "detail": "period=year&year=2026"},
                         {"user_id": lead.id, "action": "report_export_csv", "detail": "period=year&year=2026"}]


def test_csv_download_parses_and_agrees_with_the_page_numbers(login, db):
    session = login("lead1")
    response = session.get("/reports/export.csv?period=year&year=" + str(utcnow().year))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    totals = {r["category"]: int(r["count"]) for r in rows if r["section"] == "totals"}
    contacts = db.execute("SELECT COUNT(*) FROM contacts WHERE deleted_at IS NULL AND occurred_at >= ?",
                          [iso(parse(f"{utcnow().year}-01-01T00:00:00"))]).fetchone()[0]
    assert totals["contacts"] == contacts
    by_age = sum(int(r["count"]) for r in rows if r["section"] == "contacts_age_band")
    assert by_age == contacts


def _csv_counts(text: str) -> dict:
    return {(r["section"], r["category"]): float(r["count"])
            for r in csv.DictReader(io.StringIO(text.lstrip("\ufeff")))}


def test_other_units_records_do_not_reach_the_demo_lead(login, db):
    session = login("lead1")
    query = "/reports/export.csv?period=year&year=" + str(utcnow().year)
    before = _csv_counts(session.get(query).text)
    unit_b = accounts.ensure_unit(db, "Another unit")
    other = accounts.create_user(db, "lead_other", "long-enough-pw", "lead", unit_b, "Other")
    now = utcnow()
    deployment = deployments.save(db, other, {"name": "Elsewhere", "kind": "demonstration", "place_name": "Tampere",
                                              "lat": 61.5, "lon": 23.76, "starts_at": iso(now - timedelta(hours=1)),
                                              "ends_at": iso(now + timedelta(hours=1)), "notes": ""})
    store_new(db, other, "contact", deployment["id"], {**_contact(age_band="18_29"), "occurred_at": iso(now)})
    _presence(db, deployment["id"], other, iso(now - timedelta(hours=1)), None)
    after = _csv_counts(session.get(query).text)
    hours = ("presence_hours", "demonstration")
    # The demo's own live check-ins keep counting (a few seconds); the other unit's hour must not appear.
    assert abs(after.pop(hours) - before.pop(hours)) < 0.5
    assert after == before


def test_bad_input_answers_400_and_keeps_what_was_typed(login):
    page = login("lead1").get("/reports?period=custom&start=2026-02-30&end=soon&year=20x6",
                              headers={"Accept-Language": "en"})
    assert page.status_code == 400
    assert "Enter the date as YYYY-MM-DD." in page.text
    assert 'value="soon"' in page.text and 'value="20x6"' in page.text
    assert 'aria-invalid="true"' in page.text
    csv_response = login("lead1").get("/reports/export.csv?period=fortnight", headers={"Accept-Language": "en"})
    assert csv_response.status_code == 400


def test_numbers_dates_and_labels_follow_the_users_language(login, db):
    lead = _demo_lead(db)
    youth = db.execute("SELECT id FROM deployments WHERE unit_id = ? AND kind = 'youth_event' LIMIT 1",
                       [lead.unit_id]).fetchone()[0]
    officer = accounts.by_username(db, "officer1")
    # 62 days of presence in 2025: 1 488 hours, a number with a thousands separator.
    _presence(db, youth, officer, "2025-01-01T00:00:00.000Z", "2025-03-04T00:00:00.000Z")
    session = login("lead1")
    url = "/reports?period=year&year=2025"
    fi = session.get(url, headers={"Accept-Language": "fi"}).text
    sv = session.get(url, headers={"Accept-Language": "sv"}).text
    en = session.get(url, headers={"Accept-Language": "en"}).text
    assert "1\u00a0488,0" in fi and "1\u00a0488,0" in sv and "1,488.0" in en
    assert "Nuorisotapahtuma" in fi and "Ungdomsevenemang" in sv and "Youth event" in en
    assert "1.1.2025" in fi and "31.12.2025" in fi
    assert "Kontaktit ikäryhmittäin" in fi and "Kontakter efter åldersgrupp" in sv
