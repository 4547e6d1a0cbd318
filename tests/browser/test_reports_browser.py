"""The period report in Chromium: choosing a period, the print layout, the CSV link, axe."""

from tests.browser.conftest import axe_violations, log_in


def test_lead_opens_the_report_from_the_menu_and_changes_the_period(page, shared_server):
    log_in(page, shared_server.url, "lead1")
    page.click(".menu summary")  # on a phone the links are behind the Menu button
    page.click("nav >> a[href='/reports']")
    page.wait_for_selector("#section-totals")
    assert page.locator(".report-section").count() == 13
    assert page.locator("#section-followups").is_visible()  # the follow-up queue's figures (issue 14)
    page.select_option("#report-period", "year")
    page.click("#report-form button[type=submit]")
    page.wait_for_url(lambda url: "period=year" in url)
    page.wait_for_selector("#section-totals")
    assert page.get_attribute(".report a[download]", "href").startswith("/reports/export.csv?period=year")
    # The print button appears only with JavaScript; printing hides the form and the menus.
    page.locator("[data-print]").wait_for(state="visible", timeout=15000)  # revealed by reports.js after the swap
    page.emulate_media(media="print")
    assert not page.locator("#report-form").is_visible()
    assert not page.locator(".topbar").is_visible()
    assert page.locator("#section-presence_hours").is_visible()


def test_report_page_has_no_accessibility_violations(page, shared_server):
    log_in(page, shared_server.url, "lead1")
    page.goto(shared_server.url + "/reports")
    page.wait_for_selector("#section-totals")
    assert axe_violations(page) == []
    page.goto(shared_server.url + "/reports?period=custom&start=2026-02-30&end=2026-01-01")
    assert axe_violations(page) == []


def test_por_delivery_page_has_no_accessibility_violations(page, shared_server):
    log_in(page, shared_server.url, "admin1")
    page.goto(shared_server.url + "/admin/por")
    page.wait_for_selector("#por-state")
    assert axe_violations(page) == []
