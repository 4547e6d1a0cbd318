"""Roll-ups: every located tension observation counted per hour and day, resolution, cell, kind and group.

records_written() keeps them current as a projection of the record writes, a batch at a time
(fieldapp/projections.py; idempotent: it compares with the stored observations; each roll-up row a batch
touches is updated once); record_written() does the same for one record. rebuild() recomputes everything
from the records, set-based, coarser rows from finer ones (the migration, checks and the bench use it, and
the tests compare the routes).
"""

from __future__ import annotations

import json
import operator
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import traceback
from pathlib import Path

from fieldapp.db import one, write
from fieldapp.picture.cells import (EASING, PARENT_RES, RESOLUTIONS, RISING, SEVERITIES, WEIGHTS, cell_int,
                                    descendant_range, parent_masks, parent_of)

log = logging.getLogger("fieldapp.picture")

_KEY = ("span", "res", "unit_id", "grp", "kind", "parent", "bucket", "cell")
_KEY_SQL = ", ".join(_KEY)
_KEY_WHERE = " AND ".join(f"{k} = ?" for k in _KEY)
_EMPTY_BUCKET = "~"  # sorts after every ISO time: bucket <= t < bucket || '~' is "t lies in the bucket"


def _groups_of(value) -> list[str]:
    groups = json.loads(value) if isinstance(value, str) else (value or [])
    return sorted({g for g in groups if g})


def _rollup_keys(obs: dict):
    """Every roll-up row one observation counts in: 5 resolutions x hour and day x (all + its kind) x
    (all + each of its group categories)."""
    hour, day = obs["occurred_at"][:13], obs["occurred_at"][:10]
    groups = ["", *_groups_of(obs["groups"])]
    for res in RESOLUTIONS:
        cell, parent = parent_of(obs["cell"], res), parent_of(obs["cell"], PARENT_RES[res])
        for span, bucket in (("h", hour), ("d", day)):
            for grp in groups:
                for kind in ("", obs["kind"]):
                    yield (span, res, obs["unit_id"], grp, kind, parent, bucket, cell)


def _increments(obs: dict) -> tuple[str, list]:
    """SET clause columns and values one observation adds: totals and its severity's columns."""
    s = obs["severity"]
    up, down = int(obs["trend"] == RISING), int(obs["trend"] == EASING)
    columns = ["n", "up", "down", "ln", "score", f"n{s}", f"up{s}", f"down{s}", f"ln{s}"]
    return columns, [1, up, down, obs["linked"], WEIGHTS[s], 1, up, down, obs["linked"]]


def _add(db, obs: dict) -> None:
    columns, values = _increments(obs)
    keys = list(_rollup_keys(obs))
    db.conn.executemany(
        f"INSERT INTO picture_rollup ({_KEY_SQL}, {', '.join(columns)}, last_at) "
        f"VALUES ({', '.join('?' * (len(_KEY) + len(columns) + 1))}) ON CONFLICT ({_KEY_SQL}) DO UPDATE SET "
        + ", ".join(f"{c} = {c} + excluded.{c}" for c in columns) + ", last_at = max(last_at, excluded.last_at)",
        [(*key, *values, obs["occurred_at"]) for key in keys])
    db.conn.executemany("INSERT OR IGNORE INTO picture_parents (res, unit_id, parent) VALUES (?, ?, ?)",
                        {(key[1], key[2], key[5]) for key in keys})


# Where the latest observation of a roll-up row was taken out, the latest is looked up again (the bucket's
# rows only). Parameters: the cell's descendant range, the key, the latest time taken out of the row.
_RECOMPUTE_LAST = (
    "UPDATE picture_rollup SET last_at = (SELECT max(o.occurred_at) FROM picture_obs o INDEXED BY "
    "picture_obs_unit_time WHERE o.unit_id = picture_rollup.unit_id AND o.occurred_at >= picture_rollup.bucket "
    f"AND o.occurred_at < picture_rollup.bucket || '{_EMPTY_BUCKET}' AND o.cell BETWEEN ? AND ? "
    "AND (picture_rollup.kind = '' OR o.kind = picture_rollup.kind) AND (picture_rollup.grp = '' OR EXISTS "
    "(SELECT 1 FROM json_each(o.groups) WHERE json_each.value = picture_rollup.grp))) "
    f"WHERE {_KEY_WHERE} AND last_at = ?")


