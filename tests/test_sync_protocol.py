"""The sync protocol (fieldapp/offline): batches in, one answer per record, changes out; the app shell."""

from __future__ import annotations

import json
from datetime import timedelta
from unittest import mock

import pytest

from fieldapp import accounts, deployments, i18n, records
from fieldapp.clock import iso, utcnow
from fieldapp.ids import new_id
from fieldapp.offline import changes, shell, sync
from fieldapp.services import recording


def _user(db, username):
    return accounts.by_username(db, username)


def _current(db, username="officer1") -> dict:
    return deployments.current_for_user(db, _user(db, username))


def _tension(deployment_id, record_id=None, **values) -> dict:
    return {"id": record_id or new_id(), "kind": "tension", "deployment_id": deployment_id,
            "values": {"kind": "provocation", "severity": "3", **values}, "base_version": None,
            "device_time": iso(utcnow())}


def _contact(deployment_id, record_id=None, **values) -> dict:
    return {"id": record_id or new_id(), "kind": "contact", "deployment_id": deployment_id,
            "values": {"topics": ["rumour"], "age_band": "18_29", **values}}


def _rows(db, record_id) -> int:
    return sum(db.execute(f"SELECT COUNT(*) FROM {k.table} WHERE id = ?", [record_id]).fetchone()[0]
               for k in records.KINDS.values())


def _send(session, *items, sent_at=None):
    payload = {"records": list(items)}
    if sent_at:
        payload["sent_at"] = sent_at
    response = session.post_json("/api/sync", payload)
    assert response.status_code == 200, response.text
    return response.json()["results"]


# ---------------------------------------------------------------- results per record


def test_new_record_is_accepted_with_its_server_version(login, db):
    officer = login("officer1")
    item = _tension(_current(db)["id"], notes="Kaksi ryhmää huutelee.")
    [result] = _send(officer, item)
    assert result["status"] == "accepted"
    assert result["version"] == 1 and result["received_at"]
    stored = records.get(db, "tension", item["id"])
    assert stored["notes"] == "Kaksi ryhmää huutelee." and stored["created_by"] == officer.user["id"]
    assert stored["device_time"] and stored["received_at"] == result["received_at"]


def test_resend_of_the_same_record_is_a_duplicate_with_the_first_receipt(login, db):
    officer = login("officer1")
    item = _tension(_current(db)["id"])
    [first] = _send(officer, item)
    [again] = _send(officer, item)
    [third] = _send(officer, item, item)[1:]
    assert again["status"] == third["status"] == "duplicate"
    assert (again["version"], again["received_at"]) == (first["version"], first["received_at"])
    assert _rows(db, item["id"]) == 1


def test_same_id_with_other_content_is_a_conflict_and_both_versions_are_kept(login, db):
    officer = login("officer1")
    item = _tension(_current(db)["id"], notes="Ensimmäinen")
    _send(officer, item)
    changed = {**item, "values": {**item["values"], "severity": "5", "notes": "Toinen"}}
    [result] = _send(officer, changed)
    assert result["status"] == "conflict"
    assert result["server"]["values"]["notes"] == "Ensimmäinen" and result["server"]["values"]["severity"] == 3
    assert records.get(db, "tension", item["id"])["notes"] == "Ensimmäinen"  # nothing overwritten
    [kept] = sync.conflicts_of(db, _user(db, "officer1"))
    assert kept["id"] == result["conflict_id"] and kept["reason"] == "same_id_other_content"
    assert kept["device_values"]["notes"] == "Toinen"
    # The same conflicting submission again: the same answer, no second copy.
    [again] = _send(officer, changed)
    assert again["status"] == "conflict" and again["conflict_id"] == result["conflict_id"]
    assert len(sync.conflicts_of(db, _user(db, "officer1"))) == 1


