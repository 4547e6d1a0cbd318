"""The access log: reads and refusals are logged, rows cannot be changed, the hash chain finds tampering, and
only administrators see the log."""

from __future__ import annotations

import csv
import io
import json
import sqlite3

import pytest
import sqlite_utils

from fieldapp import accounts, audit, cli, deployments
from fieldapp.db import open_db, write
from fieldapp.ids import new_id
from fieldapp.migrations import migrations


def _rows(db, **where) -> list[dict]:
    clauses = " AND ".join(f"{name} = ?" for name in where) or "1"
    return [dict(row) for row in db.query(f"SELECT * FROM audit_log WHERE {clauses} ORDER BY id", list(where.values()))]


def _a_record(db, kind: str = "tension") -> dict:
    table = {"tension": "tensions", "contact": "contacts", "intervention": "interventions"}[kind]
    return dict(next(db.query(f"SELECT * FROM {table} WHERE deleted_at IS NULL ORDER BY created_at DESC LIMIT 1")))


def _drop_triggers(path) -> sqlite3.Connection:
    """What an attacker with the file can do: drop the triggers and edit rows by hand."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("DROP TRIGGER audit_log_no_delete")
    return conn


# ------------------------------------------------------------------------------------------ reads are logged


def test_a_read_of_a_record_detail_writes_a_row(db, login):
    officer = login("officer1")
    record = _a_record(db)
    before = len(_rows(db, action="view", record_id=record["id"]))
    assert officer.get(f"/records/tension/{record['id']}").status_code == 200
    rows = _rows(db, action="view", record_id=record["id"])
    assert len(rows) == before + 1
    row = rows[-1]
    assert (row["user_id"], row["record_type"], row["outcome"]) == (officer.user["id"], "tension", "ok")
    assert row["at"].endswith("Z") and len(row["hash"]) == 64
    # the read's own commit did not wait for the disk; the connection is back to waiting for it
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_the_deployment_page_is_one_row_with_how_many_of_each_kind_it_showed(db, login):
    officer = login("officer1")
    current = deployments.current_for_user(db, accounts.by_username(db, "officer1"))
    before = len(_rows(db))
    assert officer.get(f"/deployments/{current['id']}").status_code == 200
    new = _rows(db)[before:]
    assert [(r["action"], r["record_type"], r["record_id"]) for r in new] == [("list", "deployment", current["id"])]
    shown = json.loads(new[0]["detail"])
    assert set(shown) == {"tension", "intervention", "contact"} and all(isinstance(n, int) for n in shown.values())


def test_a_record_list_a_pull_and_the_bootstrap_are_logged_once_each(db, login):
    officer = login("officer1")
    current = deployments.current_for_user(db, accounts.by_username(db, "officer1"))
    before = len(_rows(db))
    assert officer.get(f"/deployments/{current['id']}/tensions").status_code == 200
    assert officer.get("/api/sync/pull?cursor=0").status_code == 200
    assert officer.get("/api/offline/bootstrap").status_code == 200
    new = [(r["action"], r["record_type"]) for r in _rows(db)[before:]]
    assert new == [("list", "deployment"), ("pull", "sync"), ("pull", "bootstrap")]


def test_an_empty_pull_or_bootstrap_is_not_logged(db, login):
    admin = login("admin1")  # sees no deployment: the status strip's bootstrap shows no record
    before = len(_rows(db))
    assert admin.get("/api/offline/bootstrap").json()["records"] == []
    assert len(_rows(db)) == before
    officer = login("officer1")
    newest = officer.get("/api/sync/pull?cursor=0").json()
    while newest["more"]:
        newest = officer.get(f"/api/sync/pull?cursor={newest['cursor']}").json()
    before = len(_rows(db))
    assert officer.get(f"/api/sync/pull?cursor={newest['cursor']}").json()["records"] == []
    assert len(_rows(db)) == before


def test_a_record_detail_still_shows_only_changes_in_its_own_trail(db, login):
    officer = login("officer1")
    record = _a_record(db)
    officer.get(f"/records/tension/{record['id']}")
    assert all(row["action"] not in audit.READ_ACTIONS for row in audit.for_record(db, "tension", record["id"]))


def test_an_unknown_record_id_is_logged_as_not_found_and_a_refused_page_as_refused(db, login):
    officer = login("officer1")
    missing = new_id()
    assert officer.get(f"/records/tension/{missing}").status_code == 404
    assert officer.get("/admin/users").status_code == 403
    rows = _rows(db, action="refused", user_id=officer.user["id"])
    assert [(r["outcome"], r["detail"]) for r in rows[-2:]] == [
        ("not_found", f"GET /records/tension/{missing}"), ("refused", "GET /admin/users")]
    # The record filter of the admin view finds the probe of that id.
    assert [r["id"] for r in audit.search(db, audit.LogQuery(target=missing))] == [rows[-2]["id"]]


def test_a_sync_batch_writes_one_chained_row_per_record(db, login):
    officer = login("officer1")
    current = deployments.current_for_user(db, accounts.by_username(db, "officer1"))
    sent = [{"id": new_id(), "kind": "contact", "deployment_id": current["id"], "values": {"notes": f"n{i}"}}
            for i in range(5)]
    response = officer.post_json("/api/sync", {"records": sent})
    assert response.status_code == 200, response.text
    assert [r["status"] for r in response.json()["results"]] == ["accepted"] * 5
    rows = _rows(db, action="sync")[-5:]
    assert [r["record_id"] for r in rows] == [s["id"] for s in sent]
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(rows, rows[1:]))
    assert audit.verify(db).ok


# ------------------------------------------------------------------------------------------ append-only, chain


def test_update_and_delete_on_the_log_fail(db):
    with write(db):
        audit.record(db, None, "test", "thing", "1")
    for statement in ("UPDATE audit_log SET detail = 'x'", "DELETE FROM audit_log",
                      "DELETE FROM audit_log WHERE id = (SELECT MAX(id) FROM audit_log)"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.conn.execute(statement)


def test_the_chain_of_an_untouched_log_verifies(db):
    result = audit.verify(db)
    assert result.ok and result.checked == db.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] > 0
    assert result.head_hash == db.execute("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()[0]


@pytest.mark.parametrize("tamper", ["change_detail", "change_user", "remove_row", "insert_row", "cut_the_start"])
def test_tampering_with_one_row_is_found_by_audit_verify(settings, db_path, capsys, monkeypatch, tamper):
    db = open_db(db_path)
    for n in range(5):
        audit.record(db, None, "test", "thing", str(n), f"detail {n}")
    db.conn.close()
    conn = _drop_triggers(db_path)
    ids = [row[0] for row in conn.execute("SELECT id FROM audit_log ORDER BY id")]
    victim = ids[len(ids) // 2]
    if tamper == "change_detail":
        conn.execute("UPDATE audit_log SET detail = 'nothing to see' WHERE id = ?", [victim])
        expected = victim
    elif tamper == "change_user":
        conn.execute("UPDATE audit_log SET user_id = 'someone-else' WHERE id = ?", [victim])
        expected = victim
    elif tamper == "remove_row":
        conn.execute("DELETE FROM audit_log WHERE id = ?", [victim])
        expected = ids[ids.index(victim) + 1]
    elif tamper == "insert_row":  # a forged row squeezed in, its own hash right: the row after it no longer fits
        prev = conn.execute("SELECT hash FROM audit_log WHERE id = ?", [victim]).fetchone()[0]
        content = audit.Row("2026-01-01T00:00:00.000Z", None, "view", "tension", "x", "", "ok")
        conn.execute("UPDATE audit_log SET id = id + 1000 WHERE id > ?", [victim])
        conn.execute("INSERT INTO audit_log (id, at, user_id, action, record_type, record_id, detail, outcome, "
                     "prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     [victim + 1, *content, prev, audit.row_hash(prev, content)])
        expected = ids[ids.index(victim) + 1] + 1000
    else:  # the oldest rows deleted, with no purge receipt for them
        conn.execute("DELETE FROM audit_log WHERE id < ?", [victim])
        expected = victim
    conn.close()
    monkeypatch.setenv("FIELDAPP_DB", str(db_path))
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["audit", "verify"])
    assert exit_info.value.code == 1
    assert f"BROKEN at row {expected}:" in capsys.readouterr().err


def test_audit_verify_prints_the_head_of_an_intact_log(settings, db_path, capsys, monkeypatch):
    monkeypatch.setenv("FIELDAPP_DB", str(db_path))
    cli.main(["audit", "verify"])
    out = capsys.readouterr().out
    head = sqlite3.connect(db_path).execute("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    assert out.startswith("audit log intact:") and f"to {head[0]};" in out and head[1] in out


def test_the_migration_chains_rows_written_before_it(tmp_path):
    db = sqlite_utils.Database(tmp_path / "old.db")
    migrations.apply(db, stop_before="m010_audit_chain")
    for n in range(3):
        db.execute("INSERT INTO audit_log (at, user_id, action, record_type, record_id, detail) VALUES (?, ?, ?, ?, ?, ?)",
                   [f"2026-01-0{n + 1}T00:00:00.000Z", None if n else "u1", "create", "contact", f"c{n}", ""])
    db.conn.commit()
    db.conn.close()
    migrated = open_db(tmp_path / "old.db")
    assert audit.verify(migrated).ok and audit.verify(migrated).checked == 3
    audit.record(migrated, None, "view", "contact", "c1")
    assert audit.verify(migrated).checked == 4


# ------------------------------------------------------------------------------------------ the admin view


@pytest.mark.parametrize("username,status", [("admin1", 200), ("lead1", 403), ("officer1", 403), ("staff1", 403)])
def test_only_administrators_see_the_audit_log(login, username, status):
    session = login(username)
    assert session.get("/admin/audit").status_code == status
    assert session.get("/admin/audit/export.csv").status_code == status


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    response = client.get("/admin/audit", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert client.get("/admin/audit/export.csv", headers={"accept": "text/csv"}, follow_redirects=False
                      ).status_code in (303, 401)


def test_the_admin_filters_by_user_record_and_time_and_exports_csv(db, login):
    officer = login("officer1")
    admin = login("admin1")
    record = _a_record(db)
    officer.get(f"/records/tension/{record['id']}")
    page = admin.get(f"/admin/audit?user=officer1&record={record['id']}")
    assert page.status_code == 200
    assert page.text.count("<tr data-id=") == 1 and record["id"] in page.text
    assert admin.get("/admin/audit?user=officer1&from=2000-01-01&to=2000-01-02").text.count("<tr data-id=") == 0
    exported = admin.get(f"/admin/audit/export.csv?user=officer1&record={record['id']}")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["username"], r["action"], r["record_id"]) for r in rows] == [("officer1", "view", record["id"])]
    # Looking at the log is logged too.
    admin_rows = _rows(db, user_id=admin.user["id"], record_type="audit_log")
    assert [r["action"] for r in admin_rows[-2:]] == ["list", "export"]


@pytest.mark.parametrize("query", ["user=nobody-here", "from=yesterday", "to=2026-13-40", "before=abc"])
def test_bad_filters_get_a_translated_400(login, query):
    admin = login("admin1")
    response = admin.get(f"/admin/audit?{query}", headers={"accept-language": "fi"})
    assert response.status_code == 400
    assert any(text in response.text for text in ("Tällä käyttäjätunnuksella", "VVVV-KK-PP", "Sivua ei voitu"))
    assert admin.get(f"/admin/audit/export.csv?{query}").status_code == 400


def test_the_log_pages_back_to_older_rows(db, login):
    admin = login("admin1")
    for n in range(120):
        audit.record(db, None, "test", "thing", f"row{n}", "paging test")
    first = admin.get("/admin/audit?record=paging+test")
    assert first.text.count("<tr data-id=") == 100 and "before=" in first.text
    older = first.text.split('before=')[1].split('"')[0]
    second = admin.get(f"/admin/audit?record=paging+test&before={older}")
    assert second.text.count("<tr data-id=") == 20 and "row0<" in second.text


def test_a_failed_login_is_logged_as_failed(db):
    audit.record(db, None, "login_failed", "user", None, "address=127.0.0.1")
    assert _rows(db, action="login_failed")[-1]["outcome"] == "failed"


def test_a_page_asked_with_head_is_logged_as_head(db, login):
    """HEAD of a page is answered as its GET without the body (web.answer_head_as_get): what it disclosed (the record
    exists, its size) is logged, and as what it was: a HEAD, not a view of the record's content. Before, the row
    read like a GET's (a view; a probe of an unknown id as 'GET /records/...')."""
    officer = login("officer1")
    record = _a_record(db)
    assert officer.client.head(f"/records/tension/{record['id']}").status_code == 200
    assert officer.get(f"/records/tension/{record['id']}").status_code == 200
    views = _rows(db, action="view", record_type="tension", record_id=record["id"])
    assert [row["detail"] for row in views[-2:]] == ['{"method":"HEAD"}', ""]
    missing = new_id()
    assert officer.client.head(f"/records/tension/{missing}").status_code == 404
    assert _rows(db, action="refused", user_id=officer.user["id"])[-1]["detail"] == f"HEAD /records/tension/{missing}"
