"""The audit log in Chromium: an officer's record view shows up for the administrator, filtered by user and
record (htmx swap and plain GET give the same rows), the CSV link keeps the filters, axe finds nothing."""

import os
from pathlib import Path

from tests.browser.conftest import axe_violations, log_in

SHOTS = os.environ.get("FIELDAPP_SCREENSHOTS")  # a folder: save screenshots there to look at them


def _shot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / name))
        if page.locator("#audit-log tr").count():
            page.locator("#audit-log").screenshot(path=str(Path(SHOTS) / ("rows-" + name)))


def test_admin_finds_an_officers_record_view_in_the_audit_log(browser, live_server):
    record_id = live_server.db().execute(
        "SELECT id FROM tensions WHERE deleted_at IS NULL ORDER BY created_at DESC LIMIT 1").fetchone()[0]
    officer = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB")
    officer_page = officer.new_page()
    log_in(officer_page, live_server.url, "officer1")
    officer_page.goto(f"{live_server.url}/records/tension/{record_id}")
    officer.close()

    for width in (390, 1366):
        context = browser.new_context(viewport={"width": width, "height": 900}, locale="en-GB")
        page = context.new_page()
        log_in(page, live_server.url, "admin1")
        if page.locator(".menu summary").is_visible():  # on a phone the links are behind the Menu button
            page.click(".menu summary")
        page.click("nav >> a[href='/admin/audit']")
        page.wait_for_selector("#audit-log tr[data-id]")
        _shot(page, f"audit-{width}.png")
        page.fill("#audit-user", "officer1")
        page.fill("#audit-record", record_id)
        page.click(".audit-filters button[type=submit]")
        page.wait_for_url(lambda url: "record=" in url)
        page.wait_for_function("document.querySelectorAll('#audit-log tr[data-id]').length === 1")
        row = page.locator("#audit-log tr[data-id]")
        assert "officer1" in row.inner_text() and "view" in row.inner_text()
        assert page.get_attribute("#audit-log a[download]", "href") == \
            f"/admin/audit/export.csv?user=officer1&record={record_id}"
        _shot(page, f"audit-filtered-{width}.png")
        assert axe_violations(page) == []
        page.goto(f"{live_server.url}/admin/audit?user=nobody")
        assert page.locator("#audit-user-error").is_visible()
        _shot(page, f"audit-error-{width}.png")
        context.close()
