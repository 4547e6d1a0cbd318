"""Category lists reach devices on their next sync, and a motive captured offline syncs once (Chromium, a real
server; context.set_offline(True) cuts the network)."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.browser.conftest import LiveServer, _copy_db, axe_violations, log_in


@pytest.fixture(scope="module")
def server(tmp_path_factory, demo_template):
    path = tmp_path_factory.mktemp("categories") / "live.db"
    _copy_db(demo_template, path)
    live = LiveServer(path).start()
    yield live
    live.stop()


def _start(page, server) -> str:
    """Log in as officer1, wait until the offline copies are saved; the current deployment's id."""
    log_in(page, server.url, "officer1")
    page.wait_for_selector("html[data-offline-ready='1']", timeout=30000)
    return page.locator("#deployment-list li a").first.get_attribute("href").rsplit("/", 1)[1]


def _sync_now(page, server) -> None:
    page.goto(f"{server.url}/pending")
    page.wait_for_selector("html[data-offline-ready='1']")
    page.click("[data-sync-now]")
    page.wait_for_selector("html[data-last-sync-result='ok']", timeout=30000)


def _device_form(context, page, server, deployment_id):
    """The contact form as the device keeps it (opened with the network cut)."""
    context.set_offline(True)
    page.goto(f"{server.url}/deployments/{deployment_id}/contacts/new")
    assert page.locator("html").get_attribute("data-device-copy") == "1"
    return page


def test_a_new_entry_reaches_the_cached_form_on_the_next_sync_and_a_retired_one_leaves_it(
        browser, context, server):
    page = context.new_page()
    deployment_id = _start(page, server)
    form = _device_form(context, page, server, deployment_id)
    assert form.locator("select[name=group_category] option[value='kurds']").count() == 0
    assert form.locator("input[name=topics][value='rumour']").count() == 1
    context.set_offline(False)

    admin_context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB",
                                        service_workers="block")
    admin = admin_context.new_page()
    log_in(admin, server.url, "admin1")
    admin.goto(f"{server.url}/admin/categories/group_category")
    admin.fill("#new-fi", "Kurdit")
    admin.fill("#new-sv", "Kurder")
    admin.fill("#new-en", "Kurds")
    admin.click("#add-entry button[type=submit]")
    admin.wait_for_selector("#entry-kurds")
    assert "The entry was added." in admin.inner_text("#admin-category-list .notice")
    assert axe_violations(admin) == []
    admin.goto(f"{server.url}/admin/categories/topic")
    admin.click("#entry-rumour button.danger")
    admin.wait_for_selector("#entry-rumour.retired")
    admin_context.close()

    _sync_now(page, server)
    form = _device_form(context, page, server, deployment_id)
    option = form.locator("select[name=group_category] option[value='kurds']")
    assert option.count() == 1 and option.inner_text().strip() == "Kurds"
    assert form.locator("input[name=topics][value='rumour']").count() == 0
    context.set_offline(False)


def test_a_motive_captured_offline_syncs_once(context, server):
    page = context.new_page()
    deployment_id = _start(page, server)
    context.set_offline(True)
    page.goto(f"{server.url}/deployments/{deployment_id}/contacts/new")
    assert page.locator("html").get_attribute("data-device-copy") == "1"
    mark = "m-" + uuid.uuid4().hex[:10]
    page.check("form[data-outbox] input[name=topics][value='hate_act']")
    page.check("form[data-outbox] input[name=motives][value='religion_belief']")
    page.check("form[data-outbox] input[name=motives][value='origin']")
    page.check("form[data-outbox] input[name=advised_to_report]")
    page.fill("form[data-outbox] textarea[name=notes]", mark)
    page.click("form[data-outbox] button[type=submit]")
    page.wait_for_selector("[data-outbox-notice]")
    page.goto(f"{server.url}/pending")
    page.wait_for_selector("html[data-pending-rendered]")
    assert page.locator("[data-list='waiting'] li[data-state='waiting']").count() == 1
    context.set_offline(False)
    page.wait_for_selector("[data-sync-status][data-waiting='0']", timeout=30000)
    conn = server.db()
    try:
        rows = conn.execute("SELECT motives, advised_to_report, offence_reported FROM contacts WHERE notes = ?",
                            [mark]).fetchall()
    finally:
        conn.close()
    assert len(rows) == 1
    assert sorted(json.loads(rows[0][0])) == ["origin", "religion_belief"] and rows[0][1] == 1 and rows[0][2] == 0
