"""Lost devices and bounded local copies in Chromium (issue 12): after an admin revokes a phone and the phone makes
one request, no IndexedDB database, cache or service worker is left on it and its cached deployment page no longer
shows colleagues' records; after 12 h without the server (an injected clock: the device's last contact moved back),
colleagues' records are gone offline and a new record can still be saved."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from playwright.sync_api import Error as PlaywrightError

from tests.browser.test_offline_sync import (
    _colleague_syncs_a_tension, marker, outbox_save, save_form, start, wait_for_waiting)

HOUR_MS = 3600 * 1000

STORAGE = """async () => ({
    databases: (await indexedDB.databases()).map(d => d.name),
    caches: await caches.keys(),
    workers: (await navigator.serviceWorker.getRegistrations()).length,
})"""


def _sync_now(page, server):
    page.goto(f"{server.url}/pending")
    page.wait_for_selector("html[data-offline-ready='1']", timeout=30000)
    page.evaluate("() => document.documentElement.removeAttribute('data-last-sync-result')")
    page.click("[data-sync-now]")
    page.wait_for_selector("html[data-last-sync-result='ok']", timeout=30000)


def _admin(server) -> httpx.Client:
    admin = httpx.Client(base_url=server.url, headers={"Accept-Language": "en"})
    token = re.search(r'name="_csrf" value="([^"]+)"', admin.get("/login").text).group(1)
    admin.post("/login", data={"_csrf": token, "username": "admin1", "password": "fieldapp-demo", "next": "/"})
    return admin


def _csrf(client: httpx.Client, path: str) -> str:
    return re.search(r'name="_csrf" value="([^"]+)"', client.get(path).text).group(1)


@pytest.fixture
def phone(context, live_server):
    page = context.new_page()
    deployment_id = start(page, live_server)
    return page, deployment_id


def test_a_revoked_phone_deletes_its_databases_caches_and_worker_at_its_next_request(context, live_server, phone):
    page, deployment_id = phone
    server = live_server
    colleague = _colleague_syncs_a_tension(server, deployment_id, f"{marker()} from officer2")
    link = f"a[href='/records/tension/{colleague}']"
    _sync_now(page, server)
    page.goto(f"{server.url}/deployments/{deployment_id}")
    assert page.locator(link).count() == 1
    # After a sync the device reports what its outbox holds, by itself.
    deadline = time.monotonic() + 15
    while True:
        conn = server.db()
        reported = conn.execute("SELECT waiting FROM devices WHERE user_id = (SELECT id FROM users WHERE "
                                "username = 'officer1')").fetchone()[0]
        conn.close()
        if reported is not None or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert reported == 0
    # One record stays on the device (set aside: the server refused it), and the device reports it while online.
    context.set_offline(True)
    outbox_save(page, [{"kind": "tension", "deployment_id": deployment_id, "values": {"notes": marker()}}])
    page.evaluate("""async () => {
        const [entry] = await self.FieldappOutbox.list();
        await self.FieldappOutbox.applyResults([{id: entry.id, status: "rejected", errors: {}}]);
    }""")
    context.set_offline(False)
    page.evaluate("() => self.FieldappClient.device.report(true)")
    before = page.evaluate(STORAGE)
    assert "fieldapp" in before["databases"] and before["caches"] and before["workers"] == 1

    # The phone goes offline (lost); an admin revokes it, seeing the waiting record it will take with it.
    context.set_offline(True)
    admin = _admin(server)
    conn = server.db()
    device_id = conn.execute("SELECT id FROM devices WHERE user_id = (SELECT id FROM users WHERE username = "
                             "'officer1') AND revoked_at IS NULL ORDER BY last_seen DESC").fetchone()[0]
    conn.close()
    confirm = admin.get(f"/admin/devices/{device_id}/revoke")
    assert 'data-waiting-total="1"' in confirm.text
    assert admin.post(f"/admin/devices/{device_id}/revoke",
                      data={"_csrf": _csrf(admin, f"/admin/devices/{device_id}/revoke")}).status_code == 303
    # Offline, it still shows its copy: nothing can reach it yet.
    page.goto(f"{server.url}/deployments/{deployment_id}")
    assert page.locator("html").get_attribute("data-device-copy") == "1"

    # Back online, its first request is answered 401 with Clear-Site-Data, and the app wipes itself too.
    context.set_offline(False)
    try:
        page.goto(f"{server.url}/deployments/{deployment_id}")
    except PlaywrightError:
        pass  # the worker wiped first and sent the page on to /device/revoked
    page.wait_for_selector("#device-revoked", timeout=30000)
    deadline = time.monotonic() + 15
    while True:
        after = page.evaluate(STORAGE)
        if after == {"databases": [], "caches": [], "workers": 0} or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert after == {"databases": [], "caches": [], "workers": 0}
    # Offline again, the deployment page is not there any more (no worker, no copy).
    context.set_offline(True)
    try:
        page.goto(f"{server.url}/deployments/{deployment_id}")
        assert page.locator(link).count() == 0
    except PlaywrightError:
        pass  # the browser's own "no connection" page
    conn = server.db()
    wiped = conn.execute("SELECT revoked_at, wiped_at, waiting FROM devices WHERE id = ?", [device_id]).fetchone()
    actions = [r[0] for r in conn.execute("SELECT action FROM audit_log WHERE record_type = 'device' AND record_id = ?",
                                          [device_id])]
    conn.close()
    assert wiped["wiped_at"] and wiped["waiting"] == 1
    assert actions == ["register", "revoke", "wipe"]


def test_after_12_hours_without_the_server_colleagues_records_are_gone_and_capture_still_works(
        context, live_server, phone):
    page, deployment_id = phone
    server = live_server
    colleague = _colleague_syncs_a_tension(server, deployment_id, f"{marker()} from officer2")
    link = f"a[href='/records/tension/{colleague}']"
    # Copies this device should no longer keep: another deployment's, and a record of two days ago.
    page.evaluate("""async (deployment) => {
        const old = new Date(Date.now() - 48 * 3600 * 1000).toISOString();
        await self.FieldappOutbox.putCopies([
            {id: "stale-other", kind: "tension", deployment_id: "ended-long-ago", version: 1,
             record: {occurred_at: new Date().toISOString()}},
            {id: "stale-old", kind: "tension", deployment_id: deployment, version: 1, record: {occurred_at: old}}]);
        const pages = await caches.open("fieldapp-pages");
        const page = (when) => new Response("<!doctype html><html><body>a record</body></html>",
            {headers: {"Content-Type": "text/html", "Date": new Date(when).toUTCString()}});
        await pages.put("/records/tension/seen-two-days-ago", page(Date.now() - 48 * 3600 * 1000));
        await pages.put("/records/tension/seen-an-hour-ago", page(Date.now() - 3600 * 1000));
    }""", deployment_id)
    _sync_now(page, server)
    deadline = time.monotonic() + 15  # the copies are bounded right after the sync
    while page.evaluate("async () => (await self.FieldappOutbox.copiesFor('ended-long-ago')).length"):
        assert time.monotonic() < deadline, "another deployment's copy was kept"
        time.sleep(0.3)
    copies = page.evaluate("async (id) => (await self.FieldappOutbox.copiesFor(id)).map(c => c.id)", deployment_id)
    assert colleague in copies and "stale-old" not in copies
    cached = page.evaluate("async () => (await (await caches.open('fieldapp-pages')).keys()).map(r => r.url)")
    assert not any(url.endswith("seen-two-days-ago") for url in cached)
    assert any(url.endswith("seen-an-hour-ago") for url in cached)
    page.goto(f"{server.url}/deployments/{deployment_id}")  # kept by the worker for offline
    context.set_offline(True)
    page.goto(f"{server.url}/deployments/{deployment_id}")
    assert page.locator("html").get_attribute("data-device-copy") == "1" and page.locator(link).count() == 1

    # 11 hours without the server: nothing is forgotten yet.
    page.evaluate("""async (ago) => {
        await self.FieldappOutbox.setMeta('server_contact', Date.now() - ago);
        await self.FieldappOutbox.setMeta('last_sync', Date.now() - ago);
    }""", 11 * HOUR_MS)
    page.goto(f"{server.url}/deployments/{deployment_id}")
    assert page.locator(link).count() == 1

    # 13 hours: the device copy of the deployment page and the colleagues' records are gone.
    page.evaluate("""async (ago) => {
        await self.FieldappOutbox.setMeta('server_contact', Date.now() - ago);
        await self.FieldappOutbox.setMeta('last_sync', Date.now() - ago);
    }""", 13 * HOUR_MS)
    page.goto(f"{server.url}/deployments/{deployment_id}")
    assert page.locator(link).count() == 0
    assert page.evaluate("async (id) => (await self.FieldappOutbox.copiesFor(id)).length", deployment_id) == 0
    kept = page.evaluate("async () => (await (await caches.open('fieldapp-pages')).keys()).map(r => new URL(r.url).pathname)")
    assert all(path in ("/pending", "/offline") or path.endswith("/new") for path in kept), kept

    # Capture keeps working: a record saved offline waits, and is sent when the server is back.
    notes = f"{marker()} after the wipe"
    save_form(page, server, deployment_id, "tension", notes)
    wait_for_waiting(page, 1)
    context.set_offline(False)
    wait_for_waiting(page, 0, timeout=30000)
    conn = server.db()
    assert conn.execute("SELECT COUNT(*) FROM tensions WHERE notes = ?", [notes]).fetchone()[0] == 1
    conn.close()
