"""Situation picture speed with 1,000,000 synthetic tension observations (not a test; prints a report).

    .venv/bin/python bench/bench_picture.py [--rows 1000000] [--db /tmp/bench_picture.db] [--reuse | --rebuild-only]

Builds the database directly (executemany, then picture.rebuild), then times, for windows of one hour to
30 days and every served resolution, the server's aggregation (picture.aggregate: hourly/daily roll-ups and
raw edges) against a plain GROUP BY over the observations with a covering index, in the same run. The map
view is a 1280 x 800 px screen over Helsinki at the lowest zoom that uses the resolution (the most cells).
Also: the whole GeoJSON answer, the cost of one record write, and the map page's first-load size.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec  # noqa: E402
import sqlite3  # noqa: E402
import sqlite_utils  # noqa: E402

from fieldapp import picture  # noqa: E402
from fieldapp.picture.aggregation import _obs_conditions  # noqa: E402
from fieldapp.clock import iso  # noqa: E402
from fieldapp.db import open_db  # noqa: E402

NOW = datetime(2026, 11, 21, 12, 34, 56, tzinfo=timezone.utc)  # not on an hour: the raw edges are exercised
KINDS = ["verbal_confrontation", "hate_speech_symbols", "provocation", "crowd_movement", "rumour_online",
         "counter_demo_contact", "hostility_police", "physical_scuffle", "other"]
GROUPS = ["demonstrators", "counter_demonstrators", "youth", "supporters_group", "residents", "religious_community",
          "general_public", "ethnic_minority"]
TRENDS = ["rising", "stable", "stable", "easing"]
CENTRE = (60.1699, 24.9384)
ZOOM_FOR_RES = {5: 6, 6: 8, 7: 10, 8: 12, 9: 14}  # the lowest zoom using each resolution (widest view)


def build(path: Path, rows: int, seed: int = 1) -> None:
    """A unit, 300 deployments at 40 places around Helsinki over 30 days, `rows` observations, 20% linked."""
    rng = random.Random(seed)
    db = open_db(path)
    db.conn.execute("PRAGMA synchronous=OFF")
    stamp = iso(NOW)
    db.execute("INSERT INTO units (id, name, created_at) VALUES ('bench-unit', 'Bench unit (synthetic)', ?)", [stamp])
    db.execute("INSERT INTO users (id, username, display_name, password_hash, role, unit_id, created_at, updated_at) "
               "VALUES ('bench-lead', 'benchlead', 'Bench Lead', 'x', 'lead', 'bench-unit', ?, ?)", [stamp, stamp])
    places = [(CENTRE[0] + rng.uniform(-0.06, 0.09), CENTRE[1] + rng.uniform(-0.15, 0.25)) for _ in range(40)]
    deployments = []
    for i in range(300):
        lat, lon = places[rng.randrange(len(places))]
        start = NOW - timedelta(hours=rng.uniform(0, 30 * 24))
        hours = rng.uniform(3, 8)
        deployments.append((f"bench-dep-{i:03d}", lat, lon, start, hours))
    db.conn.executemany(
        "INSERT INTO deployments (id, unit_id, name, kind, place_name, lat, lon, starts_at, ends_at, created_at, "
        "updated_at) VALUES (?, 'bench-unit', ?, 'demonstration', ?, ?, ?, ?, ?, ?, ?)",
        [(d, f"Bench event {d[-3:]}", f"Place {i % 40}", lat, lon, iso(start), iso(start + timedelta(hours=h)),
          stamp, stamp) for i, (d, lat, lon, start, h) in enumerate(deployments)])
    db.conn.execute("BEGIN")
    batch, links = [], []
    for n in range(rows):
        dep, lat, lon, start, hours = deployments[rng.randrange(len(deployments))]
        at = min(start + timedelta(seconds=rng.uniform(0, hours * 3600)), NOW - timedelta(seconds=rng.uniform(0, 600)))
        if rng.random() < 0.05:  # background observations anywhere in the city
            lat, lon = CENTRE[0] + rng.uniform(-0.08, 0.12), CENTRE[1] + rng.uniform(-0.25, 0.35)
        tid = f"bench-t-{n:07d}"
        when = iso(at)
        batch.append((tid, dep, when, round(lat + rng.gauss(0, 0.003), 5), round(lon + rng.gauss(0, 0.006), 5),
                      when, when, when, rng.choice(KINDS), json.dumps(rng.sample(GROUPS, 2)), rng.randint(1, 6),
                      rng.choice(TRENDS)))
        if rng.random() < 0.2:
            links.append((f"bench-i-{n:07d}", dep, when, tid))
        if len(batch) == 50_000:
            _insert(db, batch, links)
            batch, links = [], []
    _insert(db, batch, links)
    db.conn.execute("COMMIT")
    db.conn.close()
    timed_rebuild(path, rows)


def timed_rebuild(path: Path, rows: int) -> None:
    """picture.rebuild() of the database, timed (wall, CPU of every thread, load average) and printed."""
    # The roll-ups are built by the same picture.rebuild() the migration uses, on a connection tuned for bulk work
    # (WAL, as the app's connections: rebuild() then uses a helper thread on the second core).
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=OFF", "temp_store=MEMORY", "cache_size=-1000000"):
        conn.execute(f"PRAGMA {pragma}")
    db = sqlite_utils.Database(conn)
    started, times, load = time.perf_counter(), os.times(), os.getloadavg()[0]
    picture.rebuild(db)
    after = os.times()
    own = after.user + after.system - times.user - times.system
    helpers = after.children_user + after.children_system - times.children_user - times.children_system
    print(f"built {rows:,} observations; picture.rebuild {time.perf_counter() - started:.1f} s "
          f"(CPU {own + helpers:.1f} s, of which helper processes {helpers:.1f} s; "
          f"load average {load:.1f} -> {os.getloadavg()[0]:.1f}); "
          f"roll-up rows {db.execute('SELECT count(*) FROM picture_rollup').fetchone()[0]:,}")
    db.conn.execute("ANALYZE")
    db.conn.close()


def _insert(db, batch, links) -> None:
    db.conn.executemany(
        "INSERT INTO tensions (id, deployment_id, occurred_at, lat, lon, place_name, received_at, created_at, updated_at, "
        "created_by, updated_by, kind, groups, severity, trend, basis) "
        "VALUES (?, ?, ?, ?, ?, 'synthetic', ?, ?, ?, 'bench-lead', 'bench-lead', ?, ?, ?, ?, 'observed')", batch)
    db.conn.executemany(
        "INSERT INTO interventions (id, deployment_id, occurred_at, lat, lon, received_at, created_at, updated_at, "
        "created_by, updated_by, kind, tension_id) SELECT ?, ?, ?, lat, lon, occurred_at, occurred_at, occurred_at, "
        "'bench-lead', 'bench-lead', 'dialogue', id FROM tensions WHERE id = ?",
        [(iid, dep, when, tid) for iid, dep, when, tid in links])


def view_bbox(res: int, width_px: int = 1280, height_px: int = 800):
    zoom = ZOOM_FOR_RES[res]
    metres_per_px = 156543.03 * math.cos(math.radians(CENTRE[0])) / 2 ** zoom
    half_lon = width_px / 2 * metres_per_px / (111320 * math.cos(math.radians(CENTRE[0])))
    half_lat = height_px / 2 * metres_per_px / 110574
    return CENTRE[1] - half_lon, CENTRE[0] - half_lat, CENTRE[1] + half_lon, CENTRE[0] + half_lat


BEST: dict = {}


def timed(fn, repeat: int = 7) -> tuple[float, object]:
    """Median milliseconds of repeated runs (after one warm-up); the best run is kept in BEST["ms"]."""
    fn()  # warm the page cache
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    BEST["ms"] = min(times)
    return statistics.median(times), result


def baseline(db, unit_id: str, flt, res: int):
    """A plain GROUP BY over the observations in the window (covering index), same numbers per cell and kind."""
    cell_and, cell_or = picture.parent_masks(res)
    where, params = _obs_conditions(picture.Scope(unit_id), flt)
    return db.execute(
        f"SELECT (o.cell & {cell_and}) | {cell_or} AS c, o.kind, count(*), sum(1 << (o.severity - 1)), "
        "sum(o.trend = 'rising'), sum(o.trend = 'easing'), sum(o.linked), max(o.occurred_at) FROM picture_obs o "
        f"WHERE {' AND '.join(where)} AND o.occurred_at >= ? AND o.occurred_at < ? GROUP BY c, o.kind",
        [*params, iso(flt.start), iso(flt.end)]).fetchall()


def measure(path: Path) -> list[str]:
    db = open_db(path)
    db.execute("CREATE INDEX IF NOT EXISTS bench_obs_covering ON picture_obs "
               "(unit_id, occurred_at, cell, kind, severity, trend, linked)")
    scope = picture.Scope("bench-unit")
    windows = {"1 h": timedelta(hours=1), "24 h": timedelta(hours=24), "7 days": timedelta(days=7),
               "30 days": timedelta(days=30)}
    lines = ["| window | res (cell across) | view | cells | roll-ups ms (median / best) | plain GROUP BY ms | ratio | "
             "GeoJSON ms |", "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for label, length in windows.items():
        flt = picture.PictureFilter(start=NOW - length, end=NOW, window="custom")
        for res in picture.RESOLUTIONS:
            plain_ms, plain_rows = timed(lambda: baseline(db, "bench-unit", flt, res), repeat=3)
            for view, bbox in (("map", view_bbox(res)), ("all", None)):
                ms, cells = timed(lambda: picture.aggregate(db, scope, flt, res, bbox))
                best = BEST["ms"]
                json_ms, _ = timed(lambda: msgspec.json.encode(picture.cell_collection(
                    picture.aggregate(db, scope, flt, res, bbox), flt, res)), repeat=3)
                if bbox is None:  # the roll-ups must give exactly the plain GROUP BY's numbers
                    totals = sum(r[2] for r in plain_rows), sum(r[3] for r in plain_rows)
                    assert totals == (sum(c.observations for c in cells), sum(c.score for c in cells)), res
                lines.append(f"| {label} | {res} ({picture.cell_size_m(res)} m) | {view} | {len(cells):,} | "
                             f"{ms:.1f} / {best:.1f} | {plain_ms:.1f} | {plain_ms / ms:.1f}x | {json_ms:.1f} |")
    lines += ["", "With filters (30 days, map view):", "",
              "| filter | res | cells | roll-ups ms | plain GROUP BY ms | ratio |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    flt = picture.PictureFilter(start=NOW - windows["30 days"], end=NOW, window="custom")
    for label, changes in (("kind = provocation", {"kinds": ("provocation",)}), ("severity >= 4", {"severities": (4, 5, 6)}),
                           ("group = youth", {"group": "youth"})):
        filtered = replace(flt, **changes)
        for res in (7, 8, 9):
            ms, cells = timed(lambda: picture.aggregate(db, scope, filtered, res, view_bbox(res)))
            plain_ms, _rows = timed(lambda: baseline(db, "bench-unit", filtered, res), repeat=3)
            lines.append(f"| {label} | {res} | {len(cells):,} | {ms:.1f} | {plain_ms:.1f} | {plain_ms / ms:.1f}x |")
    return lines


def write_cost(path: Path, n: int = 200) -> str:
    """Milliseconds one tension write spends keeping the picture current (picture.record_written)."""
    db = open_db(path)
    rng = random.Random(5)
    times = []
    for i in range(n):
        record = {"id": f"bench-w-{i:04d}", "deployment_id": "bench-dep-000", "occurred_at": iso(NOW),
                  "lat": CENTRE[0] + rng.gauss(0, 0.01), "lon": CENTRE[1] + rng.gauss(0, 0.02),
                  "kind": rng.choice(KINDS), "groups": rng.sample(GROUPS, 2), "severity": rng.randint(1, 6),
                  "trend": rng.choice(TRENDS), "deleted_at": None}
        db.conn.execute("BEGIN")
        started = time.perf_counter()
        picture.record_written(db, "tension", record)
        times.append((time.perf_counter() - started) * 1000)
        db.conn.execute("ROLLBACK")
    return f"picture.record_written per new observation: median {statistics.median(times):.2f} ms (n={n})"


def first_load_size() -> list[str]:
    """Bytes over the wire (gzip) for the lead's first visit of the map page of the live demo deployment."""
    import re

    from litestar.testing import TestClient

    from fieldapp import demo
    from fieldapp.app import create_app
    from fieldapp.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        db = open_db(Path(tmp) / "demo.db")
        demo.load(db)
        db.conn.close()
        app = create_app(Settings(db_path=Path(tmp) / "demo.db"))
        with TestClient(app=app, base_url="http://127.0.0.1") as client:
            page = client.get("/login")
            token = re.search(r'name="_csrf" value="([^"]+)"', page.text).group(1)
            client.post("/login", data={"_csrf": token, "username": "lead1", "password": demo.DEMO_PASSWORD})
            live = app.state.db.execute("SELECT id FROM deployments WHERE name LIKE 'Mielenosoitus Senaatintorilla'"
                                        ).fetchone()[0]
            rows, total = [], 0
            page_url = f"/picture?deployment={live}"
            html = client.get(page_url).text
            # Everything the page itself loads (scripts, styles, icons), then what map.js fetches.
            urls = [page_url] + list(dict.fromkeys(re.findall(r'(?:src|href)="(/(?:static|offline)/[^"]+)"', html)))
            urls += [f"/api/picture/cells?deployment={live}&res=9", f"/api/picture/points?deployment={live}",
                     "/static/vendor/leaflet-1.9.4/images/marker-icon.png",
                     "/static/vendor/leaflet-1.9.4/images/marker-shadow.png"]
            for url in urls:
                with client.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as response:
                    wire = sum(len(chunk) for chunk in response.iter_raw())
                    encoding = response.headers.get("content-encoding", "-")
                size = len(client.get(url).content)
                rows.append(f"| `{url.split('?')[0]}` | {size:,} | {wire:,} ({encoding}) |")
                total += wire
            return (["| resource | bytes | on the wire |", "| --- | ---: | ---: |"] + rows
                    + [f"| **total** | | **{total:,}** |"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=Path(tempfile.gettempdir()) / "bench_picture.db")
    parser.add_argument("--reuse", action="store_true", help="measure an existing database")
    parser.add_argument("--rebuild-only", action="store_true",
                        help="only time picture.rebuild() of an existing database (changes it: use a copy)")
    args = parser.parse_args()
    if args.rebuild_only:
        conn = sqlite3.connect(args.db)
        rows = conn.execute("SELECT count(*) FROM tensions").fetchone()[0]
        conn.close()
        timed_rebuild(args.db, rows)
        return
    if not args.reuse:
        for suffix in ("", "-wal", "-shm"):
            Path(str(args.db) + suffix).unlink(missing_ok=True)
        started = time.perf_counter()
        build(args.db, args.rows)
        print(f"build total {time.perf_counter() - started:.0f} s")
    print("\n".join(measure(args.db)))
    print(write_cost(args.db))
    print("\n".join(first_load_size()))


if __name__ == "__main__":
    main()
