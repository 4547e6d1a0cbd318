"""Offline capture and exactly-once sync in Chromium: the service worker, the IndexedDB outbox, the status
strip and the pending list, against a real server process (context.set_offline(True) cuts the network)."""

from __future__ import annotations

import re
import shutil
import sqlite3
import time
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Error as PlaywrightError

from fieldapp.ids import new_id
from tests.browser.conftest import LiveServer, _copy_db, axe_violations, log_in

KINDS = {"contact": "contacts", "tension": "tensions", "intervention": "interventions"}


@pytest.fixture(scope="module")
def offline_server(tmp_path_factory, demo_template):
    """One server for the tests of this module that never stop it (each test uses its own records)."""
    path = tmp_path_factory.mktemp("offline") / "live.db"
    _copy_db(demo_template, path)
    server = LiveServer(path).start()
    yield server
    server.stop()


def marker() -> str:
    return "t-" + uuid.uuid4().hex[:10]


def start(page, server, username="officer1") -> str:
    """Log in, wait until the worker controls the page and the offline copies are saved; the current deployment."""
    log_in(page, server.url, username)
    page.wait_for_selector("html[data-offline-ready='1']", timeout=30000)
    href = page.locator("#deployment-list li a").first.get_attribute("href")
    return href.rsplit("/", 1)[1]


def save_form(page, server, deployment_id, kind, notes, **choices):
    """Open the capture form (from the network or the device's copy), fill it, tap save."""
    slug = {"contact": "contacts", "tension": "tensions", "intervention": "interventions"}[kind]
    page.goto(f"{server.url}/deployments/{deployment_id}/{slug}/new")
    defaults = {"tension": {"kind": "verbal_confrontation", "severity": "3"},
                "intervention": {"kind": "dialogue"}, "contact": {"topics": "rumour"}}[kind]
    for name, value in {**defaults, **choices}.items():
        page.check(f"form[data-outbox] input[name='{name}'][value='{value}']")
    page.fill("form[data-outbox] textarea[name=notes]", notes)
    page.click("form[data-outbox] button[type=submit]")
    page.wait_for_selector("[data-outbox-notice]")


def waiting_count(page) -> int:
    return int(page.locator("[data-sync-status]").get_attribute("data-waiting") or -1)


def wait_for_waiting(page, count, timeout=30000):
    page.wait_for_selector(f"[data-sync-status][data-waiting='{count}']", timeout=timeout)


def rows_with(server, text) -> dict[str, list[str]]:
    """Ids of the server's records whose notes contain text, per kind."""
    conn = server.db()
    try:
        return {kind: [r[0] for r in conn.execute(f"SELECT id FROM {table} WHERE notes LIKE ?", [f"%{text}%"])]
                for kind, table in KINDS.items()}
    finally:
        conn.close()


def outbox_save(page, items):
    """Records put into the outbox through the same module the forms use (for bulk and odd cases)."""
    page.evaluate("""async (items) => {
        const me = document.body.dataset.user;
        for (const item of items) {
            await self.FieldappOutbox.save(Object.assign({id: self.FieldappOutbox.newId(), user: me}, item));
        }
    }""", items)


def tension_values(notes, severity="3"):
    return {"kind": "provocation", "severity": severity, "notes": notes, "trend": "stable", "basis": "observed"}


# ---------------------------------------------------------------- 1


