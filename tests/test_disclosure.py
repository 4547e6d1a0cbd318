"""What partners may see: the disclosure rule (never free text, points or a count of 1-4) in every partner output,
the lead's summary page, public links (while valid only, every opening audited), and who may use which route."""

from __future__ import annotations

import csv
import io
import json
import random
import re
from datetime import timedelta

import h3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fieldapp import accounts, demo, picture, problems, public_links
from fieldapp.clock import iso, utcnow
from fieldapp.picture.aggregation import CellSummary
from fieldapp.picture.disclosure import MIN_COUNT, disclose, protect
from fieldapp.services import recording

MARKER = "Vapaateksti-QQV7-merkki"  # in every generated note and place name: must never reach a partner
KINDS = ["verbal_confrontation", "provocation", "crowd_movement", "rumour_online"]


# --- the rule on cells ---------------------------------------------------------------------------

def _summary(lat, lon, n, res=8, kinds=None, rising=0, easing=0, linked=0) -> CellSummary:
    cell = h3.str_to_int(h3.latlng_to_cell(lat, lon, res))
    return CellSummary(cell, res, n, score=n * 2, rising=rising, easing=easing, linked=linked,
                       kinds=kinds or {"provocation": n})

SECRET_NOTE = "disclosure-secret-note"


def test_a_cell_of_five_or_more_is_shown_as_it_is():
    [cell] = disclose([_summary(60.17, 24.95, 7, kinds={"provocation": 7}, rising=7, linked=5)])
    assert (cell.observations, cell.res, cell.merged) == (7, 8, False)
    assert cell.kinds == {"provocation": 7} and cell.trends == {"rising": 7} and cell.linked == 5


def test_small_cells_merge_into_their_parent_which_holds_only_them():
    big = _summary(60.1700, 24.9500, 9)
    neighbour_cells = h3.grid_ring(h3.int_to_str(big.cell), 1)
    same_parent = [c for c in neighbour_cells if h3.cell_to_parent(c, 7) == h3.cell_to_parent(big.h3, 7)][:2]
    small = [CellSummary(h3.str_to_int(c), 8, 3, 3, kinds={"provocation": 3}) for c in same_parent]
    cells = disclose([big, *small])
    assert [(c.res, c.observations, c.merged) for c in cells] == [(8, 9, False), (7, 6, True)]
    assert cells[1].h3 == h3.cell_to_parent(big.h3, 7)
    assert sorted(cells[1].members) == sorted(c.cell for c in small)


def test_a_cell_shown_takes_in_its_small_neighbours_when_they_alone_would_tell_a_count_below_five():
    big = _summary(60.1700, 24.9500, 9)
    sibling = next(c for c in h3.grid_ring(big.h3, 1) if h3.cell_to_parent(c, 7) == h3.cell_to_parent(big.h3, 7))
    small = CellSummary(h3.str_to_int(sibling), 8, 2, 2, kinds={"provocation": 2})
    # Shown apart, the parent's count asked at the coarser size (11) less the big cell (9) would give the 2 away.
    [cell] = disclose([big, small])
    assert (cell.res, cell.observations, cell.merged) == (7, 11, True)
    assert sorted(cell.members) == sorted([big.cell, small.cell])


def test_what_stays_below_five_at_resolution_5_is_withheld_without_numbers():
    [cell] = disclose([_summary(60.17, 24.95, 2)])
    assert cell.res == 5 and cell.withheld
    assert (cell.observations, cell.score, cell.kinds, cell.trends, cell.linked) == (None, None, {}, {}, None)


def test_small_counts_within_a_cell_are_hidden_with_enough_others_that_none_can_be_worked_out():
    assert protect({"a": 7, "b": 3}) == {"a": None, "b": None}
    assert protect({"a": 7, "b": 3, "c": 4}) == {"a": 7, "b": None, "c": None}
    assert protect({"a": 9, "b": 6, "c": 1}) == {"a": 9, "b": None, "c": None}
    assert protect({"a": 5, "b": 0}) == {"a": 5}


cell_counts = st.lists(st.tuples(
    st.floats(60.10, 60.30), st.floats(24.80, 25.20), st.integers(1, 14), st.integers(0, 3), st.data()),
    min_size=1, max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cell_counts, st.sampled_from([6, 7, 8, 9]))
