"""Shared fixtures: an app per test on a real SQLite file, demo data copied from one built per session."""

from __future__ import annotations

import re
import sqlite3

import pytest
from litestar.testing import TestClient

from fieldapp import demo
from fieldapp.app import create_app
from fieldapp.db import open_db
from fieldapp.settings import Settings

CSRF_RE = re.compile(r'name="_csrf" value="([^"]+)"')


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory):
    """One database file with the demo data, built once; tests get a copy."""
    path = tmp_path_factory.mktemp("demo") / "template.db"
    db = open_db(path)
    demo.load(db)
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()
    return path


@pytest.fixture
def db_path(tmp_path, demo_template):
    path = tmp_path / "fieldapp.db"
    src = sqlite3.connect(demo_template)
    dst = sqlite3.connect(path)
    src.backup(dst)
    src.close()
    dst.close()
    return path


@pytest.fixture
def settings(db_path):
    return Settings(db_path=db_path)


@pytest.fixture
def app(settings):
    return create_app(settings)


@pytest.fixture
def db(app):
    """The app's own connection, so a test sees exactly what the app wrote."""
    return app.state.db


@pytest.fixture
def client(app):
    with TestClient(app=app, base_url="http://127.0.0.1") as test_client:
        yield test_client


class Session:
    """A logged-in test client with its CSRF token."""

    def __init__(self, client: TestClient, username: str):
        self.client = client
        self.username = username
        page = client.get("/login")
        token = CSRF_RE.search(page.text).group(1)
        response = client.post("/login", data={"_csrf": token, "username": username,
                                               "password": demo.DEMO_PASSWORD, "next": "/"},
                               follow_redirects=False)
        assert response.status_code == 303, response.text
        info = client.get("/api/session").json()
        self.csrf = info["csrf"]
        self.user = info["user"]

    def get(self, url, **kw):
        return self.client.get(url, **kw)

    def post(self, url, data=None, htmx=False, **kw):
        headers = kw.pop("headers", {})
        if htmx:
            headers["HX-Request"] = "true"
        if data is not None and not isinstance(data, (bytes, str)):
            data = {**data, "_csrf": self.csrf}
        else:
            headers.setdefault("X-CSRF-Token", self.csrf)
        return self.client.post(url, data=data, headers=headers, follow_redirects=False, **kw)

    def post_json(self, url, payload, **kw):
        headers = {"X-CSRF-Token": self.csrf, **kw.pop("headers", {})}
        return self.client.post(url, json=payload, headers=headers, follow_redirects=False, **kw)


@pytest.fixture
def login(app, request):
    """login('officer1') -> a Session with its own client (several users can be logged in at once).

    The app's lifespan (on_startup/on_shutdown, background workers) runs once: Litestar's event emitter is
    app-wide, so a second lifespan of the same app hangs at exit. The first client runs it, unless the
    `client` fixture already does; the other clients only send requests.
    """
    clients = []
    lifespan_running = "client" in request.fixturenames

    def _login(username: str) -> Session:
        nonlocal lifespan_running
        test_client = TestClient(app=app, base_url="http://127.0.0.1")
        if not lifespan_running:
            test_client.__enter__()
            clients.append(test_client)
            lifespan_running = True
        return Session(test_client, username)

    yield _login
    for test_client in clients:
        test_client.__exit__(None, None, None)


@pytest.fixture
def memory_db():
    """A fresh in-memory database with the schema and default categories, no demo data."""
    return open_db(memory=True)