def test_saved_offline_survives_closing_the_page_and_syncs_exactly_once(context, offline_server):
    page = context.new_page()
    deployment_id = start(page, offline_server)
    context.set_offline(True)
    page.reload()
    assert page.locator("html").get_attribute("data-device-copy") == "1"  # opened from the service worker
    page.locator("[data-net='offline']").wait_for(state="visible", timeout=15000)  # drawn once the outbox answers
    mark = marker()
    save_form(page, offline_server, deployment_id, "contact", f"{mark} contact")
    notice = page.locator("[data-outbox-notice]")
    assert "Saved on this device, waiting to sync." in notice.inner_text()
    save_form(page, offline_server, deployment_id, "tension", f"{mark} tension", severity="4")
    save_form(page, offline_server, deployment_id, "intervention", f"{mark} intervention")
    assert rows_with(offline_server, mark) == {"contact": [], "tension": [], "intervention": []}
    page.close()

    again = context.new_page()
    again.goto(offline_server.url + "/pending")
    again.wait_for_selector("html[data-pending-rendered]")
    assert again.locator("[data-list='waiting'] li[data-state='waiting']").count() == 3
    assert waiting_count(again) == 3
    assert axe_violations(again) == []

    context.set_offline(False)
    wait_for_waiting(again, 0)
    again.wait_for_selector("[data-list='sent'] li[data-state='sent'] >> nth=2")
    assert again.locator("[data-list='waiting'] li").count() == 0
    stored = rows_with(offline_server, mark)
    assert {kind: len(ids) for kind, ids in stored.items()} == {"contact": 1, "tension": 1, "intervention": 1}
    sent_ids = again.locator("[data-list='sent'] li").evaluate_all("items => items.map(li => li.dataset.id)")
    assert {i for ids in stored.values() for i in ids} <= set(sent_ids)


# ---------------------------------------------------------------- 2


def test_lost_acknowledgement_is_retried_without_a_second_row(context, offline_server):
    page = context.new_page()
    deployment_id = start(page, offline_server)
    lost = []

    def lose_first_answer(route):
        if not lost:
            route.fetch()   # the server receives and commits the batch...
            lost.append(1)
            route.abort()   # ...but its answer never reaches the device
        else:
            route.continue_()

    context.route("**/api/sync", lose_first_answer)
    mark = marker()
    save_form(page, offline_server, deployment_id, "tension", f"{mark} lost ack")
    page.wait_for_selector("html[data-last-sync-result='failed']")
    assert len(rows_with(offline_server, mark)["tension"]) == 1  # committed on the server
    assert waiting_count(page) == 1                              # still waiting on the device
    page.click("[data-sync-now]")  # (the backoff timer would retry too)
    wait_for_waiting(page, 0)
    assert len(rows_with(offline_server, mark)["tension"]) == 1
    assert lost == [1]


# ---------------------------------------------------------------- 4


def test_same_id_with_other_content_is_shown_as_a_conflict_and_both_versions_are_kept(context, offline_server):
    page = context.new_page()
    deployment_id = start(page, offline_server)
    mark = marker()
    save_form(page, offline_server, deployment_id, "tension", f"{mark} original", severity="2")
    page.wait_for_url(re.compile(f"/deployments/{deployment_id}$"), timeout=30000)
    [record_id] = rows_with(offline_server, mark)["tension"]
    # The same id with other content (e.g. a phone restored from a backup made before the sync).
    outbox_save(page, [{"id": record_id, "kind": "tension", "deployment_id": deployment_id,
                        "values": tension_values(f"{mark} other version", severity="5")}])
    page.goto(offline_server.url + "/pending")
    page.click("[data-sync-now]")
    item = page.locator(f"[data-list='attention'] li[data-id='{record_id}'][data-state='conflict']")
    item.wait_for()
    compare = item.locator("table.pending-compare").inner_text()
    assert "other version" in compare and "original" in compare
    assert axe_violations(page) == []
    conn = offline_server.db()
    assert conn.execute("SELECT notes, severity FROM tensions WHERE id = ?", [record_id]).fetchone()[0] \
        == f"{mark} original"
    [kept] = conn.execute("SELECT device_values, resolved_at FROM sync_conflicts WHERE record_id = ?", [record_id])
    assert "other version" in kept[0] and kept[1] is None
    conn.close()

    item.locator("[data-action='save-mine']").click()
    page.wait_for_selector(f"[data-list='attention'] li[data-id='{record_id}']", state="detached")
    wait_for_waiting(page, 0)
    stored = rows_with(offline_server, mark)["tension"]
    assert len(stored) == 2 and record_id in stored  # both versions are records now
    conn = offline_server.db()
    assert conn.execute("SELECT resolution FROM sync_conflicts WHERE record_id = ?", [record_id]).fetchone()[0] \
        == "saved_as_new"
    conn.close()


# ---------------------------------------------------------------- 5


