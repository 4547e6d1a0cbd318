"""The sync writer (fieldapp/writer.py). Admission control on POST /api/sync: when more records wait for it than
FIELDAPP_SYNC_QUEUE_RECORDS (or than it writes in 0.5 s), a batch is answered 503 with Retry-After at once instead
of waiting; nothing of a refused batch is stored, the device sends it again, and every record ends up stored
exactly once. Group commit: what waits together is one transaction, each batch in a savepoint of its own."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import threading
import time

import httpx
import pytest

from fieldapp import accounts, deployments, records
from fieldapp.app import create_app
from fieldapp.clock import iso, utcnow
from fieldapp.db import DatabaseRefused, open_db, write
from fieldapp.ids import new_id
from fieldapp.writer import Writer
from tests.test_login_throttle import run_isolated

LIMIT, PER_BATCH, DEVICES = 20, 10, 12  # two batches fit in the queue; the other ten are refused


def _batch(deployment_id: str) -> dict:
    return {"records": [{"id": new_id(), "kind": "tension", "deployment_id": deployment_id,
                         "values": {"kind": "provocation", "severity": "3", "notes": "Synteettinen havainto."},
                         "device_time": iso(utcnow())} for _ in range(PER_BATCH)], "sent_at": iso(utcnow())}


def _stored(db, ids: list[str]) -> dict[str, int]:
    table = records.KINDS["tension"].table
    marks = ",".join("?" * len(ids))
    found: dict[str, int] = {}
    for (record_id,) in db.execute(f"SELECT id FROM {table} WHERE id IN ({marks})", ids).fetchall():
        found[record_id] = found.get(record_id, 0) + 1
    return found


def _devices(db, n: int) -> tuple[str, list[dict]]:
    """n sessions of officer1 (as n phones that were offline hold them): cookie and CSRF headers for each."""
    user = accounts.by_username(db, "officer1")
    deployment_id = deployments.current_for_user(db, user)["id"]
    headers = []
    for _ in range(n):
        token, csrf = accounts.start_session(db, user, 12)
        headers.append({"cookie": f"fieldapp_session={token}", "x-csrf-token": csrf})
    return deployment_id, headers


def hold_write_lock(path, held: threading.Event, release: threading.Event) -> None:
    """Another connection holds SQLite's write lock (a backup tool, a long job) until `release` (at most 15 s)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    held.set()
    release.wait(15)
    conn.execute("ROLLBACK")
    conn.close()


async def _get(app, path: str, headers: dict | None = None) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1",
                                 timeout=30) as client:
        return await client.get(path, headers=headers)


async def livez_while_locked(app, db_path, path: str, headers: dict, *, pause: float, method: str = "GET",
                             **body):
    """`method` `path` (with `body`: httpx's json= or content=) while another connection holds the write lock, and
    `pause` seconds later /livez; then the lock is let go. (/livez answer, seconds from the request to /livez's answer, whether `path` was still waiting,
    its answer)."""
    held, release = threading.Event(), threading.Event()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1",
                                 timeout=30) as client:
        holder = threading.Thread(target=hold_write_lock, args=(db_path, held, release))
        holder.start()
        held.wait(5)
        started = time.perf_counter()
        waiting = asyncio.create_task(client.request(method, path, headers=headers, **body))
        await asyncio.sleep(pause)
        live = await client.get("/livez")
        live_after = time.perf_counter() - started
        waited = not waiting.done()
        release.set()
        answer = await waiting
        holder.join()
        return live, live_after, waited, answer


async def _flood(app, headers: list[dict], batches: list[dict]) -> tuple[list[httpx.Response], list[httpx.Response]]:
    """Every device sends at once while the writer is held: (answers that came while it was held, the rest)."""
    writer = app.state.writer
    writer.pause()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1",
                                 timeout=60) as client:
        tasks = [asyncio.create_task(client.post("/api/sync", json=batch, headers=h))
                 for h, batch in zip(headers, batches)]
        for _ in range(200):  # the refused are answered although the writer has not written anything yet
            if sum(task.done() for task in tasks) == DEVICES - LIMIT // PER_BATCH:
                break
            await asyncio.sleep(0.05)
        early = [task.result() for task in tasks if task.done()]
        pending = [task for task in tasks if not task.done()]
        assert writer.waiting_records == LIMIT
        writer.resume()
        later = await asyncio.gather(*pending)
    return early, list(later)


def test_a_flood_beyond_the_queue_is_refused_at_once_with_retry_after_and_nothing_is_lost(settings):
    app = create_app(dataclasses.replace(settings, sync_queue_records=LIMIT))
    db, writer = app.state.db, app.state.writer
    deployment_id, headers = _devices(db, DEVICES)
    batches = [_batch(deployment_id) for _ in range(DEVICES)]
    ids = [item["id"] for batch in batches for item in batch["records"]]
    try:
        early, later = run_isolated(_flood(app, headers, batches))

        # Refused at once, while the two admitted batches still waited for the writer: 503 with a Retry-After
        # in whole seconds (its turn; test_refused_batches_are_given_turns_one_after_the_other below).
        assert len(early) == DEVICES - LIMIT // PER_BATCH
        assert {r.status_code for r in early} == {503}
        waits = [int(r.headers["retry-after"]) for r in early]
        assert min(waits) >= 1
        assert all(r.json()["status"] == 503 and r.json()["error"] for r in early)
        # The admitted batches were written once the writer went on.
        assert len(later) == LIMIT // PER_BATCH and {r.status_code for r in later} == {200}
        accepted = {result["id"] for r in later for result in r.json()["results"] if result["status"] == "accepted"}
        assert len(accepted) == LIMIT
        stored = _stored(db, ids)
        assert set(stored) == accepted  # nothing of a refused batch was stored

        # The refused devices come back (as told) and every record is stored exactly once; a resend of an
        # acknowledged batch (a lost answer) is a duplicate and stores nothing more.
        async def come_back():  # one after the other, as their Retry-After spreads them
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1",
                                         timeout=60) as client:
                return [await client.post("/api/sync", json=batch, headers=h) for h, batch in zip(headers, batches)]
        again = run_isolated(come_back())
        assert {r.status_code for r in again} == {200}
        statuses = [result["status"] for r in again for result in r.json()["results"]]
        assert statuses.count("accepted") == DEVICES * PER_BATCH - LIMIT
        assert statuses.count("duplicate") == LIMIT
        assert _stored(db, ids) == {record_id: 1 for record_id in ids}
        assert writer.refused == DEVICES - LIMIT // PER_BATCH
    finally:
        writer.stop()


