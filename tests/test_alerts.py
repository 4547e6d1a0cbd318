"""Alerts: who may send, who receives, the inbox, devices, the delivery report and the automatic tension rule."""

from __future__ import annotations

from datetime import timedelta

import pytest
from litestar.testing import TestClient

from fieldapp import accounts, alerts, demo, deployments, push
from fieldapp.alerts import rules as alert_rules
from fieldapp.app import create_app
from fieldapp.clock import iso, utcnow
from fieldapp.errors import Forbidden, NotFound
from fieldapp.services import recording
from fieldapp.settings import Settings
from tests.conftest import Session
from tests.push_service import PushClient

LOCAL_PUSH = alerts.allowed_push_hosts("", loopback=True)  # the devices below use a push service on 127.0.0.1


@pytest.fixture
def settings(db_path):
    return Settings(db_path=db_path, push_loopback=1)


def user(db, username: str) -> accounts.User:
    return accounts.by_username(db, username)


def deployment_named(db, name: str) -> str:
    return db.execute("SELECT id FROM deployments WHERE name = ?", [name]).fetchone()[0]


def current_deployment(db) -> str:
    return deployment_named(db, "Mielenosoitus Senaatintorilla")


def send(lead, deployment_id: str, level: str = "warning", message: str = "Move to the north side") -> str:
    response = lead.post("/alerts", data={"deployment_id": deployment_id, "level": level, "message": message})
    assert response.status_code == 303, response.text
    return response.headers["location"].rsplit("/", 1)[-1]


def recipients(db, alert_id: str) -> set[str]:
    return {r[0] for r in db.execute("SELECT u.username FROM alert_recipients r JOIN users u ON u.id = r.user_id "
                                      "WHERE r.alert_id = ?", [alert_id])}


def device_json(name: str) -> dict:
    return PushClient(f"http://127.0.0.1:9/push/{name}").subscription_json()


def only_officer1_deployment(db) -> str:
    """An upcoming deployment of the demo unit with only officer1 assigned."""
    start = utcnow() + timedelta(hours=2)
    row = deployments.save(db, user(db, "lead1"), {
        "name": "Yökävely Kalliossa", "kind": "public_event", "place_name": "Kallion kirjasto", "lat": 60.1845,
        "lon": 24.95, "starts_at": iso(start), "ends_at": iso(start + timedelta(hours=3)), "notes": ""},
        assigned=[user(db, "officer1").id])
    return row["id"]


# ---- sending and receiving ----

def test_lead_alerts_everyone_assigned_to_the_deployment(login, db):
    lead = login("lead1")
    alert_id = send(lead, current_deployment(db), "urgent", "Counter-demonstration arriving")
    assert recipients(db, alert_id) == {"officer1", "officer2"}
    officer = login("officer1")
    assert "Counter-demonstration arriving" in officer.get("/alerts").text
    detail = officer.get(f"/alerts/{alert_id}")
    assert detail.status_code == 200 and "Counter-demonstration arriving" in detail.text


def test_officer_staff_and_admin_cannot_send_alerts(login, db):
    deployment_id = current_deployment(db)
    for username in ("officer1", "staff1", "admin1"):
        response = login(username).post("/alerts", data={"deployment_id": deployment_id, "level": "info",
                                                          "message": "hello"})
        assert response.status_code == 403
    with pytest.raises(Forbidden):
        alerts.send_alert(db, user(db, "officer1"), {"deployment_id": deployment_id, "level": "info", "message": "x"})
    assert db.execute("SELECT COUNT(*) FROM alerts WHERE kind = 'manual'").fetchone()[0] == 0


def test_lead_of_another_unit_cannot_alert_the_deployment(login, db):
    other_unit = accounts.ensure_unit(db, "Tampere preventive unit (test)")
    accounts.create_user(db, "lead9", demo.DEMO_PASSWORD, "lead", other_unit, "Lead Nine")
    response = login("lead9").post("/alerts", data={"deployment_id": current_deployment(db), "level": "urgent",
                                                    "message": "not mine"})
    assert response.status_code in (400, 404)  # another unit's deployment: as if unknown
    assert db.execute("SELECT COUNT(*) FROM alerts WHERE kind = 'manual'").fetchone()[0] == 0
    with pytest.raises(NotFound):
        alerts.send_alert(db, user(db, "lead9"), {"deployment_id": current_deployment(db), "level": "info",
                                                  "message": "x"})


