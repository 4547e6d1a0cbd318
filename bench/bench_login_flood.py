"""Login flood: does a crowd of wrong passwords slow everyone else down? (not a test; prints a report)

    .venv/bin/python bench/bench_login_flood.py [--rounds 6] [--block 25] [--clients 8]

`fieldapp serve` runs in its own process on a fresh demo database. An officer who logged in before measures
`/healthz` and a one-record sync (POST /api/sync, a new tension observation each time), alternately, in blocks
with nothing else going on (the baseline) and blocks while 8 anonymous clients (one process, 8 connections) post
wrong passwords to /login as fast as they are answered; the blocks alternate (the flooding process is paused
with SIGSTOP for the baseline), so load from elsewhere on the machine falls on both. Two servers in turn:

- defaults: the throttle locks the flooding address after 30 failures, so most attempts are answered 429
  without hashing;
- throttle off (limits of 10^9 failures): every attempt goes to the bounded pool of argon2id checks (checked,
  or answered "busy" when one runs and one waits), so this shows what the pool, its low-priority threads and
  the held-back 429s do for the event loop without the throttle.

Goal (issue 12): during the flood, /healthz p95 and the sync p95 within 2x of the baseline of the same server
(the app as configured by default; the second server is the harder case of a flood the throttle cannot
see, such as many addresses and names).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fieldapp import accounts, demo, deployments  # noqa: E402
from fieldapp.clock import HELSINKI, iso, utcnow  # noqa: E402
from fieldapp.db import open_db  # noqa: E402
from fieldapp.ids import new_id  # noqa: E402
from serve import start_server  # noqa: E402

GOAL = 2.0
THROTTLE_OFF = {"FIELDAPP_LOGIN_FAILURES_PER_ACCOUNT": "1000000000",
                "FIELDAPP_LOGIN_FAILURES_PER_ADDRESS": "1000000000"}


def csrf_of(page: str) -> str:
    return re.search(r'name="_csrf" value="([^"]+)"', page).group(1)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


# ---------------------------------------------------------------- the flood (a process of its own)


async def _flooder(url: str, number: int, stop: asyncio.Event, answers: Counter) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        token = csrf_of((await client.get("/login")).text)
        attempt = 0
        while not stop.is_set():
            attempt += 1
            response = await client.post("/login", data={"_csrf": token, "username": f"officer{number % 3 + 1}",
                                                          "password": f"wrong-password-{attempt}", "next": "/"})
            answers[response.status_code] += 1


async def _flood(url: str, clients: int) -> Counter:
    answers: Counter = Counter()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await asyncio.gather(*(_flooder(url, n, stop, answers) for n in range(clients)))
    return answers


def flood_main(url: str, clients: int) -> None:
    """Post wrong passwords until SIGTERM, then print how they were answered (status:count)."""
    answers = asyncio.run(_flood(url, clients))
    print(" ".join(f"{status}:{count}" for status, count in sorted(answers.items())), flush=True)


# ---------------------------------------------------------------- the officer's requests


class Officer:
    def __init__(self, url: str, deployment_id: str):
        self.client = httpx.Client(base_url=url, timeout=60)
        token = csrf_of(self.client.get("/login").text)
        response = self.client.post("/login", data={"_csrf": token, "username": "officer1",
                                                    "password": demo.DEMO_PASSWORD, "next": "/"})
        assert response.status_code == 303, response.status_code
        self.csrf = self.client.get("/api/session").json()["csrf"]
        self.deployment_id = deployment_id

    def healthz(self) -> float:
        started = time.perf_counter()
        assert self.client.get("/healthz").status_code == 200
        return (time.perf_counter() - started) * 1000

    def sync_one(self) -> float:
        now = utcnow()
        item = {"id": new_id(), "kind": "tension", "deployment_id": self.deployment_id, "device_time": iso(now),
                "values": {"kind": "provocation", "severity": "2", "trend": "stable", "basis": "observed",
                           "occurred_at": now.astimezone(HELSINKI).strftime("%Y-%m-%dT%H:%M"),
                           "notes": "Benchmark record"}}
        started = time.perf_counter()
        response = self.client.post("/api/sync", json={"records": [item]}, headers={"X-CSRF-Token": self.csrf})
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200 and response.json()["results"][0]["status"] == "accepted", response.text
        return elapsed

    def measure(self, samples: int) -> tuple[list[float], list[float]]:
        health, sync = [], []
        for _ in range(samples):
            health.append(self.healthz())
            sync.append(self.sync_one())
            time.sleep(0.01)  # an officer's device, not a load generator
        return health, sync


def run_server(db_path: Path, label: str, env: dict, args) -> dict:
    """Baseline and flood in alternating blocks (the flooding process stopped with SIGSTOP, then let go with
    SIGCONT), so that whatever else the machine does falls on both alike."""
    process, url = start_server(db_path, env)
    base_health, base_sync, flood_health, flood_sync = [], [], [], []
    try:
        officer = Officer(url, args.deployment_id)
        officer.measure(10)  # warm-up: templates compiled, connection open
        flood = subprocess.Popen([sys.executable, __file__, "--flood", url, "--clients", str(args.clients)],
                                 stdout=subprocess.PIPE, text=True, cwd=ROOT)
        try:
            time.sleep(1.0)
            for _ in range(args.rounds):
                flood.send_signal(signal.SIGSTOP)
                time.sleep(0.5)  # the logins already sent are answered
                health, sync = officer.measure(args.block)
                base_health += health
                base_sync += sync
                flood.send_signal(signal.SIGCONT)
                time.sleep(0.5)  # the flood is under way again
                health, sync = officer.measure(args.block)
                flood_health += health
                flood_sync += sync
        finally:
            flood.send_signal(signal.SIGCONT)
            flood.terminate()
            answers, _ = flood.communicate(timeout=60)
        officer.client.close()
    finally:
        process.terminate()
        process.wait(10)
    return {"label": label, "answers": answers.strip(),
            "healthz": (base_health, flood_health), "sync": (base_sync, flood_sync)}


def report(result: dict) -> bool:
    ok = True
    print(f"\n{result['label']}: the flood's logins answered {result['answers']} (status:count)")
    for name in ("healthz", "sync"):
        base, flood = result[name]
        ratio = p95(flood) / p95(base)
        ok = ok and ratio <= GOAL
        print(f"  {name:8s} baseline median {statistics.median(base):6.1f} ms p95 {p95(base):6.1f} ms | "
              f"flooded median {statistics.median(flood):6.1f} ms p95 {p95(flood):6.1f} ms | p95 ratio {ratio:.2f}x")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6, help="baseline/flood block pairs per server")
    parser.add_argument("--block", type=int, default=25, help="healthz + sync pairs per block")
    parser.add_argument("--clients", type=int, default=8, help="flooding connections")
    parser.add_argument("--flood", help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    if args.flood:
        flood_main(args.flood, args.clients)
        return
    workdir = Path(tempfile.mkdtemp(prefix="bench_login_flood_"))
    db_path = workdir / "fieldapp.db"
    db = open_db(db_path)
    demo.load(db)
    args.deployment_id = deployments.current_for_user(db, accounts.by_username(db, "officer1"))["id"]
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()
    try:
        results = [run_server(db_path, "defaults (throttle on)", {}, args),
                   run_server(db_path, "throttle off: every attempt goes to the bounded pool (checked, or busy)", THROTTLE_OFF, args)]
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n{os.cpu_count()} cores; {args.clients} flooding clients; {args.rounds} rounds of {args.block} "
          f"healthz + sync pairs without and with the flood; FIELDAPP_LOGIN_HASHES default")
    verdicts = [report(result) for result in results]
    for result, ok in zip(results, verdicts):
        print(f"{result['label']}: " + ("goal met (p95 within 2x of the baseline)" if ok else "GOAL NOT MET"))
    if args.keep:
        print(f"kept {workdir}")


if __name__ == "__main__":
    main()
