"""The sealed outbox in Chromium with real WebCrypto: what waits in IndexedDB holds no plaintext of a record's
values, the server opens it on sync (exactly once), a tampered record is refused and kept, and a rotated key
is taken up while records sealed to the old key still sync."""

from __future__ import annotations

import json

import pytest

from fieldapp.offline import sealing
from tests.browser.conftest import LiveServer, _copy_db
from tests.browser.test_offline_sync import marker, rows_with, save_form, start, wait_for_waiting

# Everything this device keeps in IndexedDB, read raw (not through the outbox module), as one JSON text.
RAW_INDEXEDDB = """async () => {
    const db = await new Promise((ok, fail) => {
        const request = indexedDB.open("fieldapp");
        request.onsuccess = () => ok(request.result);
        request.onerror = () => fail(request.error);
    });
    const out = {};
    for (const name of db.objectStoreNames) {
        out[name] = await new Promise((ok, fail) => {
            const request = db.transaction(name).objectStore(name).getAll();
            request.onsuccess = () => ok(request.result);
            request.onerror = () => fail(request.error);
        });
    }
    db.close();
    return out;
}"""

# Change one byte of a waiting record's sealed ciphertext, raw in IndexedDB (a thief's or a bug's doing).
TAMPER = """async (id) => {
    const db = await new Promise((ok) => { const r = indexedDB.open("fieldapp"); r.onsuccess = () => ok(r.result); });
    await new Promise((ok, fail) => {
        const store = db.transaction("outbox", "readwrite").objectStore("outbox");
        const request = store.get(id);
        request.onsuccess = () => {
            const entry = request.result;
            const ct = entry.sealed.ct;
            entry.sealed.ct = ct.slice(0, 10) + (ct[10] === "A" ? "B" : "A") + ct.slice(11);
            store.put(entry).onsuccess = ok;
        };
        request.onerror = () => fail(request.error);
    });
    db.close();
}"""


@pytest.fixture(scope="module")
def sealed_server(tmp_path_factory, demo_template):
    path = tmp_path_factory.mktemp("sealed") / "live.db"
    _copy_db(demo_template, path)
    server = LiveServer(path).start()
    yield server
    server.stop()


def _outbox(page) -> list[dict]:
    return page.evaluate(RAW_INDEXEDDB)["outbox"]


def test_a_record_saved_offline_is_sealed_in_indexeddb_and_the_server_opens_it_once(context, sealed_server):
    page = context.new_page()
    deployment_id = start(page, sealed_server)
    context.set_offline(True)
    mark = marker()
    notes = f"{mark} Nuori mies, punainen takki, uhkaili toista ryhmää"
    save_form(page, sealed_server, deployment_id, "tension", notes, severity="5")
    raw = page.evaluate(RAW_INDEXEDDB)
    text = json.dumps(raw, ensure_ascii=False)
    assert mark not in text and "punainen takki" not in text  # no plaintext of the note anywhere on the device
    waiting = json.dumps(raw["outbox"])  # (the category lists and colleagues' copies name codes of their own)
    assert "verbal_confrontation" not in waiting and '"severity"' not in waiting  # nor the coded values
    [entry] = [e for e in raw["outbox"] if e["state"] == "waiting"]
    assert entry["values"] == {} and entry["kind"] == "tension" and entry["deployment_id"] == deployment_id
    key = sealing.load(sealed_server.db_path.parent)
    assert entry["sealed"]["kid"] == key.current.kid and entry["sealed"]["v"] == 1
    # The device cannot open it; the server can, and finds what was typed.
    envelope = sealing.SealedRecord(**entry["sealed"])
    assert sealing.open_sealed(key, envelope, "officer1")["notes"] == notes

    # The pending list shows the header only: kind, deployment, time.
    page.goto(sealed_server.url + "/pending")
    page.wait_for_selector("html[data-pending-rendered]")
    item = page.locator(f"[data-list='waiting'] li[data-id='{entry['id']}']")
    assert "Tension" in item.inner_text() or "Jännite" in item.inner_text()
    assert mark not in page.content()

    context.set_offline(False)
    wait_for_waiting(page, 0)
    page.evaluate("self.FieldappSync.run({reason: 'test'})")  # a second round sends nothing again
    assert rows_with(sealed_server, mark)["tension"] == [entry["id"]]
    conn = sealed_server.db()
    try:
        assert tuple(conn.execute("SELECT notes, severity, kind FROM tensions WHERE id = ?", [entry["id"]])
                     .fetchone()) == (notes, 5, "verbal_confrontation")
    finally:
        conn.close()
    receipts = json.dumps(page.evaluate(RAW_INDEXEDDB)["sent"], ensure_ascii=False)
    assert entry["id"] in receipts and mark not in receipts  # the receipt keeps no values either