def test_no_disclosed_number_is_between_1_and_4_and_every_observation_is_counted_once(spots, res):
    cells: dict[int, CellSummary] = {}
    for lat, lon, n, split, data in spots:
        cell = h3.str_to_int(h3.latlng_to_cell(lat, lon, res))
        if cell in cells:
            continue
        kinds: dict[str, int] = {}
        for _i in range(n):
            kind = KINDS[data.draw(st.integers(0, split))]
            kinds[kind] = kinds.get(kind, 0) + 1
        rising = data.draw(st.integers(0, n))
        cells[cell] = CellSummary(cell, res, n, n, rising=rising, easing=data.draw(st.integers(0, n - rising)),
                                  linked=data.draw(st.integers(0, 6)), kinds=kinds)
    out = disclose(list(cells.values()))
    members = [m for c in out for m in c.members]
    assert sorted(members) == sorted(cells)  # each input cell counted in exactly one output cell
    for c in out:
        exact = sum(cells[m].observations for m in c.members)
        assert c.observations == (None if exact < MIN_COUNT else exact)
        numbers = [c.observations, c.score if c.withheld else None, c.linked, *c.kinds.values(), *c.trends.values()]
        assert all(v is None or v == 0 or v >= MIN_COUNT for v in numbers)
        if c.withheld:
            continue
        exact_kinds: dict[str, int] = {}
        for m in c.members:
            for kind, n in cells[m].kinds.items():
                exact_kinds[kind] = exact_kinds.get(kind, 0) + n
        hidden = [exact_kinds[k] for k, v in c.kinds.items() if v is None]
        assert not hidden or sum(hidden) >= MIN_COUNT  # the hidden ones cannot be worked out from the total
        assert all(c.kinds[k] in (None, n) for k, n in exact_kinds.items())
    # The same records asked at any coarser size: no coarser cell less what is shown inside it here gives 1-4.
    for level in range(5, res):
        totals: dict[int, int] = {}
        for cell, summary in cells.items():
            ancestor = picture.parent_of(cell, level)
            totals[ancestor] = totals.get(ancestor, 0) + summary.observations
        for ancestor, total in totals.items():
            inside = sum(c.observations for c in out if not c.withheld and c.res >= level
                         and picture.parent_of(c.cell, level) == ancestor)
            assert total < MIN_COUNT or not 0 < total - inside < MIN_COUNT, (level, total, inside)


# --- generated records through every partner output -----------------------------------------------

# Far from the demo data's places: a spot of 3 observations (one cell, below the rule) and one of 8.
SMALL_SPOT = (60.3300, 24.5200)
BIG_SPOT = (60.3050, 24.5600)


def _user(db, username):
    return accounts.by_username(db, username)


def _live(db) -> dict:
    return next(db.query("SELECT * FROM deployments WHERE name = 'Mielenosoitus Senaatintorilla'"))


@pytest.fixture
def generated(db):
    """Records with the marker in their notes and place names: 3 in one spot, 8 in another, 1-4 in a few more."""
    lead, live = _user(db, "lead1"), _live(db)
    rng = random.Random(14)
    spots = [(SMALL_SPOT, 3), (BIG_SPOT, 8)] + [((60.28 + rng.random() * 0.02, 24.45 + rng.random() * 0.02),
                                                 rng.randint(1, 4)) for _i in range(4)]
    for (lat, lon), n in spots:
        for i in range(n):
            recording.create(db, lead, "tension", live["id"], {
                "kind": KINDS[i % 2], "severity": str(2 + i % 3), "notes": f"{MARKER} muistiinpano {i}",
                "place_name": f"{MARKER} paikka", "groups": ["youth"], "lat": f"{lat + i * 1e-5:.6f}",
                "lon": f"{lon:.6f}"})
    small_ids = {h3.latlng_to_cell(*SMALL_SPOT, r) for r in (8, 9)}
    return {"live": live, "small_ids": small_ids}


def _numbers_ok(values) -> bool:
    return all(v is None or v == 0 or v >= MIN_COUNT for v in values)


def _english(session):
    session.client.cookies.set("fieldapp_lang", "en")
    return session


def _publish(lead, **values) -> str:
    response = lead.post("/partner-summary/links", data={"window": "7d", "res": "9", "days": "3", **values})
    assert response.status_code == 303, response.text
    page = lead.get("/partner-summary/links").text
    return re.findall(r"/shared/([A-Za-z0-9_-]{43})", page)[0]


def _html_counts(text: str) -> list[int]:
    """Every number a summary page shows under Observations (English)."""
    return [int(re.sub(r"\D", "", n)) for n in re.findall(r"<dt>Observations</dt><dd>([^<]+)</dd>", text)
            if re.search(r"\d", n)]