def test_two_tabs_syncing_the_same_outbox_at_once_store_each_record_once(context, offline_server):
    first = context.new_page()
    deployment_id = start(first, offline_server)
    second = context.new_page()
    second.goto(offline_server.url + "/pending")
    second.wait_for_selector("html[data-offline-ready='1']")
    context.set_offline(True)
    mark = marker()
    outbox_save(first, [{"kind": "tension", "deployment_id": deployment_id,
                         "values": tension_values(f"{mark} n{i}")} for i in range(12)])
    first.evaluate("window.FieldappClient.render()")
    assert waiting_count(first) == 12
    context.set_offline(False)  # both tabs get the online event and start sending at once
    first.click("[data-sync-now]")
    second.click("[data-sync-now]")
    wait_for_waiting(first, 0)
    wait_for_waiting(second, 0)
    stored = rows_with(offline_server, mark)["tension"]
    assert len(stored) == 12 and len(set(stored)) == 12


# ---------------------------------------------------------------- 6


def test_two_hundred_records_saved_offline_all_sync_once(context, offline_server):
    page = context.new_page()
    deployment_id = start(page, offline_server)
    context.set_offline(True)
    mark = marker()
    save_form(page, offline_server, deployment_id, "tension", f"{mark} form 1")
    save_form(page, offline_server, deployment_id, "contact", f"{mark} form 2")
    kinds = ["tension", "contact", "intervention"]
    items = []
    for i in range(198):
        kind = kinds[i % 3]
        values = {"tension": tension_values(f"{mark} bulk {i}", severity=str(1 + i % 6)),
                  "contact": {"topics": ["rumour", "tip"][: 1 + i % 2], "notes": f"{mark} bulk {i}"},
                  "intervention": {"kind": "advice", "notes": f"{mark} bulk {i}"}}[kind]
        items.append({"kind": kind, "deployment_id": deployment_id, "values": values})
    outbox_save(page, items)
    page.goto(offline_server.url + "/pending")
    page.wait_for_selector("html[data-pending-rendered]")
    assert page.locator("[data-list='waiting'] li").count() == 200
    context.set_offline(False)
    wait_for_waiting(page, 0, timeout=60000)
    stored = rows_with(offline_server, mark)
    assert sum(len(ids) for ids in stored.values()) == 200
    assert len({i for ids in stored.values() for i in ids}) == 200
    assert page.locator("[data-sync-status]").get_attribute("data-attention") == "0"


# ---------------------------------------------------------------- 7


def test_session_expired_while_offline_keeps_the_records_until_logged_in_again(context, offline_server):
    page = context.new_page()
    deployment_id = start(page, offline_server)
    context.set_offline(True)
    mark = marker()
    save_form(page, offline_server, deployment_id, "tension", f"{mark} before expiry")
    conn = offline_server.db()
    conn.execute("DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE username = 'officer1')")
    conn.commit()
    conn.close()
    context.set_offline(False)
    page.wait_for_selector("[data-sync-status] [data-login]:visible", timeout=30000)
    assert waiting_count(page) == 1 and rows_with(offline_server, mark)["tension"] == []
    page.click("[data-login]")
    page.wait_for_url(re.compile("/login"))
    page.fill("#username", "officer1")
    page.fill("#password", "fieldapp-demo")
    page.click("button[type=submit].primary")
    page.wait_for_url(lambda url: "/login" not in url)
    wait_for_waiting(page, 0)
    assert len(rows_with(offline_server, mark)["tension"]) == 1
    assert page.locator("[data-sync-status] [data-login]").is_hidden()


# ---------------------------------------------------------------- 8


def _colleague_syncs_a_tension(server, deployment_id, notes) -> str:
    with httpx.Client(base_url=server.url) as colleague:
        token = re.search(r'name="_csrf" value="([^"]+)"', colleague.get("/login").text).group(1)
        colleague.post("/login", data={"_csrf": token, "username": "officer2", "password": "fieldapp-demo",
                                       "next": "/"})
        csrf = colleague.get("/api/session").json()["csrf"]
        record_id = new_id()
        response = colleague.post("/api/sync", headers={"X-CSRF-Token": csrf}, json={"records": [{
            "id": record_id, "kind": "tension", "deployment_id": deployment_id,
            "values": {**tension_values(notes, severity="5"), "kind": "crowd_movement"}}]})
        assert response.json()["results"][0]["status"] == "accepted"
    return record_id


