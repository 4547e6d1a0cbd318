"""Retention: with a frozen clock, a purge removes exactly what is past its date, of every kind, and leaves a
receipt in the audit log that keeps the chain verifiable."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import datetime, timedelta, timezone

import pytest

from fieldapp import accounts, audit, cli, retention, retention_worker
from fieldapp.clock import iso
from fieldapp.db import open_db, write
from fieldapp.settings import Settings
from tests.stored import store_new

NOW = datetime(2032, 6, 1, 12, 0, tzinfo=timezone.utc)
OLD = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)   # more than 5 (and 6) years before NOW
RECENT = datetime(2031, 3, 1, 9, 0, tzinfo=timezone.utc)  # within 5 years
LAT, LON = 60.1699, 24.9384


def _ids(db, table: str) -> set[str]:
    return {row[0] for row in db.execute(f"SELECT id FROM {table}")}


@pytest.fixture
def world(tmp_path):
    db = open_db(tmp_path / "retention.db")
    # the log's oldest rows, written 6+ years before NOW (the log can lose only its start: see retention.py)
    audit.append(db, [audit.Row(iso(OLD + timedelta(minutes=n)), None, "login", "user", None, "", "ok") for n in range(3)])
    unit = accounts.ensure_unit(db, "Test unit")
    user = accounts.create_user(db, "officer_r", "a long password 1", "officer", unit, "Officer R")
    with write(db):
        db["deployments"].insert({"id": "dep1", "unit_id": unit, "name": "Demo", "kind": "demonstration",
                                  "place_name": "Senaatintori", "lat": LAT, "lon": LON,
                                  "starts_at": iso(OLD - timedelta(hours=1)), "ends_at": iso(NOW + timedelta(days=1)),
                                  "created_at": iso(OLD), "updated_at": iso(OLD), "version": 1})

    def store(record_kind, when, **values):
        values.setdefault("occurred_at", iso(when))
        return store_new(db, user, record_kind, "dep1", values, received_at=when)["id"]

    r = {
        "tension_old": store("tension", OLD, kind="provocation", severity=3, trend="stable", basis="observed",
                             lat=LAT, lon=LON, notes="old tension"),
        "tension_new": store("tension", RECENT, kind="provocation", severity=3, trend="stable", basis="observed",
                             lat=LAT, lon=LON, notes="new tension"),
        "contact_old": store("contact", OLD, notes="old contact"),
        "contact_old_linked": store("contact", OLD, notes="old contact a kept intervention links to"),
        "tension_old_linked_old": store("tension", OLD, kind="provocation", severity=2, trend="stable",
                                        basis="observed", notes="old tension an old intervention links to"),
    }
    r["intervention_new"] = store("intervention", RECENT, kind="dialogue", contact_id=r["contact_old_linked"])
    r["intervention_old"] = store("intervention", OLD, kind="dialogue", tension_id=r["tension_old_linked_old"])
    r["contact_deleted"] = store("contact", RECENT, notes="typed by mistake", place_name="Kauppatori")
    with write(db):
        # previous versions: one of an expired record, one of a kept one, one of the deleted one
        for record_type, key in (("tension", "tension_old"), ("tension", "tension_new"), ("contact", "contact_deleted")):
            db.execute("INSERT INTO record_versions (record_type, record_id, version, data, changed_by, changed_at) "
                       "VALUES (?, ?, 0, '{}', ?, ?)", [record_type, r[key], user.id, iso(OLD)])
        db.execute("UPDATE contacts SET deleted_at = ? WHERE id = ?", [iso(NOW - timedelta(days=1)), r["contact_deleted"]])
        # device conflicts: of an expired record, an old one of a kept record, a recent one
        for key, record_type, stored in (("tension_old", "tension", NOW - timedelta(days=10)),
                                         ("tension_new", "tension", NOW - timedelta(days=91)),
                                         ("tension_new", "tension", NOW - timedelta(days=89)),
                                         ("contact_deleted", "contact", NOW - timedelta(days=1))):
            db.execute("INSERT INTO sync_conflicts (record_type, record_id, deployment_id, user_id, reason, "
                       "base_version, server_version, device_values, created_at) VALUES (?, ?, 'dep1', ?, "
                       "'stale_edit', 1, 2, '{\"notes\": \"device copy\"}', ?)",
                       [record_type, r[key], user.id, iso(stored)])
        # POR payloads: of an expired record; delivered 31 and 29 days ago; an old one still waiting
        for n, (key, state, delivered) in enumerate((("tension_old", "delivered", NOW - timedelta(days=400)),
                                                     ("tension_new", "delivered", NOW - timedelta(days=31)),
                                                     ("tension_new", "delivered", NOW - timedelta(days=29)),
                                                     ("tension_new", "pending", None),
                                                     ("contact_deleted", "pending", None))):
            db.execute("INSERT INTO por_outbox (record_type, record_id, record_version, idempotency_key, payload, "
                       "state, next_attempt_at, created_at, delivered_at) VALUES (?, ?, 1, ?, '{}', ?, ?, ?, ?)",
                       ["contact" if key.startswith("contact") else "tension", r[key], f"key{n}", state, iso(OLD),
                        iso(OLD), iso(delivered) if delivered else None])
    return {"db": db, "records": r, "user": user}


def test_purge_removes_exactly_the_expired_rows_of_every_kind_and_writes_a_receipt(world):
    db, r = world["db"], world["records"]
    assert db.execute("SELECT COUNT(*) FROM picture_obs WHERE tension_id = ?", [r["tension_old"]]).fetchone()[0] == 1
    audit_cutoff = iso(NOW - timedelta(days=2192))
    first_new = db.execute("SELECT MIN(id) FROM audit_log WHERE at >= ?", [audit_cutoff]).fetchone()[0]
    old_audit = db.execute("SELECT COUNT(*) FROM audit_log WHERE id < ?", [first_new]).fetchone()[0]
    assert old_audit == 3

    receipt = retention.purge(db, retention.Periods(), now=NOW)

    # records: the expired ones go, the kept ones and the contact a kept intervention links to stay
    assert _ids(db, "tensions") == {r["tension_new"]}
    assert _ids(db, "contacts") == {r["contact_old_linked"], r["contact_deleted"]}
    assert _ids(db, "interventions") == {r["intervention_new"]}
    # with them their versions, conflicts, POR payloads and picture points
    assert {row[0] for row in db.execute("SELECT record_id FROM record_versions")} == {r["tension_new"]}
    assert [row[0] for row in db.execute("SELECT created_at FROM sync_conflicts")] == [iso(NOW - timedelta(days=89))]
    assert sorted((row[0], row[1]) for row in db.execute("SELECT record_id, state FROM por_outbox")) == sorted(
        [(r["tension_new"], "delivered"), (r["tension_new"], "pending")])
    assert db.execute("SELECT delivered_at FROM por_outbox WHERE state = 'delivered'").fetchone()[0] == iso(
        NOW - timedelta(days=29))
    assert {row[0] for row in db.execute("SELECT tension_id FROM picture_obs")} == {r["tension_new"]}
    # the deleted record: its text blanked, the tombstone kept
    tombstone = dict(next(db.query("SELECT * FROM contacts WHERE id = ?", [r["contact_deleted"]])))
    assert (tombstone["notes"], tombstone["place_name"]) == ("", "") and tombstone["deleted_at"]
    # the audit log's start older than 6 years is gone: it now begins with its first newer row
    assert db.execute("SELECT MIN(id) FROM audit_log").fetchone()[0] == first_new

    # the receipt, with counts per type and the cut-off of each period
    row = dict(next(db.query("SELECT * FROM audit_log WHERE action = 'purge' ORDER BY id DESC LIMIT 1")))
    assert row["record_type"] == "retention" and json.loads(row["detail"]) == receipt
    assert receipt["tension"] == {"before": iso(NOW - timedelta(days=1826)), "records": 2, "versions": 1,
                                  "conflicts": 1, "por_payloads": 1}
    assert receipt["contact"]["records"] == 1 and receipt["intervention"]["records"] == 1
    assert receipt["deleted_records"]["contact"] == {"blanked": 1, "versions": 1, "conflicts": 1, "por_payloads": 1}
    assert receipt["conflicts"]["rows"] == 1 and receipt["por_payloads"]["rows"] == 1
    assert receipt["audit_log"]["rows"] == old_audit
    assert row["record_id"] == str(receipt["audit_log"]["first_kept_id"])

    # the chain still verifies from the oldest row kept, and a second run removes nothing more
    assert audit.verify(db).ok
    again = retention.purge(db, retention.Periods(), now=NOW)
    assert [again[t]["records"] for t in retention.RECORD_TABLES] == [0, 0, 0]
    assert again["audit_log"]["rows"] == 0 and audit.verify(db).ok


def test_after_a_purge_rows_kept_still_cannot_be_deleted_and_cutting_more_is_found(world, tmp_path):
    db = world["db"]
    retention.purge(db, retention.Periods(), now=NOW)
    oldest = db.execute("SELECT MIN(id) FROM audit_log").fetchone()[0]
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.conn.execute("DELETE FROM audit_log WHERE id = ?", [oldest])
    db.conn.execute("DROP TRIGGER audit_log_no_delete")
    db.conn.execute("DELETE FROM audit_log WHERE id = ?", [oldest])
    result = audit.verify(db)
    assert not result.ok and result.broken_id == oldest + 1


def test_periods_come_from_the_settings():
    settings = Settings.from_env({"FIELDAPP_RETENTION_TENSION_DAYS": "183", "FIELDAPP_RETENTION_AUDIT_DAYS": "3000"})
    periods = retention.Periods.from_settings(settings)
    assert (periods.tension_days, periods.audit_days, periods.contact_days) == (183, 3000, 1826)


def test_a_shorter_period_for_one_type_purges_only_that_type(world):
    db, r = world["db"], world["records"]
    receipt = retention.purge(db, retention.Periods(tension_days=30, contact_days=100_000, intervention_days=100_000,
                                                    audit_days=100_000), now=NOW)
    # every tension goes but the one a kept intervention links to
    assert _ids(db, "tensions") == {r["tension_old_linked_old"]}
    assert receipt["tension"]["records"] == 2 and receipt["contact"]["records"] == 0
    assert r["contact_old"] in _ids(db, "contacts") and receipt["audit_log"]["rows"] == 0


def test_fieldapp_purge_runs_from_the_command_line(tmp_path, monkeypatch, capsys):
    path = tmp_path / "cli.db"
    open_db(path).conn.close()
    monkeypatch.setenv("FIELDAPP_DB", str(path))
    cli.main(["purge"])
    assert "purge at" in capsys.readouterr().out
    db = open_db(path)
    assert db.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'purge'").fetchone()[0] == 1


def test_the_server_purges_by_itself(tmp_path):
    settings = Settings(db_path=tmp_path / "worker.db",
                        extra={"retention_first_seconds": 0.01, "retention_every_seconds": 0.05})
    open_db(settings.db_path).conn.close()
    on_startup, on_shutdown = [], []
    worker = retention_worker.install(settings, on_startup, on_shutdown)
    [start] = on_startup
    start()
    try:
        deadline = time.monotonic() + 10
        while worker.runs < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        [stop] = on_shutdown
        stop()
    assert worker.runs >= 2
    db = open_db(settings.db_path)
    assert db.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'purge'").fetchone()[0] == worker.runs
    assert audit.verify(db).ok