@pytest.mark.parametrize("res", ["8", "9"])
def test_no_partner_output_holds_free_text_or_a_count_below_five(login, client, db, generated, res):
    lead = _english(login("lead1"))
    geo = lead.get(f"/api/picture/export/partner-cells.geojson?window=7d&res={res}")
    text = lead.get(f"/api/picture/export/partner-cells.csv?window=7d&res={res}").text
    page = lead.get(f"/partner-summary?window=7d&res={res}").text
    token = _publish(lead, res=res)
    client.cookies.set("fieldapp_lang", "en")
    public = client.get(f"/shared/{token}").text
    for body in (geo.text, text, page, public):
        assert MARKER not in body and generated["live"]["name"] not in body
        assert not (generated["small_ids"] & set(re.findall(r"[0-9a-f]{15}", body)))
    features = geo.json()["features"]
    assert features and geo.json()["min_count"] == MIN_COUNT
    for f in features:
        p = f["properties"]
        assert _numbers_ok([p["observations"], p["rising"], p["steady"], p["easing"], p["linked_interventions"],
                            *p["kinds"].values()]), p
        assert f["geometry"]["type"] == "Polygon"
    # The spot of 8 is shown, on its own or in a coarser cell that took in small neighbours (disclose()).
    big = h3.latlng_to_cell(*BIG_SPOT, int(res))
    assert any(f["properties"]["observations"] and f["properties"]["observations"] >= 8
               and h3.cell_to_parent(big, f["properties"]["res"]) == f["id"] for f in features)
    for row in csv.DictReader(io.StringIO(text)):
        values = [v for k, v in row.items() if k not in ("cell", "res", "score", "merged")]
        assert _numbers_ok([None if v in ("<5", "", "suppressed") else int(v) for v in values]), row
    for body in (page, public):
        counts = _html_counts(body)
        assert counts and all(n >= MIN_COUNT for n in counts)
        assert "fewer than 5" in body
        together = [int(re.sub(r"\D", "", n)) for n in re.findall(r"together ([\d,]+)", body)]
        assert all(n >= MIN_COUNT for n in together)  # small counts only ever shown summed to 5 or more
        assert together or "not shown one by one" in body


def test_the_domain_summary_counts_only_cells_of_five_or_more(db, generated):
    lead = _user(db, "lead1")
    flt = picture.parse_filter(db, {"window": "7d"})
    summary = picture.summarise(db, picture.Scope(lead.unit_id), flt, 9)
    assert all(c.observations >= MIN_COUNT for c in summary.cells)
    assert summary.withheld_areas >= 0 and summary.problems == []
    big = h3.latlng_to_cell(*BIG_SPOT, 9)
    assert any(h3.cell_to_parent(big, c.res) == c.cell and c.observations >= 8 for c in summary.cells)


def test_partner_summary_of_one_area_holds_only_that_area(login, db, generated):
    lead = login("lead1")
    area = h3.latlng_to_cell(*BIG_SPOT, 7)
    page = lead.get(f"/partner-summary?window=7d&res=9&area={area}")
    cells = re.findall(r'data-cell="([0-9a-f]{15})"', page.text)
    assert page.status_code == 200 and cells
    assert all(h3.cell_to_parent(c, 7) == area for c in cells if h3.get_resolution(c) >= 7)


def test_open_problems_reach_partners_through_the_hook_and_stay_in_a_published_link(db, generated):
    lead = _user(db, "lead1")
    flt = picture.parse_filter(db, {"window": "7d"})

    def provider(_db, unit_id, area, start, end):
        assert unit_id == lead.unit_id and area is None and start < end
        return [picture.PublicProblem(title="Iltaoleskelu ostoskeskuksella", measures=[
            picture.PublicMeasure(what="Nuorisotyön ilta", state="agreed", due="2026-12-20")])]

    summary = picture.summarise(db, picture.Scope(lead.unit_id), flt, 8, problems=provider)
    link = public_links.publish(db, lead, summary, {"window": "7d"}, 2)
    opened = public_links.open_link(db, link["token"])
    assert opened.state == "open" and opened.summary.problems[0].title == "Iltaoleskelu ostoskeskuksella"
    assert opened.summary.problems[0].measures[0].due == "2026-12-20"


def test_the_public_page_shows_the_units_open_problems_public_title_and_public_measures(login, client, db):
    lead = _user(db, "lead1")
    problem = problems.open_problem(db, lead, {"title": "Sisäinen: ostoskeskus", "place_name": "Ostoskeskus",
                                               "public_title": "Iltaoleskelu ostoskeskuksella",
                                               "description": f"{SECRET_NOTE} ei kumppaneille"})
    problems.add_measure(db, lead, problem, {"what": "Nuorisotyön ilta", "public": "1"})
    problems.add_measure(db, lead, problem, {"what": "Sisäinen toimenpide"})
    text = client.get(f"/shared/{_publish(login('lead1'))}").text
    assert "Iltaoleskelu ostoskeskuksella" in text and "Nuorisotyön ilta" in text
    assert "Sisäinen" not in text and SECRET_NOTE not in text


