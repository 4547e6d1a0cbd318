"""`fieldapp backup` and `fieldapp restore` as real processes, and the checks every opening of the database makes."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

from fieldapp import accounts, backup, deployments, records
from fieldapp.db import DatabaseRefused, open_db
from fieldapp.ids import new_id


def run(db_path, *args, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "fieldapp", *args], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "FIELDAPP_DB": str(db_path), **(env or {})})
    if check:
        assert result.returncode == 0, result.stderr
    return result


def _tension_ids(path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {row[0] for row in conn.execute(f"SELECT id FROM {records.KINDS['tension'].table}")}
    finally:
        conn.close()


def _write_tension(db) -> str:
    user = accounts.by_username(db, "officer1")
    deployment = deployments.current_for_user(db, user)
    record = records.create(db, user, "tension", deployment, {"kind": "provocation", "severity": "2"},
                            record_id=new_id())
    return record["id"]


def test_backup_of_a_live_database_includes_what_is_still_in_the_wal(db_path, tmp_path):
    live = open_db(db_path)  # the server's connection stays open: the new record is only in the WAL
    live.conn.execute("PRAGMA wal_autocheckpoint = 0")
    record_id = _write_tension(live)
    assert os.path.getsize(str(db_path) + "-wal") > 0
    target = tmp_path / "backups" / "monday.db"
    out = run(db_path, "backup", str(target)).stdout
    assert "integrity check ok" in out
    assert record_id in _tension_ids(target)
    assert _tension_ids(target) == _tension_ids(db_path)
    assert not os.path.exists(str(target) + "-wal")  # one self-contained file
    again = run(db_path, "backup", str(target), check=False)
    assert again.returncode == 2 and "exists" in again.stderr
    live.conn.close()


def test_restore_puts_the_backup_in_place_and_keeps_the_old_database(db_path, tmp_path):
    target = tmp_path / "b.db"
    run(db_path, "backup", str(target))
    db = open_db(db_path)
    later = _write_tension(db)  # written after the backup
    db.conn.close()
    out = run(db_path, "restore", str(target)).stdout
    assert "before-restore" in out
    assert later not in _tension_ids(db_path)
    [kept] = [p for p in tmp_path.iterdir() if ".before-restore-" in p.name and not p.name.endswith(("-wal", "-shm"))]
    assert later in _tension_ids(kept)  # a wrong restore can be undone
    open_db(db_path).conn.close()  # the restored database passes the startup checks


def test_restore_refuses_what_is_not_a_sound_fieldapp_database(db_path, tmp_path):
    before = _tension_ids(db_path)
    text = tmp_path / "notes.txt"
    text.write_text("not a database at all " * 100)
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    damaged = tmp_path / "damaged.db"
    run(db_path, "backup", str(damaged))
    data = bytearray(damaged.read_bytes())
    page = 4096
    data[page * 5:page * 5 + 200] = b"\xff" * 200  # a b-tree page overwritten
    damaged.write_bytes(bytes(data))
    for source, why in ((text, "not a SQLite database"), (other, "not fieldapp"), (damaged, "check"),
                        (tmp_path / "missing.db", "does not exist")):
        result = run(db_path, "restore", str(source), check=False)
        assert result.returncode == 2, (source, result.stdout)
        assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
        assert why in result.stderr
    assert _tension_ids(db_path) == before
    assert not [p for p in tmp_path.iterdir() if ".before-restore-" in p.name]


def test_restore_needs_a_file_or_the_replica(db_path):
    assert run(db_path, "restore", check=False).returncode == 2
    no_replica = run(db_path, "restore", "--from-replica", check=False, env={"FIELDAPP_REPLICA_URL": ""})
    assert no_replica.returncode == 2 and "FIELDAPP_REPLICA_URL" in no_replica.stderr


@pytest.mark.parametrize("command", [["migrate"], ["serve", "--port", "1"]])
def test_a_file_that_is_not_a_fieldapp_database_is_refused_with_a_message(tmp_path, command):
    notes = tmp_path / "notes.db"
    notes.write_text("Muistiinpanot: ei tietokanta.\n")
    result = run(notes, *command, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "is not a SQLite database" in result.stderr
    assert notes.read_text() == "Muistiinpanot: ei tietokanta.\n"
    other = tmp_path / "photos.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    result = run(other, *command, check=False)
    assert result.returncode == 2 and "not fieldapp's" in result.stderr
    conn = sqlite3.connect(other)
    assert [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["photos"]
    conn.close()


def test_a_database_from_a_newer_fieldapp_is_refused(tmp_path):
    path = tmp_path / "f.db"
    db = open_db(path)
    db.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES ('fieldapp', 'm999_future', '')")
    db.conn.close()
    with pytest.raises(DatabaseRefused, match="newer fieldapp.*m999_future"):
        open_db(path)


def test_every_connection_has_wal_full_sync_and_foreign_keys(tmp_path):
    db = open_db(tmp_path / "f.db")
    assert db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    assert db.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_verify_names_the_integrity_problem(db_path, tmp_path):
    copy = tmp_path / "c.db"
    backup.backup(db_path, copy)
    assert backup.verify(copy).records > 0


def test_a_stopped_apps_database_file_alone_holds_everything(settings, db_path, tmp_path):
    """When the app stops it closes every connection it kept (the page loops', the readers', the sessions
    thread's) before its own, so SQLite folds the WAL into the file and removes it: copying the stopped database
    file alone (as an operator might, without `fieldapp backup`) loses nothing. Before, the threads' connections
    stayed open until the process ended and the last records were only in the WAL beside the file."""
    from litestar.testing import TestClient

    from fieldapp.app import create_app
    from tests.conftest import Session

    app = create_app(settings)
    with TestClient(app=app, base_url="http://127.0.0.1") as client:
        officer = Session(client, "officer1")
        app.state.db.conn.execute("PRAGMA wal_autocheckpoint = 0")  # what was written stays in the WAL until the end
        deployment_id = deployments.current_for_user(app.state.db, accounts.by_username(app.state.db, "officer1"))["id"]
        record_id = new_id()
        answer = officer.post_json("/api/sync", {"records": [{
            "id": record_id, "kind": "tension", "deployment_id": deployment_id, "device_time": "2026-12-03T12:00:00Z",
            "values": {"kind": "provocation", "severity": "3", "trend": "stable", "basis": "observed",
                       "groups": ["youth"], "occurred_at": "2026-12-03T14:00"}}], "sent_at": "2026-12-03T12:00:00Z"})
        assert answer.status_code == 200 and answer.json()["results"][0]["status"] == "accepted", answer.text
        for page in officer.get("/api/offline/bootstrap?records=false").json()["pages"][:4]:
            assert officer.get(page).status_code == 200  # pages on the page loops' connections
        assert os.path.exists(str(db_path) + "-wal")
    assert not os.path.exists(str(db_path) + "-wal")
    copy = tmp_path / "copied" / "fieldapp.db"
    copy.parent.mkdir()
    copy.write_bytes(db_path.read_bytes())
    assert record_id in _tension_ids(copy)