def test_edit_on_the_current_version_is_accepted_and_its_resend_is_a_duplicate(login, db):
    officer = login("officer1")
    item = _tension(_current(db)["id"])
    _send(officer, item)
    edit = {**item, "base_version": 1, "values": {**item["values"], "severity": "4"}}
    [result] = _send(officer, edit)
    assert result["status"] == "accepted" and result["version"] == 2
    [again] = _send(officer, edit)
    assert again["status"] == "duplicate" and again["version"] == 2
    assert records.get(db, "tension", item["id"])["version"] == 2


def test_stale_edit_is_a_conflict_and_the_newer_server_version_stays(login, db):
    officer = login("officer1")
    item = _tension(_current(db)["id"])
    _send(officer, item)
    _send(officer, {**item, "base_version": 1, "values": {**item["values"], "severity": "4"}})
    stale = {**item, "base_version": 1, "values": {**item["values"], "severity": "6", "notes": "Vanha pohja"}}
    [result] = _send(officer, stale)
    assert result["status"] == "conflict" and result["version"] == 2
    assert result["server"]["values"]["severity"] == 4
    current = records.get(db, "tension", item["id"])
    assert (current["version"], current["severity"]) == (2, 4)
    [kept] = sync.conflicts_of(db, _user(db, "officer1"))
    assert kept["reason"] == "stale_edit" and kept["device_values"]["notes"] == "Vanha pohja"


def test_using_my_version_saves_a_stale_edit_over_the_server_version_which_stays_in_the_history(login, db):
    officer = login("officer1")
    item = _tension(_current(db)["id"])
    _send(officer, item)
    _send(officer, {**item, "base_version": 1, "values": {**item["values"], "severity": "4"}})
    stale = {**item, "base_version": 1, "values": {**item["values"], "severity": "6", "notes": "Minun"}}
    [conflict] = _send(officer, stale)
    # The officer chooses their own version: the same record, based on the version the server holds now.
    mine = {**stale, "base_version": conflict["version"], "resolves": conflict["conflict_id"]}
    [result] = _send(officer, mine)
    assert (result["status"], result["version"]) == ("accepted", 3)
    current = records.get(db, "tension", item["id"])
    assert (current["version"], current["severity"], current["notes"]) == (3, 6, "Minun")
    assert [v["data"]["severity"] for v in records.history(db, "tension", item["id"])] == [6, 4, 3]
    [settled] = sync.conflicts_of(db, _user(db, "officer1"), open_only=False)
    assert (settled["resolution"], settled["resolved_record_id"]) == ("saved_over", item["id"])
    assert db.execute("SELECT COUNT(*) FROM tensions WHERE id = ?", [item["id"]]).fetchone()[0] == 1
    [again] = _send(officer, mine)  # the answer was lost: the same answer again, nothing written twice
    assert (again["status"], again["version"]) == ("duplicate", 3)
    assert records.get(db, "tension", item["id"])["version"] == 3


def test_rejected_record_neither_blocks_nor_rolls_back_the_others(login, db):
    officer = login("officer1")
    deployment_id = _current(db)["id"]
    good1, good2 = _tension(deployment_id), _contact(deployment_id)
    bad = _tension(deployment_id, kind="no_such_kind", notes="Henkilötunnus 131052-308T")
    results = _send(officer, good1, bad, good2)
    assert [r["status"] for r in results] == ["accepted", "rejected", "accepted"]
    assert set(results[1]["errors"]) == {"kind", "notes"}
    assert _rows(db, good1["id"]) == _rows(db, good2["id"]) == 1 and _rows(db, bad["id"]) == 0


def test_rejections_are_explained_in_the_users_language(login, db):
    officer = login("officer1")
    officer.post("/language", data={"locale": "sv", "next": "/"})
    [result] = _send(officer, _tension(_current(db)["id"], severity="9"))
    assert result["status"] == "rejected"
    token = i18n.set_locale("sv")
    try:
        expected = i18n.gettext("Choose a severity from 1 to 6.")
    finally:
        i18n._current.reset(token)
    assert expected != "Choose a severity from 1 to 6." and result["errors"]["severity"] == expected