def test_an_area_finer_than_the_cells_is_taken_as_its_cell(db, generated):
    lead = _user(db, "lead1")
    flt = picture.parse_filter(db, {"window": "7d"})
    fine = h3.str_to_int(h3.latlng_to_cell(*BIG_SPOT, 9))
    summary = picture.summarise(db, picture.Scope(lead.unit_id), flt, 8, fine)
    assert summary.area == h3.latlng_to_cell(*BIG_SPOT, 8)
    assert [c.cell for c in summary.cells] == [h3.latlng_to_cell(*BIG_SPOT, 8)]


# --- the lead's form -------------------------------------------------------------------------------

def test_bad_values_are_refused_with_the_form_kept(login):
    lead = _english(login("lead1"))
    page = lead.get("/partner-summary?window=custom&from=2026-02-30T10:00&to=x&res=12&area=nonsense")
    assert page.status_code == 400
    assert "Enter a date and time." in page.text and "Choose a cell size from the list." in page.text
    assert 'value="nonsense"' in page.text
    response = lead.post("/partner-summary/links", data={"window": "7d", "res": "8", "days": "365"})
    assert response.status_code == 400 and "Enter a number of days from 1 to 90." in response.text
    assert 'value="365"' in response.text


# --- public links ----------------------------------------------------------------------------------

def _audit(db, link_id):
    return list(db.query("SELECT * FROM audit_log WHERE record_type = 'public_link' AND record_id = ? ORDER BY id",
                         [link_id]))


def test_a_public_link_opens_without_an_account_until_it_expires_and_every_opening_is_audited(login, client, db):
    lead = login("lead1")
    token = _publish(lead)
    link = next(db.query("SELECT * FROM public_links WHERE token = ?", [token]))
    for _i in range(2):
        response = client.get(f"/shared/{token}")
        assert response.status_code == 200
    assert response.headers["x-robots-tag"] == "noindex, nofollow, noarchive"
    assert response.headers["referrer-policy"] == "no-referrer" and "no-store" in response.headers["cache-control"]
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "<script" not in response.text and 'name="robots" content="noindex' in response.text
    rows = _audit(db, link["id"])
    assert [(r["action"], r["user_id"], r["outcome"]) for r in rows] == [
        ("publish", _user(db, "lead1").id, "ok"), ("view", None, "ok"), ("view", None, "ok")]
    assert "opened 2 times" in _english(lead).get("/partner-summary/links").text
    db.execute("UPDATE public_links SET expires_at = ? WHERE id = ?", [iso(utcnow() - timedelta(minutes=1)), link["id"]])
    db.conn.commit()
    client.cookies.set("fieldapp_lang", "fi")
    gone = client.get(f"/shared/{token}")
    assert gone.status_code == 410 and "Linkki on vanhentunut" in gone.text and "x-robots-tag" in gone.headers
    assert _audit(db, link["id"])[-1]["outcome"] == "refused"


def test_a_revoked_link_is_gone_and_an_unknown_one_not_found(login, client, db):
    lead = login("lead1")
    token = _publish(lead)
    link_id = next(db.query("SELECT id FROM public_links WHERE token = ?", [token]))["id"]
    revoked = lead.post(f"/partner-summary/links/{link_id}/revoke", data={}, htmx=True)
    assert revoked.status_code == 200 and 'id="partner-links"' in revoked.text and "<html" not in revoked.text
    assert lead.post(f"/partner-summary/links/{link_id}/revoke", data={}).status_code == 303  # again: no change
    client.cookies.set("fieldapp_lang", "sv")
    gone = client.get(f"/shared/{token}")
    assert gone.status_code == 410 and "Länken har dragits tillbaka" in gone.text
    assert client.get("/shared/" + "A" * 43).status_code == 404
    assert client.get("/shared/short").status_code == 404
    assert [r["action"] for r in _audit(db, link_id)] == ["publish", "revoke", "view"]


def test_a_link_keeps_the_summary_as_it_was_published(login, client, db, generated):
    lead = login("lead1")
    token = _publish(lead, res="9")
    before = _html_counts(client.get(f"/shared/{token}").text)
    live = generated["live"]
    for i in range(6):
        recording.create(db, _user(db, "lead1"), "tension", live["id"], {
            "kind": "provocation", "severity": "2", "notes": "", "groups": ["youth"],
            "lat": f"{BIG_SPOT[0] + i * 1e-5:.6f}", "lon": f"{BIG_SPOT[1]:.6f}"})
    assert _html_counts(client.get(f"/shared/{token}").text) == before


