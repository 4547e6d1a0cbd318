"""Registered devices (issue 12): a device per browser that logs in, sessions tied to it, the lost-device revoke
answered 401 with Clear-Site-Data on every route, the waiting count shown before a revoke, bounded offline copies."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from fieldapp import devices
from fieldapp.clock import iso
from fieldapp.web import DEVICE_COOKIE, SESSION_COOKIE


@pytest.fixture
def login(login):
    """Sessions that read the pages in English."""
    def _login(username):
        session = login(username)
        session.client.headers["Accept-Language"] = "en"
        return session
    return _login


def _device_of(db, session) -> dict:
    return devices.by_token(db, session.client.cookies.get(DEVICE_COOKIE))


def _revoke_as_admin(login, device_id):
    admin = login("admin1")
    page = admin.get(f"/admin/devices/{device_id}/revoke")
    assert page.status_code == 200
    response = admin.post(f"/admin/devices/{device_id}/revoke", data={})
    assert response.status_code == 303
    return admin


def _audit(db, action):
    return list(db.query("SELECT * FROM audit_log WHERE record_type = 'device' AND action = ? ORDER BY id", [action]))


def test_login_registers_the_browser_as_a_device_and_ties_the_session_to_it(login, db):
    officer = login("officer1")
    device = _device_of(db, officer)
    assert device is not None and device["user_id"] == officer.user["id"] and not device["revoked_at"]
    session = db.execute("SELECT device_id FROM sessions WHERE user_id = ?", [officer.user["id"]]).fetchall()
    assert [row[0] for row in session] == [device["id"]]
    assert len(_audit(db, "register")) >= 1
    page = officer.get("/devices")
    assert page.status_code == 200 and device["id"] in page.text and "This device" in page.text


def test_a_second_login_in_the_same_browser_keeps_its_device(login, db):
    officer = login("officer1")
    first = _device_of(db, officer)
    officer.client.post("/logout", data={"_csrf": officer.csrf})
    again = officer.client.get("/login")
    from tests.conftest import CSRF_RE
    from fieldapp import demo
    officer.client.post("/login", data={"_csrf": CSRF_RE.search(again.text).group(1), "username": "officer1",
                                        "password": demo.DEMO_PASSWORD, "next": "/"})
    assert _device_of(db, officer)["id"] == first["id"]
    assert db.execute("SELECT COUNT(*) FROM devices WHERE user_id = ?", [first["user_id"]]).fetchone()[0] == 1


def test_a_session_cookie_carried_to_another_browser_is_no_login_there(login, app):
    from litestar.testing import TestClient
    officer = login("officer1")
    other = TestClient(app=app, base_url="http://127.0.0.1")  # no second lifespan (conftest's login says why)
    other.cookies.set(SESSION_COOKIE, officer.client.cookies.get(SESSION_COOKIE))
    assert other.get("/api/session").status_code == 401
    assert officer.get("/api/session").status_code == 200


ROUTES = ["/", "/api/session", "/api/sync/pull?cursor=0", "/api/offline/bootstrap", "/devices", "/login", "/admin/devices",
          "/static/css/app.css", "/sw.js", "/offline/pages.js", "/device/revoked", "/no-such-page"]


def test_a_revoked_device_gets_401_with_clear_site_data_on_every_route(login, db):
    officer = login("officer1")
    token = officer.client.cookies.get(DEVICE_COOKIE)
    session_token = officer.client.cookies.get(SESSION_COOKIE)
    device = _device_of(db, officer)
    _revoke_as_admin(login, device["id"])
    for path in ROUTES:
        officer.client.cookies.set(DEVICE_COOKIE, token)
        response = officer.get(path, follow_redirects=False)
        assert response.status_code == 401, path
        assert response.headers["clear-site-data"] == '"cache", "storage"', path
        assert response.headers["x-fieldapp-device"] == "revoked"
        assert response.headers["content-security-policy"]  # the security headers too
    officer.client.cookies.set(DEVICE_COOKIE, token)
    sync = officer.post_json("/api/sync", {"sent_at": iso(datetime.now(timezone.utc)), "records": []})
    assert sync.status_code == 401 and sync.json()["device"] == "revoked"
    assert "clear-site-data" in sync.headers
    page = officer.client.get("/", headers={"Accept": "text/html"})
    assert page.status_code == 401 and 'data-device-revoked="1"' in page.text
    # The answer drops the cookies: the browser starts afresh and is asked to log in.
    dropped = page.headers.get_list("set-cookie")
    assert any(c.startswith(f"{DEVICE_COOKIE}=;") and "Max-Age=0" in c for c in dropped)
    assert any(c.startswith(f"{SESSION_COOKIE}=;") and "Max-Age=0" in c for c in dropped)
    officer.client.cookies.clear()
    officer.client.cookies.set(SESSION_COOKIE, session_token)  # even the old session cookie is no login now
    assert officer.get("/api/session").status_code == 401
    assert "clear-site-data" not in officer.get("/api/session").headers
    wiped = devices.get(db, device["id"])
    assert wiped["revoked_at"] and wiped["wiped_at"]
    assert len(_audit(db, "revoke")) == 1 and len(_audit(db, "wipe")) == 1  # wiped once, however many requests


def test_other_devices_of_the_same_user_keep_working(login, db):
    phone = login("officer1")
    tablet = login("officer1")
    assert _device_of(db, phone)["id"] != _device_of(db, tablet)["id"]
    _revoke_as_admin(login, _device_of(db, phone)["id"])
    assert phone.get("/api/session").status_code == 401
    assert tablet.get("/api/session").status_code == 200


def test_revoking_all_of_a_users_devices(login, db):
    phone, tablet = login("officer1"), login("officer1")
    admin = login("admin1")
    user_id = phone.user["id"]
    confirm = admin.get(f"/admin/devices/user/{user_id}/revoke")
    assert confirm.status_code == 200 and "Revoke all devices of officer1?" in confirm.text
    assert admin.post(f"/admin/devices/user/{user_id}/revoke", data={}).status_code == 303
    for session in (phone, tablet):
        assert session.get("/").status_code == 401
    assert not devices.in_use(db, user_id)
    assert admin.get("/api/session").status_code == 200


def test_the_confirmation_shows_how_many_records_the_device_last_reported_waiting(login, db):
    officer = login("officer1")
    answer = officer.post_json("/api/device/report", {"waiting": 3})
    assert answer.status_code == 200
    assert answer.json() == {"forget_after_hours": 12, "keep_hours": 24, "device": _device_of(db, officer)["id"]}
    admin = login("admin1")
    device_id = _device_of(db, officer)["id"]
    listing = admin.get(f"/admin/devices?user_id={officer.user['id']}")
    assert listing.status_code == 200 and 'data-waiting="3"' in listing.text
    confirm = admin.get(f"/admin/devices/{device_id}/revoke")
    assert 'data-waiting-total="3"' in confirm.text and "will be lost: 3" in confirm.text
    admin.post(f"/admin/devices/{device_id}/revoke", data={})
    assert "waiting=3" in _audit(db, "revoke")[0]["detail"]


@pytest.mark.parametrize("body", [{"waiting": -1}, {"waiting": 10**12}, {"waiting": "x"}, {"waiting": 1, "x": 2}, {}])
def test_a_bad_report_is_a_400(login, body):
    assert login("officer1").post_json("/api/device/report", body).status_code == 400


def test_users_revoke_their_own_devices_only_and_only_admins_see_all(login, db):
    officer, other = login("officer1"), login("officer2")
    theirs = _device_of(db, other)["id"]
    assert officer.get(f"/devices/{theirs}/revoke").status_code == 404
    assert officer.post(f"/devices/{theirs}/revoke", data={}).status_code == 404
    assert officer.post(f"/devices/{theirs}/name", data={"name": "x"}).status_code == 404
    for username in ("officer1", "lead1"):
        assert login(username).get("/admin/devices").status_code == 403
    assert other.get("/api/session").status_code == 200
    mine = _device_of(db, officer)["id"]
    assert officer.get(f"/devices/{mine}/revoke").status_code == 200
    assert officer.post(f"/devices/{mine}/revoke", data={}).status_code == 303
    assert officer.get("/devices").status_code == 401  # the next request wipes this browser


def test_renaming_checks_the_name_and_keeps_what_was_typed(login, db):
    officer = login("officer1")
    device_id = _device_of(db, officer)["id"]
    refused = officer.post(f"/devices/{device_id}/name", data={"name": "Puhelin 131052-308T"})
    assert refused.status_code == 400 and "Puhelin 131052-308T" in refused.text
    assert officer.post(f"/devices/{device_id}/name", data={"name": "x" * 61}).status_code == 400
    assert officer.post(f"/devices/{device_id}/name", data={"name": "Työpuhelin"}).status_code == 303
    assert devices.get(db, device_id)["name"] == "Työpuhelin"


def test_password_reset_only_asks_for_a_new_login(login, db):
    officer = login("officer1")
    device = _device_of(db, officer)
    admin = login("admin1")
    admin.post(f"/admin/users/{officer.user['id']}/password", data={"password": "another-password-1"})
    response = officer.get("/api/session")
    assert response.status_code == 401 and "clear-site-data" not in response.headers
    assert not devices.get(db, device["id"])["revoked_at"]


def test_user_agent_summary():
    assert devices.summary("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                           "Chrome/124.0 Mobile Safari/537.36") == "Chrome · Android"
    assert devices.summary("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
                           "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1") == "Safari · iOS"
    assert devices.summary("") == ""


def test_offline_window_is_the_current_and_next_deployment_and_the_last_day():
    now = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)

    def dep(name, start_hours, end_hours):
        return {"id": name, "starts_at": iso(now + timedelta(hours=start_hours)),
                "ends_at": iso(now + timedelta(hours=end_hours))}

    deployments = [dep("running", -2, 3), dep("ended_yesterday", -30, -20), dep("ended_last_week", -200, -190),
                   dep("next", 20, 25), dep("after_next", 50, 55)]
    assert [d["id"] for d in devices.offline_window(deployments, now)] == ["running", "ended_yesterday", "next"]


def test_bootstrap_and_pull_keep_only_the_current_and_next_deployment_and_the_last_day(db):
    from fieldapp import accounts, deployments, records
    from fieldapp.clock import utcnow
    from fieldapp.offline import sync
    from fieldapp.services import recording

    lead, officer = accounts.by_username(db, "lead1"), accounts.by_username(db, "officer1")
    now = utcnow()

    def make(name, start_hours, end_hours):
        made = deployments.save(db, lead, {"name": name, "kind": "public_event", "place_name": "Kamppi",
                                           "lat": 60.169, "lon": 24.932, "starts_at": iso(now + timedelta(hours=1)),
                                           "ends_at": iso(now + timedelta(hours=2)), "notes": ""},
                                assigned=[officer.id])
        db.execute("UPDATE deployments SET starts_at = ?, ends_at = ? WHERE id = ?",
                   [iso(now + timedelta(hours=start_hours)), iso(now + timedelta(hours=end_hours)), made["id"]])
        return made["id"]

    # Only these deployments, so that the demo's do not decide which one is next.
    db.execute("DELETE FROM assignments WHERE user_id = ?", [officer.id])
    now_on = make("Nyt", -30, 3)
    make("Viime viikko", -200, -190)
    tomorrow = make("Huomenna", 20, 25)
    make("Ensi kuussa", 700, 705)
    recent = recording.create(db, officer, "tension", now_on, {"kind": "provocation", "severity": "2"})
    old = recording.create(db, officer, "tension", now_on, {"kind": "provocation", "severity": "3"})
    db.execute(f"UPDATE {records.KINDS['tension'].table} SET occurred_at = ? WHERE id = ?",
               [iso(now - timedelta(hours=25)), old["id"]])

    kept = [d["id"] for d in sync.offline_deployments(db, officer)]
    assert kept == [now_on, tomorrow]
    booted = {r.id for r in sync.recent_records(db, kept)}
    assert recent["id"] in booted and old["id"] not in booted
    pulled = {r.id for r in sync.pull(db, officer, 0, limit=10_000).records}
    assert recent["id"] in pulled and old["id"] not in pulled


def test_an_htmx_request_of_a_revoked_device_gets_the_partial_that_wipes(login, db):
    officer = login("officer1")
    _revoke_as_admin(login, _device_of(db, officer)["id"])
    response = officer.get("/devices", headers={"HX-Request": "true"})
    assert response.status_code == 401 and response.headers["x-fieldapp-device"] == "revoked"
    assert 'data-device-revoked="1"' in response.text and "<html" not in response.text


def test_the_page_after_the_wipe_is_public_and_sends_a_logged_in_user_to_their_devices(client, login):
    page = client.get("/device/revoked", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and "taken out of use" in page.text and "data-device-revoked" not in page.text
    assert login("officer1").get("/device/revoked", follow_redirects=False).headers["location"] == "/devices"
