from tests.browser.conftest import axe_violations, log_in


def test_officer_logs_in_and_sees_current_deployment_first(page, shared_server):
    log_in(page, shared_server.url, "officer1")
    first = page.locator("#deployment-list li").first
    assert "Mielenosoitus Senaatintorilla" in first.inner_text()


def test_login_page_has_no_accessibility_violations(page, shared_server):
    page.goto(shared_server.url + "/login")
    assert axe_violations(page) == []


def test_language_switch_changes_labels(page, shared_server):
    page.goto(shared_server.url + "/login")
    page.click("button[lang=sv]")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "sv"


def test_without_javascript_a_form_sent_after_the_session_ended_is_saved_after_logging_in(browser, live_server):
    """No JavaScript, so no outbox: the login page carries what was typed, and the officer saves it after."""
    context = browser.new_context(java_script_enabled=False, locale="en-GB", viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(15000)
    log_in(page, live_server.url, "officer1")
    deployment = page.locator("#deployment-list li a").first.get_attribute("href")
    page.goto(live_server.url + deployment + "/tensions/new")
    page.check("form input[name='kind'][value='provocation']")
    page.check("form input[name='severity'][value='5']")
    page.fill("form textarea[name=notes]", "Typed before the session ended")
    conn = live_server.db()
    conn.execute("UPDATE sessions SET expires_at = '2000-01-01T00:00:00.000Z'")  # the shift went on too long
    conn.commit()
    conn.close()
    page.click("form button[type=submit].primary")
    assert "what you entered is kept" in page.locator("main").inner_text()
    page.fill("#username", "officer1")
    page.fill("#password", "fieldapp-demo")
    page.click("button[type=submit].primary")
    assert "Typed before the session ended" in page.locator("main dl").inner_text()  # shown before it is sent
    page.click("main button[type=submit].primary")
    page.wait_for_url(live_server.url + deployment)
    conn = live_server.db()
    try:
        [row] = conn.execute("SELECT kind, severity FROM tensions WHERE notes = ?",
                             ["Typed before the session ended"]).fetchall()
        assert tuple(row) == ("provocation", 5)
    finally:
        conn.close()
    context.close()