def test_officers_receive_only_alerts_for_deployments_they_are_assigned_to(login, db):
    deployment_id = only_officer1_deployment(db)
    alert_id = send(login("lead1"), deployment_id, "info", "Briefing moved to 18:00")
    assert recipients(db, alert_id) == {"officer1"}
    officer2 = login("officer2")
    assert "Briefing moved" not in officer2.get("/alerts").text
    assert officer2.get(f"/alerts/{alert_id}").status_code == 404
    assert "Briefing moved" in login("officer1").get(f"/alerts/{alert_id}").text


def test_alerts_only_queue_pushes_for_recipients_devices(login, db):
    officer1, officer2 = login("officer1"), login("officer2")
    assert officer1.post_json("/api/push/subscriptions", device_json("o1-phone")).status_code == 201
    assert officer1.post_json("/api/push/subscriptions", device_json("o1-tablet")).status_code == 201
    assert officer2.post_json("/api/push/subscriptions", device_json("o2-phone")).status_code == 201
    alert_id = send(login("lead1"), only_officer1_deployment(db))
    rows = db.execute("SELECT u.username FROM push_deliveries p JOIN users u ON u.id = p.user_id WHERE alert_id = ?",
                      [alert_id]).fetchall()
    assert sorted(r[0] for r in rows) == ["officer1", "officer1"]


def test_an_invalid_alert_is_refused_in_the_users_language_and_keeps_the_text(login, db):
    lead = login("lead1")
    long_text = "Ä" * 281
    response = lead.post("/alerts", data={"deployment_id": current_deployment(db), "level": "urgent",
                                          "message": long_text}, headers={"Accept-Language": "en"})
    assert response.status_code == 400
    assert "The message is too long (281 characters, at most 280)." in response.text
    assert long_text in response.text
    empty = lead.post("/alerts", data={"deployment_id": current_deployment(db), "level": "loud", "message": "  "})
    assert empty.status_code == 400 and 'aria-invalid="true"' in empty.text
    unknown = lead.post("/alerts", data={"deployment_id": "01a1fe02-0000-7000-8000-000000000000", "level": "info",
                                         "message": "who?"})
    assert unknown.status_code == 400 and "who?" in unknown.text
    assert db.execute("SELECT COUNT(*) FROM alerts WHERE kind = 'manual'").fetchone()[0] == 0


def test_the_form_offers_the_units_current_and_upcoming_deployments(login, db):
    page = login("lead1").get(f"/alerts/new?deployment={current_deployment(db)}")
    assert page.status_code == 200
    assert f'<option value="{current_deployment(db)}" selected>' in page.text
    assert "Yhteisövierailu Malmilla" in page.text  # upcoming
    assert "Nuorten ilta Kontulassa" not in page.text  # past


# ---- inbox ----

def test_unread_alerts_show_in_the_header_until_opened(login, db):
    alert_id = send(login("lead1"), current_deployment(db))
    officer = login("officer1")
    home = officer.get("/")
    assert 'class="count-badge">1<' in home.text and 'href="/alerts"' in home.text
    assert 'class="alert-notice"' in home.text
    assert officer.get("/api/alerts/unread").json() == {"unread": 1}
    officer.get(f"/alerts/{alert_id}")
    assert officer.get("/api/alerts/unread").json() == {"unread": 0}
    assert "count-badge" not in officer.get("/").text
    assert db.execute("SELECT read_at FROM alert_recipients r JOIN users u ON u.id = r.user_id "
                      "WHERE u.username = 'officer1' AND alert_id = ?", [alert_id]).fetchone()[0]


def test_sender_sees_delivery_per_device_and_recipients_do_not(login, db):
    officer = login("officer1")
    officer.post_json("/api/push/subscriptions", device_json("phone"),
                      headers={"User-Agent": "Mozilla/5.0 (Linux; Android 14) Firefox/140.0"})
    lead = login("lead1")
    alert_id = send(lead, current_deployment(db))
    detail = lead.get(f"/alerts/{alert_id}").text
    assert 'id="deliveries"' in detail and "Firefox · Android" in detail and "Officer One" in detail
    assert 'id="deliveries"' not in officer.get(f"/alerts/{alert_id}").text
    assert lead.get(f"/alerts/{alert_id}/deliveries", headers={"HX-Request": "true"}).status_code == 200
    assert officer.get(f"/alerts/{alert_id}/deliveries").status_code == 403


