"""Feedback given at a community visit without network: kept on the device, sent once when back online, and the
lead's queue shows the follow-up done, exactly once. Plus the pages at 390 px."""

from __future__ import annotations

import time

from tests.browser.conftest import axe_violations, log_in


def open_followup(server, username: str) -> str:
    conn = server.db()
    try:
        return conn.execute("SELECT f.id FROM followups f JOIN users u ON u.id = f.owner_id WHERE u.username = ? "
                            "AND f.state = 'open' ORDER BY f.due_on LIMIT 1", [username]).fetchone()[0]
    finally:
        conn.close()


def followup_row(server, followup_id: str) -> dict:
    conn = server.db()
    try:
        row = conn.execute("SELECT state, given_how, note FROM followups WHERE id = ?", [followup_id]).fetchone()
        done = conn.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'followup_done' AND record_id = ?",
                            [followup_id]).fetchone()[0]
        actions = conn.execute("SELECT COUNT(*) FROM followup_actions WHERE followup_id = ?", [followup_id]).fetchone()[0]
        return {**dict(row), "done_rows": done, "actions": actions}
    finally:
        conn.close()


def wait_until(check, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def test_feedback_marked_offline_at_a_community_visit_syncs_once_and_the_lead_sees_it_done(browser, live_server):
    officer_context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB",
                                          service_workers="allow")
    page = officer_context.new_page()
    log_in(page, live_server.url, "officer1")
    page.wait_for_selector("html[data-offline-ready='1']", timeout=30000)
    followup_id = open_followup(live_server, "officer1")
    page.goto(f"{live_server.url}/followups/{followup_id}")  # seen online: the device keeps a copy
    page.wait_for_selector(f"form[data-feedback-form='{followup_id}']")

    officer_context.set_offline(True)
    page.reload()
    assert page.locator("html").get_attribute("data-device-copy") == "1"
    page.check("input[name=given_how][value=community_meeting]")
    page.fill("#given-note", "Told the visit what came of it.")
    page.click(f"form[data-feedback-form='{followup_id}'] button[type=submit]")
    page.wait_for_selector(f"form[data-feedback-form='{followup_id}'][data-feedback='device']")
    assert "Saved on this device" in page.locator("[data-feedback-note]").inner_text()
    page.wait_for_selector("[data-sync-status][data-waiting='1']")
    assert followup_row(live_server, followup_id)["state"] == "open"

    officer_context.set_offline(False)  # back online: the outbox sends it
    assert wait_until(lambda: followup_row(live_server, followup_id)["state"] == "done")
    page.wait_for_selector("[data-sync-status][data-waiting='0']", timeout=30000)
    page.evaluate("() => self.FieldappClient.syncNow('test')")  # another round sends nothing again
    row = followup_row(live_server, followup_id)
    assert row == {"state": "done", "given_how": "community_meeting", "note": "Told the visit what came of it.",
                   "done_rows": 1, "actions": 1}
    officer_context.close()

    lead_context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB", service_workers="block")
    lead = lead_context.new_page()
    log_in(lead, live_server.url, "lead1")
    lead.goto(live_server.url + "/followups?state=done")
    assert lead.locator(f"[data-followup-row='{followup_id}']").count() == 1
    lead.goto(live_server.url + "/followups?state=open")
    assert lead.locator(f"[data-followup-row='{followup_id}']").count() == 0
    lead_context.close()


def test_feedback_marked_offline_before_a_leads_reopening_is_refused_and_kept_in_the_pending_list_in_finnish(
        browser, live_server):
    officer_context = browser.new_context(viewport={"width": 390, "height": 844}, locale="fi-FI",
                                          service_workers="allow")
    page = officer_context.new_page()
    log_in(page, live_server.url, "officer1")
    page.wait_for_selector("html[data-offline-ready='1']", timeout=30000)
    followup_id = open_followup(live_server, "officer1")
    page.goto(f"{live_server.url}/followups/{followup_id}")  # open, never reopened: the device keeps this copy
    page.wait_for_selector(f"form[data-feedback-form='{followup_id}']")

    officer_context.set_offline(True)  # at the community visit, no network: marked on the device's copy
    page.reload()
    page.check("input[name=given_how][value=in_person]")
    page.fill("#given-note", "Kerroin vierailulla, mitä asialle tehtiin.")
    page.click(f"form[data-feedback-form='{followup_id}'] button[type=submit]")
    page.wait_for_selector(f"form[data-feedback-form='{followup_id}'][data-feedback='device']")
    entry_id = page.locator(f"form[data-feedback-form='{followup_id}']").get_attribute("data-feedback-id")

    # Meanwhile a colleague closes it and the lead reopens it, in another session.
    lead_context = browser.new_context(viewport={"width": 390, "height": 844}, locale="fi-FI", service_workers="block")
    lead = lead_context.new_page()
    log_in(lead, live_server.url, "lead1")
    mark_done(lead, live_server.url, followup_id)
    lead.goto(f"{live_server.url}/followups/{followup_id}")
    lead.click("details[data-reopen] summary")
    lead.fill("#reopen-reason", "Ilmoittaja soitti uudelleen.")
    lead.click("details[data-reopen] button[type=submit]")
    lead.wait_for_selector("[data-reopened]")
    lead_context.close()

    officer_context.set_offline(False)  # back online: the outbox sends the mark, the server refuses it
    page.wait_for_selector("[data-sync-status][data-waiting='0'][data-attention='1']", timeout=30000)
    row = followup_row(live_server, followup_id)
    assert row["state"] == "open" and row["actions"] == 1 and row["done_rows"] == 1  # the lead's reopening stands

    page.goto(live_server.url + "/pending")
    item = page.locator(f"[data-list='attention'] li[data-id='{entry_id}']")
    item.wait_for()
    said = item.locator("p.error").inner_text()
    assert "avattiin uudelleen" in said and "merkitse se uudelleen" in said  # in the device's language
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert axe_violations(page) == []

    # Marked again on the fresh page (it shows the reopening): closes it.
    page.goto(f"{live_server.url}/followups/{followup_id}")
    assert page.locator("input[name=reopenings]").input_value() == "1"
    page.check("input[name=given_how][value=in_person]")
    page.click(f"form[data-feedback-form='{followup_id}'] button[type=submit]")
    assert wait_until(lambda: followup_row(live_server, followup_id)["state"] == "done")
    assert followup_row(live_server, followup_id)["actions"] == 2
    officer_context.close()


