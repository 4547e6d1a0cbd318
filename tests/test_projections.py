"""Projections (fieldapp/projections.py): the situation picture, alert rules and POR feed follow the field
records through the change sequence, after the records' own transaction, exactly once in effect."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

from fieldapp import accounts, audit, deployments, picture, projections, records
from fieldapp.alerts import rules as alert_rules
from fieldapp.app import create_app
from fieldapp.clock import HELSINKI, iso, utcnow
from fieldapp.db import open_db, write
from fieldapp.ids import new_id
from fieldapp.offline import changes, sync
from fieldapp.services import recording
from fieldapp.settings import Settings

SENAATINTORI = (60.1695, 24.9525)


def _unit(db):
    unit_id = accounts.ensure_unit(db, "Projection unit")
    lead = accounts.create_user(db, "pr_lead", "fieldapp-demo", "lead", unit_id)
    officer = accounts.create_user(db, "pr_officer", "fieldapp-demo", "officer", unit_id)
    now = utcnow()
    deployment = deployments.save(db, lead, {
        "name": "Live", "kind": "demonstration", "place_name": "Senaatintori", "lat": SENAATINTORI[0],
        "lon": SENAATINTORI[1], "starts_at": iso(now - timedelta(hours=1)), "ends_at": iso(now + timedelta(hours=3)),
        "notes": ""}, assigned=[officer.id])
    return unit_id, lead, officer, deployment


def _tension_item(deployment_id: str, severity: int = 3, lat: float = SENAATINTORI[0]) -> sync.SyncRecord:
    return sync.SyncRecord(id=new_id(), kind="tension", deployment_id=deployment_id,
                           values={"kind": "provocation", "severity": str(severity), "lat": str(lat),
                                   "lon": str(SENAATINTORI[1])})


def _observed(db) -> set[str]:
    return {row[0] for row in db.execute("SELECT tension_id FROM picture_obs")}


def _rollups(db) -> list[tuple]:
    return sorted(db.execute("SELECT * FROM picture_rollup").fetchall())


def test_a_sync_batch_is_projected_after_its_commit_once_however_often_catch_up_runs(memory_db):
    db = memory_db
    _unit_id, _lead, officer, deployment = _unit(db)
    items = [_tension_item(deployment["id"], severity=2 + i % 3, lat=SENAATINTORI[0] + i * 0.003) for i in range(6)]
    results = sync.ingest(db, officer, sync.SyncBatch(records=items))
    assert {r.status for r in results} == {"accepted"}
    # Answered and committed; the picture has not seen the records yet.
    assert _observed(db) == set() and projections.behind(db) == 6
    assert projections.catch_up(db) == 6
    assert _observed(db) == {item.id for item in items} and projections.behind(db) == 0
    once = _rollups(db)
    assert projections.catch_up(db) == 0
    # Applying the same records again (a crash after the hooks ran, before the cursor moved) changes nothing.
    db.execute("UPDATE sequences SET value = 0 WHERE name = 'projected'")
    assert projections.catch_up(db) == 6
    assert _rollups(db) == once
    picture.rebuild(db)
    assert _rollups(db) == once


def test_edits_and_deletes_reach_the_picture_through_the_sequence(memory_db):
    db = memory_db
    _unit_id, lead, officer, deployment = _unit(db)
    [kept, edited, deleted] = [_tension_item(deployment["id"]) for _ in range(3)]
    sync.ingest(db, officer, sync.SyncBatch(records=[kept, edited, deleted]))
    projections.catch_up(db)
    before = changes.latest_seq(db)
    with write(db):  # both in one transaction, through the domain: projected together afterwards
        record, deployment_row = recording.editable(db, lead, "tension", edited.id)
        records.update(db, lead, "tension", record, deployment_row, {"kind": "provocation", "severity": "6"},
                       base_version=1)
        records.delete(db, officer, "tension", recording.editable(db, officer, "tension", deleted.id)[0])
    assert changes.latest_seq(db) == before + 2 and projections.behind(db) == 2
    assert projections.catch_up(db) == 2
    severities = dict(db.execute("SELECT tension_id, severity FROM picture_obs").fetchall())
    assert severities == {kept.id: 3, edited.id: 6}
    kept_rollups = _rollups(db)
    picture.rebuild(db)
    assert _rollups(db) == kept_rollups


def test_a_single_write_from_a_form_is_projected_before_the_call_returns(memory_db):
    db = memory_db
    _unit_id, _lead, officer, deployment = _unit(db)
    record = recording.create(db, officer, "tension", deployment["id"], {
        "kind": "provocation", "severity": "4", "lat": str(SENAATINTORI[0]), "lon": str(SENAATINTORI[1])})
    assert _observed(db) == {record["id"]} and projections.behind(db) == 0


def test_a_record_whose_projection_fails_is_skipped_and_never_holds_up_the_others(memory_db, caplog):
    db = memory_db
    _unit_id, _lead, officer, deployment = _unit(db)
    items = [_tension_item(deployment["id"], lat=SENAATINTORI[0] + i * 0.003) for i in range(4)]
    sync.ingest(db, officer, sync.SyncBatch(records=items))
    poisoned = items[1].id
    real = picture.records_written

    def failing(db_, kind_name, written):
        if any(record["id"] == poisoned for record in written):
            raise RuntimeError("a bug in one area")
        return real(db_, kind_name, written)

    with mock.patch.object(picture, "records_written", failing):
        assert projections.catch_up(db) == 4
    assert _observed(db) == {item.id for item in items} - {poisoned}
    assert projections.behind(db) == 0
    assert "failed" in caplog.text


def test_severe_tension_alerts_the_leads_once_the_batch_is_projected(memory_db):
    db = memory_db
    unit_id, lead, officer, deployment = _unit(db)
    alert_rules.configure(db, tension_severity=5, hotspot_score=None)
    sync.ingest(db, officer, sync.SyncBatch(records=[_tension_item(deployment["id"], severity=6),
                                                     _tension_item(deployment["id"], severity=2)]))
    assert db.execute("SELECT COUNT(*) FROM alerts").fetchone()[0] == 0
    projections.catch_up(db)
    projections.catch_up(db)
    rows = db.execute("SELECT rule, unit_id FROM alerts").fetchall()
    assert [tuple(row) for row in rows] == [("tension_severity", unit_id)]


def test_the_app_applies_what_was_left_unprojected_when_it_starts(tmp_path):
    path = tmp_path / "fieldapp.db"
    db = open_db(path)
    _unit_id, _lead, officer, deployment = _unit(db)
    items = [_tension_item(deployment["id"], lat=SENAATINTORI[0] + i * 0.003) for i in range(3)]
    sync.ingest(db, officer, sync.SyncBatch(records=items))  # the server stops before projecting
    db.conn.close()
    app = create_app(Settings(db_path=path))
    app.state.catch_up.start()  # in the background, with the server's start (tests/test_restart.py)
    assert app.state.catch_up.finished.wait(30)
    assert projections.behind(app.state.db) == 0
    assert _observed(app.state.db) == {item.id for item in items}
    app.state.catch_up.stop()
    app.state.db.conn.close()


def test_each_record_a_sync_batch_creates_has_its_own_audit_row_and_a_resend_adds_none(memory_db):
    db = memory_db
    _unit_id, _lead, officer, deployment = _unit(db)
    items = [_tension_item(deployment["id"]) for _ in range(3)]
    bad = sync.SyncRecord(id=new_id(), kind="tension", deployment_id=deployment["id"], values={"severity": "9"})
    sync.ingest(db, officer, sync.SyncBatch(records=[*items, bad]))
    sync.ingest(db, officer, sync.SyncBatch(records=items))  # a resend writes nothing, not even an audit row
    rows = db.execute("SELECT user_id, action, record_type, record_id FROM audit_log ORDER BY id").fetchall()
    synced = [row for row in rows if row[1] == "sync"]
    assert sorted(synced) == sorted((officer.id, "sync", "tension", item.id) for item in items)
    assert not any(row[3] == bad.id for row in rows)
    for item in items:
        stored = records.get(db, "tension", item.id)
        trail = audit.for_record(db, "tension", item.id)
        assert [(row["action"], row["username"], row["at"]) for row in trail] == \
            [("sync", "pr_officer", stored["received_at"])]


def test_a_form_saved_during_a_restarts_backlog_projects_one_bounded_step_not_the_whole_backlog(memory_db):
    db = memory_db
    _unit_id, _lead, officer, deployment = _unit(db)
    for _ in range(3):  # a backlog of 3 chunks, as after a crash right after big sync batches
        sync.ingest(db, officer, sync.SyncBatch(records=[_tension_item(deployment["id"])
                                                         for _ in range(projections.CHUNK)]))
    assert projections.behind(db) == 3 * projections.CHUNK
    recording.create(db, officer, "tension", deployment["id"], {"kind": "provocation", "severity": "2"})
    assert projections.behind(db) == 2 * projections.CHUNK + 1  # the request did one step; the worker the rest
    assert projections.catch_up(db) == 2 * projections.CHUNK + 1 and projections.behind(db) == 0


def _reset_projections(db) -> None:
    """Forget everything projected (picture, alerts, follow-ups), as if the records had just been written."""
    for table in ("picture_rollup", "picture_parents", "picture_obs", "picture_links", "push_deliveries",
                  "alert_recipients", "alerts", "followups"):
        db.execute(f"DELETE FROM {table}")
    db.execute("UPDATE sequences SET value = 0 WHERE name = 'projected'")


def test_a_batch_of_many_records_in_one_cell_projected_at_once_equals_one_by_one(memory_db):
    db = memory_db
    _unit_id, lead, officer, deployment = _unit(db)
    alert_rules.configure(db, tension_severity=5, hotspot_score=20)
    # 40 observations in one hotspot cell (two resolution 9 cells, two kinds, several severities and groups),
    # 10 in another, and contacts and interventions between them.
    items = [sync.SyncRecord(id=new_id(), kind="tension", deployment_id=deployment["id"], values={
        "kind": ["provocation", "crowd_movement"][i % 2], "severity": str(1 + i % 6),
        "trend": ["rising", "stable", "easing"][i % 3], "groups": [["youth"], ["youth", "residents"], []][i % 3],
        "lat": str(SENAATINTORI[0] + (i % 2) * 0.004 + (0.03 if i >= 40 else 0)), "lon": str(SENAATINTORI[1])})
        for i in range(50)]
    contacts = [sync.SyncRecord(id=new_id(), kind="contact", deployment_id=deployment["id"],
                                values={"topics": ["rumour"], "feedback_promised": "1"}) for _ in range(5)]
    results = sync.ingest(db, officer, sync.SyncBatch(records=[*items[:25], *contacts, *items[25:]]))
    assert {r.status for r in results} == {"accepted"}
    intervention = recording.create(db, lead, "intervention", deployment["id"], {"kind": "dialogue",
                                                                                   "tension_id": items[3].id})

    def projected():
        return (_rollups(db), sorted(db.execute("SELECT * FROM picture_obs").fetchall()),
                sorted(db.execute("SELECT * FROM picture_parents").fetchall()),
                sorted(db.execute("SELECT rule, source_key, deployment_id, level FROM alerts").fetchall()),
                sorted(db.execute("SELECT record_type, record_id, state FROM followups").fetchall()))

    _reset_projections(db)
    with mock.patch.object(picture, "cell_summary", wraps=picture.cell_summary) as cell_reads:
        assert projections.catch_up(db) == 56  # one step: the whole batch at once
    cells = {picture.parent_of(picture.cell_int(float(i.values["lat"]), float(i.values["lon"])), alert_rules.HOTSPOT_RES)
             for i in items}
    assert cell_reads.call_count == len(cells) < 5  # the hotspot rule read each cell the batch touched once
    at_once = projected()
    _reset_projections(db)
    with mock.patch.object(picture, "cell_summary", wraps=picture.cell_summary) as cell_reads:
        assert projections.catch_up(db, chunk=1) == 56  # one record per step
    assert cell_reads.call_count == 50
    assert projected() == at_once
    rules = [row[0] for row in at_once[3]]
    assert 1 <= rules.count("hotspot") <= len(cells) and rules.count("tension_severity") == 16  # severities 5 and 6 of 50
    assert len(at_once[4]) == 5 and at_once[1][0][-1] in (0, 1)
    assert sum(row[-1] for row in at_once[1]) == 1 and intervention["tension_id"] == items[3].id
    # Projected again (a crash before the cursor moved): nothing changes.
    db.execute("UPDATE sequences SET value = 0 WHERE name = 'projected'")
    assert projections.catch_up(db) == 56
    assert projected() == at_once
    picture.rebuild(db)
    assert _rollups(db) == at_once[0]


def _picture_tables(db) -> dict[str, list[tuple]]:
    return {table: sorted(db.execute(f"SELECT * FROM {table}").fetchall())
            for table in ("picture_rollup", "picture_obs", "picture_parents", "picture_links")}


def _restore_picture_tables(db, tables: dict[str, list[tuple]]) -> None:
    for table, rows in tables.items():
        db.execute(f"DELETE FROM {table}")
        if rows:
            db.conn.executemany(f"INSERT INTO {table} VALUES ({','.join('?' * len(rows[0]))})", rows)


def test_a_batch_of_edits_and_deletes_in_a_few_cells_projected_at_once_equals_one_by_one(memory_db):
    """The batch path (set-based: every changed observation taken out and the new ones added, each roll-up row
    updated once) gives the rows of picture.record_written() applied record by record, and of rebuild()."""
    db = memory_db
    _unit_id, lead, officer, deployment = _unit(db)
    now = utcnow()
    items = []
    for i in range(30):  # the newest first; three places, and the newest alone in a fourth
        item = _tension_item(deployment["id"], severity=1 + i % 6,
                             lat=SENAATINTORI[0] + (0.03 if i == 0 else (i % 3) * 0.002))
        item.values["occurred_at"] = (now - timedelta(minutes=3 * i)).astimezone(HELSINKI).strftime("%Y-%m-%dT%H:%M")
        items.append(item)
    assert {r.status for r in sync.ingest(db, officer, sync.SyncBatch(records=items))} == {"accepted"}
    projections.catch_up(db)
    created, cursor = _picture_tables(db), changes.value(db, changes.PROJECTED)
    with write(db):  # one transaction: projected afterwards as one batch
        for n, item in enumerate(items[:24]):
            record, deployment_row = recording.editable(db, lead, "tension", item.id)
            if n % 4 == 0:  # the newest (alone in its cell: its rows go) and others
                records.delete(db, lead, "tension", record)
            elif n % 4 == 1:  # only the notes: the picture has nothing to change
                records.update(db, lead, "tension", record, deployment_row, {
                    "kind": "provocation", "severity": str(record["severity"]), "notes": "seen again"}, base_version=1)
            else:  # another kind, severity and place (the newest of their rows move out; some stay in their cell)
                records.update(db, lead, "tension", record, deployment_row, {
                    "kind": "crowd_movement", "severity": str(6 - n % 6), "lat": str(SENAATINTORI[0] + (n % 2) * 0.002),
                    "lon": str(SENAATINTORI[1])}, base_version=1)
    assert projections.behind(db) == 24
    assert projections.catch_up(db) == 24  # one step
    at_once = _picture_tables(db)
    _restore_picture_tables(db, created)
    with write(db):
        for kind_name, record in projections._written_after(db, cursor, 100):
            picture.record_written(db, kind_name, record)  # the single-record path: _subtract(), _add()
    assert _picture_tables(db) == at_once
    assert len(at_once["picture_obs"]) == 30 - 6
    assert {row[4] for row in at_once["picture_obs"]} == {"provocation", "crowd_movement"}
    picture.rebuild(db)
    assert _picture_tables(db)["picture_rollup"] == at_once["picture_rollup"]