def test_admin_has_no_alert_pages(login):
    admin = login("admin1")
    assert admin.get("/alerts").status_code == 403
    assert admin.post_json("/api/push/subscriptions", device_json("admin")).status_code == 403


# ---- devices ----

def test_a_user_turns_alerts_on_for_several_devices_and_off_again(login, db):
    staff = login("staff1")
    first = staff.post_json("/api/push/subscriptions", device_json("tablet"),
                            headers={"User-Agent": "Mozilla/5.0 (iPad; CPU OS 17_0) Safari/604.1"})
    second = staff.post_json("/api/push/subscriptions", device_json("phone"))
    assert first.status_code == 201 and second.status_code == 201
    page = staff.get("/alerts/devices").text
    assert page.count("data-device-key=") == 2 and "Safari · iPad" in page
    assert f'data-device-key="{alerts.endpoint_key(device_json("tablet")["endpoint"])}"' in page
    assert "127.0.0.1:9/push" not in page  # endpoints are capability URLs: only fingerprints on the page

    turned_off = staff.post(f"/alerts/devices/{first.json()['id']}/delete", data={})
    assert turned_off.status_code == 303
    assert staff.get("/alerts/devices").text.count("data-device-key=") == 1
    removed = staff.client.request("DELETE", "/api/push/subscriptions", json={"endpoint": device_json("phone")["endpoint"]},
                                   headers={"X-CSRF-Token": staff.csrf})
    assert removed.json() == {"removed": True}
    assert db.execute("SELECT COUNT(*) FROM push_subscriptions").fetchone()[0] == 0


def test_nobody_can_turn_off_someone_elses_device(login, db):
    subscription_id = login("officer1").post_json("/api/push/subscriptions", device_json("mine")).json()["id"]
    login("officer2").post(f"/alerts/devices/{subscription_id}/delete", data={})
    assert db.execute("SELECT COUNT(*) FROM push_subscriptions WHERE id = ?", [subscription_id]).fetchone()[0] == 1


def test_a_device_that_changes_hands_belongs_to_whoever_subscribed_last(login, db):
    device = device_json("shared-tablet")
    login("officer1").post_json("/api/push/subscriptions", device)
    login("officer2").post_json("/api/push/subscriptions", device)
    rows = db.execute("SELECT u.username FROM push_subscriptions s JOIN users u ON u.id = s.user_id").fetchall()
    assert rows == [("officer2",)]


@pytest.mark.parametrize("change", [
    {"endpoint": "http://192.168.1.5/push"},            # plain http off the loopback
    {"endpoint": "not a url"},
    {"keys": {"p256dh": "AAAA", "auth": "AAAAAAAAAAAAAAAAAAAAAA"}},
    {"keys": {"p256dh": None, "auth": "c2hvcnQ"}},
])
def test_an_unusable_subscription_is_refused_with_a_message(login, db, change):
    payload = {**device_json("x"), **change}
    response = login("officer1").post_json("/api/push/subscriptions", payload)
    assert response.status_code == 400 and response.json()["error"]
    assert db.execute("SELECT COUNT(*) FROM push_subscriptions").fetchone()[0] == 0


def test_malformed_subscription_json_is_a_400_not_a_500(login):
    officer = login("officer1")
    response = officer.client.post("/api/push/subscriptions", content=b"{nope",
                                   headers={"X-CSRF-Token": officer.csrf, "Content-Type": "application/json"})
    assert response.status_code == 400


def test_device_limit_is_explained(memory_db):
    unit = accounts.ensure_unit(memory_db, "Unit")
    officer = accounts.create_user(memory_db, "o", "long-enough-pw", "officer", unit)
    for n in range(alerts.MAX_DEVICES):
        alerts.subscribe(memory_db, officer, **_subscription(n), allowed_hosts=LOCAL_PUSH)
    with pytest.raises(alerts.AlertInvalid):
        alerts.subscribe(memory_db, officer, **_subscription(99), allowed_hosts=LOCAL_PUSH)


