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

from fieldapp.db import one, write
from fieldapp.picture.cells import (EASING, PARENT_RES, RESOLUTIONS, RISING, SEVERITIES, WEIGHTS, cell_int,
                                    descendant_range, parent_masks, parent_of)

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


def rebuild(db) -> None:
    """Recompute every picture table from the stored tensions and interventions (migration, checks, bench).

    An independent route to the same rows as record_written (tests compare the two), and a set-based one:
    the hourly rows of the finest resolution come from the observations with one GROUP BY, each coarser
    resolution's hourly rows from the next finer resolution's (grouped by the ancestor cell, which is bit
    arithmetic on the cell integer: cells.parent_masks), and the daily rows likewise from the hourly rows of
    the finest resolution and then from the next finer daily rows. picture_obs's indexes are dropped for the
    bulk insert and made again after it.
    """
    cache, threads = (db.conn.execute(f"PRAGMA {name}").fetchone()[0] for name in ("cache_size", "threads"))
    db.conn.execute(f"PRAGMA cache_size = {-max(_REBUILD_CACHE_KIB, abs(cache) if cache < 0 else 0)}")
    db.conn.execute(f"PRAGMA threads = {max(threads, _REBUILD_SORT_THREADS)}")  # helper threads for large sorts
    try:
        with write(db):
            _rebuild(db)
    finally:
        db.conn.execute(f"PRAGMA cache_size = {cache}")
        db.conn.execute(f"PRAGMA threads = {threads}")


def _rebuild(db) -> None:
    for table in ("picture_rollup", "picture_parents", "picture_obs", "picture_links"):
        db.execute(f"DELETE FROM {table}")
    db.execute("INSERT INTO picture_links (intervention_id, tension_id) SELECT id, tension_id FROM interventions "
               "WHERE deleted_at IS NULL AND tension_id IS NOT NULL")
    indexes = [row[0] for row in db.conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'picture_obs' AND sql IS NOT NULL")]
    for name, in db.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'picture_obs' "
                                 "AND sql IS NOT NULL").fetchall():
        db.conn.execute(f"DROP INDEX {name}")
    groups_of: dict[str, str] = {}  # the few distinct group lists, normalised once each

    def normal_groups(value):
        groups = groups_of.get(value)
        if groups is None:
            groups = groups_of[value] = json.dumps(_groups_of(value))
        return groups

    db.conn.create_function("fieldapp_cell", 2, cell_int, deterministic=True)
    db.conn.create_function("fieldapp_groups", 1, normal_groups, deterministic=True)
    try:
        db.conn.execute(
            "INSERT INTO picture_obs (tension_id, unit_id, deployment_id, occurred_at, kind, severity, trend, groups, "
            "cell, lat, lon, linked) SELECT t.id, d.unit_id, t.deployment_id, t.occurred_at, t.kind, t.severity, "
            "t.trend, fieldapp_groups(t.groups), fieldapp_cell(t.lat, t.lon), t.lat, t.lon, coalesce(l.n, 0) "
            "FROM tensions t JOIN deployments d ON d.id = t.deployment_id LEFT JOIN "
            "(SELECT tension_id, count(*) AS n FROM picture_links GROUP BY tension_id) l ON l.tension_id = t.id "
            "WHERE t.deleted_at IS NULL AND t.lat IS NOT NULL AND t.lon IS NOT NULL")
    finally:
        db.conn.create_function("fieldapp_cell", 2, None)
        db.conn.create_function("fieldapp_groups", 1, None)
    for sql in indexes:
        db.conn.execute(sql)

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
    insert = f"INSERT INTO picture_rollup ({_KEY_SQL}, {', '.join(columns)}, last_at) "
    finest = RESOLUTIONS[-1]
    cell_and, cell_or = parent_masks(finest)
    parent_and, parent_or = parent_masks(PARENT_RES[finest])
    # The finest hourly rows of each kind: each observation once per group category and once for "all"
    # ('' appended to its list). GROUP BY in the order of the primary key: the rows go in in order.
    db.execute(
        insert + f"SELECT 'h', {finest}, o.unit_id, g.value, o.kind, (o.cell & ?) | ?, substr(o.occurred_at, 1, 13), "
        f"(o.cell & ?) | ?, {select(from_obs)}, max(o.occurred_at) "
        "FROM picture_obs o, json_each(json_insert(o.groups, '$[#]', '')) g GROUP BY 3, 4, 5, 6, 7, 8",
        [parent_and, parent_or, cell_and, cell_or])
    # ... and of all kinds (kind ''): the sums of those.
    db.execute(insert + f"SELECT 'h', res, unit_id, grp, '', parent, bucket, cell, {summed}, max(last_at) "
               f"FROM picture_rollup WHERE span = 'h' AND res = {finest} GROUP BY 3, 4, 6, 7, 8")

    def coarser(span: str, bucket: str, res: int, source_span: str, source_res: int) -> None:
        cell_and, cell_or = parent_masks(res)
        parent_and, parent_or = parent_masks(PARENT_RES[res])
        db.execute(
            insert + f"SELECT '{span}', {res}, unit_id, grp, kind, (cell & ?) | ?, {bucket}, (cell & ?) | ?, "
            f"{summed}, max(last_at) FROM picture_rollup WHERE span = ? AND res = ? GROUP BY 3, 4, 5, 6, 7, 8",
            [parent_and, parent_or, cell_and, cell_or, source_span, source_res])

    finer = finest
    for res in reversed(RESOLUTIONS[:-1]):
        coarser("h", "bucket", res, "h", finer)
        finer = res
    coarser("d", "substr(bucket, 1, 10)", finest, "h", finest)
    finer = finest
    for res in reversed(RESOLUTIONS[:-1]):
        coarser("d", "bucket", res, "d", finer)
        finer = res
    db.execute("INSERT INTO picture_parents (res, unit_id, parent) "
               "SELECT DISTINCT res, unit_id, parent FROM picture_rollup WHERE span = 'd' AND grp = '' AND kind = ''")


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
