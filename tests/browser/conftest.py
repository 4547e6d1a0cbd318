"""Browser tests: Debian's Chromium driven by Playwright against a real server process on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser_type_launch_args():
    return {"executable_path": "/usr/bin/chromium", "args": CHROMIUM_ARGS, "headless": True}


@pytest.fixture(scope="session")
def browser_context_args():
    return {"viewport": {"width": 390, "height": 844}, "locale": "en-GB", "service_workers": "allow"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """`fieldapp serve` in its own process, so a test can stop and restart it like a real server."""

    def __init__(self, db_path: Path, env: dict | None = None, module: str = "fieldapp"):
        self.db_path = db_path
        self.module = module  # what `python -m` runs (a test may wrap the app)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "FIELDAPP_DB": str(db_path), **(env or {})}
        self.process: subprocess.Popen | None = None
        self.log = db_path.parent / "server.log"

    def start(self) -> "LiveServer":
        log = self.log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("server did not start:\n" + self.log.read_text())

    def kill(self) -> None:
        """Stop the process at once (SIGKILL): no shutdown hooks, like a crash."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def db(self) -> sqlite3.Connection:
        """A separate read connection to the server's database file."""
        conn = sqlite3.connect(self.db_path, timeout=10)
        conn.row_factory = sqlite3.Row
        return conn


def _copy_db(template: Path, target: Path) -> None:
    src = sqlite3.connect(template)
    dst = sqlite3.connect(target)
    src.backup(dst)
    src.close()
    dst.close()


@pytest.fixture
def live_server(tmp_path, demo_template):
    """A fresh server with its own copy of the demo data, for one test."""
    path = tmp_path / "live.db"
    _copy_db(demo_template, path)
    server = LiveServer(path).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def shared_server(tmp_path_factory, demo_template):
    """One server for the read-mostly browser tests of a session."""
    path = tmp_path_factory.mktemp("shared") / "live.db"
    _copy_db(demo_template, path)
    server = LiveServer(path).start()
    yield server
    server.stop()


def log_in(page, base_url: str, username: str, password: str = "fieldapp-demo") -> None:
    page.goto(base_url + "/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit].primary")
    page.wait_for_url(lambda url: "/login" not in url)


# Each shown select whose chosen option is wider than the room the select gives it: the text measured with the
# select's own font, the room without its padding and the arrow (Chromium's takes about 12 px of the content box).
# A select as wide as its form (less a fieldset's padding) is left out: its text is longer than the screen allows.
_CUT_SELECTS = """() => [...document.querySelectorAll("select")].filter(s => s.offsetParent && s.selectedIndex >= 0)
  .filter(s => s.getBoundingClientRect().width < (s.closest("form") || document.body).getBoundingClientRect().width - 40)
  .map(s => {
    const style = getComputedStyle(s);
    const context = document.createElement("canvas").getContext("2d");
    context.font = style.font;
    const text = s.options[s.selectedIndex].text;
    const room = s.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 12;
    return [s.name, text, Math.ceil(context.measureText(text).width), Math.floor(room)];
  }).filter(([name, text, needs, room]) => needs > room)"""


def cut_selects(page) -> list:
    """[name, chosen text, width it needs, room] of each shown select that cuts its chosen option's text off."""
    return page.evaluate(_CUT_SELECTS)


AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21aa", "wcag22aa"]


def axe_violations(page) -> list:
    """axe-core run in the page (tags wcag2a, wcag2aa, wcag21aa, wcag22aa); returns the violations."""
    from axe_playwright_python.sync_playwright import Axe
    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": AXE_TAGS}})
    return results.response["violations"]