def _subscription(n: int) -> dict:
    data = device_json(f"d{n}")
    return {"endpoint": data["endpoint"], "p256dh": data["keys"]["p256dh"], "auth": data["keys"]["auth"]}


def test_device_labels_are_short_and_language_neutral():
    assert alerts.device_label("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/140.0 Mobile "
                               "Safari/537.36") == "Chrome · Android"
    assert alerts.device_label("Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Version/18.0 Mobile "
                               "Safari/604.1") == "Safari · iPhone"
    assert alerts.device_label(None) == ""


# ---- the automatic tension rule ----

def tension(severity: int, minutes_ago: int = 5) -> dict:
    return {"occurred_at": iso(utcnow() - timedelta(minutes=minutes_ago)), "kind": "provocation",
            "groups": [], "severity": str(severity), "trend": "rising", "basis": "observed",
            "place_name": "Senaatintori", "lat": "60.1695", "lon": "24.9525"}


def auto_alerts(db, before: set | None = None, rule: str = "tension_severity") -> list[tuple]:
    """(level, source_key) of one rule's automatic alerts, leaving out those already there (the demo has some)."""
    rows = db.execute("SELECT level, source_key FROM alerts WHERE kind = 'auto' AND rule = ? ORDER BY created_at, id",
                      [rule]).fetchall()
    return [row for row in rows if row[1] not in (before or set())]


def existing(db) -> set:
    return {row[0] for row in db.execute("SELECT source_key FROM alerts WHERE kind = 'auto'")}


def test_a_severe_tension_observation_alerts_the_units_leads_once(db):
    officer, before = user(db, "officer1"), existing(db)
    record = recording.create(db, officer, "tension", current_deployment(db), tension(6))
    found = auto_alerts(db, before)
    assert found == [("urgent", f"tension:{record['id']}")]
    alert_id = db.execute("SELECT id FROM alerts WHERE source_key = ?", [f"tension:{record['id']}"]).fetchone()[0]
    assert recipients(db, alert_id) == {"lead1"}
    recording.update(db, officer, "tension", record["id"], {**tension(6), "notes": "still tense"},
                   base_version=record["version"])
    assert len(auto_alerts(db, before)) == 1


def test_milder_and_old_observations_do_not_alert(db):
    officer, before = user(db, "officer1"), existing(db)
    recording.create(db, officer, "tension", current_deployment(db), tension(3))
    recording.create(db, officer, "tension", current_deployment(db), tension(6, minutes_ago=24 * 60))
    assert auto_alerts(db, before) == []


def test_the_lead_who_recorded_it_is_not_alerted_about_their_own_observation(db):
    before = existing(db)
    recording.create(db, user(db, "lead1"), "tension", current_deployment(db), tension(6))
    assert auto_alerts(db, before) == []


def test_the_threshold_comes_from_the_settings(db_path):
    from fieldapp.app import create_app
    app = create_app(Settings(db_path=db_path, alert_severity=3))
    before = existing(app.state.db)
    recording.create(app.state.db, user(app.state.db, "officer1"), "tension", current_deployment(app.state.db), tension(3))
    assert [level for level, _key in auto_alerts(app.state.db, before)] == ["warning"]
    app.state.db.conn.close()


def test_the_rule_thresholds_are_stored_for_the_projections_and_a_hotspot_score_of_0_is_off(memory_db):
    alert_rules.configure(memory_db, tension_severity=4, hotspot_score=0)
    assert alert_rules.thresholds(memory_db) == {"tension_severity": 4, "hotspot_score": None}
    alert_rules.configure(memory_db, tension_severity=6, hotspot_score=30)
    assert alert_rules.thresholds(memory_db) == {"tension_severity": 6, "hotspot_score": 30}


