"""An officer logs an online-presence activity offline in Chromium: it waits in the outbox, syncs once when the
network is back and counts in the yearly report."""

from __future__ import annotations

import uuid

import pytest
import sqlite_utils

from fieldapp import yearly_report
from tests.browser.conftest import LiveServer, _copy_db, log_in


@pytest.fixture
def server(tmp_path, demo_template):
    path = tmp_path / "live.db"
    _copy_db(demo_template, path)
    live = LiveServer(path).start()
    yield live
    live.stop()


def _online_figures(server) -> tuple[int, float]:
    db = sqlite_utils.Database(server.db())
    unit = db.execute("SELECT unit_id FROM users WHERE username = 'officer1'").fetchone()[0]
    figures = yearly_report.unit_figures(db, unit, yearly_report.this_year())
    return int(figures["activities"].get("online_presence", 0)), figures["people_reached"][""]


def test_an_online_presence_activity_logged_offline_syncs_once_and_counts_in_the_report(context, server):
    page = context.new_page()
    log_in(page, server.url, "officer1")
    page.wait_for_selector("html[data-offline-ready='1']", timeout=30000)
    before_count, before_people = _online_figures(server)
    context.set_offline(True)
    page.goto(f"{server.url}/activities/new")  # the device's copy of the form (kept at the offline bootstrap)
    assert page.locator("html").get_attribute("data-device-copy") == "1"
    mark = "Live Q&A " + uuid.uuid4().hex[:8]
    page.check("form[data-outbox] input[name='kind'][value='online_presence']")
    page.fill("form[data-outbox] input[name=minutes]", "45")
    page.fill("form[data-outbox] input[name=platform]", "A video sharing service")
    page.fill("form[data-outbox] input[name=online_activity]", mark)
    page.fill("form[data-outbox] input[name=people_reached]", "21")
    page.check("form[data-outbox] input[name='languages'][value='fi']")
    page.click("form[data-outbox] button[type=submit]")
    page.wait_for_selector("[data-outbox-notice]")
    assert "Saved on this device" in page.locator("[data-outbox-notice]").inner_text()
    conn = server.db()
    assert conn.execute("SELECT COUNT(*) FROM activities WHERE online_activity = ?", [mark]).fetchone()[0] == 0
    page.goto(f"{server.url}/pending")  # the waiting list names it; its values are sealed on the device
    page.wait_for_selector("[data-list='waiting'] li")
    waiting = page.locator("[data-list='waiting']").inner_text()
    assert "Activity" in waiting and mark not in waiting
    context.set_offline(False)
    page.wait_for_selector("[data-sync-status][data-waiting='0']", timeout=30000)
    page.wait_for_timeout(1500)  # a second round (an answer lost or a second tab) must not add a row
    assert conn.execute("SELECT COUNT(*) FROM activities WHERE online_activity = ?", [mark]).fetchone()[0] == 1
    assert _online_figures(server) == (before_count + 1, before_people + 21)


@pytest.mark.parametrize("username, paths", [("officer1", ["/activities", "/activities/new"]),
                                             ("head1", ["/yearly", "/yearly/targets"]), ("lead1", ["/yearly"])])
def test_the_activity_and_yearly_pages_fit_the_phone_read_and_tap_well_and_pass_axe(browser, server, username, paths):
    from tests.browser.conftest import axe_violations
    from tests.browser.test_tour_browser import MEASURE

    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB", service_workers="block")
    page = context.new_page()
    log_in(page, server.url, username)
    problems = []
    for width in (390, 1366):
        page.set_viewport_size({"width": width, "height": 900})
        for path in paths:
            page.goto(server.url + path)
            page.wait_for_load_state("networkidle")
            problems += [f"{width} {path}: {p}" for p in page.evaluate(MEASURE)]
            if width == 390:
                problems += [f"{path}: axe {v['id']} {[n['target'] for n in v['nodes']][:3]}" for v in axe_violations(page)]
    context.close()
    assert problems == [], "\n".join(problems)