def test_a_tampered_sealed_record_is_refused_with_the_reason_and_kept_on_the_device(context, sealed_server):
    page = context.new_page()
    deployment_id = start(page, sealed_server)
    context.set_offline(True)
    mark = marker()
    save_form(page, sealed_server, deployment_id, "tension", f"{mark} tampered")
    save_form(page, sealed_server, deployment_id, "contact", f"{mark} intact")
    [tampered] = [e["id"] for e in _outbox(page) if e["kind"] == "tension" and e["state"] == "waiting"]
    page.evaluate(TAMPER, tampered)
    context.set_offline(False)
    page.wait_for_selector("[data-sync-status][data-waiting='0'][data-attention='1']", timeout=30000)
    assert rows_with(sealed_server, mark) == {"contact": rows_with(sealed_server, mark)["contact"], "tension": [],
                                              "intervention": []}
    assert len(rows_with(sealed_server, mark)["contact"]) == 1  # the other record was not held up
    [kept] = [e for e in _outbox(page) if e["id"] == tampered]
    assert kept["state"] == "rejected" and kept["sealed"]  # still on the device, set aside
    page.goto(sealed_server.url + "/pending")
    item = page.locator(f"[data-list='attention'] li[data-id='{tampered}']")
    item.wait_for()
    assert "changed after it was saved" in item.inner_text()  # (the browser asks for English)
    assert item.locator("a", has_text="Fix and save again").count() == 0  # nothing to fill a form with
    assert item.locator("[data-action='discard']").count() == 1


def test_a_record_saved_before_the_device_had_the_key_is_sealed_once_the_key_comes(context, sealed_server):
    page = context.new_page()
    deployment_id = start(page, sealed_server)
    published = page.evaluate("self.FieldappOutbox.getMeta('seal_key')")
    page.evaluate("self.FieldappOutbox.setMeta('seal_key', null)")  # a device that never received the key
    context.set_offline(True)
    mark = marker()
    save_form(page, sealed_server, deployment_id, "contact", f"{mark} before the key")
    assert mark in json.dumps(_outbox(page), ensure_ascii=False)  # nothing to seal with yet
    page.evaluate("async (key) => { await self.FieldappOutbox.setSealKey(key);"
                  " return self.FieldappOutbox.sealWaiting(); }", published)
    [entry] = [e for e in _outbox(page) if e["state"] == "waiting"]
    assert mark not in json.dumps(entry, ensure_ascii=False) and entry["sealed"]["kid"] == published["kid"]
    context.set_offline(False)
    wait_for_waiting(page, 0)
    assert rows_with(sealed_server, mark)["contact"] == [entry["id"]]


def test_after_a_key_rotation_old_sealed_records_sync_and_new_ones_are_sealed_to_the_new_key(
        context, tmp_path, demo_template):
    _copy_db(demo_template, tmp_path / "live.db")
    server = LiveServer(tmp_path / "live.db").start()
    try:
        page = context.new_page()
        deployment_id = start(page, server)
        old_kid = sealing.load(tmp_path).current.kid
        context.set_offline(True)
        mark = marker()
        save_form(page, server, deployment_id, "intervention", f"{mark} before rotation")
        assert [e["sealed"]["kid"] for e in _outbox(page)] == [old_kid]
        new_kid = sealing.rotate(tmp_path).current.kid  # `fieldapp rotate-outbox-key` while the phone is offline
        context.set_offline(False)
        wait_for_waiting(page, 0)
        assert len(rows_with(server, mark)["intervention"]) == 1  # sealed to the old key, opened all the same
        result = page.evaluate("self.FieldappSync.run({reason: 'test', bootstrap: true})")
        assert result["ok"]
        context.set_offline(True)
        save_form(page, server, deployment_id, "intervention", f"{mark} after rotation")
        assert [e["sealed"]["kid"] for e in _outbox(page)] == [new_kid]
        context.set_offline(False)
        wait_for_waiting(page, 0)
        assert len(rows_with(server, mark)["intervention"]) == 2
    finally:
        server.stop()