def _subtract(db, obs: dict) -> None:
    """Take one observation out of its roll-up rows (it is already gone from picture_obs)."""
    columns, values = _increments(obs)
    keys = list(_rollup_keys(obs))
    db.conn.executemany(
        f"UPDATE picture_rollup SET {', '.join(f'{c} = {c} - ?' for c in columns)} WHERE {_KEY_WHERE}",
        [(*values, *key) for key in keys])
    db.conn.executemany(f"DELETE FROM picture_rollup WHERE {_KEY_WHERE} AND n = 0", keys)
    db.conn.executemany(_RECOMPUTE_LAST, [(*descendant_range(key[7]), *key, obs["occurred_at"]) for key in keys])


def _observation(db, record: dict) -> dict | None:
    """The picture_obs row of a stored tension record, or None if it is deleted or has no location."""
    if record.get("deleted_at") or record.get("lat") is None or record.get("lon") is None:
        return None
    unit = one(db, "SELECT unit_id FROM deployments WHERE id = ?", [record["deployment_id"]])
    linked = db.execute("SELECT count(*) FROM picture_links WHERE tension_id = ?", [record["id"]]).fetchone()[0]
    return _observation_of(record, unit["unit_id"], linked)


def _observation_of(record: dict, unit_id: str, linked: int) -> dict:
    return {
        "tension_id": record["id"], "unit_id": unit_id, "deployment_id": record["deployment_id"],
        "occurred_at": record["occurred_at"], "kind": record["kind"], "severity": int(record["severity"]),
        "trend": record["trend"], "groups": json.dumps(_groups_of(record["groups"])),
        "cell": cell_int(record["lat"], record["lon"]), "lat": record["lat"], "lon": record["lon"], "linked": linked,
    }


def _replace_observation(db, tension_id: str, new: dict | None) -> None:
    old = one(db, "SELECT * FROM picture_obs WHERE tension_id = ?", [tension_id])
    if old == new:
        return  # e.g. only the notes changed
    if old is not None:
        db.execute("DELETE FROM picture_obs WHERE tension_id = ?", [tension_id])
        _subtract(db, old)
    if new is not None:
        db.execute(f"INSERT INTO picture_obs ({', '.join(new)}) VALUES ({', '.join('?' * len(new))})", list(new.values()))
        _add(db, new)


def record_written(db, kind_name: str, record: dict) -> None:
    """Keep the picture current after a create, update or delete (called inside the write transaction)."""
    if kind_name == "tension":
        _replace_observation(db, record["id"], _observation(db, record))
    elif kind_name == "intervention":
        old = one(db, "SELECT tension_id FROM picture_links WHERE intervention_id = ?", [record["id"]])
        old_tension = old["tension_id"] if old else None
        new_tension = None if record.get("deleted_at") else record.get("tension_id")
        if old_tension == new_tension:
            return
        db.execute("DELETE FROM picture_links WHERE intervention_id = ?", [record["id"]])
        if new_tension:
            db.execute("INSERT INTO picture_links (intervention_id, tension_id) VALUES (?, ?)",
                       [record["id"], new_tension])
        for tension_id in {old_tension, new_tension} - {None}:
            obs = one(db, "SELECT * FROM picture_obs WHERE tension_id = ?", [tension_id])
            if obs is not None:
                linked = db.execute("SELECT count(*) FROM picture_links WHERE tension_id = ?",
                                    [tension_id]).fetchone()[0]
                _replace_observation(db, tension_id, {**obs, "linked": linked})


_ALL_COLUMNS = ["n", "up", "down", "ln", "score", *(f"{p}{s}" for p in ("n", "up", "down", "ln") for s in SEVERITIES)]
_COLUMN_INDEX = {c: i for i, c in enumerate(_ALL_COLUMNS)}


