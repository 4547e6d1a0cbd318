"""Reconnect storm: hundreds of officers get the network back at once (not a test; prints a report).

    .venv/bin/python bench/bench_storm.py [--devices 500] [--records 50] [--round 300] [--dir /tmp]

Builds a file database with the demo data plus synthetic officers assigned to the demo's live demonstration,
each with a session already (as phones that were offline hold one), starts `fieldapp serve` as users start it
(its own process, production settings) and drives it over HTTP from this process with asyncio:

- **sync only**: every device reconnects within one second (a random moment in [0, 1) s) and sends its
  outbox, `--records` records in one batch (what the outbox sends: form strings, Helsinki times), honouring
  429/503 with Retry-After; a lead's map request (`/api/picture/cells`) every 100 ms meanwhile. Afterwards the
  database must hold exactly devices x records new rows, every id once.
- **full round** (`--round N` devices of the same deployment): what sync-client.js does on reconnect:
  `/api/session`, the sync batch, `/api/sync/pull` from cursor 0 until `more` is false, the bootstrap without
  records, then the pages the bootstrap names.

Goals (issue 13): sync only, 500 x 50: all 25,000 acknowledged within 5 s, request p95 <= 1 s; full round of
300 on one deployment: every device done within 30 s; the lead's map p95 <= 1 s during the storm. The report
gives each figure beside the unloaded one measured first in the same run (one device, one lead request).
Used with small numbers by tests/test_storm.py as a correctness check (counts, not times).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import httpx  # noqa: E402
import msgspec  # noqa: E402

from bench_sync import _batch  # noqa: E402
from serve import start_server  # noqa: E402
from fieldapp import accounts, demo  # noqa: E402
from fieldapp.clock import now_iso  # noqa: E402
from fieldapp.db import open_db  # noqa: E402
from fieldapp.ids import new_id  # noqa: E402

SESSION_COOKIE = "fieldapp_session"
RETRY_MAX = 20  # a device gives up after this many 429/503 answers in a row (counted as an error)


@dataclass
class Device:
    name: str
    token: str
    csrf: str
    body: bytes = b""
    ids: list[str] = field(default_factory=list)


def build(path: Path, devices: int, records: int) -> tuple[dict, list[Device], Device]:
    """Demo data, `devices` synthetic officers on the live demonstration with a session each, their outboxes."""
    db = open_db(path)
    demo.load(db)
    deployment = next(db.query("SELECT * FROM deployments WHERE name = 'Mielenosoitus Senaatintorilla'"))
    stamp = now_iso()
    rows = [(new_id(), f"storm-officer-{n:04d}", f"Storm Officer {n:04d}", "!", "officer", deployment["unit_id"],
             stamp, stamp) for n in range(devices)]
    with db.conn:  # synthetic accounts that never log in with a password: no hash needed
        db.conn.executemany("INSERT INTO users (id, username, display_name, password_hash, role, unit_id, created_at, "
                            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        db.conn.executemany("INSERT INTO assignments (deployment_id, user_id, created_at) VALUES (?, ?, ?)",
                            [(deployment["id"], row[0], stamp) for row in rows])
    out = []
    for row in rows:
        user = accounts.get_user(db, row[0])
        token, csrf = accounts.start_session(db, user, 12)
        items = _batch(deployment, records, row[1])
        out.append(Device(row[1], token, csrf, json.dumps({"records": msgspec.to_builtins(items),
                                                           "sent_at": now_iso()}).encode(),
                          [item.id for item in items]))
    lead_token, lead_csrf = accounts.start_session(db, accounts.by_username(db, "lead1"), 12)
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()
    return deployment, out, Device("lead1", lead_token, lead_csrf)


def _headers(device: Device) -> dict:
    return {"cookie": f"{SESSION_COOKIE}={device.token}", "x-csrf-token": device.csrf,
            "content-type": "application/json", "accept": "application/json"}


class Tally:
    """Request times per kind (ms), errors, and when each device finished (s after the storm began)."""

    def __init__(self):
        self.times: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}
        self.retries = 0
        self.done: list[float] = []
        self.acknowledged: set[str] = set()
        self.pulled = 0  # records received by pulls, all devices together
        self.wire: dict[str, int] = {}  # bytes received per kind of request (compressed, as on the wire)

    def add(self, kind: str, ms: float) -> None:
        self.times.setdefault(kind, []).append(ms)

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


async def _request(client: httpx.AsyncClient, tally: Tally, kind: str, method: str, url: str, device: Device,
                   **kw) -> httpx.Response | None:
    """One request, honouring 429/503 + Retry-After as the sync client does; None when it finally failed."""
    for _attempt in range(RETRY_MAX):
        started = time.perf_counter()
        try:
            response = await client.request(method, url, headers=_headers(device), **kw)
        except httpx.HTTPError as exc:
            tally.error(f"{kind}: {type(exc).__name__}")
            return None
        elapsed = (time.perf_counter() - started) * 1000
        tally.add(kind, elapsed)  # every answer, refusals too; and apart, the answers that did the work:
        tally.add(f"{kind} {'refused' if response.status_code in (429, 503) else 'answered'}", elapsed)
        tally.wire[kind] = tally.wire.get(kind, 0) + response.num_bytes_downloaded
        if response.status_code in (429, 503) and "retry-after" in response.headers:
            tally.retries += 1
            await asyncio.sleep(float(response.headers["retry-after"]) + random.random())
            continue
        if response.status_code >= 400:
            tally.error(f"{kind}: {response.status_code}")
            return None
        return response
    tally.error(f"{kind}: gave up after {RETRY_MAX} retries")
    return None


async def _sync(client, tally: Tally, device: Device) -> bool:
    response = await _request(client, tally, "sync", "POST", "/api/sync", device, content=device.body)
    if response is None:
        return False
    results = response.json()["results"]
    ok = {r["id"] for r in results if r["status"] in ("accepted", "duplicate")}
    tally.acknowledged |= ok
    if len(ok) != len(device.ids):
        tally.error("sync: not every record acknowledged")
        return False
    return True


async def _full_round(client, tally: Tally, device: Device) -> bool:
    if await _request(client, tally, "session", "GET", "/api/session", device) is None:
        return False
    if not await _sync(client, tally, device):
        return False
    cursor, more = 0, True
    while more:
        response = await _request(client, tally, "pull", "GET", f"/api/sync/pull?cursor={cursor}", device)
        if response is None:
            return False
        answer = response.json()
        tally.pulled += len(answer["records"])
        cursor, more = answer["cursor"], answer["more"]
    response = await _request(client, tally, "bootstrap", "GET", "/api/offline/bootstrap?records=false", device)
    if response is None:
        return False
    for page in response.json()["pages"]:
        if await _page(client, tally, device, page) is None:
            return False
    return True


async def _page(client, tally: Tally, device: Device, page: str) -> httpx.Response | None:
    started = time.perf_counter()
    try:
        response = await client.get(page, headers={"cookie": f"{SESSION_COOKIE}={device.token}"})
    except httpx.HTTPError as exc:
        tally.error(f"page: {type(exc).__name__}")
        return None
    tally.add("page", (time.perf_counter() - started) * 1000)
    tally.wire["page"] = tally.wire.get("page", 0) + response.num_bytes_downloaded
    if response.status_code >= 400:
        tally.error(f"page: {response.status_code}")
        return None
    return response


async def _device(client, tally: Tally, device: Device, start: float, full: bool, deadline: float) -> None:
    await asyncio.sleep(random.random())  # everyone is back within one second
    work = _full_round(client, tally, device) if full else _sync(client, tally, device)
    try:
        done = await asyncio.wait_for(work, timeout=max(0.1, deadline - (time.perf_counter() - start)))
    except asyncio.TimeoutError:
        tally.error(f"not done within {deadline:.0f} s")
        return
    if done:
        tally.done.append(time.perf_counter() - start)


async def _lead_map(client, tally: Tally, lead: Device, bbox: str, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await _request(client, tally, "lead map", "GET", f"/api/picture/cells?window=today&bbox={bbox}", lead)
        await asyncio.sleep(0.1)


async def storm(url: str, devices: list[Device], lead: Device, deployment: dict, *, full: bool,
                deadline: float = 180.0) -> tuple[Tally, float]:
    """Every device reconnects within one second; returns the tally and the seconds until the last one was done
    (a device not done `deadline` seconds after the storm began is counted as an error and left)."""
    tally = Tally()
    bbox = f"{deployment['lon'] - 0.05},{deployment['lat'] - 0.03},{deployment['lon'] + 0.05},{deployment['lat'] + 0.03}"
    # One client (one connection) per device, as each phone has its own, made before the storm begins: one
    # client with a pool of 500 connections spent about 11 ms of this process's CPU per request (httpcore scans
    # its whole pool for every request), so the driver, not the server, set the times.
    clients = [_client(url) for _ in range(len(devices) + 1)]
    try:
        stop = asyncio.Event()
        lead_task = asyncio.create_task(_lead_map(clients[-1], tally, lead, bbox, stop))
        start = time.perf_counter()
        await asyncio.gather(*(_device(client, tally, device, start, full, deadline)
                               for client, device in zip(clients, devices)))
        elapsed = time.perf_counter() - start
        stop.set()
        await lead_task
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))
    return tally, elapsed


def _client(url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, timeout=120, verify=False,  # plain http: no certificates to load
                             limits=httpx.Limits(max_connections=2, max_keepalive_connections=2))


def stored_ids(db_path: Path, ids: list[str]) -> dict[str, int]:
    """How often each of these ids is stored (in any of the three tables)."""
    conn = sqlite3.connect(db_path)
    try:
        found: dict[str, int] = {}
        for table in ("contacts", "tensions", "interventions"):
            for (record_id,) in conn.execute(f"SELECT id FROM {table} WHERE id IN (SELECT value FROM json_each(?))",
                                             [json.dumps(ids)]):
                found[record_id] = found.get(record_id, 0) + 1
        return found
    finally:
        conn.close()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def describe(tally: Tally) -> list[str]:
    lines = []
    for kind, times in sorted(tally.times.items()):
        lines.append(f"  {kind:10s} n={len(times):6d}  p50 {statistics.median(times):8.1f} ms  "
                     f"p95 {pct(times, 0.95):8.1f} ms  max {max(times):8.1f} ms")
    lines.append(f"  retries after 429/503: {tally.retries}; errors: {tally.errors or 'none'}")
    if tally.pulled or tally.wire:
        lines.append(f"  records pulled: {tally.pulled}; received (bytes on the wire): "
                     + ", ".join(f"{kind} {size:,}" for kind, size in sorted(tally.wire.items())))
    return lines


def _run(coro):
    """asyncio.run() in a thread of its own (the caller may have a loop running: tests/test_storm.py after
    Playwright's sync API in the same process)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc), all its threads together."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _serve_storm(db_path: Path, deployment: dict, outboxes: list[Device], lead: Device, *, full: bool) -> dict:
    """One server on this database: the unloaded baseline (one extra device), then the storm of the rest. The CPU
    seconds the server and this driver spent in the storm are measured too: unlike the times, they hardly depend
    on what else the machine runs, so they say what the storm costs the server whatever the load."""
    quiet, outboxes = outboxes[0], outboxes[1:]
    process, url = start_server(db_path, log_name="storm-server.log")
    try:
        baseline, _ = _run(storm(url, [quiet], lead, deployment, full=True))
        server_cpu, driver_cpu = cpu_seconds(process.pid), time.process_time()
        tally, seconds = _run(storm(url, outboxes, lead, deployment, full=full))
        server_cpu, driver_cpu = cpu_seconds(process.pid) - server_cpu, time.process_time() - driver_cpu
    finally:
        process.terminate()
        process.wait(timeout=30)
    ids = [record_id for device in outboxes for record_id in device.ids]
    return {"baseline": baseline, "tally": tally, "seconds": seconds, "ids": ids, "stored": stored_ids(db_path, ids),
            "server_cpu": server_cpu, "driver_cpu": driver_cpu}


def run(workdir: Path, devices: int, records: int, round_devices: int, show=None) -> dict:
    """Both storms, each on a fresh database and server; returns the figures and counts (tests/test_storm.py
    checks the counts). show(name, part) is called as soon as each storm is over."""
    report = {"sync": _serve_storm(workdir / "sync.db", *build(workdir / "sync.db", devices + 1, records), full=False)}
    if show:
        show("sync", report["sync"])
    if round_devices:
        report["round"] = _serve_storm(workdir / "round.db", *build(workdir / "round.db", round_devices + 1, records),
                                       full=True)
        if show:
            show("round", report["round"])
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--records", type=int, default=50)
    parser.add_argument("--round", type=int, default=300, help="devices in the full-round storm (0: skip it)")
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="fieldapp-storm-", dir=args.dir))
    titles = {"sync": f"sync only: {args.devices} devices x {args.records} records, all reconnecting within 1 s "
                      "(goal: all acknowledged within 5 s, p95 <= 1 s)",
              "round": f"full round: {args.round} officers on one deployment: session, sync, pull to the end, "
                       "bootstrap, pages (goal: every device done within 30 s)"}

    def show(name: str, part: dict) -> None:
        stored, tally = part["stored"], part["tally"]
        print(f"\n{titles[name]}  [load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores]")
        print("  unloaded, one device's full round and the lead's map meanwhile:")
        print("\n".join("  " + line for line in describe(part["baseline"])))
        print(f"  storm: {len(tally.done)} of {len(part['ids']) // max(args.records, 1)} devices done, the last after "
              f"{max(tally.done) if tally.done else float('nan'):.2f} s; {len(tally.acknowledged)} of {len(part['ids'])} "
              f"records acknowledged; stored {len(stored)}, {sum(1 for n in stored.values() if n > 1)} more than once")
        print(f"  CPU during the storm: server {part['server_cpu']:.1f} s (all its threads), driver {part['driver_cpu']:.1f} s")
        print("\n".join(describe(tally)), flush=True)

    run(workdir, args.devices, args.records, args.round, show)


if __name__ == "__main__":
    main()
