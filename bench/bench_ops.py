"""Operations figures for docs/scaling.md (not a test; prints a report).

    .venv/bin/python bench/bench_ops.py [--records 10000] [--dir /tmp]

1. Size: bytes the database grows by per field record, everything included (the record, its history
   version, audit row, sync receipt, change position, the situation picture's observation and roll-ups,
   indexes), measured after a WAL checkpoint; records as an outbox sends them (bench_sync._batch: half
   contacts, half tension observations), 100 per batch through fieldapp.offline.sync.ingest, then
   projections.catch_up().
2. Backup: `fieldapp backup`'s library call (SQLite's online backup API plus PRAGMA integrity_check of the
   copy) against a plain file copy of the same checkpointed file in the same run (the baseline).
3. Restore: backup.restore() of that copy (checks, copy, old file kept aside).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sync import _batch  # noqa: E402

from fieldapp import accounts, backup, demo, deployments, projections  # noqa: E402
from fieldapp.clock import iso, utcnow  # noqa: E402
from fieldapp.db import open_db  # noqa: E402
from fieldapp.offline import sync  # noqa: E402


def _size(db) -> int:
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages, free, page = (db.conn.execute(f"PRAGMA {name}").fetchone()[0]
                         for name in ("page_count", "freelist_count", "page_size"))
    return (pages - free) * page


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench_ops_", dir=args.dir))
    try:
        path = workdir / "ops.db"
        db = open_db(path)
        demo.load(db)
        projections.catch_up(db)
        user = accounts.by_username(db, "officer1")
        deployment = deployments.current_for_user(db, user)
        before = _size(db)
        started = time.perf_counter()
        for b in range(args.records // 100):
            sync.ingest(db, user, sync.SyncBatch(records=_batch(deployment, 100, f"ops{b}"), sent_at=iso(utcnow())))
        ingest_s = time.perf_counter() - started
        started = time.perf_counter()
        projections.catch_up(db)
        project_s = time.perf_counter() - started
        after = _size(db)
        per_record = (after - before) / args.records
        print(f"records: {args.records}; ingest {args.records / ingest_s:,.0f}/s, projections "
              f"{args.records / project_s:,.0f}/s")
        print(f"database: {before:,} -> {after:,} bytes; {per_record:,.0f} bytes per record, all included")

        copy_target = workdir / "plain-copy.db"
        started = time.perf_counter()
        shutil.copyfile(path, copy_target)
        plain_s = time.perf_counter() - started
        target = workdir / "backup.db"
        started = time.perf_counter()
        copied = backup.backup(path, target)
        backup_s = time.perf_counter() - started
        mb = after / 1e6
        print(f"backup (online API + integrity_check): {backup_s:.2f} s for {mb:.1f} MB ({mb / backup_s:.0f} MB/s); "
              f"plain copy {plain_s:.3f} s; ratio {backup_s / plain_s:.0f}x; {copied.records} records in the copy")
        db.conn.close()
        started = time.perf_counter()
        backup.restore(path, target)
        print(f"restore (checks, copy, old file kept): {time.perf_counter() - started:.2f} s")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
