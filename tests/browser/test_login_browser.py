from tests.browser.conftest import LiveServer, _copy_db, axe_violations, log_in


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


def test_a_locked_login_tells_the_user_when_to_try_again(browser, tmp_path, demo_template):
    """Chromium's own form posts (Sec-Fetch-Site: same-origin) pass the cross-site check; the throttle's 429 page
    is the login page with the wait in the user's language, and has no accessibility violations."""
    path = tmp_path / "locked.db"
    _copy_db(demo_template, path)
    server = LiveServer(path, env={"FIELDAPP_LOGIN_FAILURES_PER_ACCOUNT": "3"}).start()
    context = browser.new_context(locale="fi-FI", viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        for _ in range(3):
            page.goto(server.url + "/login")
            page.fill("#username", "officer1")
            page.fill("#password", "wrong-password")
            with page.expect_response(lambda r: r.url.endswith("/login") and r.request.method == "POST") as answer:
                page.click("button[type=submit].primary")
        assert answer.value.status == 429 and answer.value.headers["retry-after"] == "60"
        message = page.locator("#login-error").inner_text()
        assert "Liian monta epäonnistunutta kirjautumista" in message and "1 min" in message
        assert page.locator("#username").input_value() == "officer1"
        assert axe_violations(page) == []
        log_in_again = page.locator("#password")
        log_in_again.fill("fieldapp-demo")
        page.click("button[type=submit].primary")
        page.wait_for_load_state()
        assert "/login" in page.url  # even the right password waits for the lock to end
    finally:
        context.close()
        server.stop()
