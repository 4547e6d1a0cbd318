"""Administration of users: only admins, every change audited, field records out of an admin's reach."""

from __future__ import annotations

import pytest

from fieldapp import access, accounts, demo, deployments
from fieldapp.errors import Forbidden

NEW_USER = {"username": "officer9", "display_name": "Officer Nine", "role": "officer", "password": "pitkä-salasana-9"}


def _id(db, username: str) -> str:
    return accounts.by_username(db, username).id


def _audit(db, user_id: str) -> list[str]:
    return [r["action"] for r in db.query(
        "SELECT action FROM audit_log WHERE record_type = 'user' AND record_id = ? ORDER BY id", [user_id])]


def _new_user(db, **overrides) -> dict:
    return {**NEW_USER, "unit_id": accounts.by_username(db, "lead1").unit_id, **overrides}


def test_admin_sees_users_with_role_unit_and_status(login, db):
    page = login("admin1").get("/admin/users", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    for username in ("lead1", "officer1", "officer2", "staff1", "admin1"):
        assert f'href="/admin/users/{_id(db, username)}"' in page.text
    assert demo.DEMO_UNIT in page.text and "Pop-up station staff" in page.text and "Active" in page.text
    assert "password_hash" not in page.text and "$argon2" not in page.text


def test_user_list_as_htmx_partial(login):
    page = login("admin1").get("/admin/users", headers={"HX-Request": "true"})
    assert page.status_code == 200 and "<html" not in page.text and 'id="admin-users"' in page.text


@pytest.mark.parametrize("username", ["officer1", "staff1", "lead1"])
def test_only_admins_manage_users(login, db, username):
    session = login(username)
    target = _id(db, "officer2")
    assert session.get("/admin/users").status_code == 403
    assert session.get("/admin/users/new").status_code == 403
    assert session.get(f"/admin/users/{target}").status_code == 403
    assert session.post("/admin/users", data=_new_user(db)).status_code == 403
    for action in ("deactivate", "reactivate", "end-sessions"):
        assert session.post(f"/admin/users/{target}/{action}", data={}).status_code == 403
    assert session.post(f"/admin/users/{target}/password", data={"password": "x" * 12}).status_code == 403
    assert accounts.by_username(db, "officer9") is None
    assert accounts.authenticate(db, "officer2", demo.DEMO_PASSWORD) is not None


def test_anonymous_is_sent_to_login(client):
    response = client.get("/admin/users", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_new_user_form_full_page_and_partial(login):
    admin = login("admin1")
    page = admin.get("/admin/users/new")
    assert page.status_code == 200 and 'name="password"' in page.text and "<html" in page.text
    partial = admin.get("/admin/users/new", headers={"HX-Request": "true"})
    assert partial.status_code == 200 and "<html" not in partial.text and 'id="new-user-form"' in partial.text


def test_admin_creates_a_user_who_can_log_in(login, db):
    admin = login("admin1")
    response = admin.post("/admin/users", data=_new_user(db))
    assert response.status_code == 303
    created = accounts.by_username(db, "officer9")
    assert response.headers["location"] == f"/admin/users/{created.id}?done=created"
    assert (created.role, created.display_name) == ("officer", "Officer Nine")
    assert accounts.authenticate(db, "officer9", NEW_USER["password"]) is not None
    audit_row = db.execute("SELECT user_id FROM audit_log WHERE action = 'create' AND record_id = ?",
                           [created.id]).fetchone()
    assert audit_row[0] == _id(db, "admin1")
    assert "The user was created." in admin.get(response.headers["location"], headers={"Accept-Language": "en"}).text


def test_htmx_create_answers_with_hx_redirect(login, db):
    response = login("admin1").post("/admin/users", data=_new_user(db), htmx=True)
    assert response.status_code == 200 and response.headers["hx-redirect"].startswith("/admin/users/")


@pytest.mark.parametrize("overrides, field", [
    ({"password": "short"}, "password"),
    ({"username": "Officer 9!"}, "username"),
    ({"username": "officer1"}, "username"),
    ({"role": "superuser"}, "role"),
    ({"unit_id": "no-such-unit"}, "unit_id"),
    ({"display_name": "x" * 81}, "display_name"),
])
def test_invalid_new_user_is_refused_next_to_the_field(login, db, overrides, field):
    before = db.execute("SELECT COUNT(*) FROM users").fetchone()[0]
    response = login("admin1").post("/admin/users", data=_new_user(db, **overrides), headers={"Accept-Language": "fi"})
    assert response.status_code == 400
    assert f'id="error-{field}"' in response.text
    assert 'value="Officer Nine"' in response.text or field == "display_name"
    assert NEW_USER["password"] not in response.text  # a password is never echoed back
    assert db.execute("SELECT COUNT(*) FROM users").fetchone()[0] == before


def test_short_password_message_is_in_the_users_language(login, db):
    response = login("admin1").post("/admin/users", data=_new_user(db, password="lyhyt"),
                                    headers={"Accept-Language": "sv"})
    assert "Lösenordet måste ha minst 10 tecken." in response.text


@pytest.mark.parametrize("garbage", [
    {"username": ["a", "b"], "role": ["officer", "admin"]},
    {"username": "\x00" * 300, "password": "é" * 5000},
    {},
])
def test_garbage_is_a_400_never_a_500(login, db, garbage):
    admin = login("admin1")
    assert admin.post("/admin/users", data=garbage).status_code == 400
    assert admin.post(f"/admin/users/{_id(db, 'officer1')}/password", data=garbage).status_code == 400


def test_user_page_full_and_partial_and_unknown(login, db):
    admin = login("admin1")
    target = _id(db, "officer1")
    page = admin.get(f"/admin/users/{target}", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and "End all sessions" in page.text and "<html" in page.text
    partial = admin.get(f"/admin/users/{target}", headers={"HX-Request": "true"})
    assert partial.status_code == 200 and "<html" not in partial.text
    assert admin.get("/admin/users/01900000-0000-7000-8000-000000000000").status_code == 404
    assert admin.post("/admin/users/nobody/deactivate", data={}).status_code == 404


def test_deactivated_user_is_logged_out_and_cannot_log_in_until_reactivated(login, db):
    officer = login("officer1")
    admin = login("admin1")
    target = _id(db, "officer1")
    response = admin.post(f"/admin/users/{target}/deactivate", data={})
    assert response.status_code == 303 and response.headers["location"].endswith("?done=deactivated")
    assert officer.get("/", follow_redirects=False).status_code == 303  # sent to log in
    assert accounts.authenticate(db, "officer1", demo.DEMO_PASSWORD) is None
    assert "Deactivated" in admin.get("/admin/users", headers={"Accept-Language": "en"}).text
    assert admin.post(f"/admin/users/{target}/reactivate", data={}, htmx=True).status_code == 200
    assert accounts.authenticate(db, "officer1", demo.DEMO_PASSWORD) is not None
    assert _audit(db, target)[-2:] == ["deactivate", "reactivate"]


def test_admin_cannot_deactivate_themself(login, db):
    admin = login("admin1")
    response = admin.post(f"/admin/users/{_id(db, 'admin1')}/deactivate", data={})
    assert response.status_code == 400
    assert accounts.get_user(db, _id(db, "admin1")) is not None


def test_lost_device_ends_every_session_of_the_user(login, db):
    phone, tablet = login("officer2"), login("officer2")
    admin = login("admin1")
    target = _id(db, "officer2")
    response = admin.post(f"/admin/users/{target}/end-sessions", data={}, htmx=True,
                          headers={"Accept-Language": "en"})
    assert response.status_code == 200 and "<html" not in response.text
    assert "All sessions of the user were ended." in response.text
    for device in (phone, tablet):
        assert device.get("/", follow_redirects=False).status_code == 303
    assert _audit(db, target)[-1] == "end_sessions"
    assert accounts.authenticate(db, "officer2", demo.DEMO_PASSWORD) is not None  # the account itself stays


def test_password_reset_replaces_the_password_and_ends_sessions(login, db):
    officer = login("staff1")
    admin = login("admin1")
    target = _id(db, "staff1")
    response = admin.post(f"/admin/users/{target}/password", data={"password": "uusi-salasana-123"})
    assert response.status_code == 303
    assert accounts.authenticate(db, "staff1", "uusi-salasana-123") is not None
    assert accounts.authenticate(db, "staff1", demo.DEMO_PASSWORD) is None
    assert officer.get("/", follow_redirects=False).status_code == 303
    assert _audit(db, target)[-1] == "password"


def test_too_short_reset_password_is_400_and_changes_nothing(login, db):
    admin = login("admin1")
    target = _id(db, "staff1")
    response = admin.post(f"/admin/users/{target}/password", data={"password": "123"}, headers={"Accept-Language": "en"})
    assert response.status_code == 400 and "at least 10 characters" in response.text
    partial = admin.post(f"/admin/users/{target}/password", data={"password": "123"}, htmx=True)
    assert partial.status_code == 400 and "<html" not in partial.text
    assert accounts.authenticate(db, "staff1", demo.DEMO_PASSWORD) is not None


def test_admin_cannot_see_field_records(login, db):
    admin1 = accounts.by_username(db, "admin1")
    current = [d for d in deployments.for_user(db, accounts.by_username(db, "officer1")) if d["status"] == "current"][0]
    assert deployments.for_user(db, admin1) == []
    with pytest.raises(Forbidden):
        access.visible(db, admin1, current["id"])
    admin = login("admin1")
    assert admin.get(f"/deployments/{current['id']}").status_code == 403
    assert admin.get(f"/deployments/{current['id']}/edit").status_code == 403


@pytest.mark.parametrize("action, data, shown", [
    ("deactivate", {}, "Deactivated"),
    ("reactivate", {}, "Reactivated"),
    ("password", {"password": "vaihdettu-salasana"}, "Password changed"),
    ("end-sessions", {}, "Sessions ended"),
])
def test_each_action_with_htmx_returns_the_user_partial_with_its_history(login, db, action, data, shown):
    response = login("admin1").post(f"/admin/users/{_id(db, 'officer2')}/{action}", data=data, htmx=True,
                                    headers={"Accept-Language": "en"})
    assert response.status_code == 200
    assert "<html" not in response.text and 'id="admin-user"' in response.text
    assert f"{shown} · admin1" in response.text