def test_colleagues_tension_observation_appears_after_a_sync_and_stays_visible_offline(context, offline_server):
    page = context.new_page()
    deployment_id = start(page, offline_server)
    record_id = _colleague_syncs_a_tension(offline_server, deployment_id, f"{marker()} from officer2")
    link = f"a[href='/records/tension/{record_id}']"
    context.set_offline(True)
    page.goto(f"{offline_server.url}/deployments/{deployment_id}")
    assert page.locator("html").get_attribute("data-device-copy") == "1"
    assert page.locator(link).count() == 0  # not on this device yet
    context.set_offline(False)
    page.goto(f"{offline_server.url}/pending")
    page.wait_for_selector("html[data-offline-ready='1']")
    page.click("[data-sync-now]")
    page.wait_for_selector("html[data-last-sync-result='ok']")
    copies = page.evaluate("async (id) => (await self.FieldappOutbox.copiesFor(id)).map(c => c.id)", deployment_id)
    assert record_id in copies
    context.set_offline(True)
    page.goto(f"{offline_server.url}/deployments/{deployment_id}")
    assert page.locator("html").get_attribute("data-device-copy") == "1"
    row = page.locator(link)
    assert row.count() == 1 and "Officer Two" in row.inner_text()


def test_an_unchanged_pull_and_bootstrap_come_back_as_304_and_the_round_still_succeeds(context, offline_server):
    """Issue 13: the sync client sends the last ETag back (If-None-Match) and reads a 304 as "nothing new"."""
    page = context.new_page()
    start(page, offline_server)
    seen = []
    page.on("response", lambda r: seen.append((r.url.split("?")[0].rsplit("/", 1)[-1], r.status,
                                               r.request.headers.get("if-none-match"))) if "/api/" in r.url else None)
    results = [page.evaluate("async () => await self.FieldappSync.run({bootstrap: true})") for _ in range(3)]
    assert all(result["ok"] for result in results), results
    pulls = [(status, tag) for name, status, tag in seen if name == "pull"]
    boots = [(status, tag) for name, status, tag in seen if name == "bootstrap"]
    assert (304, pulls[-1][1]) == pulls[-1] and pulls[-1][1]  # the last pull: its ETag sent, 304 answered
    assert boots[-1][0] == 304 and boots[-1][1].startswith("W/")
    kept = page.evaluate("async () => await self.FieldappOutbox.getMeta('bootstrap')")
    assert kept["deployments"] and kept["pages"] and kept["etag"] == boots[-1][1]


def test_a_round_that_refreshes_every_kept_page_fetches_a_changed_deployments_pages_once(context, offline_server):
    """Issue 13: a colleague's record marks the deployment's kept pages stale; in a round whose bootstrap refreshes
    every kept page anyway (a phone back after an outage), each of them is fetched once, not twice (the pull's
    refresh and the bootstrap's). In a round without the bootstrap the stale pages are still fetched."""
    page = context.new_page()
    deployment_id = start(page, offline_server)
    pages = (f"/deployments/{deployment_id}", f"/deployments/{deployment_id}/interventions/new")
    fetched = []
    page.on("request", lambda r: fetched.append(r.url.split("?")[0].replace(offline_server.url, ""))
            if r.method == "GET" and r.resource_type in ("fetch", "xhr") else None)
    first = _colleague_syncs_a_tension(offline_server, deployment_id, f"{marker()} from officer2")
    result = page.evaluate("async () => await self.FieldappSync.run({bootstrap: true})")
    assert result["ok"] and result["pulled"] >= 1, result
    assert [fetched.count(url) for url in pages] == [1, 1], fetched
    assert page.evaluate("async () => await self.FieldappOutbox.getMeta('stale_deployments')") == []
    fetched.clear()
    second = _colleague_syncs_a_tension(offline_server, deployment_id, f"{marker()} from officer2")
    result = page.evaluate("async () => await self.FieldappSync.run({})")  # the bootstrap is fresh: not asked
    assert result["ok"] and result["pulled"] >= 1, result
    assert "/api/offline/bootstrap" not in fetched and [fetched.count(url) for url in pages] == [1, 1], fetched
    context.set_offline(True)
    page.goto(f"{offline_server.url}/deployments/{deployment_id}")
    assert page.locator("html").get_attribute("data-device-copy") == "1"
    for record_id in (first, second):  # the device's copy of the page shows both
        assert page.locator(f"a[href='/records/tension/{record_id}']").count() == 1
    context.set_offline(False)


