"""Routes run beside the server's event loop (fieldapp/page_loops.py): a form posted without JavaScript that waits
for SQLite's write lock holds up neither /livez nor, once its page loop has stood still for STALLED seconds, other
pages (the spare page loop answers them). Before, the handler wrote on the event loop's connection and every
request of the server waited with it (up to busy_timeout, 10 s)."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest

from fieldapp import accounts, devices, page_loops, records
from fieldapp.app import create_app
from fieldapp.web import DEVICE_COOKIE, SESSION_COOKIE
from tests.test_admission import _devices, hold_write_lock, livez_while_locked
from tests.test_login_throttle import run_isolated


def test_a_form_waiting_for_the_write_lock_holds_up_neither_livez_nor_other_pages(settings):
    app = create_app(settings)
    db, writer = app.state.db, app.state.writer
    deployment_id, [officer, other_officer] = _devices(db, 2)
    held, release = threading.Event(), threading.Event()
    note = "Synteettinen havainto lomakkeelta ilman skriptejä."

    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1",
                                     timeout=30) as client:
            assert (await client.get("/", headers=other_officer)).status_code == 200
            holder = threading.Thread(target=hold_write_lock, args=(settings.db_path, held, release))
            holder.start()
            held.wait(5)
            started = time.perf_counter()
            form = {"kind": "provocation", "severity": "3", "notes": note, "_csrf": officer["x-csrf-token"]}
            posted = asyncio.create_task(client.post(
                f"/deployments/{deployment_id}/tensions", data=form,
                headers={"cookie": officer["cookie"], "sec-fetch-site": "same-origin"}))
            await asyncio.sleep(0.3)
            live = await client.get("/livez")
            live_after = time.perf_counter() - started
            await asyncio.sleep(max(0.0, page_loops.STALLED + 0.3 - (time.perf_counter() - started)))
            page = await client.get("/", headers=other_officer)
            page_after = time.perf_counter() - started
            post_waited = not posted.done()
            release.set()
            answer = await posted
            holder.join()
            return live, live_after, page, page_after, post_waited, answer

    try:
        live, live_after, page, page_after, post_waited, answer = run_isolated(go())
        assert live.status_code == 200 and live_after < 1.5, live_after
        assert page.status_code == 200 and page_after < page_loops.STALLED + 1.5, page_after  # the spare loop did
        assert post_waited  # the form's transaction waited for the lock ...
        assert answer.status_code == 303, answer.text[:300]  # ... and was stored once it was free
        table = records.KINDS["tension"].table
        stored = db.execute(f"SELECT count(*) FROM {table} WHERE notes = ?", [note]).fetchone()[0]
        assert stored == 1
    finally:
        writer.stop()


def test_each_page_loop_has_its_own_connection_with_the_apps_pragmas(settings):
    """A route's connection is its page loop's (never the server loop's), with synchronous=FULL and foreign keys."""
    app = create_app(settings)
    seen = []

    async def on_loop():
        db = app.state.db
        return [page_loops.connection(settings.db_path) is not db, page_loops.on_page_loop()]

    async def go():
        loops = page_loops._started()
        for loop in loops:
            seen.append(await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(on_loop(), loop)))
        return page_loops.on_page_loop()

    assert run_isolated(go()) is False  # the caller's loop is not a page loop
    assert seen == [[True, True]] * page_loops.LOOPS
    opened = page_loops.connections(settings.db_path)
    assert len(opened) == page_loops.LOOPS
    for page_db in opened:
        assert page_db.conn.execute("PRAGMA synchronous").fetchone()[0] == 2
        assert page_db.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    app.state.writer.stop()


