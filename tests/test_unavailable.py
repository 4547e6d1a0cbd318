"""A write that fails for a full disk or a lock answers 503 with Retry-After, never 500; /healthz says not
ready while writes fail, /livez stays 200; nothing of the refused batch is stored, and it goes in afterwards."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

from litestar.testing import TestClient

from fieldapp import accounts, deployments, page_loops, records
from fieldapp.clock import iso, utcnow
from fieldapp.db import open_db, unavailable_reason, write_problem
from fieldapp.ids import new_id


def _tension(deployment_id) -> dict:
    return {"id": new_id(), "kind": "tension", "deployment_id": deployment_id,
            "values": {"kind": "provocation", "severity": "3", "notes": "Synteettinen havainto. " * 20},
            "base_version": None, "device_time": iso(utcnow())}


def _count(db, ids) -> int:
    marks = ",".join("?" * len(ids))
    return db.execute(f"SELECT COUNT(*) FROM {records.KINDS['tension'].table} WHERE id IN ({marks})", ids).fetchone()[0]


def _connections(db, app=None) -> list:
    """Every connection of the app to the file: its own, its page loops' (fieldapp/page_loops.py: the routes run
    there) and its writer thread's (the sync batches)."""
    path = [row[2] for row in db.conn.execute("PRAGMA database_list") if row[1] == "main"][0]
    return [db.conn] + [page.conn for page in page_loops.connections(path)] + (
        [_writer(app).conn] if app is not None else [])


def _fill_up(db, app=None) -> None:
    """The database may not grow by one more page (max_page_count is per connection: set on each of the app's)."""
    db.conn.execute("VACUUM")  # no free pages left to reuse
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages = db.conn.execute("PRAGMA page_count").fetchone()[0]
    free = db.conn.execute("PRAGMA freelist_count").fetchone()[0]
    assert free == 0
    for conn in _connections(db, app):
        conn.execute(f"PRAGMA max_page_count = {pages}")


def _writer(app):
    """The writer thread's connection (writer.py), once it is open."""
    writer = app.state.writer
    writer._ensure_running()
    assert writer.opened.wait(10)
    return writer.db


def test_a_sync_on_a_full_database_is_503_with_retry_after_and_healthz_follows(login, app, db):
    officer = login("officer1")
    user = accounts.by_username(db, "officer1")
    deployment_id = deployments.current_for_user(db, user)["id"]
    assert officer.get("/healthz").status_code == 200
    _fill_up(db, app)
    batch = [_tension(deployment_id) for _ in range(20)]
    ids = [item["id"] for item in batch]

    refused = officer.post_json("/api/sync", {"records": batch})
    assert refused.status_code == 503, refused.text
    assert int(refused.headers["retry-after"]) > 0
    assert "error" in refused.json()
    assert _count(db, ids) == 0  # the batch is one transaction: nothing of it stored
    health = officer.get("/healthz")
    assert health.status_code == 503 and health.json()["problem"] == "full"
    assert "retry-after" in health.headers
    assert officer.get("/livez").status_code == 200
    asked_with_head = officer.client.head("/healthz")  # as some monitors ask: the same status, no body
    assert asked_with_head.status_code == 503 and "retry-after" in asked_with_head.headers
    assert asked_with_head.content == b"" and officer.client.head("/livez").status_code == 200

    for conn in _connections(db, app):
        conn.execute("PRAGMA max_page_count = 1073741823")  # space freed
    accepted = officer.post_json("/api/sync", {"records": batch})  # the device sends its outbox again
    assert accepted.status_code == 200
    assert {result["status"] for result in accepted.json()["results"]} == {"accepted"}
    assert _count(db, ids) == 20
    assert officer.get("/healthz").status_code == 200
    assert officer.client.head("/healthz").status_code == 200


def test_a_form_on_a_full_database_gets_a_503_page_not_a_500(login, db):
    lead = login("lead1")
    user = accounts.by_username(db, "officer1")
    deployment_id = deployments.current_for_user(db, user)["id"]
    _fill_up(db)
    response = lead.post(f"/deployments/{deployment_id}/tensions",
                         {"kind": "provocation", "severity": "3", "notes": "Synteettinen. " * 40})
    assert response.status_code == 503, response.text[:500]
    assert response.headers["retry-after"]
    assert "<html" in response.text.lower()


def test_a_write_that_stays_locked_is_503_and_healthz_reports_the_lock(login, app, db, settings):
    officer = login("officer1")
    probe = TestClient(app=app, base_url="http://127.0.0.1")  # a load balancer's checks: no session cookie
    user = accounts.by_username(db, "officer1")
    deployment_id = deployments.current_for_user(db, user)["id"]
    for conn in _connections(db, app):
        conn.execute("PRAGMA busy_timeout = 50")
    lead = login("lead1")
    lead_id = accounts.by_username(db, "lead1").id
    db.conn.execute("UPDATE sessions SET expires_at = ? WHERE user_id = ?",  # due its sliding renewal
                    [iso(utcnow() + timedelta(minutes=5)), lead_id])
    other = sqlite3.connect(settings.db_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock (a stuck backup tool, a long job)
    try:
        item = _tension(deployment_id)
        refused = officer.post_json("/api/sync", {"records": [item]})
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"] == "5"
        assert probe.get("/healthz").json()["problem"] == "locked"
        assert probe.get("/livez").status_code == 200
        # The session's sliding expiry is the writer thread's (writer.py): the page does not wait for the lock.
        page = lead.get("/")
        assert page.status_code == 200
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert officer.post_json("/api/sync", {"records": [item]}).status_code == 200
    assert probe.get("/healthz").status_code == 200  # a write succeeded: ready again at once


def test_other_database_errors_are_not_taken_for_unavailable(memory_db):
    try:
        memory_db.conn.execute("SELECT * FROM no_such_table")
    except sqlite3.OperationalError as exc:
        assert unavailable_reason(exc) is None
    assert write_problem(memory_db) is None


def test_healthz_sees_a_full_database_before_any_write_fails(tmp_path):
    db = open_db(tmp_path / "f.db")
    assert write_problem(db, tmp_path / "f.db") is None
    _fill_up(db)
    assert write_problem(db, tmp_path / "f.db") == "full"
