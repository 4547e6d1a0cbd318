"""The outbound POR feed: queued with the write, delivered at least once, resumed after a restart."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from litestar.testing import TestClient

from fieldapp import accounts, deployments, por, projections, records
from fieldapp.app import create_app
from fieldapp.clock import iso
from fieldapp.db import write
from fieldapp.services import recording
from fieldapp.settings import Settings
from tests.stored import store_new

TOKEN = "synthetic-test-token"
FAST = {"por_backoff_base": 0.05, "por_backoff_max": 0.5, "por_poll_seconds": 0.05, "por_timeout": 2.0}


class Receiver:
    """A POR endpoint on 127.0.0.1 that fails the first attempts: 500, then 429 with Retry-After: 1."""

    def __init__(self, port: int = 0, script: list | None = None):
        self.requests: list[dict] = []          # every request: key, status, time
        self.acked: Counter = Counter()         # idempotency key -> 2xx answers
        self.script = list(script if script is not None else [(500, {}), (429, {"Retry-After": "1"})])
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = self.headers.get("Idempotency-Key")
                with receiver.lock:
                    status, headers = receiver.script.pop(0) if receiver.script else (200, {})
                    ok = (key == body["idempotency_key"]
                          and self.headers.get("Authorization") == f"Bearer {TOKEN}")
                    status = status if ok else 400
                    receiver.requests.append({"key": key, "status": status, "at": time.monotonic(), "body": body})
                    if 200 <= status < 300:
                        receiver.acked[key] += 1
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/por/feed"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def wait_until(predicate, timeout=15.0, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {message}")


def outbox(db) -> list[dict]:
    return list(db.query("SELECT * FROM por_outbox ORDER BY id"))


def _contact(**values):
    return {"age_band": "18_29", "language": "fi", "topics": ["rumour"], "notes": "synthetic", **values}


@pytest.fixture
def field(memory_db):
    """A unit with a lead and a live deployment, in an empty database."""
    unit = accounts.ensure_unit(memory_db, "Feed unit")
    lead = accounts.create_user(memory_db, "feed_lead", "long-enough-pw", "lead", unit, "Feed Lead")
    now = datetime.now(timezone.utc)
    deployment = deployments.save(memory_db, lead, {
        "name": "Live", "kind": "demonstration", "place_name": "Senaatintori", "lat": 60.17, "lon": 24.95,
        "starts_at": iso(now - timedelta(hours=1)), "ends_at": iso(now + timedelta(hours=2)),
        "notes": ""})
    return memory_db, lead, deployment


def test_nothing_is_queued_when_the_feed_is_not_configured(field):
    db, lead, deployment = field
    recording.create(db, lead, "contact", deployment["id"], _contact())
    por.configure(db, "")
    recording.create(db, lead, "contact", deployment["id"], _contact())
    assert outbox(db) == []


def test_app_without_por_url_queues_nothing_and_starts_no_worker(app, db):
    assert app.state.por_worker is None
    lead = accounts.by_username(db, "lead1")
    deployment = deployments.current_for_user(db, lead)
    recording.create(db, lead, "contact", deployment["id"], _contact())
    assert outbox(db) == []


def test_every_new_changed_and_deleted_version_is_queued_once_with_its_key(field):
    db, lead, deployment = field
    por.configure(db, "http://127.0.0.1:9/feed")
    sent = _contact(occurred_at=iso(datetime.now(timezone.utc)))
    contact = recording.create(db, lead, "contact", deployment["id"], sent, record_id=records.new_id())
    assert recording.create(db, lead, "contact", deployment["id"], sent, record_id=contact["id"])["duplicate"]
    recording.update(db, lead, "contact", contact["id"], _contact(age_band="30_49"), base_version=1)
    recording.delete(db, lead, "contact", contact["id"])
    rows = outbox(db)
    assert [r["idempotency_key"] for r in rows] == [f"contact:{contact['id']}:v{n}" for n in (1, 2, 3)]
    assert all(r["state"] == "pending" and r["attempts"] == 0 for r in rows)
    payloads = [json.loads(r["payload"]) for r in rows]
    assert payloads[0]["record"]["age_band"] == "18_29" and payloads[0]["record"]["topics"] == ["rumour"]
    assert payloads[1]["record"]["age_band"] == "30_49" and payloads[1]["version"] == 2
    assert payloads[2]["deleted"] is True and payloads[2]["record"]["deleted_at"]
    assert payloads[0]["record"]["notes"] == "synthetic"    # the department's own system gets the record as stored


def test_a_failed_write_queues_nothing_and_a_stop_before_the_projection_queues_once(field):
    db, lead, deployment = field
    por.configure(db, "http://127.0.0.1:9/feed")
    values = {"occurred_at": datetime.now(timezone.utc).isoformat(), "topics": []}
    with pytest.raises(RuntimeError):
        with write(db):
            store_new(db, lead, "contact", deployment["id"], values)
            raise RuntimeError("the write fails")
    projections.catch_up(db)
    assert outbox(db) == []
    assert db.execute("SELECT COUNT(*) FROM contacts").fetchone()[0] == 0
    # Committed, then the server stops before the projections run (as after a sync's answer).
    with write(db):
        record = store_new(db, lead, "contact", deployment["id"], values)
    assert outbox(db) == [] and projections.behind(db) == 1
    assert projections.catch_up(db) == 1  # what the next start (create_app) or write does
    assert projections.catch_up(db) == 0
    assert [(row["record_id"], row["record_version"]) for row in outbox(db)] == [(record["id"], 1)]


def test_deliver_marks_2xx_delivered_and_holds_the_queue_on_429(field):
    import httpx

    db, lead, deployment = field
    receiver = Receiver(script=[(429, {"Retry-After": "30"})])
    try:
        por.configure(db, receiver.url)
        for _ in range(3):
            recording.create(db, lead, "contact", deployment["id"], _contact())
        with httpx.Client(timeout=2) as client:
            first, *others = por.due(db)
            outcome = por.deliver(db, client, first, receiver.url, TOKEN, backoff_base=0.05)
            assert not outcome.delivered and outcome.hold_queue and outcome.wait >= 30
            assert por.due(db) == []                     # the whole queue waits for Retry-After
            rows = outbox(db)
            assert rows[0]["state"] == "retrying" and rows[0]["last_error"].startswith("HTTP 429")
            assert [r["attempts"] for r in rows] == [1, 0, 0]
            later = datetime.now(timezone.utc) + timedelta(seconds=31)
            for row in por.due(db, now=later):
                assert por.deliver(db, client, row, receiver.url, TOKEN).delivered
        assert [r["state"] for r in outbox(db)] == ["delivered"] * 3
        assert set(receiver.acked) == {r["idempotency_key"] for r in outbox(db)}
    finally:
        receiver.stop()


def test_feed_survives_failures_an_outage_and_a_restart(db_path):
    """500, then 429 + Retry-After, then the receiver and the server go down and come back: every
    queued version arrives, each idempotency key is acknowledged exactly once."""
    receiver = Receiver()
    settings = Settings(db_path=db_path, por_url=receiver.url, por_token=TOKEN, extra=FAST)
    expected: list[str] = []

    def write_some(db, n):
        lead = accounts.by_username(db, "lead1")
        deployment = deployments.current_for_user(db, lead)
        for _ in range(n):
            contact = recording.create(db, lead, "contact", deployment["id"], _contact())
            expected.append(por.idempotency_key("contact", contact["id"], 1))
        changed = recording.update(db, lead, "contact", contact["id"], _contact(language="sv"), base_version=1)
        expected.append(por.idempotency_key("contact", contact["id"], changed["version"]))
        tension = recording.create(db, lead, "tension", deployment["id"], {"kind": "provocation", "severity": 4})
        recording.delete(db, lead, "tension", tension["id"])
        expected.extend(por.idempotency_key("tension", tension["id"], v) for v in (1, 2))

    app = create_app(settings)
    with TestClient(app=app, base_url="http://127.0.0.1"):
        db = app.state.db
        assert app.state.por_worker.running
        write_some(db, 3)
        wait_until(lambda: all(r["state"] == "delivered" for r in outbox(db)), message="first deliveries")
        statuses = [r["status"] for r in receiver.requests]
        assert statuses[:2] == [500, 429]
        assert receiver.requests[2]["at"] - receiver.requests[1]["at"] >= 0.9   # Retry-After: 1 was honoured
        receiver.stop()                                                          # the POR endpoint goes down
        write_some(db, 2)
        wait_until(lambda: max(r["attempts"] for r in outbox(db) if r["state"] != "delivered") >= 3,
                   message="failed attempts while the endpoint is down")
        down = [r for r in outbox(db) if r["state"] != "delivered"]
        assert len(down) == 5 and "ConnectError" in down[0]["last_error"]
        worker = app.state.por_worker
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 3 and not worker.running                # server stopped promptly

    first_receiver = receiver
    receiver = Receiver(port=receiver.port)                                      # both come back
    try:
        restarted = create_app(settings)
        with TestClient(app=restarted, base_url="http://127.0.0.1"):
            db = restarted.state.db
            wait_until(lambda: all(r["state"] == "delivered" for r in outbox(db)), message="resumed deliveries")
            keys = [r["idempotency_key"] for r in outbox(db)]
    finally:
        receiver.stop()
    assert sorted(keys) == sorted(expected) and len(keys) == len(set(keys))
    assert set(receiver.acked) == set(expected[-5:])                              # queued during the outage
    acked = first_receiver.acked + receiver.acked
    assert set(acked) == set(keys)
    assert all(n == 1 for n in acked.values())                                   # none twice per key


def test_admin_sees_delivery_state_and_can_retry_now(app, login, db):
    por.configure(db, "http://127.0.0.1:9/feed")
    lead = accounts.by_username(db, "lead1")
    deployment = deployments.current_for_user(db, lead)
    recording.create(db, lead, "contact", deployment["id"], _contact())
    db.execute("UPDATE por_outbox SET state = 'retrying', attempts = 3, last_error = 'HTTP 503 Service Unavailable', "
               "next_attempt_at = '2999-01-01T00:00:00.000Z'")
    admin = login("admin1")
    page = admin.get("/admin/por", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert "HTTP 503 Service Unavailable" in page.text
    assert 'data-state="retrying">1<' in page.text
    partial = admin.get("/admin/por", headers={"HX-Request": "true"})
    assert 'id="por-state"' in partial.text
    assert "<html" not in partial.text
    assert admin.post("/admin/por/retry", data={}).status_code == 303
    assert por.due(db) != []
    assert db.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'por_retry_now'").fetchone()[0] == 1
    for username in ("lead1", "officer1", "staff1"):
        assert login(username).get("/admin/por").status_code == 403


def test_rebuilding_the_demo_data_drops_the_old_demo_rows_from_the_queue(db):
    from fieldapp import demo

    por.configure(db, "http://127.0.0.1:9/feed")
    lead = accounts.by_username(db, "lead1")
    recording.create(db, lead, "contact", deployments.current_for_user(db, lead)["id"], _contact())
    assert len(outbox(db)) == 1
    with write(db):
        demo._reset(db, lead.unit_id)
    assert outbox(db) == []