@pytest.mark.parametrize("method, path, extra, body, revoked_answer", [
    # No route matches: the 401 comes from the exception handler, which ran on the server's loop before.
    ("GET", "/no-such-page", {}, {}, lambda answer: answer.headers["x-fieldapp-device"]),
    # POST /api/sync stays on the server's loop (opt on_loop); its 401 is made on a page loop.
    ("POST", "/api/sync", {"x-csrf-token": "x"}, {"json": {"records": [], "sent_at": "2026-12-03T12:00:00Z"}},
     lambda answer: answer.json()["device"]),
], ids=["unmatched-path", "sync-batch"])
def test_a_revoked_phones_401_logs_its_wipe_beside_the_servers_loop(settings, method, path, extra, body,
                                                                    revoked_answer):
    """A revoked phone gets a 401 that logs the wipe (a write). While another connection holds the write lock that
    answer waits; /livez does not. Before, the write waited on the server's loop (up to the busy timeout, 10 s)
    and /livez with it: for a path no route matches (the exception handler) and for a sync batch."""
    app = create_app(settings)
    db, writer = app.state.db, app.state.writer
    officer = accounts.by_username(db, "officer1")
    admin = accounts.by_username(db, "admin1")
    device_id, token = devices.register(db, officer, None, "Synthetic phone")
    assert devices.revoke(db, devices.get(db, device_id), admin.id)
    try:
        live, live_after, lost_waited, answer = run_isolated(livez_while_locked(
            app, settings.db_path, path, {"cookie": f"{DEVICE_COOKIE}={token}", **extra}, pause=0.3, method=method,
            **body))
        assert live.status_code == 200 and live_after < 1.5, live_after
        assert lost_waited  # the wipe's audit row waited for the lock ...
        assert answer.status_code == 401 and revoked_answer(answer) == "revoked"  # ... then answered
        assert devices.get(db, device_id)["wiped_at"]
    finally:
        writer.stop()


def test_a_refused_sync_batch_is_logged_without_holding_up_the_servers_loop(settings):
    """A logged-in phone's batch with a wrong CSRF token is refused (403) on the server's loop, and the refusal is
    logged (a write). While another connection holds the write lock, the 403 and /livez answer at once; the log
    entry is written once the lock is free. Before, the write waited on the server's loop, /livez with it."""
    app = create_app(settings)
    db, writer = app.state.db, app.state.writer
    officer = accounts.by_username(db, "officer1")
    token, _csrf = accounts.start_session(db, officer, 12)
    before = db.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'refused'").fetchone()[0]
    try:
        live, live_after, refused_waited, answer = run_isolated(livez_while_locked(
            app, settings.db_path, "/api/sync", {"cookie": f"{SESSION_COOKIE}={token}", "x-csrf-token": "wrong"},
            pause=0.3, method="POST", json={"records": [], "sent_at": "2026-12-03T12:00:00Z"}))
        assert live.status_code == 200 and live_after < 1.5, live_after
        assert not refused_waited and answer.status_code == 403
        deadline = time.monotonic() + 10
        while db.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'refused'").fetchone()[0] == before:
            assert time.monotonic() < deadline, "the refusal was never logged"
            time.sleep(0.05)
        row = db.execute("SELECT user_id, detail FROM audit_log WHERE action = 'refused' ORDER BY id DESC").fetchone()
        assert row[0] == officer.id and "POST /api/sync" in row[1]
    finally:
        writer.stop()


BATCH = b'{"records": [], "sent_at": "2026-12-03T12:00:00Z"}'


@pytest.mark.parametrize("case", ["no session", "unknown session", "malformed JSON", "not JSON", "too large",
                                  "unknown field"])
def test_bad_sync_batches_are_answered_without_holding_up_the_servers_loop(settings, case):
    """Whatever is wrong with a batch sent to the server's loop, its 4xx comes while another connection holds the
    write lock, and /livez answers beside it."""
    app = create_app(settings)
    db, writer = app.state.db, app.state.writer
    token, csrf = accounts.start_session(db, accounts.by_username(db, "officer1"), 12)
    headers = {"cookie": f"{SESSION_COOKIE}={token}", "x-csrf-token": csrf, "content-type": "application/json"}
    content = BATCH
    if case == "no session":
        headers.pop("cookie")
    elif case == "unknown session":
        headers["cookie"] = f"{SESSION_COOKIE}=no-such-session-token-at-all"
    elif case == "malformed JSON":
        content = b'{"records": [,'
    elif case == "not JSON":
        headers["content-type"] = "text/plain"
    elif case == "too large":
        content = b'{"records": [], "sent_at": "' + b"x" * (settings.max_body_bytes + 10) + b'"}'
    elif case == "unknown field":
        content = b'{"records": [{"id": 1}], "sent_at": 5}'
    try:
        live, live_after, waited, answer = run_isolated(livez_while_locked(
            app, settings.db_path, "/api/sync", headers, pause=0.3, method="POST", content=content))
        assert live.status_code == 200 and live_after < 1.5, live_after
        assert not waited and 400 <= answer.status_code < 500, (answer.status_code, answer.text)
    finally:
        writer.stop()