def test_records_for_a_deployment_the_user_is_not_assigned_to_are_rejected(login, db):
    lead = _user(db, "lead1")
    start = utcnow() - timedelta(hours=1)
    other = deployments.save(db, lead, {"name": "Muu tehtävä", "kind": "public_event", "place_name": "Kamppi",
                                        "lat": 60.169, "lon": 24.932, "starts_at": iso(start),
                                        "ends_at": iso(start + timedelta(hours=3)), "notes": ""}, assigned=[])
    officer = login("officer1")
    [result] = _send(officer, _tension(other["id"]))
    assert result["status"] == "rejected" and result["message"]
    [unknown] = _send(officer, _tension(new_id()))
    assert unknown["status"] == "rejected"


def test_invalid_ids_and_kinds_are_rejected_without_touching_the_rest(login, db):
    officer = login("officer1")
    deployment_id = _current(db)["id"]
    good = _contact(deployment_id)
    results = _send(officer, {**_contact(deployment_id), "id": "not-a-uuid"},
                    {**_contact(deployment_id), "kind": "gossip"}, good)
    assert [r["status"] for r in results] == ["rejected", "rejected", "accepted"]


def test_a_batch_is_one_transaction_a_crash_leaves_nothing(memory_db):
    db = memory_db
    unit = accounts.ensure_unit(db, "Testiyksikkö")
    lead = accounts.create_user(db, "lead_t", "fieldapp-demo", "lead", unit)
    start = utcnow() - timedelta(hours=1)
    deployment = deployments.save(db, lead, {"name": "T", "kind": "public_event", "place_name": "Kamppi",
                                             "lat": 60.169, "lon": 24.932, "starts_at": iso(start),
                                             "ends_at": iso(start + timedelta(hours=3)), "notes": ""}, assigned=[])
    items = [sync.SyncRecord(**_contact(deployment["id"])) for _ in range(3)]
    # An edit after the three new records: the new ones are written first, then the edit is handled.
    edit = sync.SyncRecord(**{**_contact(deployment["id"]), "base_version": 1})
    seq_before = changes.latest_seq(db)

    def crash_after_writing(*args):
        # The records, their audit rows and change positions are written (in the open transaction) when
        # the edit comes up: the power goes now.
        assert all(_rows(db, item.id) == 1 for item in items)
        raise SystemExit("power cut")  # not a domain error: the whole batch must go

    with mock.patch.object(sync, "_ingest_one", crash_after_writing), pytest.raises(SystemExit):
        sync.ingest(db, lead, sync.SyncBatch(records=[*items, edit]))
    assert all(_rows(db, item.id) == 0 for item in items)
    assert db.execute("SELECT COUNT(*) FROM audit_log WHERE record_type = 'contact'").fetchone()[0] == 0
    assert changes.latest_seq(db) == seq_before
    results = sync.ingest(db, lead, sync.SyncBatch(records=items))
    assert [r.status for r in results] == ["accepted"] * 3


def test_far_off_device_clock_is_flagged_but_a_record_kept_offline_for_hours_is_not(login, db):
    officer = login("officer1")
    deployment_id = _current(db)["id"]
    saved_offline = _tension(deployment_id, occurred_at=iso(utcnow() - timedelta(hours=1)))
    saved_offline["device_time"] = iso(utcnow() - timedelta(hours=1))
    [kept] = _send(officer, saved_offline, sent_at=iso(utcnow()))
    assert kept["status"] == "accepted" and kept["time_flagged"] is False
    skewed = _tension(deployment_id)
    [flagged] = _send(officer, skewed, sent_at=iso(utcnow() + timedelta(minutes=25)))
    assert flagged["time_flagged"] is True
    assert records.get(db, "tension", skewed["id"])["time_flagged"] == 1
    assert records.get(db, "tension", saved_offline["id"])["time_flagged"] == 0