# --- who may use which route -----------------------------------------------------------------------

def _other_unit_lead(db):
    unit = accounts.ensure_unit(db, "Turku preventive unit (test)")
    return accounts.create_user(db, "lead_turku", demo.DEMO_PASSWORD, "lead", unit, "Turku Lead")


@pytest.mark.parametrize("username", ["officer1", "staff1", "admin1"])
def test_only_leads_may_see_the_summary_or_publish(login, db, username):
    token = _publish(login("lead1"))
    link_id = next(db.query("SELECT id FROM public_links WHERE token = ?", [token]))["id"]
    user = login(username)
    assert user.get("/partner-summary").status_code == 403
    assert user.get("/partner-summary/links").status_code == 403
    assert user.post("/partner-summary/links", data={"window": "7d", "res": "8"}).status_code == 403
    assert user.post(f"/partner-summary/links/{link_id}/revoke", data={}).status_code == 403
    assert db.execute("SELECT count(*) FROM public_links").fetchone()[0] == 1
    assert db.execute("SELECT revoked_at FROM public_links").fetchone()[0] is None


def test_anonymous_is_sent_to_log_in_except_for_a_valid_public_link(login, client, db):
    token = _publish(login("lead1"))
    for url in ("/partner-summary", "/partner-summary/links"):
        response = client.get(url, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
    # A form sent without a session goes to the login page (which carries it): nothing is published.
    assert client.post("/partner-summary/links", data={"window": "7d"}, follow_redirects=False).status_code == 401
    assert db.execute("SELECT count(*) FROM public_links").fetchone()[0] == 1
    assert client.get(f"/shared/{token}").status_code == 200


def test_a_lead_of_another_unit_sees_only_their_own_links_and_cannot_revoke_others(login, db):
    token = _publish(login("lead1"))
    link_id = next(db.query("SELECT id FROM public_links WHERE token = ?", [token]))["id"]
    _other_unit_lead(db)
    other = login("lead_turku")
    assert token not in other.get("/partner-summary/links").text
    assert other.get("/partner-summary?window=7d").status_code == 200
    assert other.post(f"/partner-summary/links/{link_id}/revoke", data={}).status_code == 404
    assert db.execute("SELECT revoked_at FROM public_links").fetchone()[0] is None
    mine = _publish(other)
    summary = json.loads(next(db.query("SELECT summary FROM public_links WHERE token = ?", [mine]))["summary"])
    assert summary["cells"] == []  # the other unit has no records: nothing of lead1's unit leaks into its link


def test_a_cell_page_leads_the_lead_to_what_partners_may_see_of_it(login, db, generated):
    cell = h3.latlng_to_cell(*BIG_SPOT, 8)
    page = login("lead1").get(f"/picture/cells/{cell}?window=7d").text
    assert f'href="/partner-summary?area={cell}"' in page
    summary = login("lead1").get(f"/partner-summary?window=7d&res=9&area={cell}")
    assert summary.status_code == 200 and h3.latlng_to_cell(*BIG_SPOT, 9) in summary.text


def test_a_partner_can_change_the_language_of_the_public_page_without_javascript(login, client, db):
    token = _publish(login("lead1"))
    page = client.get(f"/shared/{token}")
    csrf = re.search(r'name="_csrf" value="([^"]+)"', page.text).group(1)
    assert f'name="next" value="/shared/{token}"' in page.text
    response = client.post("/language", data={"_csrf": csrf, "locale": "sv", "next": f"/shared/{token}"},
                           follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == f"/shared/{token}"
    assert "Lägessammanfattning för partner" in client.get(f"/shared/{token}").text


@pytest.mark.parametrize("text", ["²", "➏", "0", "91", "-3", "7.5"])
def test_link_days_refuse_what_is_not_a_plain_number_in_range(text):
    # '²' and '➏' pass str.isdigit() but int() refuses them: a 500 before the isascii() check.
    with pytest.raises(public_links.LinkInvalid):
        public_links.parse_days(text)


def test_the_summary_page_names_its_periods_in_the_users_language(login):
    # The period list was English on a Finnish page (lazy labels rendered outside the translation).
    lead = login("lead1")
    page = lead.get("/partner-summary", headers={"Accept-Language": "fi"})
    assert page.status_code == 200
    assert "Last 30 days" not in page.text and "Viimeiset 30 päivää" in page.text