# ---------------------------------------------------------------- 3


def _writer_busy(path) -> bool:
    """True while another connection holds the database's write lock (a batch in its transaction)."""
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        conn.close()


def test_server_killed_in_the_middle_of_a_batch_leaves_nothing_and_the_retry_writes_each_record_once(
        context, tmp_path, demo_template):
    # The server stops inside the batch's transaction, right after writing its records
    # (tests/browser/_stop_inside_batch.py), and is killed there.
    written = tmp_path / "batch-written"
    _copy_db(demo_template, tmp_path / "live.db")
    stopping = LiveServer(tmp_path / "live.db", env={"FIELDAPP_TEST_BATCH_WRITTEN": str(written)},
                          module="tests.browser._stop_inside_batch").start()
    try:
        _batch_killed_in_its_transaction(context, stopping, written, tmp_path)
    finally:
        stopping.kill()


def _batch_killed_in_its_transaction(context, stopping, written, tmp_path):
    page = context.new_page()
    deployment_id = start(page, stopping)
    context.set_offline(True)
    mark = marker()
    outbox_save(page, [{"kind": "tension", "deployment_id": deployment_id,
                        "values": tension_values(f"{mark} n{i}", severity=str(1 + i % 6))} for i in range(100)])
    context.set_offline(False)  # the online event sends the batch
    deadline = time.monotonic() + 20
    while not written.exists():
        assert time.monotonic() < deadline, "the batch never started"
        time.sleep(0.01)
    assert _writer_busy(stopping.db_path)  # the batch's transaction is open
    stopping.kill()  # SIGKILL: the records are written, the transaction is not committed
    stored = rows_with(stopping, mark)["tension"]
    assert stored == []  # no partial batch is visible
    restarted = LiveServer(tmp_path / "live.db")
    restarted.port, restarted.url = stopping.port, stopping.url  # the same address for the page
    restarted.start()
    try:
        page.click("[data-sync-now]")
        wait_for_waiting(page, 0)
        stored = rows_with(restarted, mark)["tension"]
        assert len(stored) == 100 and len(set(stored)) == 100
    finally:
        restarted.stop()


# ---------------------------------------------------------------- updates


def test_new_version_waits_for_a_tap_drops_old_caches_and_keeps_the_outbox(context, tmp_path, demo_template,
                                                                           monkeypatch):
    # A copy of the app, so that this test can ship a "new version" without touching the shared tree.
    code = tmp_path / "code"
    shutil.copytree(Path(__file__).resolve().parents[2] / "fieldapp", code / "fieldapp",
                    ignore=shutil.ignore_patterns("__pycache__"))
    _copy_db(demo_template, tmp_path / "live.db")
    monkeypatch.chdir(code)  # `python -m fieldapp` takes the package from the working directory
    server = LiveServer(tmp_path / "live.db").start()
    try:
        page = context.new_page()
        deployment_id = start(page, server)
        # Waiting on this device through the update: a record of a colleague who used this phone.
        outbox_save(page, [{"id": new_id(), "user": "officer2", "kind": "contact", "deployment_id": deployment_id,
                            "values": {"notes": "officer2's record"}}])
        old_caches = page.evaluate("async () => await caches.keys()")
        (code / "fieldapp" / "offline" / "sw_zz_new_version.js").write_text("/* a new version */\n")
        page.goto(server.url + "/pending")
        # Nothing may take the page elsewhere before the tap (one CI run saw its context destroyed here, once in
        # some 30 runs): if it happens again, the failure names where the page went.
        navigations: list[str] = []
        page.on("framenavigated", lambda frame: navigations.append(frame.url) if frame == page.main_frame else None)
        update = page.locator("[data-update]")
        update.wait_for(state="visible")
        try:
            kept = page.evaluate("async () => await caches.keys()")
        except PlaywrightError as exc:
            raise AssertionError(f"the page went to {navigations} before the update was tapped") from exc
        assert set(old_caches) <= set(kept)  # nothing dropped yet
        update.click()
        page.wait_for_selector("html[data-offline-ready='1']")
        new_caches = page.evaluate("async () => await caches.keys()")
        old_shell = [name for name in old_caches if name.startswith("fieldapp-shell-")]
        assert old_shell and not set(old_shell) & set(new_caches)
        assert any(name.startswith("fieldapp-shell-") for name in new_caches)
        assert page.locator("[data-update]").is_hidden()
        page.wait_for_selector("[data-list='waiting'] li[data-state='other']")  # the outbox is untouched
        assert page.evaluate("async () => (await self.FieldappOutbox.list()).map(e => e.user)") == ["officer2"]
    finally:
        server.stop()


