"""Web Push end to end against a push service on 127.0.0.1: encryption, VAPID, TTL, urgency, expiry, retries."""

from __future__ import annotations

import json
import os
import stat
import time
from datetime import timedelta

import pytest

from fieldapp import accounts, alerts, i18n, push
from fieldapp.clock import parse, utcnow
from fieldapp.push_worker import PushWorker
from fieldapp.settings import Settings
from tests.push_service import LocalPushService, verify_vapid

LOCAL_PUSH = alerts.allowed_push_hosts("", loopback=True)  # the push service of these tests runs on 127.0.0.1


@pytest.fixture
def settings(db_path):
    # The sender looks at the queue every 0.1 s so that the tests wait little.
    return Settings(db_path=db_path, push_loopback=1, extra={"push_poll_seconds": 0.1, "push_timeout": 3})


@pytest.fixture
def service():
    with LocalPushService() as running:
        yield running


def current_deployment(db) -> str:
    return db.execute("SELECT id FROM deployments WHERE name = 'Mielenosoitus Senaatintorilla'").fetchone()[0]


def subscribe(session, client) -> str:
    response = session.post_json("/api/push/subscriptions", client.subscription_json(),
                                 headers={"User-Agent": "Mozilla/5.0 (Linux; Android 14) Chrome/140.0 Mobile"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def send_alert(lead, deployment_id: str, level: str = "urgent", message: str = "Crowd moving to Senaatintori") -> str:
    response = lead.post("/alerts", data={"deployment_id": deployment_id, "level": level, "message": message})
    assert response.status_code == 303, response.text
    return response.headers["location"].rsplit("/", 1)[-1]


def wait_until(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def delivery(db, alert_id: str) -> dict:
    row = db.execute("SELECT state, attempts, status_code, next_attempt_at, subscription_id, last_error "
                     "FROM push_deliveries WHERE alert_id = ?", [alert_id]).fetchone()
    return dict(zip(("state", "attempts", "status_code", "next_attempt_at", "subscription_id", "last_error"), row))


def test_alert_arrives_encrypted_and_decrypts_to_a_content_free_payload(login, db, service):
    officer, lead = login("officer1"), login("lead1")
    device = service.client("officer1-phone")
    subscribe(officer, device)
    alert_id = send_alert(lead, current_deployment(db), "urgent", "Counter-demonstrators at Senaatintori, group X")

    request = service.wait_for(1, "officer1-phone")[0]
    assert request["headers"]["content-encoding"] == "aes128gcm"
    assert b"Senaatintori" not in request["body"]
    payload = device.decrypt(request["body"])
    assert set(payload) == {"alert_id", "level", "title", "body"}
    assert payload["alert_id"] == alert_id and payload["level"] == "urgent"
    token = i18n.set_locale("fi")  # officer1 has no language of their own: the default, Finnish
    try:
        assert payload["title"] == i18n.gettext(push.TITLES["urgent"])
    finally:
        i18n._current.reset(token)
    text = " ".join(str(v) for v in payload.values())
    for secret in ("Senaatintori", "Counter-demonstrators", "group X", "Mielenosoitus", "Lead One", "officer1"):
        assert secret not in text
    state = wait_until(lambda: delivery(db, alert_id)["state"] == "sent" and delivery(db, alert_id))
    assert state["status_code"] == 201 and state["attempts"] == 1
    assert db.execute("SELECT last_success_at FROM push_subscriptions").fetchone()[0] is not None


def test_vapid_token_is_signed_for_the_endpoint_origin_and_expires_within_a_day(login, db, service, settings):
    officer, lead = login("officer1"), login("lead1")
    subscribe(officer, service.client("officer1-phone"))
    send_alert(lead, current_deployment(db))
    request = service.wait_for(1)[0]

    claims, key = verify_vapid(request["headers"]["authorization"])
    assert claims["aud"] == service.origin
    assert claims["sub"] == settings.vapid_subject
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600
    assert key == officer.get("/api/push/key").json()["public_key"]


def test_every_send_has_a_ttl_and_the_urgency_of_its_level(login, db, service):
    officer, lead = login("officer1"), login("lead1")
    subscribe(officer, service.client("phone"))
    deployment = current_deployment(db)
    for level in ("info", "warning", "urgent"):
        send_alert(lead, deployment, level, f"{level} message")
    requests = service.wait_for(3)
    seen = {}
    for request in requests:
        assert int(request["headers"]["ttl"]) > 0
        seen[int(request["headers"]["ttl"])] = request["headers"]["urgency"]
    assert seen == {alerts.TTL_SECONDS["info"]: "normal", alerts.TTL_SECONDS["warning"]: "high",
                    alerts.TTL_SECONDS["urgent"]: "high"}


def test_each_send_gets_fresh_vapid_claims_for_its_own_push_service(login, db, service):
    officer1, officer2, lead = login("officer1"), login("officer2"), login("lead1")
    with LocalPushService() as other_vendor:
        subscribe(officer1, service.client("a"))
        subscribe(officer2, other_vendor.client("b"))
        send_alert(lead, current_deployment(db))
        first = verify_vapid(service.wait_for(1)[0]["headers"]["authorization"])[0]
        second = verify_vapid(other_vendor.wait_for(1)[0]["headers"]["authorization"])[0]
    assert first["aud"] == service.origin and second["aud"] == other_vendor.origin


@pytest.mark.parametrize("status", [410, 404])
def test_a_gone_subscription_is_removed_and_the_delivery_marked_expired(login, db, service, status):
    officer, lead = login("officer1"), login("lead1")
    subscription_id = subscribe(officer, service.client("old-phone"))
    service.answer("old-phone", (status, {}))
    alert_id = send_alert(lead, current_deployment(db))

    state = wait_until(lambda: delivery(db, alert_id)["state"] == "expired" and delivery(db, alert_id))
    assert state["status_code"] == status
    assert db.execute("SELECT COUNT(*) FROM push_subscriptions WHERE id = ?", [subscription_id]).fetchone()[0] == 0
    assert officer.get("/alerts/devices").text.count("data-device-key") == 0
    # The next alert is not sent to the removed device at all.
    send_alert(lead, current_deployment(db), "info", "second")
    time.sleep(0.3)
    assert len(service.requests_for("old-phone")) == 1


def test_429_with_retry_after_is_retried_later_and_not_before(login, db, service):
    officer, lead = login("officer1"), login("lead1")
    subscribe(officer, service.client("busy"))
    service.answer("busy", (429, {"Retry-After": "2"}))
    alert_id = send_alert(lead, current_deployment(db))

    first = service.wait_for(1, "busy")[0]
    waiting = wait_until(lambda: delivery(db, alert_id)["status_code"] == 429 and delivery(db, alert_id))
    assert waiting["state"] == "queued"
    assert parse(waiting["next_attempt_at"]) >= utcnow() + timedelta(seconds=1)
    second = service.wait_for(2, "busy", timeout=10)[1]
    assert second["at"] - first["at"] >= 2.0
    done = wait_until(lambda: delivery(db, alert_id)["state"] == "sent" and delivery(db, alert_id))
    assert done["attempts"] == 2 and done["status_code"] == 201


def test_server_error_is_queued_again_with_backoff_and_gives_up_after_the_ttl(db):
    lead = accounts.by_username(db, "lead1")
    officer = accounts.by_username(db, "officer1")
    alerts.subscribe(db, officer, "http://127.0.0.1:9/push/x", *_keys(), allowed_hosts=LOCAL_PUSH)
    alert = alerts.send_alert(db, lead, {"deployment_id": current_deployment(db), "level": "urgent", "message": "m"})
    now = utcnow()
    claimed = alerts.claim_due(db, 10, now)
    assert [row["alert_id"] for row in claimed] == [alert["id"]]
    alerts.record_outcomes(db, [push.Outcome(claimed[0]["id"], "retry", 503, None, "busy")], now)
    row = delivery(db, alert["id"])
    assert row["state"] == "queued" and row["status_code"] == 503
    assert 1.5 <= (parse(row["next_attempt_at"]) - now).total_seconds() <= 2.5  # 2 s after the first attempt
    # Nothing is due before then; later it is claimed again.
    assert alerts.claim_due(db, 10, now + timedelta(seconds=1)) == []
    again = alerts.claim_due(db, 10, now + timedelta(seconds=3))
    assert again and again[0]["attempts"] == 2
    # Asked to wait beyond the alert's time to live: the delivery fails instead of waiting forever.
    alerts.record_outcomes(db, [push.Outcome(again[0]["id"], "retry", 429, 7200.0, "slow down")], now)
    assert delivery(db, alert["id"])["state"] == "failed"


def test_a_claim_whose_sender_died_comes_due_again_after_the_lease(db):
    lead, officer = accounts.by_username(db, "lead1"), accounts.by_username(db, "officer1")
    alerts.subscribe(db, officer, "http://127.0.0.1:9/push/y", *_keys(), allowed_hosts=LOCAL_PUSH)
    alerts.send_alert(db, lead, {"deployment_id": current_deployment(db), "level": "info", "message": "m"})
    now = utcnow()
    assert len(alerts.claim_due(db, 10, now)) == 1
    assert alerts.claim_due(db, 10, now + timedelta(seconds=30)) == []
    assert len(alerts.claim_due(db, 10, now + alerts.LEASE + timedelta(seconds=1))) == 1


def test_queued_alerts_survive_a_restart_of_the_sender(app, db, settings, service):
    # No TestClient: the app's own sender never starts, as if the server died after the lead pressed send.
    lead, officer = accounts.by_username(db, "lead1"), accounts.by_username(db, "officer1")
    device = service.client("phone")
    alerts.subscribe(db, officer, device.endpoint, device.p256dh, device.subscription_json()["keys"]["auth"],
                     allowed_hosts=LOCAL_PUSH)
    alert = alerts.send_alert(db, lead, {"deployment_id": current_deployment(db), "level": "warning", "message": "m"})
    assert delivery(db, alert["id"])["state"] == "queued"

    worker = PushWorker(settings)
    worker.start()
    try:
        assert device.decrypt(service.wait_for(1)[0]["body"])["alert_id"] == alert["id"]
        wait_until(lambda: delivery(db, alert["id"])["state"] == "sent")
    finally:
        worker.stop()


def test_stop_is_prompt_and_hands_back_claims_not_yet_sent(app, db, db_path):
    lead = accounts.by_username(db, "lead1")
    officer = accounts.by_username(db, "officer1")
    with LocalPushService(delay=3.0) as slow:
        for n in range(5):
            device = slow.client(f"d{n}")
            alerts.subscribe(db, officer, device.endpoint, device.p256dh, device.subscription_json()["keys"]["auth"],
                     allowed_hosts=LOCAL_PUSH)
        alert = alerts.send_alert(db, lead, {"deployment_id": current_deployment(db), "level": "info", "message": "m"})
        worker = PushWorker(Settings(db_path=db_path, push_loopback=1, extra={"push_concurrency": 1, "push_poll_seconds": 0.1}))
        worker.start()
        slow.wait_for(1)
        started = time.monotonic()
        worker.stop()
        assert time.monotonic() - started < 1.0
        rows = db.execute("SELECT attempts, next_attempt_at FROM push_deliveries WHERE alert_id = ? AND state = 'queued'",
                          [alert["id"]]).fetchall()
    assert len(rows) == 5 and len(slow.received) == 1
    due_now = [r for r in rows if parse(r[1]) <= utcnow()]
    assert len(due_now) == 4 and all(r[0] == 0 for r in due_now)  # released, the attempt not counted


def test_vapid_key_is_made_once_beside_the_database_and_private(settings, app):
    path = push.vapid_key_path(settings)
    assert path.parent == settings.db_path.parent
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    first = push.public_key(push.load_vapid(settings))
    assert push.public_key(push.load_vapid(settings)) == first
    assert len(first) == 87  # 65 bytes (an uncompressed P-256 point), base64url without padding


def test_public_key_is_served_to_logged_in_field_users(login, client, settings, app):
    assert login("officer1").get("/api/push/key").json()["public_key"] == push.public_key(push.load_vapid(settings))
    assert client.get("/api/push/key").status_code == 401


def test_payload_title_is_in_the_recipients_language():
    fi, sv = push.payload("x", "warning", "fi"), push.payload("x", "warning", "sv")
    token = i18n.set_locale("sv")
    try:
        expected = i18n.gettext(push.TITLES["warning"])
    finally:
        i18n._current.reset(token)
    assert json.loads(sv)["title"] == expected and json.loads(fi)["title"] != json.loads(sv)["title"]


def _keys() -> tuple[str, str]:
    from tests.push_service import PushClient
    client = PushClient("http://127.0.0.1:9/push/z")
    data = client.subscription_json()["keys"]
    return data["p256dh"], data["auth"]
