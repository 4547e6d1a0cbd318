"""Contact form on first load: compressed bytes (HTML + CSS + JS) against the 50 KB goal, and render time.

    .venv/bin/python bench/bench_contact_form.py [--runs 300] [--url http://127.0.0.1:8000 --user officer1]

Without --url the app runs in-process (Litestar TestClient) on a fresh demo database in a temporary
directory. Sizes are what gzip (level 6, as the server's compression) makes of each response body; the
server's own Content-Encoding is reported beside it. Render time is the median of --runs requests of
the form page, with ratios against two baselines measured in the same run and the same way:
GET /healthz (no template) and GET /login (the smallest full page on the same base template).
"""

from __future__ import annotations

import argparse
import gzip
import re
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOAL_BYTES = 50 * 1024
ASSET_RE = re.compile(r'<(?:link[^>]+rel="stylesheet"[^>]+href|script[^>]+src)="([^"]+)"')
CSRF_RE = re.compile(r'name="_csrf" value="([^"]+)"')
DEPLOYMENT_RE = re.compile(r'href="/deployments/([0-9a-f-]{36})"')


@contextmanager
def in_process_client():
    from litestar.testing import TestClient

    from fieldapp import demo
    from fieldapp.app import create_app
    from fieldapp.db import open_db
    from fieldapp.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        db = open_db(path)
        demo.load(db)
        db.conn.close()
        with TestClient(app=create_app(Settings(db_path=path)), base_url="http://127.0.0.1") as client:
            yield client


@contextmanager
def live_client(url: str):
    import httpx

    with httpx.Client(base_url=url, timeout=30) as client:
        yield client


def log_in(client, username: str, password: str) -> None:
    token = CSRF_RE.search(client.get("/login").text).group(1)
    response = client.post("/login", data={"_csrf": token, "username": username, "password": password, "next": "/"},
                           follow_redirects=False)
    if response.status_code != 303:
        raise SystemExit(f"login as {username} failed: {response.status_code}")


def sizes(client, form_path: str) -> list[tuple[str, int, int, str]]:
    """(path, raw bytes, gzip bytes, server content-encoding) of the page and each CSS/JS file it loads."""
    headers = {"Accept-Encoding": "gzip"}
    page = client.get(form_path, headers=headers)
    rows = [(form_path, page)]
    for asset in dict.fromkeys(ASSET_RE.findall(page.text)):
        rows.append((asset, client.get(asset, headers=headers)))
    result = []
    for path, response in rows:
        if response.status_code != 200:
            raise SystemExit(f"{path}: HTTP {response.status_code}")
        body = response.content
        result.append((path, len(body), len(gzip.compress(body, 6)), response.headers.get("content-encoding", "-")))
    return result


def median_ms(client, path: str, runs: int) -> float:
    for _ in range(5):  # warm the template cache and the connection
        client.get(path)
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(path)
        timings.append(time.perf_counter() - start)
        if response.status_code != 200:
            raise SystemExit(f"{path}: HTTP {response.status_code}")
    return statistics.median(timings) * 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--url", help="a running fieldapp with demo data (default: in-process TestClient)")
    parser.add_argument("--user", default="officer1")
    parser.add_argument("--password", default="fieldapp-demo")
    args = parser.parse_args(argv)

    with (live_client(args.url) if args.url else in_process_client()) as client:
        log_in(client, args.user, args.password)
        deployment_id = DEPLOYMENT_RE.search(client.get("/").text).group(1)
        form_path = f"/deployments/{deployment_id}/contacts/new"

        rows = sizes(client, form_path)
        print(f"{'file':<44} {'raw':>9} {'gzip':>9}  server")
        for path, raw, packed, encoding in rows:
            print(f"{path[-44:]:<44} {raw:>9,} {packed:>9,}  {encoding}")
        total_raw = sum(r[1] for r in rows)
        total = sum(r[2] for r in rows)
        print(f"{'total':<44} {total_raw:>9,} {total:>9,}")
        verdict = "within" if total <= GOAL_BYTES else "OVER"
        print(f"first load of the contact form: {total / 1024:.1f} KB gzip, {verdict} the 50 KB goal "
              f"({total / GOAL_BYTES:.0%} of it)")

        form = median_ms(client, form_path, args.runs)
        health = median_ms(client, "/healthz", args.runs)
        login_page = median_ms(client, "/login", args.runs)
        print(f"render, median of {args.runs}: contact form {form:.2f} ms | /healthz {health:.2f} ms "
              f"(form = {form / health:.1f}x) | /login {login_page:.2f} ms (form = {form / login_page:.1f}x)")


if __name__ == "__main__":
    main()
