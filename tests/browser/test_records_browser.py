"""An officer records a contact, a tension observation and an intervention in Chromium; forms in three languages."""

from __future__ import annotations

import re

from tests.browser.conftest import axe_violations, log_in

SAVE_WAIT_MS = 15_000


def open_current_deployment(page, base_url: str) -> str:
    """From the home page, one tap on the first (current) deployment; returns its id."""
    page.locator("#deployment-list li a").first.click()
    page.wait_for_url(re.compile(r"/deployments/[0-9a-f-]{36}$"))
    return page.url.rsplit("/", 1)[1]


def save_and_return(page, deployment_id: str) -> None:
    page.click("form.capture button[type=submit].primary")
    page.wait_for_url(re.compile(rf"/deployments/{deployment_id}$"), timeout=SAVE_WAIT_MS)
    page.wait_for_selector("#deployment-records")


def test_officer_saves_contact_tension_and_linked_intervention(page, live_server):
    log_in(page, live_server.url, "officer1")
    deployment_id = open_current_deployment(page, live_server.url)

    page.click(f'a[href="/deployments/{deployment_id}/contacts/new"]')
    page.wait_for_selector('form[data-outbox="contact"]')
    page.locator("label", has=page.locator('input[name="topics"][value="rumour"]')).click()
    page.locator("label", has=page.locator('input[name="language"][value="sv"]')).click()
    page.fill("#f-notes", "Asked where the march goes")
    save_and_return(page, deployment_id)
    first_contact = page.locator("#list-contact li").first
    assert "Rumour" in first_contact.inner_text() and "Swedish" in first_contact.inner_text()

    page.click(f'a[href="/deployments/{deployment_id}/tensions/new"]')
    page.wait_for_selector('form[data-outbox="tension"]')
    page.locator("label", has=page.locator('input[name="kind"][value="counter_demo_contact"]')).click()
    page.locator("label", has=page.locator('input[name="severity"][value="4"]')).click()
    save_and_return(page, deployment_id)
    first_tension = page.locator("#list-tension li").first
    assert "Counter-demonstration contact" in first_tension.inner_text()
    assert "4 – Escalating" in first_tension.inner_text()

    first_tension.locator("a").click()
    page.wait_for_url(re.compile(r"/records/tension/[0-9a-f-]{36}$"))
    tension_id = page.url.rsplit("/", 1)[1]
    page.get_by_role("link", name="Record an intervention for this").click()
    page.wait_for_selector('form[data-outbox="intervention"]')
    assert page.locator("#f-tension_id").input_value() == tension_id
    page.locator("label", has=page.locator('input[name="kind"][value="dialogue"]')).click()
    save_and_return(page, deployment_id)
    first_intervention = page.locator("#list-intervention li").first
    assert "Dialogue or de-escalation" in first_intervention.inner_text()
    assert "Linked to a tension observation" in first_intervention.inner_text()

    with live_server.db() as conn:
        row = conn.execute("SELECT tension_id FROM interventions WHERE deployment_id = ? ORDER BY created_at DESC",
                           [deployment_id]).fetchone()
    assert row["tension_id"] == tension_id

    # The language buttons in the footer change the form's labels.
    page.goto(f"{live_server.url}/deployments/{deployment_id}/contacts/new")
    assert page.locator("#f-topics legend").inner_text() == "Topics"
    page.click("footer button[lang=sv]")
    page.wait_for_function("document.documentElement.lang === 'sv'")
    assert page.locator("#f-topics legend").inner_text() == "Ämnen"
    assert page.locator("form.capture button[type=submit]").inner_text() == "Spara"
    page.click("footer button[lang=fi]")
    page.wait_for_function("document.documentElement.lang === 'fi'")
    assert page.locator("#f-topics legend").inner_text() == "Aiheet"
    assert page.locator("form.capture button[type=submit]").inner_text() == "Tallenna"


def test_record_pages_have_no_accessibility_violations(page, shared_server):
    log_in(page, shared_server.url, "officer1")
    found = {"home": axe_violations(page)}
    deployment_id = open_current_deployment(page, shared_server.url)
    found["deployment"] = axe_violations(page)
    for slug in ("contacts", "tensions", "interventions"):
        page.goto(f"{shared_server.url}/deployments/{deployment_id}/{slug}/new")
        page.wait_for_selector("form.capture")
        found[f"{slug} form"] = axe_violations(page)
    page.goto(f"{shared_server.url}/deployments/{deployment_id}/tensions")
    found["tension list"] = axe_violations(page)
    page.locator("#list-tension li a").first.click()
    page.wait_for_url(re.compile(r"/records/tension/"))
    found["tension detail"] = axe_violations(page)
    summary = {name: [(v["id"], [n["target"] for n in v["nodes"][:3]]) for v in violations]
               for name, violations in found.items() if violations}
    assert summary == {}