# ---------------------------------------------------------------- storage failure


def test_when_the_device_cannot_store_a_record_the_officer_is_told_and_nothing_typed_is_lost(
        context, offline_server):
    page = context.new_page()
    page.add_init_script("IDBFactory.prototype.open = function () {"
                         " throw new DOMException('The quota has been exceeded.', 'QuotaExceededError'); };")
    deployment_id = start(page, offline_server)
    form_url = f"{offline_server.url}/deployments/{deployment_id}/tensions/new"
    page.goto(form_url)  # visited online, so the worker keeps a copy
    context.set_offline(True)
    page.reload()
    mark = marker()
    page.check("form[data-outbox] input[name='kind'][value='provocation']")
    page.check("form[data-outbox] input[name='severity'][value='4']")
    page.fill("form[data-outbox] textarea[name=notes]", f"{mark} typed while storage is full")
    page.click("form[data-outbox] button[type=submit]")
    notice = page.locator("[data-outbox-notice][data-state='error']")
    notice.wait_for()
    assert "Could not save on this device" in notice.inner_text()
    assert page.input_value("form[data-outbox] textarea[name=notes]") == f"{mark} typed while storage is full"
    assert page.is_checked("form[data-outbox] input[name='severity'][value='4']")
    context.set_offline(False)
    page.click("form[data-outbox] button[type=submit]")  # online: sent straight to the server instead
    page.wait_for_selector("[data-outbox-notice][data-state='server']")
    assert len(rows_with(offline_server, mark)["tension"]) == 1


# ---------------------------------------------------------------- a bad record never blocks the queue


def test_records_the_server_refuses_are_set_aside_with_the_reason_and_never_block_the_others(
        context, offline_server):
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    deployment_id = start(page, offline_server)
    context.set_offline(True)
    mark = marker()
    good = [{"kind": "tension", "deployment_id": deployment_id, "values": tension_values(f"{mark} good {i}")}
            for i in range(5)]
    invalid_id, broken_id = new_id(), new_id()
    invalid = {"id": invalid_id, "kind": "tension", "deployment_id": deployment_id,
               "values": {"severity": "4", "notes": f"{mark} no kind"}}  # the server says: kind is required
    broken = {"id": broken_id, "kind": "tension", "deployment_id": deployment_id, "base_version": "x",
              "values": tension_values(f"{mark} broken")}  # the whole request would be a 400
    outbox_save(page, [good[0], invalid, broken, *good[1:]])
    context.set_offline(False)
    page.wait_for_selector("[data-sync-status][data-waiting='0'][data-attention='2']", timeout=30000)
    stored = rows_with(offline_server, mark)["tension"]
    assert len(stored) == 5 and invalid_id not in stored and broken_id not in stored

    page.goto(offline_server.url + "/pending")
    item = page.locator(f"[data-list='attention'] li[data-id='{invalid_id}']")
    item.wait_for()
    assert "Kind" in item.locator(".pending-errors").inner_text()
    item.locator("a", has_text="Fix and save again").click()
    page.wait_for_selector("[data-outbox-notice][data-state='error']")
    assert page.input_value("form[data-outbox] textarea[name=notes]") == f"{mark} no kind"  # what was typed
    page.check("form[data-outbox] input[name='kind'][value='provocation']")
    page.click("form[data-outbox] button[type=submit]")
    page.wait_for_url(re.compile(f"/deployments/{deployment_id}$"), timeout=30000)
    assert invalid_id in rows_with(offline_server, mark)["tension"]  # fixed, under its own id

    page.goto(offline_server.url + "/pending")
    page.locator(f"[data-list='attention'] li[data-id='{broken_id}'] [data-action='discard']").click()
    page.wait_for_selector("[data-pending] [data-section='attention']", state="hidden")
    assert page.locator("[data-sync-status]").get_attribute("data-attention") == "0"


