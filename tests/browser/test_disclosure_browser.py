"""The partner summary in Chromium: a lead publishes a link without JavaScript tricks, a partner (no account, a
fresh browser context) opens it at 390 px with nothing wider than the screen, and after revoking it says so."""

from __future__ import annotations

import os
from pathlib import Path

from tests.browser.conftest import axe_violations, log_in

SHOTS = Path(os.environ.get("FIELDAPP_SHOTS", "/tmp/fieldapp-shots"))


def _fits(page, width: int) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= width


def test_a_partner_opens_a_published_summary_on_a_phone(page, browser, live_server):
    SHOTS.mkdir(parents=True, exist_ok=True)
    log_in(page, live_server.url, "lead1")
    page.goto(live_server.url + "/partner-summary?window=30d&res=7")
    page.wait_for_selector(".partner-summary")
    assert _fits(page, 390)
    page.screenshot(path=str(SHOTS / "partner-summary-lead-390.png"), full_page=True)
    page.fill("#f-days", "7")
    page.click(".publish-link button[type=submit]")
    page.wait_for_url(lambda url: url.endswith("/partner-summary/links"))
    address = page.input_value(".link-address input")
    assert "/shared/" in address
    assert _fits(page, 390)
    page.screenshot(path=str(SHOTS / "partner-links-390.png"), full_page=True)

    partner = browser.new_context(viewport={"width": 390, "height": 844}, locale="fi-FI", java_script_enabled=False)
    public = partner.new_page()
    response = public.goto(address)
    assert response.status == 200 and response.headers["x-robots-tag"].startswith("noindex")
    assert public.locator(".summary-cell").count() > 0
    assert "alle 5" in public.content()  # the demo data has areas with fewer than 5 observations
    assert _fits(public, 390)
    public.screenshot(path=str(SHOTS / "partner-public-fi-390.png"), full_page=True)
    public.set_viewport_size({"width": 1366, "height": 900})
    public.screenshot(path=str(SHOTS / "partner-public-fi-1366.png"), full_page=True)

    page.click(".public-link form button[type=submit]")
    page.wait_for_selector(".public-link.revoked")
    gone = public.goto(address)
    assert gone.status == 410 and public.locator("h1").inner_text() == "Linkki on peruttu"
    public.set_viewport_size({"width": 390, "height": 844})
    assert _fits(public, 390)
    public.screenshot(path=str(SHOTS / "partner-gone-fi-390.png"), full_page=True)
    partner.close()


def test_the_public_page_in_english_at_both_widths_has_no_accessibility_violations(page, browser, live_server):
    SHOTS.mkdir(parents=True, exist_ok=True)
    log_in(page, live_server.url, "lead1")
    page.goto(live_server.url + "/partner-summary?window=30d&res=8")
    page.click(".publish-link button[type=submit]")
    page.wait_for_url(lambda url: url.endswith("/partner-summary/links"))
    address = page.input_value(".link-address input")
    partner = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB")
    public = partner.new_page()
    public.goto(address)
    assert _fits(public, 390)
    public.screenshot(path=str(SHOTS / "partner-public-en-390.png"), full_page=True)
    assert axe_violations(public) == []
    public.set_viewport_size({"width": 1366, "height": 900})
    public.screenshot(path=str(SHOTS / "partner-public-en-1366.png"), full_page=True)
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(live_server.url + "/partner-summary?window=30d&res=8")
    page.screenshot(path=str(SHOTS / "partner-summary-lead-en-1366.png"), full_page=True)
    assert axe_violations(page) == []
    partner.close()
