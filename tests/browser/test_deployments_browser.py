"""In Chromium: a lead plans a deployment, the assigned officer finds it and checks in and out with one tap."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import expect

from tests.browser.conftest import axe_violations, log_in

HELSINKI = ZoneInfo("Europe/Helsinki")
NAME = "Selaintesti: konsertti Kaisaniemessä"


def _local(dt: datetime) -> str:
    return dt.astimezone(HELSINKI).strftime("%Y-%m-%dT%H:%M")


def test_lead_creates_deployment_and_officer_checks_in_and_out(page, browser, browser_context_args, live_server):
    log_in(page, live_server.url, "lead1")
    page.click(".menu summary")  # on a phone the links are behind the Menu button
    page.click("nav a[href='/deployments/new']")
    page.fill("#deployment-name", NAME)
    page.select_option("#deployment-kind", "public_event")
    page.fill("#deployment-place_name", "Kaisaniemen puisto")
    page.fill("#deployment-lat", "60,1750")
    page.fill("#deployment-lon", "24.9450")
    now = datetime.now(HELSINKI)
    page.fill("#deployment-starts_at", _local(now - timedelta(minutes=10)))
    page.fill("#deployment-ends_at", _local(now + timedelta(hours=3)))
    page.get_by_label("Officer One").check()
    page.click("#deployment-form button[type=submit]")
    page.wait_for_url(lambda url: "/deployments/" in url and not url.endswith("/new"))
    deployment_id = page.url.rstrip("/").rsplit("/", 1)[1]
    with live_server.db() as conn:
        assigned = conn.execute("SELECT u.username FROM assignments a JOIN users u ON u.id = a.user_id "
                                "WHERE a.deployment_id = ?", [deployment_id]).fetchall()
    assert [row[0] for row in assigned] == ["officer1"]

    officer_context = browser.new_context(**browser_context_args)
    officer = officer_context.new_page()
    try:
        log_in(officer, live_server.url, "officer1")
        card = officer.locator("li.card.current", has_text=NAME)
        expect(card).to_be_visible()
        card.locator("a.block-link").click()  # one tap opens the deployment
        officer.wait_for_url(f"{live_server.url}/deployments/{deployment_id}")
        presence = officer.locator(f"#presence-{deployment_id}")
        presence.locator("button.check-in").click()
        expect(presence.locator("button.check-out")).to_be_visible()
        expect(presence.locator(".presence-state")).to_contain_text("Checked in since")
        with live_server.db() as conn:
            open_rows = conn.execute("SELECT COUNT(*) FROM presence p JOIN users u ON u.id = p.user_id WHERE "
                                     "u.username = 'officer1' AND p.deployment_id = ? AND p.checked_out_at IS NULL",
                                     [deployment_id]).fetchone()[0]
        assert open_rows == 1

        officer.goto(live_server.url + "/")  # checking out works from the start page too
        home_presence = officer.locator(f"#presence-{deployment_id}")
        home_presence.locator("button.check-out").click()
        expect(home_presence.locator("button.check-in")).to_be_visible()
        assert officer.url == live_server.url + "/"  # htmx swapped the button; no page change
        with live_server.db() as conn:
            row = conn.execute("SELECT checked_in_at, checked_out_at FROM presence p JOIN users u ON u.id = p.user_id "
                               "WHERE u.username = 'officer1' AND p.deployment_id = ?", [deployment_id]).fetchone()
        assert row["checked_out_at"] is not None and row["checked_out_at"] >= row["checked_in_at"]
    finally:
        officer_context.close()


def test_deployment_form_with_errors_keeps_values_and_has_no_axe_violations(page, shared_server):
    log_in(page, shared_server.url, "lead1")
    page.goto(shared_server.url + "/deployments/new")
    assert axe_violations(page) == []
    page.fill("#deployment-name", "Ilman tyyppiä")
    page.fill("#deployment-lat", "75")
    page.fill("#deployment-lon", "25")
    page.click("#deployment-form button[type=submit]")
    expect(page.locator("#error-kind")).to_be_visible()
    expect(page.locator("#error-lat")).to_contain_text("outside Finland")
    expect(page.locator("#deployment-name")).to_have_value("Ilman tyyppiä")
    assert axe_violations(page) == []


def test_admin_pages_have_no_axe_violations(page, shared_server):
    log_in(page, shared_server.url, "admin1")
    page.goto(shared_server.url + "/admin/users")
    expect(page.locator("#admin-users")).to_be_visible()
    assert axe_violations(page) == []
    page.click("#admin-users a:has-text('officer2')")
    expect(page.locator("#admin-user")).to_be_visible()
    assert axe_violations(page) == []
    page.goto(shared_server.url + "/admin/users/new")
    page.click("#new-user-form button[type=submit]")
    expect(page.locator("#error-username")).to_be_visible()
    assert axe_violations(page) == []