def records_written(db, kind_name: str, records: list[dict]) -> None:
    """record_written() for many records of one kind (a sync batch), set-based for tension observations: the
    batch's stored observations, deployments' units and link counts are read with one query each; the
    observations that changed (edited, moved, deleted) are taken out of their roll-up rows together and the new
    ones added together: their increments are summed per roll-up row in Python, then each row is updated once
    (_subtract_many, _add_many). Interventions go through record_written()."""
    ids = [record["id"] for record in records]
    if kind_name != "tension" or len(set(ids)) != len(ids):
        for record in records:
            record_written(db, kind_name, record)
        return
    marks = ",".join("?" * len(ids))
    stored = {row["tension_id"]: row for row in db.query(f"SELECT * FROM picture_obs WHERE tension_id IN ({marks})",
                                                          ids)}
    located = [r for r in records if not (r.get("deleted_at") or r.get("lat") is None or r.get("lon") is None)]
    fresh: dict[str, dict] = {}
    if located:
        deployment_ids = sorted({r["deployment_id"] for r in located})
        units = dict(db.execute(f"SELECT id, unit_id FROM deployments WHERE id IN "
                                f"({','.join('?' * len(deployment_ids))})", deployment_ids).fetchall())
        located_ids = [r["id"] for r in located]
        linked = dict(db.execute(f"SELECT tension_id, count(*) FROM picture_links WHERE tension_id IN "
                                 f"({','.join('?' * len(located_ids))}) GROUP BY tension_id", located_ids).fetchall())
        fresh = {r["id"]: _observation_of(r, units[r["deployment_id"]], linked.get(r["id"], 0)) for r in located}
    changed = [i for i in ids if stored.get(i) != fresh.get(i)]  # e.g. only the notes changed: nothing to do
    gone = [stored[i] for i in changed if i in stored]
    if gone:
        db.conn.executemany("DELETE FROM picture_obs WHERE tension_id = ?", [(obs["tension_id"],) for obs in gone])
        _subtract_many(db, gone)
    came = [fresh[i] for i in changed if i in fresh]
    if came:
        columns = list(came[0])
        db.conn.executemany(f"INSERT INTO picture_obs ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                            [tuple(obs[c] for c in columns) for obs in came])
        _add_many(db, came)


def _sums(observations: list[dict]) -> dict[tuple, list]:
    """Roll-up key -> the observations' increments in it (in _ALL_COLUMNS order), then their latest time."""
    # Observations of one place, hour and kind (most of a sync batch) share their roll-up rows: their
    # increments are summed first, then spread over the rows once.
    alike: dict[tuple, list] = {}
    for obs in observations:
        shape = (obs["unit_id"], obs["cell"], obs["occurred_at"][:13], obs["kind"], obs["groups"])
        entry = alike.get(shape)
        if entry is None:
            entry = alike[shape] = [[0] * len(_ALL_COLUMNS), obs]
        elif obs["occurred_at"] > entry[1]["occurred_at"]:
            entry[1] = obs
        names, values = _increments(obs)
        totals = entry[0]
        for name, value in zip(names, values):
            totals[_COLUMN_INDEX[name]] += value
    sums: dict[tuple, list] = {}
    for totals, latest in alike.values():
        at = latest["occurred_at"]
        for key in _rollup_keys(latest):
            row = sums.get(key)
            if row is None:
                sums[key] = [*totals, at]
            else:  # map() stops at the shorter list: the counts, then the latest time
                sums[key] = [*map(operator.add, row, totals), max(row[-1], at)]
    return sums


def _subtract_many(db, observations: list[dict]) -> None:
    """_subtract() for many observations (already gone from picture_obs): each roll-up row updated once."""
    sums = sorted(_sums(observations).items())
    db.conn.executemany(
        f"UPDATE picture_rollup SET {', '.join(f'{c} = {c} - ?' for c in _ALL_COLUMNS)} WHERE {_KEY_WHERE}",
        [(*row[:-1], *key) for key, row in sums])
    db.conn.executemany(f"DELETE FROM picture_rollup WHERE {_KEY_WHERE} AND n = 0", [key for key, _row in sums])
    db.conn.executemany(_RECOMPUTE_LAST, [(*descendant_range(key[7]), *key, row[-1]) for key, row in sums])


def _add_many(db, observations: list[dict]) -> None:
    """_add() for many observations: one upsert per roll-up row they count in."""
    sums = _sums(observations)
    db.conn.executemany(
        f"INSERT INTO picture_rollup ({_KEY_SQL}, {', '.join(_ALL_COLUMNS)}, last_at) "
        f"VALUES ({', '.join('?' * (len(_KEY) + len(_ALL_COLUMNS) + 1))}) ON CONFLICT ({_KEY_SQL}) DO UPDATE SET "
        + ", ".join(f"{c} = {c} + excluded.{c}" for c in _ALL_COLUMNS) + ", last_at = max(last_at, excluded.last_at)",
        [(*key, *row) for key, row in sorted(sums.items())])
    db.conn.executemany("INSERT OR IGNORE INTO picture_parents (res, unit_id, parent) VALUES (?, ?, ?)",
                        sorted({(key[1], key[2], key[5]) for key in sums}))


_REBUILD_CACHE_KIB = 512 * 1024  # the page cache (and so the sorters' memory) while rebuild() runs
_REBUILD_SORT_THREADS = 2
_HELPER_CACHE_KIB = 256 * 1024  # the helper process's connection
_PARALLEL_MIN_OBSERVATIONS = 100_000  # fewer: one connection does it all (a second one costs more than it saves)
_PARALLEL_SORT_THREADS = 0  # each connection's sorter threads when two connections share the cores
_HELPER_SHARE = 0.55  # of the observations' group entries ('' included) whose rows the helper computes
_HELPER_SILENCE_SECONDS = 600.0  # a helper that sends nothing for this long is stopped (each step takes < 30 s at 1M)
# The helpers' files, attached to the main connection: the observations (two halves, one per helper), the
# helper's hourly rows, its daily rows. One each, because the main connection keeps its read lock on a file it
# has read until its transaction ends, and the helper goes on writing the next file meanwhile.
_OBS, _OBS2 = "picture_rebuild_obs", "picture_rebuild_obs2"
_HOURLY, _DAILY = "picture_rebuild_hourly", "picture_rebuild_daily"
_PARTS = (_OBS, _OBS2, _HOURLY, _DAILY)
_OBS_COLUMNS = ("tension_id, unit_id, deployment_id, occurred_at, kind, severity, trend, groups, cell, lat, lon, "
                "linked")


def rebuild(db) -> None:
    """Recompute every picture table from the stored tensions and interventions (migration, checks, bench).

    An independent route to the same rows as record_written (tests compare the two), and a set-based one:
    the hourly rows of the finest resolution come from the observations with one GROUP BY, each coarser
    resolution's hourly rows from the next finer resolution's (grouped by the ancestor cell, which is bit
    arithmetic on the cell integer: cells.parent_masks), and the daily rows likewise from the hourly rows of
    the finest resolution and then from the next finer daily rows. picture_obs's indexes are dropped for the
    bulk insert and made again after it.

    A database file in WAL mode with at least _PARALLEL_MIN_OBSERVATIONS tensions, when the caller is not in a
    transaction, is done on two cores. The roll-up key starts (span, res, unit_id, grp) and each group
    category's rows come from that category's rows alone, so the categories split the work. Two helper
    processes (python -c; their connections read the committed tensions, the snapshot this transaction starts
    from: this connection holds the write lock before they begin) each turn half of the tensions into
    observations in a temporary SQLite file beside the database; this connection copies them into picture_obs
    while one helper goes on to compute the rows of the first categories in key order ('' = all first; about
    _HELPER_SHARE of the observations' group entries) into two more such files, hourly and daily, and this
    connection computes the other categories' rows into picture_rollup; the helper's rows are then inserted in
    key order. The files are removed in every case; if a helper fails, the transaction is rolled back and done
    again on one connection. Otherwise (in memory, few tensions, inside a transaction, another journal mode)
    this connection computes everything alone.
    """
    cache, threads = (db.conn.execute(f"PRAGMA {name}").fetchone()[0] for name in ("cache_size", "threads"))
    db.conn.execute(f"PRAGMA cache_size = {-max(_REBUILD_CACHE_KIB, abs(cache) if cache < 0 else 0)}")
    try:
        parts = _parts_directory(db)
        if parts is not None:
            db.conn.execute(f"PRAGMA threads = {max(threads, _PARALLEL_SORT_THREADS)}")
            try:
                _rebuild_with_helper(db, parts)
                return
            except _HelperFailed:  # (rolled back) e.g. no Python to start: one connection does it all
                log.warning("picture.rebuild(): the helper process failed; rebuilding on one connection",
                            exc_info=True)
        db.conn.execute(f"PRAGMA threads = {max(threads, _REBUILD_SORT_THREADS)}")  # helper threads for large sorts
        with write(db):
            _rebuild(db, None)
    finally:
        db.conn.execute(f"PRAGMA cache_size = {cache}")
        db.conn.execute(f"PRAGMA threads = {threads}")


def _rebuild_with_helper(db, parts: Path) -> None:
    attached = []
    try:
        # ATTACH before the transaction (not allowed inside one), and a plain BEGIN: BEGIN IMMEDIATE would lock
        # the helper's files too. _rebuild's first statement takes the main database's write lock.
        rollup_sql = db.conn.execute("SELECT sql FROM sqlite_master WHERE name = 'picture_rollup'").fetchone()[0]
        for schema in _PARTS:
            db.conn.execute(f"ATTACH ? AS {schema}", [str(parts / f"{schema}.db")])
            attached.append(schema)
            db.conn.execute(f"PRAGMA {schema}.journal_mode = OFF")
        for schema in (_HOURLY, _DAILY):
            db.conn.execute(rollup_sql.replace("picture_rollup", f"{schema}.picture_rollup", 1))
        for schema in (_OBS, _OBS2):
            db.conn.execute(f"CREATE TABLE {schema}.obs ({_OBS_COLUMNS})")
        with write(db, immediate=False):
            _rebuild(db, parts)
    finally:
        for schema in attached:
            db.conn.execute(f"DETACH {schema}")
        shutil.rmtree(parts, ignore_errors=True)


def _parts_directory(db) -> Path | None:
    """A new temporary directory beside the database for the helper's files, or None: no helper."""
    if db.conn.in_transaction:
        return None
    files = [row[2] for row in db.conn.execute("PRAGMA database_list") if row[1] == "main"]
    if not files or not files[0] or db.conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        return None
    if db.conn.execute("SELECT count(*) FROM tensions").fetchone()[0] < _PARALLEL_MIN_OBSERVATIONS:
        return None
    return Path(tempfile.mkdtemp(prefix=".picture-rebuild-", dir=Path(files[0]).parent))


class _Normaliser:
    """The SQL functions that turn a tension into an observation: its h3 cell and normalised group list."""

    def __init__(self, conn):
        self.conn = conn
        self.groups_of: dict[str, str] = {}  # the few distinct group lists, normalised once each

    def normal_groups(self, value):
        groups = self.groups_of.get(value)
        if groups is None:
            groups = self.groups_of[value] = json.dumps(_groups_of(value))
        return groups

    def __enter__(self):
        self.conn.create_function("fieldapp_cell", 2, cell_int, deterministic=True)
        self.conn.create_function("fieldapp_groups", 1, self.normal_groups, deterministic=True)
        return self

    def __exit__(self, *exc):
        self.conn.create_function("fieldapp_cell", 2, None)
        self.conn.create_function("fieldapp_groups", 1, None)


# The located, live tensions as observations: their unit, h3 cell, normalised group list and the number of
# interventions linked to each (picture_obs's columns).
_OBSERVATIONS = ("SELECT t.id, d.unit_id, t.deployment_id, t.occurred_at, t.kind, t.severity, t.trend, "
                 "fieldapp_groups(t.groups), fieldapp_cell(t.lat, t.lon), t.lat, t.lon, coalesce(l.n, 0) "
                 "FROM main.tensions t JOIN main.deployments d ON d.id = t.deployment_id LEFT JOIN "
                 "(SELECT tension_id, count(*) AS n FROM {links} GROUP BY tension_id) l ON l.tension_id = t.id "
                 "WHERE t.deleted_at IS NULL AND t.lat IS NOT NULL AND t.lon IS NOT NULL")
_EACH_GROUP = "json_each(json_insert(o.groups, '$[#]', '')) g"  # each group category of an observation, and ''


def _helper_main(argv: list[str]) -> None:
    """A helper process (python -c, see _Helper). Both make the observations of their half of the tensions
    (rowids low..high); the 'rows' helper then waits for 'go' on stdin (the other half is there), chooses the
    group categories it computes (the first ones in key order), tells the main connection the others,
    computes its hourly rows, then its daily rows. One line to the main process on stdout per step:
    'observed', 'split' and the main connection's categories, 'hourly', 'done', or 'error' and the traceback."""
    source, parts, share, cache_kib, sort_threads, role, low, high = argv

    def send(*message) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    conn = None
    try:
        conn = sqlite3.connect(source, isolation_level=None)
        for pragma in (f"cache_size = {-int(cache_kib)}", f"threads = {int(sort_threads)}", "temp_store = MEMORY",
                       "busy_timeout = 10000"):
            conn.execute(f"PRAGMA {pragma}")
        for schema in _PARTS:
            conn.execute(f"ATTACH ? AS {schema}", [str(Path(parts) / f"{schema}.db")])
            conn.execute(f"PRAGMA {schema}.journal_mode = OFF")
            conn.execute(f"PRAGMA {schema}.synchronous = OFF")
        links = "main.interventions WHERE deleted_at IS NULL AND tension_id IS NOT NULL"  # = picture_links
        with _Normaliser(conn):
            conn.execute(f"INSERT INTO {_OBS if role == 'rows' else _OBS2}.obs ({_OBS_COLUMNS}) "
                         + _OBSERVATIONS.format(links=links) + " AND t.rowid BETWEEN ? AND ?", [int(low), int(high)])
        send("observed")
        if role == "rows":
            if sys.stdin.readline().strip() != "go":
                return
            observations = f"(SELECT * FROM {_OBS}.obs UNION ALL SELECT * FROM {_OBS2}.obs)"
            entries = conn.execute(f"SELECT g.value, count(*) FROM {observations} o, {_EACH_GROUP} GROUP BY 1 "
                                   "ORDER BY 1").fetchall()
            total, mine, taken = sum(n for _, n in entries), [], 0
            for value, n in entries:
                if taken >= float(share) * total:
                    break
                mine.append(value)
                taken += n
            send("split", [value for value, _ in entries[len(mine):]])
            _rollup_rows(conn, f"{_HOURLY}.picture_rollup", f"{_DAILY}.picture_rollup", observations, mine,
                         hourly_done=lambda: send("hourly"))
        conn.close()
        conn = None
        send("done")
    except BaseException:  # noqa: BLE001 - handed to the main process
        try:
            send("error", traceback.format_exc())
        except OSError:  # the main process is gone or gave up on the helper
            pass
    finally:
        if conn is not None:
            conn.close()


class _HelperFailed(RuntimeError):
    pass


class _Helper:
    """The helper process as the main connection sees it. A process of its own, not a thread: two SQLite
    connections in one process contend for SQLite's global memory mutex (twice the CPU time, measured); and
    started with python -c, not multiprocessing, which would import the caller's __main__ again."""

    def __init__(self, source: str, parts: Path, role: str, low: int, high: int):
        self.role = role
        self.args = [source, str(parts), str(_HELPER_SHARE), str(_HELPER_CACHE_KIB), str(_PARALLEL_SORT_THREADS),
                     role, str(low), str(high)]
        self.process: subprocess.Popen | None = None
        self.received: set[str] = set()
        self.main_groups: list[str] | None = None

    def start(self) -> None:
        root = str(Path(__file__).resolve().parents[2])  # where the fieldapp package is
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", "import sys; from fieldapp.picture.rollups import _helper_main; "
                 "_helper_main(sys.argv[1:])", *self.args],
                stdin=subprocess.PIPE if self.role == "rows" else subprocess.DEVNULL, stdout=subprocess.PIPE,
                env=env, text=True)
        except OSError as exc:
            raise _HelperFailed(f"picture.rebuild() could not start its helper: {exc}") from exc

    def wait(self, message: str) -> None:
        """Until the helper has sent the message; its error, or its end without it, raised as _HelperFailed."""
        while message not in self.received:
            silent = threading.Event()

            def stop_silent_helper():
                silent.set()
                self.process.kill()

            watchdog = threading.Timer(_HELPER_SILENCE_SECONDS, stop_silent_helper)  # a hung helper: end it
            watchdog.start()
            try:
                line = self.process.stdout.readline()
            finally:
                watchdog.cancel()
            if not line:
                why = f", stopped after {_HELPER_SILENCE_SECONDS:g} s without a word" if silent.is_set() else ""
                raise _HelperFailed(f"picture.rebuild() helper ended (exit code {self.process.wait()}{why})")
            got = json.loads(line)
            if got[0] == "error":
                raise _HelperFailed(f"picture.rebuild() helper failed:\n{got[1]}")
            if got[0] == "split":
                self.main_groups = got[1]
            self.received.add(got[0])
        if message == "done":
            self.process.wait()
            self._close()

    def go(self) -> None:
        """Tell the 'rows' helper that the other half of the observations is there."""
        try:
            self.process.stdin.write("go\n")
            self.process.stdin.flush()
        except OSError as exc:  # it ended: wait() tells why
            raise _HelperFailed(f"picture.rebuild() helper ended: {exc}") from exc

    def cancel(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
            self.process.wait()
            self._close()

    def _close(self) -> None:
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None and not pipe.closed:
                try:
                    pipe.close()
                except OSError:
                    pass


def _rebuild(db, parts: Path | None) -> None:
    # The first statement writes the main database: it takes the write lock (a plain BEGIN when parallel).
    for table in ("picture_rollup", "picture_parents", "picture_obs", "picture_links"):
        db.execute(f"DELETE FROM main.{table}")
    helper = helpers = None
    if parts is not None:
        files = [row[2] for row in db.conn.execute("PRAGMA database_list") if row[1] == "main"]
        low, high = db.conn.execute("SELECT coalesce(min(rowid), 0), coalesce(max(rowid), 0) FROM tensions").fetchone()
        middle = (low + high) // 2
        helper = _Helper(files[0], parts, "rows", low, middle)
        helpers = [helper, _Helper(files[0], parts, "obs", middle + 1, high)]
        for one_helper in helpers:  # after the write lock: their snapshot is the one this transaction started from
            one_helper.start()
    try:
        db.execute("INSERT INTO picture_links (intervention_id, tension_id) SELECT id, tension_id FROM interventions "
                   "WHERE deleted_at IS NULL AND tension_id IS NOT NULL")
        indexes = [row[0] for row in db.conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'picture_obs' AND sql IS NOT NULL")]
        for name, in db.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'picture_obs' "
                                     "AND sql IS NOT NULL").fetchall():
            db.conn.execute(f"DROP INDEX {name}")
        if helper is None:
            with _Normaliser(db.conn):
                db.conn.execute(f"INSERT INTO main.picture_obs ({_OBS_COLUMNS}) "
                                + _OBSERVATIONS.format(links="main.picture_links"))
        else:  # the helpers', made from the same snapshot (the h3 cells computed once), in tension order
            helpers[1].wait("done")
            helper.go()
            for schema in (_OBS, _OBS2):
                helper.wait("observed")
                db.conn.execute(f"INSERT INTO main.picture_obs ({_OBS_COLUMNS}) SELECT {_OBS_COLUMNS} "
                                f"FROM {schema}.obs ORDER BY rowid")
        for sql in indexes:
            db.conn.execute(sql)
        groups = None
        if helper is not None:
            helper.wait("split")
            groups = helper.main_groups
        _rollup_rows(db.conn, "main.picture_rollup", "main.picture_rollup", "main.picture_obs", groups)
        if helper is not None:
            for message, schema in (("hourly", _HOURLY), ("done", _DAILY)):
                helper.wait(message)
                db.execute(f"INSERT INTO main.picture_rollup SELECT * FROM {schema}.picture_rollup ORDER BY {_KEY_SQL}")
    except BaseException:
        for one_helper in helpers or ():
            one_helper.cancel()
        raise
    db.execute("INSERT INTO picture_parents (res, unit_id, parent) "
               "SELECT DISTINCT res, unit_id, parent FROM picture_rollup WHERE span = 'd' AND grp = '' AND kind = ''")


def _rollup_rows(conn, hourly: str, daily: str, observations: str, groups: list[str] | None,
                 hourly_done=None) -> None:
    """Every roll-up row of these group categories (None: all), the hourly ones into the table `hourly` and
    then the daily ones into `daily` (picture_rollup's columns), from `observations` (picture_obs's columns)."""
    if groups is not None and not groups:
        if hourly_done:
            hourly_done()
        return
    # The counts per severity are summed; the totals (n, up, down, ln, score) are sums of those per
    # severity, computed from the same aggregates (SQLite evaluates each distinct aggregate once).
    per_severity = [f"{p}{s}" for s in SEVERITIES for p in ("n", "up", "down", "ln")]
    totals = {"n": [f"n{s}" for s in SEVERITIES], "up": [f"up{s}" for s in SEVERITIES],
              "down": [f"down{s}" for s in SEVERITIES], "ln": [f"ln{s}" for s in SEVERITIES]}
    columns = [*per_severity, *totals, "score"]

    def select(sums: dict[str, str]) -> str:
        """The values of `columns` from an aggregate expression per per-severity column."""
        return ", ".join([*(sums[c] for c in per_severity), *(" + ".join(sums[c] for c in parts)
                                                               for parts in totals.values()),
                          " + ".join(f"{WEIGHTS[s]} * {sums[f'n{s}']}" for s in SEVERITIES)])

    from_obs = {}
    for s in SEVERITIES:
        from_obs[f"n{s}"] = f"sum(o.severity = {s})"
        from_obs[f"up{s}"] = f"sum(o.severity = {s} AND o.trend = '{RISING}')"
        from_obs[f"down{s}"] = f"sum(o.severity = {s} AND o.trend = '{EASING}')"
        from_obs[f"ln{s}"] = f"sum(CASE WHEN o.severity = {s} THEN o.linked ELSE 0 END)"
    summed = select({c: f"sum({c})" for c in per_severity})
    names = f"({_KEY_SQL}, {', '.join(columns)}, last_at)"
    finest = RESOLUTIONS[-1]
    cell_and, cell_or = parent_masks(finest)
    parent_and, parent_or = parent_masks(PARENT_RES[finest])
    only, params = "", [parent_and, parent_or, cell_and, cell_or]
    if groups is not None:
        only, params = "WHERE g.value IN (SELECT value FROM json_each(?)) ", [*params, json.dumps(groups)]
    # The finest hourly rows of each kind: each observation once per group category and once for "all"
    # ('' appended to its list). GROUP BY in the order of the primary key: the rows go in in order.
    conn.execute(
        f"INSERT INTO {hourly} {names} SELECT 'h', {finest}, o.unit_id, g.value, o.kind, (o.cell & ?) | ?, "
        f"substr(o.occurred_at, 1, 13), (o.cell & ?) | ?, {select(from_obs)}, max(o.occurred_at) "
        f"FROM {observations} o, {_EACH_GROUP} {only}GROUP BY 3, 4, 5, 6, 7, 8", params)
    # ... and of all kinds (kind ''): the sums of those.
    conn.execute(f"INSERT INTO {hourly} {names} SELECT 'h', res, unit_id, grp, '', parent, bucket, cell, {summed}, "
                 f"max(last_at) FROM {hourly} WHERE span = 'h' AND res = {finest} GROUP BY 3, 4, 6, 7, 8")

    def coarser(target: str, span: str, bucket: str, res: int, source: str, source_span: str, source_res: int):
        cell_and, cell_or = parent_masks(res)
        parent_and, parent_or = parent_masks(PARENT_RES[res])
        conn.execute(
            f"INSERT INTO {target} {names} SELECT '{span}', {res}, unit_id, grp, kind, (cell & ?) | ?, {bucket}, "
            f"(cell & ?) | ?, {summed}, max(last_at) FROM {source} WHERE span = ? AND res = ? GROUP BY 3, 4, 5, 6, 7, 8",
            [parent_and, parent_or, cell_and, cell_or, source_span, source_res])

    finer = finest
    for res in reversed(RESOLUTIONS[:-1]):
        coarser(hourly, "h", "bucket", res, hourly, "h", finer)
        finer = res
    if hourly_done:
        hourly_done()
    coarser(daily, "d", "substr(bucket, 1, 10)", finest, hourly, "h", finest)
    finer = finest
    for res in reversed(RESOLUTIONS[:-1]):
        coarser(daily, "d", "bucket", res, daily, "d", finer)
        finer = res


def cleanup(db, deployment_ids: list[str]) -> None:
    """Take these deployments' records out of the picture (demo data reset deletes them directly)."""
    if not deployment_ids:
        return
    marks = ",".join("?" * len(deployment_ids))
    for obs in list(db.query(f"SELECT * FROM picture_obs WHERE deployment_id IN ({marks})", deployment_ids)):
        db.execute("DELETE FROM picture_obs WHERE tension_id = ?", [obs["tension_id"]])
        _subtract(db, obs)
    db.execute(f"DELETE FROM picture_links WHERE intervention_id IN "
               f"(SELECT id FROM interventions WHERE deployment_id IN ({marks}))", deployment_ids)
