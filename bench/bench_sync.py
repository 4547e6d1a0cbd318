"""Sync speed (not a test; prints a report).

    .venv/bin/python bench/bench_sync.py [--batches 100] [--no-browser] [--dir /dev/shm]

1. Ingest: batches of 100 records (tension observations with a location, and contacts) through
   fieldapp.offline.sync.ingest (validation, duplicate and conflict checks, the records with their change
   positions and the batch's audit row, one transaction per batch), against a plain sqlite3 executemany of
   the very rows it stored, one transaction per batch, into the same schema on the same disk with the same
   pragmas (WAL, synchronous=FULL, foreign keys on, the referenced units, users and deployments copied
   first). Paired: each ingest batch is followed by its raw insert, so both see the same machine. A second baseline
   inserts everything the ingest stores, the records and their audit rows (copied as the ingest chained them), the
   same way: what the ingest costs beyond writing its rows.
   Then the projections of all those records (fieldapp/projections.py: situation picture roll-ups, alert
   rules, POR feed), which the server applies right after answering each batch, and both together.
2. Re-sent duplicate batches (the acknowledgement was lost) against the new ones.
3. Offline save in headless Chromium: tap on "Save" to "saved on this device" on screen (next frame),
   with the network cut (context.set_offline), over 30 saves.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fieldapp import accounts, demo, deployments, projections, records  # noqa: E402
from fieldapp.clock import HELSINKI, iso, utcnow  # noqa: E402
from fieldapp.db import open_db  # noqa: E402
from fieldapp.ids import new_id  # noqa: E402
from fieldapp.offline import sync  # noqa: E402

BATCH = 100


def _batch(deployment: dict, n: int, tag: str) -> list[sync.SyncRecord]:
    """What an outbox sends (client.js formValues, sync-client.js givenValues): the form's fields as strings,
    blank ones left out, the chosen chips of a group as a list, a ticked box as "1", the form's time in Helsinki
    minutes; one record saved a minute (the device's save time), half contacts, half tension observations,
    every other one placed with "use my location"."""
    out = []
    now = utcnow()
    for i in range(n):
        located = i % 4 < 2
        saved = now - timedelta(minutes=n - i)
        occurred = saved.astimezone(HELSINKI).strftime("%Y-%m-%dT%H:%M")
        place = {"occurred_at": occurred, "place_name": "",
                 "lat": f"{deployment['lat'] + (i % 7 - 3) * 0.002:.5f}" if located else "",
                 "lon": f"{deployment['lon'] + (i % 5 - 2) * 0.003:.5f}" if located else ""}
        if i % 2:
            values = {"kind": ["provocation", "verbal_confrontation", "crowd_movement"][i % 3],
                      "severity": str(1 + i % 6), "trend": "stable", "basis": "observed",
                      "groups": ["youth", "residents"][: 1 + i % 2], "people_estimate": str(10 + i) if i % 3 else "",
                      **place, "notes": f"{tag} tension {i}"}
            kind = "tension"
        else:
            values = {"topics": ["rumour", "tip"][: 1 + i % 3], "age_band": "18_29", "group_size": "",
                      "group_category": "", "language": "fi", "referral_target": "", **place,
                      "notes": f"{tag} contact {i}" if i % 3 else ""}
            if i % 4 == 0:
                values["feedback_promised"] = "1"
            kind = "contact"
        values = {name: value for name, value in values.items() if value != ""}  # sync-client.js givenValues()
        out.append(sync.SyncRecord(id=new_id(), kind=kind, deployment_id=deployment["id"], values=values,
                                   device_time=iso(saved)))
    return out


def _stored_rows(db, items: list[sync.SyncRecord]) -> dict[str, tuple[list[str], list[tuple]]]:
    """table -> (columns, rows) of the records of a batch exactly as ingest stored them."""
    per_table: dict[str, tuple[list[str], list[tuple]]] = {}
    for kind_name in ("tension", "contact"):
        table = records.KINDS[kind_name].table
        ids = [i.id for i in items if i.kind == kind_name]
        rows = [dict(r) for r in db.query(f"SELECT * FROM {table} WHERE id IN ({','.join('?' * len(ids))})", ids)]
        columns = list(rows[0])
        per_table[table] = (columns, [tuple(r[c] for c in columns) for r in rows])
    return per_table


def _baseline(db, path: Path) -> sqlite3.Connection:
    """An empty copy of the schema with the app's pragmas (WAL, synchronous=FULL, foreign keys on) and the
    departments, units, users and deployments the records refer to."""
    open_db(path).conn.close()
    base = sqlite3.connect(path, isolation_level=None)
    base.execute("PRAGMA journal_mode=WAL")
    base.execute("PRAGMA synchronous=FULL")
    base.execute("PRAGMA foreign_keys=ON")
    base.execute("BEGIN IMMEDIATE")
    base.execute("PRAGMA defer_foreign_keys=ON")  # users refer to users (created_by), checked at the commit
    for table in ("departments", "units", "users", "deployments"):
        rows = [dict(r) for r in db.query(f"SELECT * FROM {table}")]
        if not rows:
            continue
        columns = list(rows[0])
        base.executemany(f"INSERT INTO {table} ({','.join(columns)}) VALUES ({','.join('?' * len(columns))})",
                         [tuple(r[c] for c in columns) for r in rows])
    base.execute("COMMIT")
    return base


def _audit_rows(db, items: list[sync.SyncRecord]) -> dict[str, tuple[list[str], list[tuple]]]:
    """The audit rows ingest wrote for a batch's records (one each, chained), as stored (their ids left out)."""
    ids = [i.id for i in items]
    rows = [dict(r) for r in db.query(f"SELECT * FROM audit_log WHERE action = 'sync' AND record_id IN "
                                      f"({','.join('?' * len(ids))}) ORDER BY id", ids)]
    columns = [c for c in rows[0] if c != "id"]
    return {"audit_log": (columns, [tuple(r[c] for c in columns) for r in rows])}


def _raw_insert(base: sqlite3.Connection, per_table: dict) -> float:
    started = time.perf_counter()
    base.execute("BEGIN IMMEDIATE")
    for table, (columns, rows) in per_table.items():
        base.executemany(f"INSERT INTO {table} ({','.join(columns)}) VALUES ({','.join('?' * len(columns))})", rows)
    base.execute("COMMIT")
    return time.perf_counter() - started


def ingest_benchmark(workdir: Path, batches: int) -> dict:
    db = open_db(workdir / "ingest.db")
    demo.load(db)
    user = accounts.by_username(db, "officer1")
    deployment = deployments.current_for_user(db, user)
    base = _baseline(db, workdir / "baseline.db")
    base_all = _baseline(db, workdir / "baseline_all.db")  # the records and their audit rows
    work = [_batch(deployment, BATCH, f"b{b}") for b in range(batches)]
    # Warm-up batch (caches, first inserts), not counted; its projection too.
    warm = _batch(deployment, BATCH, "warm")
    sync.ingest(db, user, sync.SyncBatch(records=warm, sent_at=iso(utcnow())))
    _raw_insert(base, {table: (columns, []) for table, (columns, _rows) in _stored_rows(db, warm).items()})
    _raw_insert(base_all, {**_stored_rows(db, warm), **_audit_rows(db, warm)})
    projections.catch_up(db)

    # Paired: each batch through ingest, then the very rows it stored through executemany, so that both
    # see the same state of the disk and the machine.
    new_times, raw_times, all_times = [], [], []
    for items in work:
        started = time.perf_counter()
        results = sync.ingest(db, user, sync.SyncBatch(records=items, sent_at=iso(utcnow())))
        new_times.append(time.perf_counter() - started)
        assert all(r.status == "accepted" for r in results), results[0]
        stored = _stored_rows(db, items)
        raw_times.append(_raw_insert(base, stored))
        all_times.append(_raw_insert(base_all, {**stored, **_audit_rows(db, items)}))
    base.close()
    base_all.close()
    # The projections (situation picture roll-ups, alert rules, POR feed) of all those records, as the
    # server applies them once each batch has been answered.
    behind = projections.behind(db)
    started, cpu = time.perf_counter(), time.process_time()
    projected = projections.catch_up(db)
    project_time, project_cpu = time.perf_counter() - started, time.process_time() - cpu
    assert projected == behind == batches * BATCH, (projected, behind)
    dup_times = []
    for items in work:
        started = time.perf_counter()
        results = sync.ingest(db, user, sync.SyncBatch(records=items, sent_at=iso(utcnow())))
        dup_times.append(time.perf_counter() - started)
        assert all(r.status == "duplicate" for r in results)
    db.conn.close()

    total = batches * BATCH
    return {"records": total, "ingest_rate": total / sum(new_times), "raw_rate": total / sum(raw_times),
            "raw_all_rate": total / sum(all_times), "raw_all_ms_per_batch": statistics.median(all_times) * 1000,
            "dup_rate": total / sum(dup_times), "project_rate": total / project_time,
            "project_cpu_rate": total / project_cpu,
            "end_to_end_rate": total / (sum(new_times) + project_time),
            "ingest_ms_per_batch": statistics.median(new_times) * 1000,
            "raw_ms_per_batch": statistics.median(raw_times) * 1000,
            "dup_ms_per_batch": statistics.median(dup_times) * 1000,
            "pair_ratios": sorted(raw / new for raw, new in zip(raw_times, new_times))}


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
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--saves", type=int, default=30)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--dir", help="where the databases go (default: the system's temporary directory); "
                                      "/dev/shm takes the disk out of both rates")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench_sync_", dir=args.dir))
    try:
        r = ingest_benchmark(workdir, args.batches)
        print(f"ingest, batches of {BATCH}: {r['ingest_rate']:,.0f} records/s "
              f"(median {r['ingest_ms_per_batch']:.1f} ms per batch)")
        print(f"plain sqlite3 executemany of the same rows: {r['raw_rate']:,.0f} records/s "
              f"(median {r['raw_ms_per_batch']:.2f} ms per batch)")
        pairs = r["pair_ratios"]
        print(f"  ingest / raw = {r['ingest_rate'] / r['raw_rate']:.3f}  (goal >= 0.5); per batch pair: median "
              f"{statistics.median(pairs):.3f}, quartiles {pairs[len(pairs) // 4]:.3f}-{pairs[3 * len(pairs) // 4]:.3f}")
        print(f"plain executemany of everything the ingest stores (the records and their audit rows): "
              f"{r['raw_all_rate']:,.0f} records/s (median {r['raw_all_ms_per_batch']:.2f} ms per batch); ingest / that "
              f"= {r['ingest_rate'] / r['raw_all_rate']:.3f}, ingest and projection together / that = "
              f"{r['end_to_end_rate'] / r['raw_all_rate']:.3f}")
        print(f"projections after the answers (situation picture roll-ups, alert rules, POR feed): "
              f"{r['project_rate']:,.0f} records/s ({r['project_cpu_rate']:,.0f} per CPU second; load average "
              f"{os.getloadavg()[0]:.1f}); ingest and projection together {r['end_to_end_rate']:,.0f} "
              f"records/s = {r['end_to_end_rate'] / r['raw_rate']:.3f} of raw")
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
