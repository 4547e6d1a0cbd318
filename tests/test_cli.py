"""The `fieldapp` command, run as a real process against a database in tmp_path."""

from __future__ import annotations

import os
import socket
import sqlite3
import stat
import subprocess
import sys
import time

import httpx
import pytest

from fieldapp import accounts, demo
from fieldapp.db import open_db


def run(db_path, *args, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "FIELDAPP_DB": str(db_path)}
    result = subprocess.run([sys.executable, "-m", "fieldapp", *args], input=stdin, env=env,
                            capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def db_file(tmp_path):
    return tmp_path / "data" / "fieldapp.db"


def test_init_creates_database_and_a_private_session_secret(db_file):
    out = run(db_file, "init").stdout
    assert str(db_file) in out
    secret = db_file.parent / ".session_secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    first = secret.read_text()
    assert len(first) >= 40
    run(db_file, "init")
    assert secret.read_text() == first  # kept, not regenerated


def test_migrate_is_idempotent(db_file):
    first = run(db_file, "migrate").stdout
    assert "m001_core" in first
    assert run(db_file, "migrate").stdout == first
    names = [r[0] for r in sqlite3.connect(db_file).execute("SELECT name FROM _sqlite_migrations ORDER BY name")]
    assert len(names) == len(set(names))


def test_user_add_reads_the_password_from_stdin(db_file):
    out = run(db_file, "user", "add", "Lead7", "--role", "lead", "--unit", "Oulu preventive unit",
              "--name", "Lead Seven", "--password-stdin", stdin="oikein-pitka-salasana\n").stdout
    assert "created lead7 (lead)" in out
    db = open_db(db_file)
    user = accounts.authenticate(db, "lead7", "oikein-pitka-salasana")
    assert user is not None and user.display_name == "Lead Seven"
    assert db.execute("SELECT name FROM units WHERE id = ?", [user.unit_id]).fetchone()[0] == "Oulu preventive unit"


def test_user_add_refuses_short_password_and_duplicates(db_file):
    short = run(db_file, "user", "add", "officer7", "--role", "officer", stdin="lyhyt\n", check=False)
    assert short.returncode == 2 and "at least 10 characters" in short.stderr
    run(db_file, "user", "add", "officer7", "--role", "officer", stdin="riittavan-pitka\n")
    again = run(db_file, "user", "add", "officer7", "--role", "officer", stdin="riittavan-pitka\n", check=False)
    assert again.returncode == 2 and "exists" in again.stderr
    bad_role = run(db_file, "user", "add", "x", "--role", "king", stdin="riittavan-pitka\n", check=False)
    assert bad_role.returncode == 2


def test_user_password_sets_a_new_password(db_file):
    run(db_file, "user", "add", "admin7", "--role", "admin", stdin="ensimmainen-salasana\n")
    run(db_file, "user", "password", "admin7", stdin="toinen-salasana-22\n")
    db = open_db(db_file)
    assert accounts.authenticate(db, "admin7", "toinen-salasana-22") is not None
    assert run(db_file, "user", "password", "nobody", stdin="toinen-salasana-22\n", check=False).returncode == 2


def test_demo_prints_logins_and_refreshes_without_duplicates(db_file):
    out = run(db_file, "demo").stdout
    assert demo.DEMO_PASSWORD in out
    for username, _role, _name in demo.DEMO_USERS:
        assert username in out
    conn = sqlite3.connect(db_file)
    counts = [conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("users", "deployments", "contacts")]
    conn.close()
    run(db_file, "demo")
    conn = sqlite3.connect(db_file)
    assert [conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("users", "deployments", "contacts")] == counts
    assert counts[2] > 100


def test_serve_generates_the_secret_and_answers(db_file):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "FIELDAPP_DB": str(db_file)}
    process = subprocess.Popen([sys.executable, "-m", "fieldapp", "serve", "--host", "127.0.0.1", "--port", str(port)],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail("server did not start:\n" + process.communicate(timeout=10)[0])
            time.sleep(0.1)
        secret = db_file.parent / ".session_secret"
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    assert f"http://127.0.0.1:{port}/" in output


def test_help_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "fieldapp", "--help"], capture_output=True, text=True).stdout
    for command in ("serve", "demo", "user", "migrate", "init"):
        assert command in out


def test_the_demo_prints_every_demo_login_it_made(tmp_path):
    from fieldapp import demo_yearly
    printed = run(tmp_path / "demo.db", "demo").stdout
    names = {name.strip(",") for name in printed.split("demo only): ", 1)[1].split()}
    made = {u for u, *_ in demo.DEMO_USERS} | {u for u, *_ in demo_yearly.USERS}
    assert made <= names, made - names
def test_serve_runs_the_app_in_one_uvicorn_process_with_the_chosen_settings(db_file, monkeypatch):
    """One process, one event loop (uvloop, httptools): SQLite's one writer is the app's writer thread, and the
    login throttle's counts and the background workers exist once (bench/README.md "Reconnect storm")."""
    import uvicorn

    from fieldapp import cli

    seen = {}
    monkeypatch.setenv("FIELDAPP_DB", str(db_file))
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: seen.update(app=app, **options))
    cli.main(["serve", "--host", "127.0.0.1", "--port", "8123"])
    assert seen["app"].state.writer is not None  # the app itself, not an import string other processes load
    assert seen["host"] == "127.0.0.1" and seen["port"] == 8123
    assert seen["workers"] == 1 and seen["loop"] == "uvloop" and seen["http"] == "httptools"
    assert seen["timeout_keep_alive"] >= 60  # longer than the Retry-After a busy server gives
    assert seen["backlog"] >= 2048 and seen["proxy_headers"] is True and seen["access_log"] is False
    seen["app"].state.writer.stop()


def _response(conn) -> str:
    """One whole HTTP/1.1 response (headers and a Content-Length body) from a socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536) or b"!"
        assert not data.endswith(b"!"), "connection closed"
    head, body = data.split(b"\r\n\r\n", 1)
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    while len(body) < length:
        body += conn.recv(65536)
    return (head + b"\r\n\r\n" + body).decode("latin-1")


def test_a_served_connection_outlives_a_retry_after(db_file):
    """A device told to come back in a few seconds finds its keep-alive connection still open (uvicorn's
    default would close it after 5 s, racing the device's next request)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "FIELDAPP_DB": str(db_file)}
    process = subprocess.Popen([sys.executable, "-m", "fieldapp", "serve", "--host", "127.0.0.1", "--port", str(port)],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/livez", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and process.poll() is None, "server did not start"
            time.sleep(0.1)
        request = f"GET /livez HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            for wait in (0, 6.5):
                time.sleep(wait)
                conn.sendall(request)
                answer = _response(conn)
                assert answer.startswith("HTTP/1.1 200"), (wait, answer[:200])
                assert "server: uvicorn" in answer.lower()
    finally:
        process.terminate()
        process.communicate(timeout=20)