def test_refused_batches_are_given_turns_one_after_the_other(db_path, monkeypatch):
    """Each refused batch's Retry-After is its turn at the writer's measured rate, after the records waiting and
    the turns given before it, rounded to the nearest whole second (at least 1): the client adds up to a second
    at random, so a crowd comes back spread over the time the writer needs for it and not later than that."""
    writer = Writer(db_path, 1000)
    now = [100.0]
    monkeypatch.setattr("fieldapp.writer.time.monotonic", lambda: now[0])
    writer._rate = 100.0  # records a second
    writer._waiting_records = 50  # half a second of work waits already
    waits = [writer.retry_after(50) for _ in range(8)]  # turns at 0.5, 1.0, 1.5 ... 4.0 s
    assert waits == [1, 1, 2, 2, 2, 3, 4, 4]  # round half to even: 0.5 -> 1 (at least), 2.5 -> 2, 3.5 -> 4
    now[0] += 3.0  # three seconds later the next refused batch is turned away to after the last turn given
    assert writer.retry_after(50) == 2  # its turn at 4.5 s from the start: 1.5 s from now
    now[0] += 10.0  # long after: its turn is when the waiting records are written
    assert writer.retry_after(50) == 1


def test_batches_waiting_together_are_one_transaction_and_a_failing_one_rolls_back_alone(db_path):
    """Group commit: what waits goes in one transaction, each job in a savepoint of its own."""
    writer = Writer(db_path, 1000)
    first, second = new_id(), new_id()

    def insert(record_id):
        def job(db):
            with write(db):
                db.execute("INSERT INTO sequences (name, value) VALUES (?, 1)", [record_id])
            return record_id
        return job

    def failing(db):
        with write(db):
            db.execute("INSERT INTO sequences (name, value) VALUES ('never', 1)")
            raise ValueError("refused")

    async def go():
        writer.pause()
        jobs = [asyncio.create_task(writer.run(fn, records=1)) for fn in (insert(first), failing, insert(second))]
        for _ in range(100):
            if writer.waiting_records == 3:
                break
            await asyncio.sleep(0.01)
        groups = writer.groups
        writer.resume()
        done = await asyncio.gather(*jobs, return_exceptions=True)
        return done, writer.groups - groups

    try:
        (one, refused, two), groups = run_isolated(go())
    finally:
        writer.stop()
    assert (one, two, groups) == (first, second, 1)
    assert isinstance(refused, ValueError)
    names = {row[0] for row in open_db(db_path).execute("SELECT name FROM sequences").fetchall()}
    assert {first, second} <= names and "never" not in names


def test_a_writer_that_cannot_open_the_database_answers_with_the_error_instead_of_hanging(tmp_path):
    bad = tmp_path / "not.db"
    bad.write_bytes(b"this is not a database" * 200)
    writer = Writer(bad, 100)
    with pytest.raises(DatabaseRefused):
        run_isolated(asyncio.wait_for(writer.run(lambda db: None), 20))
    writer.stop()


def test_a_read_logged_while_another_connection_holds_the_write_lock_leaves_the_event_loop_free(settings):
    """A page's audit row (and a pull's) is written by the writer's thread (web.log_read), not on the event loop:
    while another connection holds SQLite's write lock (a storm's group commit, a backup), the page waits for its
    row but every other request is answered meanwhile. Before, the loop itself waited on the lock."""
    app = create_app(settings)
    db, writer = app.state.db, app.state.writer
    deployment_id, [headers] = _devices(db, 1)
    assert run_isolated(_get(app, "/livez")).status_code == 200

    try:
        live, live_after, page_waited, answer = run_isolated(
            livez_while_locked(app, settings.db_path, f"/deployments/{deployment_id}", headers, pause=0.2))
        assert live.status_code == 200 and live_after < 1.5, live_after
        assert page_waited  # its audit row waited for the lock ...
        assert answer.status_code == 200  # ... and was written once it was free
        rows = db.execute("SELECT count(*) FROM audit_log WHERE action = 'list' AND record_type = 'deployment' "
                          "AND record_id = ?", [deployment_id]).fetchone()[0]
        assert rows == 1
    finally:
        writer.stop()


def test_a_group_without_records_commits_without_waiting_for_the_disk_and_records_always_wait(db_path):
    """Reads' audit rows and sessions' expiry (no records) are committed with synchronous=NORMAL, as audit.read does
    alone; a group with records is committed with synchronous=FULL, and the connection is FULL between groups."""
    writer = Writer(db_path, 1000)

    def level(db):
        return db.conn.execute("PRAGMA synchronous").fetchone()[0]

    async def go():
        light = await writer.run(level, records=0)
        heavy = await writer.run(level, records=1)
        return light, heavy

    try:
        assert run_isolated(go()) == (1, 2)
        assert writer.db.conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    finally:
        writer.stop()
