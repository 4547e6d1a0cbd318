"""`fieldapp serve` in a process of its own, as users start it, for the benchmarks (and tests that use them)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(db_path: Path, env: dict | None = None, *, log_name: str = "server.log",
                 timeout: float = 60.0) -> tuple[subprocess.Popen, str]:
    """Start the server on a free loopback port with this database; returns the process and its address once
    /healthz answers 200 (the server's output goes to log_name beside the database)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (db_path.parent / log_name).open("ab")
    process = subprocess.Popen([sys.executable, "-m", "fieldapp", "serve", "--host", "127.0.0.1", "--port", str(port)],
                               env={**os.environ, "FIELDAPP_DB": str(db_path), **(env or {})}, stdout=log,
                               stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"server did not start (see {db_path.parent / log_name})")
