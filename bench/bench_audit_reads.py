"""What logging reads costs a page (not a test; prints a report).

    .venv/bin/python bench/bench_audit_reads.py [--runs 300] [--dir /dev/shm]

In-process app (Litestar TestClient) on a fresh demo database on disk, officer1 logged in. Pages that write one
audit row per request (the deployment page with its three lists, one record's detail, a device's pull) are timed
with the row written and, alternately in the same run, with fieldapp.audit.read replaced by a no-op: the
difference is the cost of the row (its own small write transaction with synchronous=FULL, and the chain's hash).
The contact form writes no row; bench_contact_form.py times it.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from litestar.testing import TestClient  # noqa: E402

from fieldapp import accounts, audit, demo, deployments  # noqa: E402
from fieldapp.app import create_app  # noqa: E402
from fieldapp.db import open_db  # noqa: E402
from fieldapp.settings import Settings  # noqa: E402

CSRF_RE = re.compile(r'name="_csrf" value="([^"]+)"')


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--dir", default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "bench.db"
        db = open_db(path)
        demo.load(db)
        officer = accounts.by_username(db, "officer1")
        current = deployments.current_for_user(db, officer)
        record_id = db.execute("SELECT id FROM tensions WHERE deployment_id = ? AND deleted_at IS NULL LIMIT 1",
                               [current["id"]]).fetchone()[0]
        db.conn.close()
        app = create_app(Settings(db_path=path))
        pages = {"deployment page": f"/deployments/{current['id']}",
                 "record detail": f"/records/tension/{record_id}",
                 "pull from 0": "/api/sync/pull?cursor=0"}
        logged_read = audit.read
        with TestClient(app=app, base_url="http://127.0.0.1") as client:
            token = CSRF_RE.search(client.get("/login").text).group(1)
            client.post("/login", data={"_csrf": token, "username": "officer1", "password": demo.DEMO_PASSWORD,
                                        "next": "/"}, follow_redirects=False)
            rows_before = app.state.db.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0]
            times: dict[str, dict[bool, list[float]]] = {name: {True: [], False: []} for name in pages}
            for name, url in pages.items():
                for _ in range(20):  # warm up
                    assert client.get(url).status_code == 200
                for run in range(args.runs * 2):
                    logged = run % 2 == 0
                    audit.read = logged_read if logged else (lambda *a, **k: None)
                    start = time.perf_counter()
                    client.get(url)
                    times[name][logged].append(time.perf_counter() - start)
            audit.read = logged_read
            rows = app.state.db.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] - rows_before
    print(f"{args.runs} requests each way per page, alternating; {rows} audit rows written")
    print("| page | median with the row | median without | cost of the row |")
    print("| --- | ---: | ---: | ---: |")
    for name, by in times.items():
        with_row, without = statistics.median(by[True]) * 1000, statistics.median(by[False]) * 1000
        print(f"| {name} | {with_row:.2f} ms | {without:.2f} ms | {with_row - without:+.2f} ms "
              f"({(with_row / without - 1) * 100:+.0f} %) |")


if __name__ == "__main__":
    main()