def test_saving_as_new_settles_the_conflict(login, db):
    officer = login("officer1")
    item = _tension(_current(db)["id"])
    _send(officer, item)
    [conflict] = _send(officer, {**item, "values": {**item["values"], "severity": "2"}})
    mine = {**item, "id": new_id(), "values": {**item["values"], "severity": "2"}, "resolves": conflict["conflict_id"]}
    [result] = _send(officer, mine)
    assert result["status"] == "accepted"
    assert sync.conflicts_of(db, _user(db, "officer1")) == []
    [settled] = sync.conflicts_of(db, _user(db, "officer1"), open_only=False)
    assert settled["resolution"] == "saved_as_new" and settled["resolved_record_id"] == mine["id"]


def test_keeping_the_server_version_settles_only_ones_own_conflict(login, db):
    officer = login("officer1")
    item = _tension(_current(db)["id"])
    _send(officer, item)
    [conflict] = _send(officer, {**item, "values": {**item["values"], "severity": "2"}})
    url = f"/api/sync/conflicts/{conflict['conflict_id']}/resolve"
    assert sync.resolve(db, _user(db, "officer2"), conflict["conflict_id"], "kept_server") is False
    assert officer.post_json(url, {"resolution": "kept_server"}).json() == {"resolved": True}
    assert officer.post_json(url, {"resolution": "kept_server"}).json() == {"resolved": False}


# ---------------------------------------------------------------- bad requests