def _statements_on_the_servers_loop(settings, requests) -> tuple[list, list[str]]:
    """requests(client, deployment_id, headers) sent by a logged-in phone (session and device cookies); (its answers,
    every statement run meanwhile on the app's own connection, which is what routes on the server's loop read)."""
    app = create_app(settings)
    db, writer = app.state.db, app.state.writer
    deployment_id, headers = _devices(db, 1)
    _device_id, device_token = devices.register(db, accounts.by_username(db, "officer1"), None, "Synthetic phone")
    headers[0]["cookie"] += f"; {DEVICE_COOKIE}={device_token}"
    on_server_loop: list[str] = []
    db.conn.set_trace_callback(on_server_loop.append)

    async def send():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1",
                                     timeout=30) as client:
            return await requests(client, deployment_id, headers[0])

    try:
        answers = run_isolated(send())
    finally:
        db.conn.set_trace_callback(None)
        writer.stop()
    return answers, on_server_loop


def test_a_sync_batch_runs_no_sqlite_on_the_servers_loop(settings):
    """POST /api/sync stays on the server's loop, which must never wait for SQLite: the batch's session and device
    are read by the sessions thread, its records written by the writer's thread. Every statement run on the server's
    loop is noted: none while a phone sends a batch. Before, the session lookup read `devices` and `sessions` there."""

    async def batch(client, deployment_id, headers):
        record = {"id": "01a23d0b-0000-7000-8000-00000000abcd", "kind": "contact", "deployment_id": deployment_id,
                  "device_time": "2026-12-03T12:00:00Z",
                  "values": {"topics": ["rumour"], "occurred_at": "2026-12-03T14:00"}}
        return [await client.post("/api/sync", json={"records": [record], "sent_at": "2026-12-03T12:00:00Z"},
                                  headers=headers)]

    [answer], on_server_loop = _statements_on_the_servers_loop(settings, batch)
    assert answer.status_code == 200 and answer.json()["results"][0]["status"] == "accepted", answer.text
    assert on_server_loop == []


def test_livez_reads_nothing_even_from_a_logged_in_phone(settings):
    """/livez stays on the server's loop and says only that the process answers: a phone (or a browser) that sends
    its session and device cookies with it gets its 200 without any statement run there. Before, the session and
    device were read on the server's loop for it (and a revoked device's wipe written there)."""

    async def livez(client, _deployment_id, headers):
        return [await client.request(method, "/livez", headers=headers) for method in ("GET", "HEAD")]

    answers, on_server_loop = _statements_on_the_servers_loop(settings, livez)
    assert [answer.status_code for answer in answers] == [200, 200]
    assert on_server_loop == []


def test_a_sync_batch_is_answered_while_both_page_loops_are_busy(settings):
    """The page loops may both be held up by long pages; a sync batch does not depend on them: its session is read
    in a worker thread, its records written by the writer's thread."""
    app = create_app(settings)
    db, writer = app.state.db, app.state.writer
    deployment_id, headers = _devices(db, 1)
    batch = {"records": [{"id": "01a23d0b-0000-7000-8000-00000000abce", "kind": "contact",
                          "deployment_id": deployment_id, "device_time": "2026-12-03T12:00:00Z",
                          "values": {"topics": ["rumour"], "occurred_at": "2026-12-03T14:00"}}],
             "sent_at": "2026-12-03T12:00:00Z"}
    busy = threading.Event()

    async def send():
        for loop in page_loops._started():
            loop.call_soon_threadsafe(busy.wait, 10)  # a long page on each loop
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1",
                                     timeout=30) as client:
            started = time.perf_counter()
            answer = await client.post("/api/sync", json=batch, headers=headers[0])
            return answer, time.perf_counter() - started

    try:
        answer, seconds = run_isolated(send())
    finally:
        busy.set()
        writer.stop()
    assert answer.status_code == 200 and answer.json()["results"][0]["status"] == "accepted", answer.text
    assert seconds < 5, seconds
