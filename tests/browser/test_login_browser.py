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
