"""Sync speed (not a test; prints a report).

    .venv/bin/python bench/bench_sync.py [--batches 20] [--no-browser]

1. Ingest: batches of 100 records (tension observations and contacts) through fieldapp.offline.sync.ingest
   (validation, audit, change log, receipts and the other areas' hooks, one transaction per
   batch), against a plain sqlite3 executemany of the very rows it stored, one transaction per batch,
   into the same schema on the same disk with the same pragmas (WAL, synchronous=FULL), in the same run.
2. Re-sent duplicate batches (the acknowledgement was lost) against the new ones.
3. Offline save in headless Chromium: tap on "Save" to "saved on this device" on screen (next frame),
   with the network cut (context.set_offline), over 30 saves.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fieldapp import accounts, demo, deployments, records  # noqa: E402
from fieldapp.db import open_db  # noqa: E402
from fieldapp.ids import new_id  # noqa: E402
from fieldapp.offline import sync  # noqa: E402

BATCH = 100


def _batch(deployment_id: str, n: int, tag: str) -> list[sync.SyncRecord]:
    out = []
    for i in range(n):
        if i % 2:
            values = {"kind": ["provocation", "verbal_confrontation", "crowd_movement"][i % 3],
                      "severity": str(1 + i % 6), "groups": ["youth", "residents"][: 1 + i % 2],
                      "notes": f"{tag} tension {i}"}
            kind = "tension"
        else:
            values = {"topics": ["rumour", "tip"][: 1 + i % 2], "age_band": "18_29", "language": "fi",
                      "feedback_promised": "1" if i % 4 == 0 else "", "notes": f"{tag} contact {i}"}
            kind = "contact"
        out.append(sync.SyncRecord(id=new_id(), kind=kind, deployment_id=deployment_id, values=values,
                                   device_time=None))
    return out


def ingest_benchmark(workdir: Path, batches: int) -> dict:
    db_path = workdir / "ingest.db"
    db = open_db(db_path)
    demo.load(db)
    user = accounts.by_username(db, "officer1")
    deployment = deployments.current_for_user(db, user)
    work = [_batch(deployment["id"], BATCH, f"b{b}") for b in range(batches)]
    # Warm-up batch (caches, first inserts), not counted.
    sync.ingest(db, user, sync.SyncBatch(records=_batch(deployment["id"], BATCH, "warm")))

    new_times = []
    for items in work:
        started = time.perf_counter()
        results = sync.ingest(db, user, sync.SyncBatch(records=items))
        new_times.append(time.perf_counter() - started)
        assert all(r.status == "accepted" for r in results), results[0]
    dup_times = []
    for items in work:
        started = time.perf_counter()
        results = sync.ingest(db, user, sync.SyncBatch(records=items))
        dup_times.append(time.perf_counter() - started)
        assert all(r.status == "duplicate" for r in results)

    # The baseline: the same rows, as stored, inserted with executemany into an empty copy of the schema.
    base_path = workdir / "baseline.db"
    open_db(base_path).conn.close()
    base = sqlite3.connect(base_path, isolation_level=None)
    base.execute("PRAGMA journal_mode=WAL")
    base.execute("PRAGMA synchronous=FULL")
    base.execute("PRAGMA foreign_keys=OFF")  # the referenced users and deployments are not copied
    stored = []
    for items in work:
        per_table: dict[str, tuple[list[str], list[tuple]]] = {}
        for kind_name in ("tension", "contact"):
            table = records.KINDS[kind_name].table
            ids = [i.id for i in items if i.kind == kind_name]
            rows = [dict(r) for r in db.query(
                f"SELECT * FROM {table} WHERE id IN ({','.join('?' * len(ids))})", ids)]
            columns = list(rows[0])
            per_table[table] = (columns, [tuple(r[c] for c in columns) for r in rows])
        stored.append(per_table)
    raw_times = []
    for per_table in stored:
        started = time.perf_counter()
        base.execute("BEGIN IMMEDIATE")
        for table, (columns, rows) in per_table.items():
            base.executemany(f"INSERT INTO {table} ({','.join(columns)}) VALUES ({','.join('?' * len(columns))})",
                             rows)
        base.execute("COMMIT")
        raw_times.append(time.perf_counter() - started)
    base.close()
    db.conn.close()

    total = batches * BATCH
    ingest_rate = total / sum(new_times)
    raw_rate = total / sum(raw_times)
    dup_rate = total / sum(dup_times)
    return {"records": total, "ingest_rate": ingest_rate, "raw_rate": raw_rate, "dup_rate": dup_rate,
            "ingest_ms_per_batch": statistics.median(new_times) * 1000,
            "raw_ms_per_batch": statistics.median(raw_times) * 1000,
            "dup_ms_per_batch": statistics.median(dup_times) * 1000}


SAVE_PROBE = """async () => {
    const form = document.querySelector("form[data-outbox]");
    form.querySelector("input[name='kind'][value='provocation']").checked = true;
    form.querySelector("input[name='severity'][value='3']").checked = true;
    const old = document.querySelector("[data-outbox-notice]");
    if (old) old.remove();
    const shown = new Promise((resolve) => {
        const observer = new MutationObserver(() => {
            const notice = document.querySelector("[data-outbox-notice][data-state='saved']");
            if (notice) { observer.disconnect(); requestAnimationFrame(() => resolve(performance.now())); }
        });
        observer.observe(document.body, {childList: true, subtree: true, attributes: true});
    });
    const tapped = performance.now();
    form.querySelector("button[type=submit]").click();
    return (await shown) - tapped;
}"""


def browser_benchmark(workdir: Path, saves: int) -> dict:
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM_ARGS, LiveServer, log_in

    db_path = workdir / "browser.db"
    db = open_db(db_path)
    demo.load(db)
    db.conn.close()
    server = LiveServer(db_path).start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True)
            context = browser.new_context(viewport={"width": 390, "height": 844}, service_workers="allow")
            page = context.new_page()
            log_in(page, server.url, "officer1")
            page.wait_for_selector("html[data-offline-ready='1']", timeout=30000)
            deployment = page.locator("#deployment-list li a").first.get_attribute("href")
            context.set_offline(True)
            page.goto(server.url + deployment + "/tensions/new")
            assert page.locator("html").get_attribute("data-device-copy") == "1"
            page.evaluate(SAVE_PROBE)  # warm-up
            times = [page.evaluate(SAVE_PROBE) for _ in range(saves)]
            waiting = int(page.locator("[data-sync-status]").get_attribute("data-waiting"))
            browser.close()
    finally:
        server.stop()
    times.sort()
    return {"saves": saves, "median_ms": statistics.median(times), "p95_ms": times[int(0.95 * (len(times) - 1))],
            "max_ms": times[-1], "waiting": waiting}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--saves", type=int, default=30)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench_sync_"))
    try:
        r = ingest_benchmark(workdir, args.batches)
        print(f"ingest, batches of {BATCH}: {r['ingest_rate']:,.0f} records/s "
              f"(median {r['ingest_ms_per_batch']:.1f} ms per batch)")
        print(f"plain sqlite3 executemany of the same rows: {r['raw_rate']:,.0f} records/s "
              f"(median {r['raw_ms_per_batch']:.2f} ms per batch)")
        print(f"  ingest / raw = {r['ingest_rate'] / r['raw_rate']:.3f}  (goal >= 0.5)")
        print(f"re-sent duplicate batches: {r['dup_rate']:,.0f} records/s (median {r['dup_ms_per_batch']:.1f} ms "
              f"per batch) = {r['dup_rate'] / r['ingest_rate']:.1f}x the new ones (goal >= 2x)")
        if not args.no_browser:
            b = browser_benchmark(workdir, args.saves)
            print(f"offline save, tap to 'saved on this device' on screen, headless Chromium, {b['saves']} saves: "
                  f"median {b['median_ms']:.1f} ms, p95 {b['p95_ms']:.1f} ms, max {b['max_ms']:.1f} ms "
                  f"(goal < 100 ms); {b['waiting']} waiting in the outbox")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
