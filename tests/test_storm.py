"""A small reconnect storm against `fieldapp serve` (bench/bench_storm.py with 50 devices): counts, not times.

Every record every device sent is acknowledged and stored exactly once, whether the devices only sync or do
the whole round (session, sync, pull to the end, bootstrap, pages); no request fails.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import bench_storm  # noqa: E402

DEVICES, RECORDS = 50, 10


def test_fifty_devices_reconnecting_at_once_lose_nothing_and_duplicate_nothing(tmp_path):
    report = bench_storm.run(tmp_path, DEVICES, RECORDS, DEVICES)
    for name in ("sync", "round"):
        part, tally = report[name], report[name]["tally"]
        assert len(part["ids"]) == DEVICES * RECORDS
        assert tally.errors == {}, (name, tally.errors)
        assert len(tally.done) == DEVICES, name
        assert tally.acknowledged == set(part["ids"]), name
        assert part["stored"] == {record_id: 1 for record_id in part["ids"]}, name
    assert len(report["round"]["tally"].times["pull"]) >= DEVICES  # every device pulled to the end
