import html
import re
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from litestar.testing import TestClient

from fieldapp import accounts, demo, deployments, records
from fieldapp.app import create_app
from fieldapp.clock import iso, utcnow
from fieldapp.settings import Settings
from tests.conftest import Session


def test_login_with_right_password_opens_home(login):
    session = login("officer1")
    page = session.get("/")
    assert page.status_code == 200
    assert "Mielenosoitus Senaatintorilla" in page.text


def test_wrong_password_is_refused_with_a_message_in_the_users_language(client):
    page = client.get("/login")
    token = page.text.split('name="_csrf" value="')[1].split('"')[0]
    response = client.post("/login", data={"_csrf": token, "username": "officer1", "password": "wrong-password"},
                           headers={"Accept-Language": "sv"})
    assert response.status_code == 400
    assert "Fel användarnamn eller lösenord." in response.text
    assert '<html lang="sv">' in response.text and "Logga in" in response.text  # the whole page, not only the message
    assert 'value="officer1"' in response.text


def test_language_can_be_chosen_before_logging_in(client):
    page = client.get("/login")
    token = page.text.split('name="_csrf" value="')[1].split('"')[0]
    response = client.post("/language", data={"_csrf": token, "locale": "sv", "next": "/login"},
                           follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert "fieldapp_lang=sv" in response.headers["set-cookie"]
    assert '<html lang="sv">' in client.get("/login").text


def test_anonymous_user_is_sent_to_login(client):
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def test_api_without_login_answers_401_json(client):
    response = client.get("/api/session")
    assert response.status_code == 401
    assert response.json()["status"] == 401


def test_post_without_csrf_token_is_refused(login):
    session = login("officer1")
    response = session.client.post("/logout", follow_redirects=False)
    assert response.status_code == 403


def test_logout_ends_the_session(login):
    session = login("officer1")
    assert session.post("/logout", data={}).status_code == 303
    assert session.get("/", follow_redirects=False).status_code == 303


def test_session_cookie_is_httponly_and_lax(client):
    page = client.get("/login")
    token = page.text.split('name="_csrf" value="')[1].split('"')[0]
    response = client.post("/login", data={"_csrf": token, "username": "lead1", "password": "fieldapp-demo"},
                           follow_redirects=False)
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")


def test_password_is_stored_as_argon2id(db):
    row = db.execute("SELECT password_hash FROM users WHERE username = 'officer1'").fetchone()
    assert row[0].startswith("$argon2id$")
    assert accounts.authenticate(db, "officer1", "fieldapp-demo") is not None
    assert accounts.authenticate(db, "officer1", "fieldapp-dem0") is None


def test_security_headers_are_set(client):
    response = client.get("/login")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    for path in ("/healthz", "/livez"):  # monitors that ask with HEAD get the status without a body (was 405)
        response = client.head(path)
        assert response.status_code == 200 and response.content == b"", path


def test_a_page_asked_with_head_answers_as_get_without_a_body(client, login):
    """HEAD of any page (an uptime monitor asks `HEAD /`) gets what GET would: the status and headers, no body.
    Before, every page but /livez and /healthz answered 405."""
    for path, status in (("/login", 200), ("/", 303), ("/static/css/app.css", 200), ("/no-such-page", 404)):
        got, asked = client.get(path, follow_redirects=False), client.head(path, follow_redirects=False)
        assert (asked.status_code, asked.content) == (status, b""), path
        assert got.status_code == status and (got.content or status == 303), path
        assert asked.headers.get("content-type") == got.headers.get("content-type"), path
        assert asked.headers.get("location") == got.headers.get("location"), path
        assert "default-src 'self'" in asked.headers["content-security-policy"], path
    officer = login("officer1")
    home = officer.client.head("/", follow_redirects=False)
    assert home.status_code == 200 and home.content == b"" and home.headers["content-type"].startswith("text/html")
    assert client.head("/logout", follow_redirects=False).status_code == 405  # a POST-only route stays 405


def test_unknown_address_gets_a_404_page_in_the_users_language(client):
    response = client.get("/no-such-page", headers={"Accept-Language": "sv"})
    assert response.status_code == 404
    assert "Hittades inte." in response.text


def test_unknown_api_address_gets_a_json_404(client):
    response = client.get("/api/no-such-thing")
    assert response.status_code == 404
    assert response.json()["status"] == 404


def _hidden_fields(page: str) -> list[tuple[str, str]]:
    """The hidden fields of the page's main form (not the language switch in the footer)."""
    form = page[page.index("<main"):page.index("</main>")]
    return [(html.unescape(name), html.unescape(value))
            for name, value in re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', form)]


def test_a_form_sent_after_the_session_ended_goes_through_the_login_and_is_saved(login, db):
    """Without JavaScript there is no outbox: what was typed must survive an ended session all the same."""
    session = login("officer1")
    deployment = deployments.current_for_user(db, accounts.by_username(db, "officer1"))
    db.execute("UPDATE sessions SET expires_at = '2000-01-01T00:00:00.000Z'")  # the session ends meanwhile
    notes = 'Kept through the login <& "quoted">'
    english = {"Accept-Language": "en"}
    sent = session.client.post(f"/deployments/{deployment['id']}/tensions", follow_redirects=False, headers=english,
                               data={"_csrf": session.csrf, "kind": "provocation", "severity": "4",
                                     "groups": ["youth", "residents"], "notes": notes})
    assert sent.status_code == 401
    assert "Log in again: what you entered is kept." in sent.text
    carried = _hidden_fields(sent.text)
    assert ("carry:notes", notes) in carried and ("carry:groups", "youth") in carried
    assert ("carry:groups", "residents") in carried and not any(name == "carry:_csrf" for name, _ in carried)

    form = dict(carried)  # the login form as the browser sends it: the carried fields and the credentials
    login_body = [(name, value) for name, value in carried] + [("username", "officer1"),
                                                               ("password", demo.DEMO_PASSWORD)]
    again = session.client.post("/login", content=urlencode(login_body), follow_redirects=False,
                                headers={"Content-Type": "application/x-www-form-urlencoded", **english})
    assert again.status_code == 200 and "Logged in again" in again.text
    assert f'action="/deployments/{deployment["id"]}/tensions"' in again.text
    resend = _hidden_fields(again.text)
    assert ("notes", notes) in resend and ("groups", "youth") in resend and ("groups", "residents") in resend
    assert dict(resend)["_csrf"] != form["_csrf"]  # the new session's token

    saved = session.client.post(f"/deployments/{deployment['id']}/tensions", content=urlencode(resend),
                                follow_redirects=False, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert saved.status_code == 303
    [stored] = [r for r in records.for_deployment(db, "tension", deployment["id"]) if r["notes"] == notes]
    assert (stored["severity"], sorted(stored["groups"])) == (4, ["residents", "youth"])


def test_a_wrong_password_keeps_the_carried_form(login, db):
    session = login("officer1")
    deployment = deployments.current_for_user(db, accounts.by_username(db, "officer1"))
    db.execute("UPDATE sessions SET expires_at = '2000-01-01T00:00:00.000Z'")
    sent = session.client.post(f"/deployments/{deployment['id']}/contacts", follow_redirects=False,
                               data={"_csrf": session.csrf, "notes": "Still here after a typo"})
    body = _hidden_fields(sent.text) + [("username", "officer1"), ("password", "wrong-password")]
    refused = session.client.post("/login", content=urlencode(body), follow_redirects=False,
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert refused.status_code == 400
    assert ("carry:notes", "Still here after a typo") in _hidden_fields(refused.text)


def test_a_carried_form_cannot_be_sent_elsewhere(client):
    page = client.get("/login")
    token = page.text.split('name="_csrf" value="')[1].split('"')[0]
    response = client.post("/login", follow_redirects=False, data={
        "_csrf": token, "username": "officer1", "password": demo.DEMO_PASSWORD,
        "carry_action": "//elsewhere.invalid/steal", "carry:notes": "x", "next": "/"})
    assert response.status_code == 303 and response.headers["location"] == "/"


def test_a_login_form_sent_twice_over_is_refused_cleanly_not_with_an_error(client):
    page = client.get("/login")
    token = page.text.split('name="_csrf" value="')[1].split('"')[0]
    body = [("_csrf", token), ("username", "officer1"), ("password", demo.DEMO_PASSWORD),
            ("next", "/a"), ("next", "/b")]
    response = client.post("/login", content=urlencode(body), follow_redirects=False,
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 303 and response.headers["location"] == "/"


def test_a_form_sent_from_another_site_is_not_carried_through_the_login(login, db):
    session = login("officer1")
    deployment = deployments.current_for_user(db, accounts.by_username(db, "officer1"))
    db.execute("UPDATE sessions SET expires_at = '2000-01-01T00:00:00.000Z'")
    sent = session.client.post(f"/deployments/{deployment['id']}/contacts", follow_redirects=False,
                               headers={"Sec-Fetch-Site": "cross-site"}, data={"notes": "Planted by another site"})
    assert sent.status_code == 303 and sent.headers["location"].startswith("/login")
    assert "Planted" not in session.client.get(sent.headers["location"]).text


def test_unmatched_paths_and_methods_get_the_security_headers_too(client):
    """A 404 or 405 that no route answers skips the route middleware; the headers come from the app's hook."""
    for response in (client.get("/no-such-page"), client.get("/api/no-such-thing"), client.delete("/login"),
                     client.get("/healthz")):
        assert response.status_code in (200, 404, 405)
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"], response.url
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"


def test_hsts_only_when_served_over_https(app):
    with TestClient(app=app, base_url="https://127.0.0.1") as secure:
        assert secure.get("/login").headers["strict-transport-security"].startswith("max-age=63072000")
        assert "strict-transport-security" in secure.get("/no-such-page").headers
    with TestClient(app=app, base_url="http://127.0.0.1") as plain:
        assert "strict-transport-security" not in plain.get("/login").headers
        assert "strict-transport-security" in plain.get("/login", headers={"X-Forwarded-Proto": "https"}).headers


@pytest.mark.parametrize("headers", [{"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                                     {"Origin": "https://elsewhere.example.invalid"}, {"Origin": "null"}])
def test_a_post_from_another_site_is_refused_even_with_the_token(login, headers):
    session = login("officer1")
    response = session.post("/logout", data={}, headers={**headers, "Accept-Language": "en"})
    assert response.status_code == 403
    assert "This request came from another site and was refused." in response.text
    assert session.get("/", follow_redirects=False).status_code == 200  # still logged in


@pytest.mark.parametrize("headers", [{}, {"Sec-Fetch-Site": "same-origin"}, {"Origin": "http://127.0.0.1"},
                                     {"Sec-Fetch-Site": "same-origin", "Origin": "http://127.0.0.1"}])
def test_a_post_from_our_own_pages_or_a_script_is_accepted(login, headers):
    session = login("officer1")
    assert session.post("/logout", data={}, headers=headers).status_code == 303


def test_a_cross_site_login_post_is_refused(client):
    token = client.get("/login").text.split('name="_csrf" value="')[1].split('"')[0]
    response = client.post("/login", data={"_csrf": token, "username": "officer1", "password": demo.DEMO_PASSWORD},
                           headers={"Sec-Fetch-Site": "cross-site"}, follow_redirects=False)
    assert response.status_code == 403 and "fieldapp_session" not in response.headers.get("set-cookie", "")


def test_a_busy_session_still_ends_after_the_absolute_lifetime(login, db):
    session = login("officer1")
    assert session.get("/", follow_redirects=False).status_code == 200
    started = iso(utcnow() - timedelta(hours=11, minutes=59))
    db.execute("UPDATE sessions SET created_at = ?", [started])
    assert session.get("/", follow_redirects=False).status_code == 200
    db.execute("UPDATE sessions SET created_at = ?", [iso(utcnow() - timedelta(hours=12, minutes=1))])
    assert session.get("/", follow_redirects=False).status_code == 303


def test_the_absolute_lifetime_is_a_setting(db_path):
    app = create_app(Settings(db_path=db_path, session_max_hours=1))
    with TestClient(app=app, base_url="http://127.0.0.1") as client:
        session = Session(client, "officer1")
        app.state.db.execute("UPDATE sessions SET created_at = ?", [iso(utcnow() - timedelta(minutes=61))])
        assert session.get("/", follow_redirects=False).status_code == 303
