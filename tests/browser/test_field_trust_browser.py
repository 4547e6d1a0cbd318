"""The screen tells the truth on a phone: the status strip is a state machine (every transition checked in
Chromium), a save is answered where the eye is, and required fields are checked before the outbox."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import log_in

MIN = 60 * 1000

# (event, expected message keys of the strip, expected network word); each starts from the state before it.
TRANSITIONS = [
    ({"type": "stored", "waiting": 0, "attention": 0, "lastSync": None, "login": False}, "", "online"),
    ({"type": "sync-start", "at": 1000}, "syncing", "online"),
    ({"type": "sync-done", "at": 2000, "result": {"ok": True}}, "all-saved", "online"),
    ({"type": "stored", "waiting": 2, "attention": 0, "lastSync": 2000, "login": False}, "waiting-send", "online"),
    ({"type": "offline"}, "offline-will-send", "offline"),
    ({"type": "stored", "waiting": 0, "attention": 0, "lastSync": 2000, "login": False}, "offline-idle", "offline"),
    ({"type": "sync-now"}, "offline-will-send", "offline"),
    ({"type": "online"}, "all-saved", "online"),
    ({"type": "sync-start", "at": 3000}, "syncing", "online"),
    ({"type": "sync-done", "at": 4000, "result": {"ok": False, "failure": "network"}},
     "reason-network retry-soon", "offline"),
    ({"type": "retry", "at": 64000}, "reason-network retry-at", "offline"),
    ({"type": "sync-start", "at": 64000}, "syncing", "online"),
    ({"type": "sync-done", "at": 65000, "result": {"ok": False, "failure": "server", "status": 503}},
     "reason-server retry-soon", "online"),
    ({"type": "retry", "at": 70000}, "reason-server retry-at", "online"),
    ({"type": "offline"}, "offline-idle", "offline"),
    ({"type": "online"}, "all-saved", "online"),
    ({"type": "sync-start", "at": 80000}, "syncing", "online"),
    ({"type": "sync-done", "at": 81000, "result": {"ok": False, "login": True}}, "login-needed", "online"),
    ({"type": "sync-start", "at": 90000}, "syncing", "online"),
    ({"type": "sync-done", "at": 91000, "result": {"ok": True}}, "all-saved", "online"),
    ({"type": "stored", "waiting": 0, "attention": 1, "lastSync": 91000, "login": False}, "attention", "online"),
    ({"type": "sync-start", "at": 100000}, "syncing", "online"),
    ({"type": "tick", "at": 100000 + MIN}, "syncing", "online"),
    ({"type": "tick", "at": 100000 + 3 * MIN}, "attention", "online"),  # a round nobody finished is forgotten
    ({"type": "sync-done", "at": 300000, "result": {"ok": False, "failure": "storage"}},
     "reason-storage retry-soon", "online"),
    ({"type": "retry", "at": 1}, "reason-storage retry-at", "online"),
]


def test_every_transition_of_the_status_strip(page, shared_server):
    page.goto(shared_server.url + "/login")
    page.wait_for_function("() => self.FieldappSyncState")
    seen = page.evaluate("""(events) => {
        const S = self.FieldappSyncState;
        let state = S.initial(true, false);
        return events.map((event) => {
            const before = JSON.stringify(state);
            state = S.next(state, event);
            if (JSON.stringify(state) === before && event.type !== "tick" && event.type !== "sync-now") {}
            const view = S.view(state);
            return [view.parts.map((p) => p[0]).join(" "), view.net];
        });
    }""", [event for event, _keys, _net in TRANSITIONS])
    expected = [[keys, net] for _event, keys, net in TRANSITIONS]
    assert seen == expected


def test_a_page_that_is_the_devices_copy_says_so_only_while_offline(page, shared_server):
    page.goto(shared_server.url + "/login")
    page.wait_for_function("() => self.FieldappSyncState")
    keys = page.evaluate("""() => {
        const S = self.FieldappSyncState;
        let state = S.initial(false, true);
        const offline = S.view(state).parts[0][0];
        state = S.next(state, {type: "online"});
        state = S.next(state, {type: "sync-start", at: 1});
        const syncing = S.view(state).parts[0][0];
        state = S.next(state, {type: "sync-done", at: 2, result: {ok: true}});
        return [offline, syncing, S.view(state).parts[0][0]];
    }""")
    assert keys == ["device-copy", "syncing", "all-saved"]


def start(page, server) -> str:
    log_in(page, server.url, "officer1")
    page.wait_for_selector("html[data-offline-ready='1']", timeout=30000)
    return page.locator("#deployment-list li a").first.get_attribute("href").rsplit("/", 1)[1]


def strip_message(page) -> str:
    return page.locator("[data-sync-message]").inner_text()


def test_sync_now_offline_then_reconnect_ends_with_all_saved_and_the_time(context, live_server):
    page = context.new_page()
    start(page, live_server)
    context.set_offline(True)
    page.click("[data-sync-now]")
    page.wait_for_selector("[data-sync-message][data-keys='offline-will-send']")
    assert strip_message(page) == "Offline: will send when online."
    assert page.locator(".sync-last").is_visible()  # offline, when it last synced still matters
    context.set_offline(False)
    page.wait_for_selector("[data-sync-message][data-keys='all-saved']", timeout=30000)
    assert re.fullmatch(r"All saved on the server \(\d{1,2}[.:]\d\d\)\.", strip_message(page))
    assert not page.locator(".sync-last").is_visible()  # the message names the time: no second line saying it


def test_a_failed_sync_says_why_and_when_it_tries_again(context, live_server):
    page = context.new_page()
    start(page, live_server)
    live_server.stop()
    page.click("[data-sync-now]")
    page.wait_for_selector("[data-sync-message][data-keys='reason-network retry-at']", timeout=30000)
    assert re.fullmatch(r"The server could not be reached\. Records stay on this device; next try at \d{1,2}[.:]\d\d\.",
                        strip_message(page))
    live_server.start()
    page.click("[data-sync-now]")
    page.wait_for_selector("[data-sync-message][data-keys='all-saved']", timeout=30000)


@pytest.mark.parametrize("width", [390])
def test_save_offline_is_confirmed_in_view_and_required_fields_are_checked_first(context, live_server, width):
    page = context.new_page()
    page.set_viewport_size({"width": width, "height": 844})
    deployment_id = start(page, live_server)
    page.goto(f"{live_server.url}/deployments/{deployment_id}/tensions/new")
    context.set_offline(True)
    # Save is in reach at the bottom of the screen in the middle of the long form.
    save = page.locator("form[data-outbox] button[type=submit]")
    assert save.bounding_box()["y"] > 844
    page.mouse.wheel(0, 600)
    page.wait_for_function("() => window.scrollY > 80")
    page.wait_for_timeout(100)
    box = save.bounding_box()
    assert box["y"] + box["height"] <= 844 and box["y"] > 600
    save.click()
    error = page.locator("[data-outbox-notice][data-state='error']")
    error.wait_for()
    assert "This field is required." in error.inner_text()
    assert page.locator("[data-sync-status]").get_attribute("data-waiting") == "0"  # nothing entered the outbox

    page.check("form[data-outbox] input[name='kind'][value='provocation']")
    page.check("form[data-outbox] input[name='severity'][value='3']")
    page.fill("form[data-outbox] textarea[name=notes]", "toast check")
    save.click()
    toast = page.locator("[data-outbox-notice][data-state='saved']")
    toast.wait_for()
    assert toast.get_attribute("role") == "status"
    assert "Tension observation · Saved on this device, waiting to sync." in toast.inner_text()
    t = toast.bounding_box()
    assert 0 <= t["y"] and t["y"] + t["height"] <= 844  # in view, wherever the form was scrolled
    assert toast.locator("a", has_text="New tension observation").count() == 1
    assert toast.locator("a", has_text="Back to the deployment").count() == 1
    page.wait_for_selector("[data-sync-status][data-waiting='1']")
    page.screenshot(path=str(live_server.db_path.parent / f"toast-{width}.png"))
    toast.locator("a", has_text="New tension observation").click()
    toast.wait_for(state="hidden")


def test_check_in_offline_is_kept_on_the_device_says_so_and_reaches_the_server_once(context, live_server):
    page = context.new_page()
    deployment_id = start(page, live_server)
    page.goto(f"{live_server.url}/deployments/{deployment_id}")
    presence = page.locator(f"#presence-{deployment_id}")
    presence.wait_for()
    if presence.get_attribute("data-checked-in") == "1":  # the demo may start checked in: check out first
        presence.locator("button.check-out").click()
        presence.locator("button.check-in").wait_for()
    context.set_offline(True)
    presence.locator("button.check-in").click()
    presence.locator("button.check-out").wait_for()
    note = presence.locator("[data-presence-note]")
    assert re.fullmatch(r"Checked in at \d{1,2}[.:]\d\d on this device; will send when online\.", note.inner_text())
    assert note.get_attribute("role") == "status"
    page.wait_for_selector("[data-sync-status][data-waiting='1']")
    page.goto(live_server.url + "/pending")  # the tap waits there like a record, saying what it is
    tap = page.locator("[data-list='waiting'] li[data-state='waiting']")
    tap.wait_for()
    assert "Check-in or check-out · Check in" in tap.inner_text()
    page.go_back()
    page.wait_for_selector(f"#presence-{deployment_id}[data-tap='device']")  # the device's copy, with the tap

    def open_rows():
        with live_server.db() as conn:
            return conn.execute("SELECT COUNT(*) FROM presence p JOIN users u ON u.id = p.user_id WHERE "
                                "u.username = 'officer1' AND p.deployment_id = ? AND p.checked_out_at IS NULL",
                                [deployment_id]).fetchone()[0]
    assert open_rows() == 0
    context.set_offline(False)
    page.wait_for_selector(f"#presence-{deployment_id}[data-tap='server']", timeout=30000)
    assert re.fullmatch(r"Checked in at \d{1,2}[.:]\d\d; saved on the server\.", note.inner_text())
    page.wait_for_selector("[data-sync-status][data-waiting='0']")
    assert open_rows() == 1


def test_a_refusal_stored_in_finnish_is_shown_in_the_language_of_the_screen(page, shared_server):
    log_in(page, shared_server.url, "officer1")
    page.goto(shared_server.url + "/pending")
    page.wait_for_selector("html[data-pending-rendered]")
    page.evaluate("""async () => {
        const O = self.FieldappOutbox, id = O.newId();
        await O.save({id, kind: "tension", deployment_id: "x", values: {notes: "n"}, user: document.body.dataset.user});
        await O.applyResults([{id, status: "rejected", message: "Kirjausta ei voitu tallentaa.",
            message_code: "The record could not be saved. Check the marked fields.",
            errors: {kind: "Kenttä on pakollinen."}, codes: {kind: "This field is required."}}]);
        await self.FieldappClient.refreshPending();
    }""")
    item = page.locator("[data-list='attention'] li[data-state='rejected']")
    item.wait_for()
    assert "The record could not be saved. Check the marked fields." in item.inner_text()
    assert "Kind: This field is required." in item.inner_text()
    assert "Kenttä" not in item.inner_text()


def test_a_busy_server_is_given_the_time_it_asks_for_and_the_batch_is_not_split(browser, live_server):
    """503 with Retry-After: one request, no halved batches sent at once, the next try no sooner than asked."""
    context = browser.new_context(service_workers="block")  # so that page.route sees every sync request
    page = context.new_page()
    sent = []

    def busy(route):
        sent.append(route.request.post_data_json)
        route.fulfill(status=503, headers={"Retry-After": "600", "Content-Type": "application/json"},
                      body='{"error": "busy", "status": 503}')

    page.route("**/api/sync", busy)
    log_in(page, live_server.url, "officer1")
    deployment_id = page.locator("#deployment-list li a").first.get_attribute("href").rsplit("/", 1)[1]
    for n in range(3):
        page.goto(f"{live_server.url}/deployments/{deployment_id}/tensions/new")
        page.check("form[data-outbox] input[name='kind'][value='verbal_confrontation']")
        page.check("form[data-outbox] input[name='severity'][value='3']")
        page.fill("form[data-outbox] textarea[name=notes]", f"busy server {n}")
        page.click("form[data-outbox] button[type=submit]")
        page.wait_for_selector(f"[data-sync-status][data-waiting='{n + 1}']", timeout=30000)
    # The save's own sync was told to wait: it sent the waiting records whole, once, and stopped.
    page.wait_for_selector("[data-sync-message][data-keys='reason-server retry-at']", timeout=30000)
    page.wait_for_timeout(1500)
    before = len(sent)
    assert before >= 1 and len(sent[-1]["records"]) == 3
    page.click("[data-sync-now]")  # the officer insists: one more whole batch, then the wait again
    for _ in range(100):
        if len(sent) > before:
            break
        page.wait_for_timeout(100)
    page.wait_for_selector("[data-sync-message][data-keys='reason-server retry-at']", timeout=30000)
    page.wait_for_timeout(1500)
    assert len(sent) == before + 1 and len(sent[-1]["records"]) == 3  # not halves sent at once
    assert page.evaluate("() => self.FieldappRetry.afterHeader('600')") == 600_000
    assert page.evaluate("() => self.FieldappRetry.afterHeader('nonsense')") == 0
    assert page.evaluate("() => self.FieldappRetry.afterHeader(String(10 ** 9))") == 3600 * 1000
    context.close()
