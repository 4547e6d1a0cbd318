from fieldapp import accounts


def test_login_with_right_password_opens_home(login):
    session = login("officer1")
    page = session.get("/")
    assert page.status_code == 200
    assert "Mielenosoitus Senaatintorilla" in page.text


def test_wrong_password_is_refused_with_message(client):
    page = client.get("/login")
    token = page.text.split('name="_csrf" value="')[1].split('"')[0]
    response = client.post("/login", data={"_csrf": token, "username": "officer1", "password": "wrong-password"},
                           headers={"Accept-Language": "sv"})
    assert response.status_code == 400
    assert "Fel användarnamn eller lösenord." in response.text or "Wrong username" in response.text
    assert 'value="officer1"' in response.text


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


def test_unknown_address_gets_a_404_page_in_the_users_language(client):
    response = client.get("/no-such-page", headers={"Accept-Language": "sv"})
    assert response.status_code == 404
    assert "Hittades inte." in response.text


def test_unknown_api_address_gets_a_json_404(client):
    response = client.get("/api/no-such-thing")
    assert response.status_code == 404
    assert response.json()["status"] == 404