def test_followup_pages_fit_the_phone_and_pass_axe(browser, shared_server, tmp_path):
    for locale, lang in (("en-GB", "en"), ("fi-FI", "fi")):
        for width in (390, 1366):
            context = browser.new_context(viewport={"width": width, "height": 900}, locale=locale,
                                          service_workers="block")
            page = context.new_page()
            log_in(page, shared_server.url, "lead1")
            followup_id = open_followup(shared_server, "officer1")
            for name, path in (("home", "/"), ("queue", "/followups"), ("detail", f"/followups/{followup_id}"),
                               ("needs", "/needs-action"), ("settings", "/followups/settings")):
                page.goto(shared_server.url + path)
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(tmp_path / f"followups-{lang}-{width}-{name}.png"), full_page=False)
                assert page.evaluate("document.documentElement.scrollWidth") <= width, (lang, width, path)
                if width == 390 and lang == "en":
                    assert axe_violations(page) == [], path
            context.close()


def mark_done(page, base_url: str, followup_id: str) -> None:
    """Feedback given through the server's form (the page's token, the page's cookies): the follow-up is done."""
    page.goto(f"{base_url}/followups/{followup_id}")
    token = page.locator("input[name=_csrf]").first.input_value()
    response = page.request.post(f"{base_url}/followups/{followup_id}/given", max_redirects=0,
                                 form={"_csrf": token, "given_how": "phone", "given_at": "", "note": ""})
    assert response.status == 303


def test_an_officer_reopens_a_done_followup_on_the_phone_in_finnish_and_a_blank_reason_keeps_the_form(
        browser, live_server, tmp_path):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="fi-FI", service_workers="block")
    page = context.new_page()
    log_in(page, live_server.url, "officer1")
    followup_id = open_followup(live_server, "officer1")
    mark_done(page, live_server.url, followup_id)
    page.goto(f"{live_server.url}/followups/{followup_id}")
    page.click("details[data-reopen] summary")
    page.fill("#reopen-reason", "   ")
    page.click("details[data-reopen] button[type=submit]")
    # htmx swapped the follow-up's part: the error in Finnish, the form still open, the page not reloaded.
    page.wait_for_selector("#error-reopen_reason")
    assert page.locator("#error-reopen_reason").inner_text() == "Tämä kenttä on pakollinen."
    assert page.locator("details[data-reopen]").get_attribute("open") is not None
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.fill("#reopen-reason", "Ilmoittaja kysyi, mitä kaupunki päätti.")
    page.click("details[data-reopen] button[type=submit]")
    page.wait_for_selector("[data-reopened]")
    assert page.locator(f"#followup-{followup_id}").get_attribute("data-state") == "open"
    assert "Avattu uudelleen" in page.locator("[data-reopened]").inner_text()
    assert "Ilmoittaja kysyi, mitä kaupunki päätti." in page.locator("[data-reopening]").inner_text()
    assert page.locator(f"form[data-feedback-form='{followup_id}']").is_visible()  # feedback can be given again
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(tmp_path / "followup-reopened-fi-390.png"), full_page=True)
    assert axe_violations(page) == []
    assert followup_row(live_server, followup_id)["state"] == "open"
    context.close()


def test_without_javascript_the_reopen_form_posts_and_comes_back_to_the_page(browser, live_server):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB", service_workers="block",
                                  java_script_enabled=False)
    page = context.new_page()
    log_in(page, live_server.url, "lead1")
    followup_id = open_followup(live_server, "officer1")
    mark_done(page, live_server.url, followup_id)
    page.goto(f"{live_server.url}/followups/{followup_id}")
    page.click("details[data-reopen] summary")
    page.fill("#reopen-reason", "The person called again.")
    page.click("details[data-reopen] button[type=submit]")
    page.wait_for_url(f"**/followups/{followup_id}?reopened=1")
    assert "Reopened: back in the queue" in page.locator("[data-reopened]").inner_text()
    assert "The person called again." in page.locator("[data-reopening]").inner_text()
    context.close()