# ---------------------------------------------------------------- edits through the outbox


def test_edit_saved_offline_waits_on_the_device_and_syncs_as_the_next_version(context, offline_server):
    page = context.new_page()
    deployment_id = start(page, offline_server)
    mark = marker()
    save_form(page, offline_server, deployment_id, "tension", f"{mark} before", severity="2")
    page.wait_for_url(re.compile(f"/deployments/{deployment_id}$"), timeout=30000)
    [record_id] = rows_with(offline_server, mark)["tension"]
    page.goto(f"{offline_server.url}/records/tension/{record_id}/edit")
    form = "form[data-outbox='tension'][data-base-version='1']"
    page.wait_for_selector(form)
    context.set_offline(True)
    page.check(f"{form} input[name='severity'][value='4']")
    page.fill(f"{form} textarea[name=notes]", f"{mark} after")
    page.click(f"{form} button[type=submit]")
    notice = page.locator("[data-outbox-notice][data-state='saved']")
    notice.wait_for()
    assert notice.get_attribute("data-record-id") == record_id  # the record's own id, not a new one
    wait_for_waiting(page, 1)
    conn = offline_server.db()
    assert tuple(conn.execute("SELECT version, notes FROM tensions WHERE id = ?", [record_id]).fetchone()) \
        == (1, f"{mark} before")
    conn.close()

    context.set_offline(False)
    wait_for_waiting(page, 0)
    conn = offline_server.db()
    try:
        row = conn.execute("SELECT version, severity, notes FROM tensions WHERE id = ?", [record_id]).fetchone()
        assert tuple(row) == (2, 4, f"{mark} after")
        [old] = conn.execute("SELECT data FROM record_versions WHERE record_type = 'tension' AND record_id = ? "
                             "AND version = 1", [record_id]).fetchall()
        assert f"{mark} before" in old[0]
    finally:
        conn.close()
    assert rows_with(offline_server, mark)["tension"] == [record_id]  # an edit, never a second record

    # A stale edit (based on version 1 again) is set aside as a conflict; the server keeps version 2.
    outbox_save(page, [{"id": record_id, "kind": "tension", "deployment_id": deployment_id, "base_version": 1,
                        "values": tension_values(f"{mark} stale", severity="5")}])
    page.goto(offline_server.url + "/pending")
    page.click("[data-sync-now]")
    page.locator(f"[data-list='attention'] li[data-id='{record_id}'][data-state='conflict']").wait_for()
    conn = offline_server.db()
    assert tuple(conn.execute("SELECT version, notes FROM tensions WHERE id = ?", [record_id]).fetchone()) \
        == (2, f"{mark} after")
    assert conn.execute("SELECT reason FROM sync_conflicts WHERE record_id = ?", [record_id]).fetchone()[0] \
        == "stale_edit"
    conn.close()

    # The officer uses their version: it becomes version 3 of the same record; version 2 stays in the history.
    item = page.locator(f"[data-list='attention'] li[data-id='{record_id}']")
    assert "Edit of a saved record" in item.locator(".pending-head").inner_text()
    use_mine = item.locator("[data-action='save-mine']")
    assert use_mine.inner_text() == "Use my version (the server version stays in the history)"
    use_mine.click()
    page.wait_for_selector(f"[data-list='attention'] li[data-id='{record_id}']", state="detached")
    wait_for_waiting(page, 0)
    assert rows_with(offline_server, mark)["tension"] == [record_id]  # still one record, never a copy
    conn = offline_server.db()
    try:
        assert tuple(conn.execute("SELECT version, severity, notes FROM tensions WHERE id = ?", [record_id])
                     .fetchone()) == (3, 5, f"{mark} stale")
        assert conn.execute("SELECT data FROM record_versions WHERE record_type = 'tension' AND record_id = ? "
                            "AND version = 2", [record_id]).fetchone()[0].count(f"{mark} after") == 1
        assert conn.execute("SELECT resolution FROM sync_conflicts WHERE record_id = ?", [record_id]).fetchone()[0] \
            == "saved_over"
    finally:
        conn.close()