def test_malformed_json_is_400_with_a_json_error(login):
    officer = login("officer1")
    response = officer.client.post("/api/sync", content=b'{"records": [', headers={
        "X-CSRF-Token": officer.csrf, "Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["error"]
    response = officer.post_json("/api/sync", {"records": [{"id": 5}]})
    assert response.status_code == 400 and response.json()["error"]


def test_wrong_content_type_is_415_with_a_json_error(login):
    officer = login("officer1")
    response = officer.client.post("/api/sync", content=b"records=1", headers={
        "X-CSRF-Token": officer.csrf, "Content-Type": "text/plain"})
    assert response.status_code == 415 and response.json()["error"]


def test_oversized_body_is_413_with_a_json_error(login, settings):
    officer = login("officer1")
    body = json.dumps({"records": [], "padding": "x" * (settings.max_body_bytes + 10)}).encode()
    response = officer.client.post("/api/sync", content=body, headers={
        "X-CSRF-Token": officer.csrf, "Content-Type": "application/json"})
    assert response.status_code == 413 and response.json()["error"]


def test_more_records_than_the_batch_limit_is_413_and_nothing_is_stored(login, db, settings):
    officer = login("officer1")
    items = [_contact(_current(db)["id"]) for _ in range(settings.sync_batch_max + 1)]
    response = officer.post_json("/api/sync", {"records": items})
    assert response.status_code == 413 and response.json()["batch_max"] == settings.sync_batch_max
    assert _rows(db, items[0]["id"]) == 0


def test_sync_needs_login_and_the_csrf_token(client, login, db):
    response = client.post("/api/sync", json={"records": []})
    assert response.status_code == 401 and response.json()["login"] == "/login"
    officer = login("officer1")
    response = officer.client.post("/api/sync", json={"records": [_contact(_current(db)["id"])]})
    assert response.status_code == 403 and response.json()["error"]


# ---------------------------------------------------------------- pull and bootstrap


def _colleague_sends(db, username, *items):
    """Another user's device syncing (the same domain call as POST /api/sync)."""
    batch = sync.SyncBatch(records=[sync.SyncRecord(**item) for item in items])
    return sync.ingest(db, _user(db, username), batch)


def test_pull_brings_colleagues_records_of_shared_deployments_since_the_cursor(login, db):
    officer = login("officer1")
    start = officer.get("/api/sync/pull?cursor=999999999").json()["cursor"]
    item = _tension(_current(db)["id"], notes="Officer Two näki")
    assert _colleague_sends(db, "officer2", item)[0].status == "accepted"
    body = officer.get(f"/api/sync/pull?cursor={start}").json()
    assert [r["id"] for r in body["records"]] == [item["id"]]
    pulled = body["records"][0]
    assert pulled["record"]["notes"] == "Officer Two näki" and pulled["record"]["author"] == "Officer Two"
    assert body["cursor"] > start and body["more"] is False
    assert officer.get(f"/api/sync/pull?cursor={body['cursor']}").json()["records"] == []


def test_pull_reports_edits_and_deletions_once_per_record(login, db):
    officer = login("officer1")
    start = officer.get("/api/sync/pull?cursor=999999999").json()["cursor"]
    item = _tension(_current(db)["id"])
    _send(officer, item)
    _send(officer, {**item, "base_version": 1, "values": {**item["values"], "severity": "5"}})
    [pulled] = officer.get(f"/api/sync/pull?cursor={start}").json()["records"]
    assert pulled["version"] == 2 and pulled["record"]["severity"] == 5
    recording.delete(db, _user(db, "officer1"), "tension", item["id"])
    body = officer.get(f"/api/sync/pull?cursor={start}").json()
    [gone] = [r for r in body["records"] if r["id"] == item["id"]]
    assert gone["deleted"] is True and gone["record"] == {}
    # A deletion may let an older record into the newest of its kind: the deployment's whole window of tensions
    # comes with it (and nothing else), so the device's copy of the recent records stays whole.
    window = {r.id for r in sync.recent_records(db, [_current(db)["id"]]) if r.kind == "tension"}
    assert {r["id"] for r in body["records"]} == window | {item["id"]}
    assert body["changed"] == [_current(db)["id"]]


def test_pull_leaves_out_deployments_the_user_cannot_see(login, db):
    lead = _user(db, "lead1")
    start_time = utcnow() - timedelta(hours=1)
    other = deployments.save(db, lead, {"name": "Vain johto", "kind": "public_event", "place_name": "Kamppi",
                                        "lat": 60.169, "lon": 24.932, "starts_at": iso(start_time),
                                        "ends_at": iso(start_time + timedelta(hours=3)), "notes": ""}, assigned=[])
    officer = login("officer1")
    start = officer.get("/api/sync/pull?cursor=999999999").json()["cursor"]
    recording.create(db, lead, "tension", other["id"], {"kind": "provocation", "severity": "2"})
    body = officer.get(f"/api/sync/pull?cursor={start}").json()
    assert body["records"] == [] and body["cursor"] > start  # skipped, and not scanned again


def test_pull_comes_in_pages(db, login):
    officer = login("officer1")
    user = _user(db, "officer1")
    everything = sync.pull(db, user, 0, limit=10_000).records  # what a device keeps (the last day: devices.py)
    assert len(everything) >= 4
    half = len(everything) // 2
    first = sync.pull(db, user, 0, limit=half)
    assert first.more and len(first.records) == half
    second = sync.pull(db, user, first.cursor, limit=half)
    assert second.cursor > first.cursor
    assert not {r.id for r in first.records} & {r.id for r in second.records}
    assert officer.get("/api/sync/pull?cursor=-1").status_code == 400


def test_bootstrap_gives_deployments_categories_in_the_users_language_and_offline_pages(login, db):
    officer = login("officer1")
    officer.post("/language", data={"locale": "sv", "next": "/"})
    body = officer.get("/api/offline/bootstrap").json()
    current = _current(db)
    assert body["deployments"][0]["id"] == current["id"] and body["locale"] == "sv"
    assert ["provocation", "Provokation"] in body["categories"]["tension_kind"]
    assert f"/deployments/{current['id']}/tensions/new" in body["pages"] and "/pending" in body["pages"]
    assert body["batch_max"] > 0 and body["cursor"] > 0
    assert {r["deployment_id"] for r in body["records"]} <= {d["id"] for d in body["deployments"]}
    assert any(r["kind"] == "tension" for r in body["records"])


# ---------------------------------------------------------------- the app shell


def test_service_worker_is_served_from_the_root_uncached_with_a_content_version(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["content-type"].startswith("text/javascript")
    version = response.headers["x-fieldapp-version"]
    assert version == shell.version() and f'"version": "{version}"' in response.text
    for url in ("/static/css/app.css", "/offline/pages.js", "/manifest.webmanifest"):
        assert f'"{url}"' in response.text
    assert "FieldappOutbox" in response.text and "FieldappSync" in response.text


def test_worker_version_covers_cached_files_and_sw_parts(tmp_path, monkeypatch):
    offline = tmp_path / "offline"
    static = tmp_path / "static"
    (static / "css").mkdir(parents=True)
    (static / "css" / "app.css").write_text("body{}")
    offline.mkdir()
    for path in shell.OFFLINE_DIR.glob("*.js"):
        (offline / path.name).write_text(path.read_text())
    (offline / shell.MANIFEST).write_text("{}")
    monkeypatch.setattr(shell, "OFFLINE_DIR", offline)
    monkeypatch.setattr(shell, "STATIC_DIR", static)
    before = shell.version()
    (offline / "sw_zz_test.js").write_text("self.addEventListener('push', function () {});")
    with_part = shell.version()
    _version, source = shell.worker_source()
    assert with_part != before and "sw_zz_test.js" in source and source.rindex("sw_zz_test") > source.index("sw.js")
    (static / "css" / "app.css").write_text("body{color:red}")
    assert shell.version() not in (before, with_part)


def test_manifest_makes_the_app_installable(client):
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/manifest+json")
    manifest = response.json()
    assert manifest["start_url"] == "/" and manifest["display"] == "standalone"
    assert manifest["theme_color"] == "#0b3d91" and manifest["short_name"]
    sizes = {(icon["sizes"], icon["purpose"]) for icon in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes
    for icon in manifest["icons"]:
        assert client.get(icon["src"]).status_code == 200


def test_offline_scripts_are_served_and_unknown_names_are_not(client):
    assert client.get(f"/offline/{shell.PAGE_BUNDLE}").status_code == 200
    assert client.get("/offline/sync.py").status_code == 404


def test_sync_endpoints_are_documented_in_openapi(login):
    schema = login("officer1").get("/schema/openapi.json").json()
    post = schema["paths"]["/api/sync"]["post"]
    body_ref = json.dumps(post["requestBody"])
    assert "SyncBatch" in body_ref
    assert "SyncResponse" in json.dumps(post["responses"]["200"])
    assert "/api/sync/pull" in schema["paths"] and "/api/offline/bootstrap" in schema["paths"]
    assert {"SyncRecord", "SyncResult"} <= set(schema["components"]["schemas"])


def test_every_page_has_the_status_strip_and_the_offline_scripts(login):
    officer = login("officer1")
    page = officer.get("/").text
    assert 'id="sync-status"' in page and 'href="/manifest.webmanifest"' in page
    assert 'src="/offline/pages.js"' in page
    assert "data-sync-now" in page


@pytest.mark.parametrize("username", ["officer1", "staff1", "lead1", "admin1"])
def test_pending_list_page_for_each_role(login, username):
    session = login(username)
    page = session.get("/pending")
    assert page.status_code == 200 and 'data-pending' in page.text and "<html" in page.text
    partial = session.get("/pending", headers={"HX-Request": "true"})
    assert partial.status_code == 200 and 'data-pending' in partial.text and "<html" not in partial.text


def test_pending_and_offline_pages_need_login_and_speak_the_users_language(client, login):
    assert client.get("/pending", follow_redirects=False).status_code == 303
    officer = login("officer1")
    officer.post("/language", data={"locale": "fi", "next": "/"})
    assert "Odottavat tallenteet" in officer.get("/pending").text
    assert officer.get("/offline").status_code == 200


def test_bootstrap_leaves_out_recent_records_for_a_device_that_pulls(login):
    officer = login("officer1")
    body = officer.get("/api/offline/bootstrap?records=false").json()
    assert body["records"] == [] and body["deployments"] and body["pages"]