def test_a_cell_whose_recent_score_reaches_the_level_alerts_the_leads_once_a_day(db_path):
    from fieldapp.app import create_app
    app = create_app(Settings(db_path=db_path, alert_severity=6, alert_hotspot_score=20))
    db, officer = app.state.db, user(app.state.db, "officer1")
    before = existing(db)
    quiet_place = {"lat": "60.2412", "lon": "24.7311", "place_name": "Leppävaara"}  # far from the demo records
    for _ in range(2):  # severity 4 weighs 8: 16 is still below the level
        recording.create(db, officer, "tension", current_deployment(db), {**tension(4), **quiet_place})
    assert auto_alerts(db, before, "hotspot") == []
    recording.create(db, officer, "tension", current_deployment(db), {**tension(4), **quiet_place})
    found = auto_alerts(db, before, "hotspot")
    assert len(found) == 1 and found[0][0] == "warning"
    alert_id = db.execute("SELECT id FROM alerts WHERE source_key = ?", [found[0][1]]).fetchone()[0]
    assert recipients(db, alert_id) == {"lead1"}
    recording.create(db, officer, "tension", current_deployment(db), {**tension(4), **quiet_place})
    assert len(auto_alerts(db, before, "hotspot")) == 1
    assert auto_alerts(db, before) == []  # severity 4 is below the tension rule's level 6
    db.conn.close()


def test_the_lead_sees_the_automatic_alert_with_a_link_to_the_observation(login, db):
    record = recording.create(db, user(db, "officer2"), "tension", current_deployment(db), tension(5))
    alert_id = db.execute("SELECT id FROM alerts WHERE source_key = ?", [f"tension:{record['id']}"]).fetchone()[0]
    page = login("lead1").get(f"/alerts/{alert_id}", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert f'/records/tension/{record["id"]}' in page.text and 'id="deliveries"' in page.text


def test_demo_data_can_be_reloaded_with_alerts_present(db):
    alerts.send_alert(db, user(db, "lead1"), {"deployment_id": current_deployment(db), "level": "info", "message": "x"})
    demo.load(db)
    assert db.execute("SELECT COUNT(*) FROM alerts WHERE kind = 'manual'").fetchone()[0] == 0


def test_push_addresses_outside_the_push_services_are_refused():
    ok = alerts.subscriptions._endpoint_ok
    hosts = alerts.allowed_push_hosts("")
    assert ok("https://fcm.googleapis.com/fcm/send/abc", hosts)
    assert ok("https://updates.push.services.mozilla.com/wpush/v2/abc", hosts)
    for loopback in ("http://127.0.0.1:9999/push/abc", "https://localhost:8080/x", "http://[::1]:25/x",
                     "http://LOCALHOST:22/x"):
        assert not ok(loopback, hosts), loopback  # the server's own ports, unless a test setting allows them
        assert ok(loopback, alerts.allowed_push_hosts("", loopback=True)), loopback
    assert not ok("http://127.0.0.2:9999/push/abc", alerts.allowed_push_hosts("", loopback=True))
    assert not ok("https://intranet.example.invalid/admin", hosts)
    assert not ok("https://evilfcm.googleapis.com.example.invalid/x", hosts)
    assert not ok("http://fcm.googleapis.com/fcm/send/abc", hosts)
    assert ok("https://push.department.example.invalid/x", alerts.allowed_push_hosts("department.example.invalid"))


def test_a_push_address_on_the_servers_loopback_is_refused_unless_the_test_setting_allows_it(db_path):
    answers = {}
    for loopback in (0, 1):
        app = create_app(Settings(db_path=db_path, push_loopback=loopback))
        with TestClient(app=app, base_url="http://127.0.0.1") as client:
            officer = Session(client, "officer1")
            answers[loopback] = officer.post_json("/api/push/subscriptions", device_json(f"loopback{loopback}"),
                                                  headers={"Accept-Language": "en"})
    assert answers[0].status_code == 400 and answers[0].json()["errors"]["endpoint"] == \
        "The browser sent an unusable push address."
    assert answers[1].status_code == 201


def test_the_sender_does_not_post_to_a_stored_loopback_address_the_settings_no_longer_allow():
    delivery = {"id": 7, "endpoint": "http://127.0.0.1:9/push/old", "p256dh": "", "auth": "", "level": "info"}
    outcome = push.send(delivery, b"{}", vapid=None, subject="mailto:x@example.invalid", timeout=1,
                        allowed_hosts=alerts.allowed_push_hosts(""))
    assert (outcome.outcome, outcome.status_code) == ("failed", None) and "not allowed" in outcome.error
