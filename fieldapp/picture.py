"""The situation picture: where, how strongly and between whom tension is rising.

Tension observations are aggregated into h3 hexagons (h3 4.x). What keeps it private and fast:

- Cells: an observation counts in the ancestor (h3.cell_to_parent) of its resolution 9 cell at every
  coarser resolution; h3 cells nest only roughly, so near an outline a point may lie just outside it.
- Cells, never points, area-wide. Only resolutions 5..9 are served. h3.average_hexagon_edge_length(9, "m")
  is 200.8 m, so a resolution 9 cell is about 348 m across its flat sides (402 m corner to corner): at
  least the ~250 m required. Resolution 10 (131 m across) is never served. Individual points are shown
  only for one live deployment, to the unit's leads and the officers assigned to it (Scope.points_allowed).
- Score: the sum of severity weights 2**(severity-1) = 1, 2, 4, 8, 16, 32, so one violent observation
  weighs as much as 32 calm ones, and a cell's colour class is its score relative to the top score shown.
- Roll-ups: every located observation is kept in picture_obs (with its resolution 9 cell as an integer)
  and counted in picture_rollup per hour and per day (UTC), per resolution, cell, deployment, tension kind
  and group category ('' = all observations), with counts per severity, per reported trend and of linked
  interventions as columns. A window is answered from whole days, whole hours at its ends and the raw
  observations of the partial hours at its very edges, so every window is exact. Each roll-up key starts
  with an ancestor cell (PARENT_RES), so a map view reads only the rows of the cells it shows.
  record_written() keeps all of it current inside every record write; rebuild() recomputes it.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Literal

import h3
import msgspec

from fieldapp import audit, categories
from fieldapp import deployments as deployments_domain
from fieldapp.clock import HELSINKI, iso, parse, utcnow
from fieldapp.db import one, write
from fieldapp.i18n import gettext as _
from fieldapp.i18n import lazy
from fieldapp.ids import is_valid_id

RESOLUTIONS = (5, 6, 7, 8, 9)
FINEST = 9
# The ancestor that leads each roll-up key: a map view is narrowed to the ancestors it overlaps.
PARENT_RES = {5: 3, 6: 4, 7: 5, 8: 6, 9: 7}
SEVERITIES = (1, 2, 3, 4, 5, 6)
WEIGHTS = {s: 2 ** (s - 1) for s in SEVERITIES}
RISING, EASING = "rising", "easing"
MAX_WINDOW = timedelta(days=366)
COLOURS = ("#ffe08a", "#fdae61", "#f46d43", "#c7251a", "#7a0b0b")
DETAIL_LIMIT = 200
HOTSPOT_LIMIT = 50

WINDOWS = {
    "hour": lazy("Last hour"),
    "today": lazy("Today"),
    "7d": lazy("Last 7 days"),
    "30d": lazy("Last 30 days"),
    "custom": lazy("Custom"),
}
DEFAULT_WINDOW = "7d"


class FilterInvalid(ValueError):
    """Filter values that cannot be used; errors are field -> translated message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(errors)
        self.errors = errors


class NoDeployment(LookupError):
    """An officer has no current deployment and chose none: there is no picture to show."""


# ---------------------------------------------------------------------------------------------- cells

def cell_int(lat: float, lon: float, res: int = FINEST) -> int:
    return h3.str_to_int(h3.latlng_to_cell(lat, lon, res))


def parent_masks(res: int) -> tuple[int, int]:
    """(and_mask, or_bits) turning a finer cell integer into its ancestor at res: (c & and) | or.

    An h3 index keeps its resolution in bits 52-55 and one 3-bit digit per finer resolution below;
    unused digits are 7. The same arithmetic runs in SQL, so ancestors need no lookup table.
    """
    return ~(15 << 52), (res << 52) | ((1 << (3 * (15 - res))) - 1)


def parent_of(cell: int, res: int) -> int:
    and_mask, or_bits = parent_masks(res)
    return (cell & and_mask) | or_bits


def descendant_range(cell: int, res: int = FINEST) -> tuple[int, int]:
    """Lowest and highest integer of the cell's descendants at res: they lie in between, contiguously."""
    low = h3.str_to_int(h3.cell_to_center_child(h3.int_to_str(cell), res))
    high = (cell & ~(15 << 52)) | (res << 52) | ((1 << (3 * (15 - res))) - 1)
    for digit in range(h3.get_resolution(h3.int_to_str(cell)) + 1, res + 1):
        shift = 3 * (15 - digit)
        high = (high & ~(7 << shift)) | (6 << shift)
    return low, high


@lru_cache(maxsize=100_000)
def cell_ring(cell: int) -> tuple[tuple[float, float], ...]:
    """The cell's outline as GeoJSON [lon, lat] pairs, closed."""
    points = [(round(lng, 6), round(lat, 6)) for lat, lng in h3.cell_to_boundary(h3.int_to_str(cell))]
    return tuple(points + points[:1])


def cell_size_m(res: int) -> int:
    """A cell's width across its flat sides, in metres (for labels)."""
    return int(round(h3.average_hexagon_edge_length(res, "m") * math.sqrt(3), -1))


def res_for_zoom(zoom: int) -> int:
    """The resolution whose cells appear some 40-120 px wide at this web map zoom level."""
    if zoom <= 7:
        return 5
    if zoom <= 9:
        return 6
    if zoom <= 11:
        return 7
    if zoom <= 13:
        return 8
    return 9


def parse_cell(text: str) -> int:
    """A served cell from its h3 text; FilterInvalid if it is not one (or finer than resolution 9)."""
    try:
        if h3.is_valid_cell(text) and h3.get_resolution(text) in RESOLUTIONS:
            return h3.str_to_int(text)
    except (ValueError, TypeError):
        pass
    raise FilterInvalid({"cell": _("This map cell is not valid.")})


# --------------------------------------------------------------------------------------------- filters

@dataclass(frozen=True)
class PictureFilter:
    """One question to the picture: a time window and what to count. Everything else follows from it."""

    start: datetime
    end: datetime
    window: str = DEFAULT_WINDOW
    deployment_id: str | None = None
    kinds: tuple[str, ...] = ()
    severities: tuple[int, ...] = ()
    group: str = ""
    live: bool = True  # the window ends now, so the picture keeps refreshing

    @property
    def tension_filtered(self) -> bool:
        return bool(self.kinds or self.severities or self.group)

    def previous(self) -> "PictureFilter":
        """The same question for the window of equal length just before this one."""
        length = self.end - self.start
        return replace(self, start=self.start - length, end=self.start, live=False)

    def query(self) -> dict[str, str]:
        """The filter as query parameters (links and exports keep the same question)."""
        values = {"window": self.window}
        if self.window == "custom":
            values["from"] = self.start.astimezone(HELSINKI).strftime("%Y-%m-%dT%H:%M")
            values["to"] = self.end.astimezone(HELSINKI).strftime("%Y-%m-%dT%H:%M")
        if self.deployment_id:
            values["deployment"] = self.deployment_id
        if self.kinds:
            values["kind"] = self.kinds[0]
        if self.severities:
            values["severity"] = str(min(self.severities))
        if self.group:
            values["group"] = self.group
        return values


def _first(raw: dict, name: str) -> str:
    value = raw.get(name)
    if isinstance(value, list):
        value = value[-1] if value else ""
    return str(value).strip() if value is not None else ""


def parse_filter(db, raw: dict, *, now: datetime | None = None) -> PictureFilter:
    """The filter from query parameters (window, from, to, deployment, kind, severity, group).

    Raises FilterInvalid with a translated message per field; blank values mean "all".
    """
    now = now or utcnow()
    errors: dict[str, str] = {}
    window = _first(raw, "window") or DEFAULT_WINDOW
    start = end = None
    if window not in WINDOWS:
        errors["window"] = _("Choose a time window from the list.")
        window = DEFAULT_WINDOW
    if window == "hour":
        start, end = now - timedelta(hours=1), now
    elif window == "today":
        local = now.astimezone(HELSINKI)
        start, end = local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(timezone.utc), now
    elif window == "7d":
        start, end = now - timedelta(days=7), now
    elif window == "30d":
        start, end = now - timedelta(days=30), now
    else:
        for name in ("from", "to"):
            text = _first(raw, name)
            try:
                value = parse(text) if text else None
            except (ValueError, OverflowError):
                value = None
            if value is None:
                errors[name] = _("Enter a date and time.")
            elif name == "from":
                start = value
            else:
                end = value
        if start and end:
            if end <= start:
                errors["to"] = _("The end must be after the start.")
            elif end - start > MAX_WINDOW:
                errors["to"] = _("The time window can be at most 366 days.")
    deployment_id = _first(raw, "deployment") or None
    if deployment_id and not is_valid_id(deployment_id):
        errors["deployment"] = _("Choose a deployment from the list.")
    kinds = raw.get("kind") or []
    kinds = tuple(sorted({k.strip() for k in (kinds if isinstance(kinds, list) else [kinds]) if k and k.strip()}))
    if kinds and not set(kinds) <= categories.codes(db, "tension_kind"):
        errors["kind"] = _("Choose a value from the list.")
    severities: tuple[int, ...] = ()
    severity = _first(raw, "severity")
    if severity:
        if severity.isdigit() and 1 <= int(severity) <= 6:
            severities = tuple(s for s in SEVERITIES if s >= int(severity)) if int(severity) > 1 else ()
        else:
            errors["severity"] = _("Choose a severity from 1 to 6.")
    group = _first(raw, "group")
    if group and group not in categories.codes(db, "group_category"):
        errors["group"] = _("Choose a value from the list.")
    if errors:
        raise FilterInvalid(errors)
    return PictureFilter(start=start, end=end, window=window, deployment_id=deployment_id, kinds=kinds,
                         severities=severities, group=group, live=window != "custom")


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    """west,south,east,north in degrees, or None; FilterInvalid if it cannot be one."""
    if not text:
        return None
    try:
        west, south, east, north = (float(part) for part in text.split(","))
    except ValueError:
        raise FilterInvalid({"bbox": _("The map area is not valid.")}) from None
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise FilterInvalid({"bbox": _("The map area is not valid.")})
    return west, south, east, north


def parse_res(text: str | None, default: int = 8) -> int:
    """A served resolution (5..9); anything else is FilterInvalid."""
    if text in (None, ""):
        return default
    if text.isdigit() and int(text) in RESOLUTIONS:
        return int(text)
    raise FilterInvalid({"res": _("Choose a cell size from the list.")})


# ----------------------------------------------------------------------------------------------- scope

@dataclass(frozen=True)
class Scope:
    """Whose picture: a lead's whole unit, or one deployment (officers always see exactly one)."""

    unit_id: str
    deployment: dict | None = None
    points_allowed: bool = False

    @property
    def deployment_id(self) -> str | None:
        return self.deployment["id"] if self.deployment else None


def resolve_scope(db, user, deployment_id: str | None) -> Scope:
    """What this user may see: leads their unit, others one deployment they can view (their current one).

    Raises deployments.NotFound / Forbidden for a deployment they may not see, NoDeployment when an
    officer has no current deployment and chose none.
    """
    if user.role == "admin" or not user.unit_id:
        raise deployments_domain.Forbidden("admins see no field data")
    if deployment_id:
        deployment = deployments_domain.visible(db, user, deployment_id)
    elif user.role == "lead":
        return Scope(user.unit_id)
    else:
        deployment = deployments_domain.current_for_user(db, user)
        if deployment is None:
            raise NoDeployment(user.id)
    live = deployments_domain.status(deployment) == "current"
    assigned = user.id in deployments_domain.assigned_user_ids(db, deployment["id"])
    return Scope(deployment["unit_id"], deployment, points_allowed=live and (user.role == "lead" or assigned))


# ------------------------------------------------------------------------------------ roll-up upkeep

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


def _subtract(db, obs: dict) -> None:
    """Take one observation out of its roll-up rows (it is already gone from picture_obs)."""
    columns, values = _increments(obs)
    keys = list(_rollup_keys(obs))
    db.conn.executemany(
        f"UPDATE picture_rollup SET {', '.join(f'{c} = {c} - ?' for c in columns)} WHERE {_KEY_WHERE}",
        [(*values, *key) for key in keys])
    db.conn.executemany(f"DELETE FROM picture_rollup WHERE {_KEY_WHERE} AND n = 0", keys)
    # Where this observation was the latest one, the latest is looked up again (the bucket's rows only).
    db.conn.executemany(
        "UPDATE picture_rollup SET last_at = (SELECT max(o.occurred_at) FROM picture_obs o INDEXED BY "
        "picture_obs_unit_time WHERE o.unit_id = picture_rollup.unit_id AND o.occurred_at >= picture_rollup.bucket "
        f"AND o.occurred_at < picture_rollup.bucket || '{_EMPTY_BUCKET}' AND o.cell BETWEEN ? AND ? "
        "AND (picture_rollup.kind = '' OR o.kind = picture_rollup.kind) AND (picture_rollup.grp = '' OR EXISTS "
        "(SELECT 1 FROM json_each(o.groups) WHERE json_each.value = picture_rollup.grp))) "
        f"WHERE {_KEY_WHERE} AND last_at = ?",
        [(*descendant_range(key[7]), *key, obs["occurred_at"]) for key in keys])


def _observation(db, record: dict) -> dict | None:
    """The picture_obs row of a stored tension record, or None if it is deleted or has no location."""
    if record.get("deleted_at") or record.get("lat") is None or record.get("lon") is None:
        return None
    unit = one(db, "SELECT unit_id FROM deployments WHERE id = ?", [record["deployment_id"]])
    linked = db.execute("SELECT count(*) FROM picture_links WHERE tension_id = ?", [record["id"]]).fetchone()[0]
    return {
        "tension_id": record["id"], "unit_id": unit["unit_id"], "deployment_id": record["deployment_id"],
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
        db["picture_obs"].insert(new)
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


def rebuild(db) -> None:
    """Recompute every picture table from the stored tensions and interventions (migration, checks, bench).

    An independent route to the same rows as record_written: tests compare the two.
    """
    with write(db):
        for table in ("picture_rollup", "picture_parents", "picture_obs", "picture_links"):
            db.execute(f"DELETE FROM {table}")
        db.execute("INSERT INTO picture_links (intervention_id, tension_id) SELECT id, tension_id FROM interventions "
                   "WHERE deleted_at IS NULL AND tension_id IS NOT NULL")
        cursor = db.conn.execute(
            "SELECT t.id, d.unit_id, t.deployment_id, t.occurred_at, t.kind, t.severity, t.trend, t.groups, t.lat, "
            "t.lon FROM tensions t JOIN deployments d ON d.id = t.deployment_id "
            "WHERE t.deleted_at IS NULL AND t.lat IS NOT NULL AND t.lon IS NOT NULL")
        while batch := cursor.fetchmany(50_000):
            db.conn.executemany(
                "INSERT INTO picture_obs (tension_id, unit_id, deployment_id, occurred_at, kind, severity, trend, "
                "groups, cell, lat, lon, linked) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                [(*row[:7], json.dumps(_groups_of(row[7])), cell_int(row[8], row[9]), row[8], row[9])
                 for row in batch])
        db.execute("UPDATE picture_obs SET linked = (SELECT count(*) FROM picture_links l WHERE l.tension_id = "
                   "picture_obs.tension_id) WHERE tension_id IN (SELECT tension_id FROM picture_links)")
        columns = ["n", "up", "down", "ln", "score"]
        sums = ["count(*)", f"sum(o.trend = '{RISING}')", f"sum(o.trend = '{EASING}')", "sum(o.linked)",
                "sum(1 << (o.severity - 1))"]
        for s in SEVERITIES:
            for column, condition in [(f"n{s}", f"o.severity = {s}"),
                                      (f"up{s}", f"o.severity = {s} AND o.trend = '{RISING}'"),
                                      (f"down{s}", f"o.severity = {s} AND o.trend = '{EASING}'")]:
                columns.append(column)
                sums.append(f"sum({condition})")
            columns.append(f"ln{s}")
            sums.append(f"sum(CASE WHEN o.severity = {s} THEN o.linked ELSE 0 END)")
        # Each observation once per group category and once for "all" ('' appended to its list), and once
        # for its kind and once for "all kinds".
        source = ("picture_obs o, json_each(json_insert(o.groups, '$[#]', '')) g, "
                  "(SELECT 0 AS by_kind UNION ALL SELECT 1) k")
        for res in RESOLUTIONS:
            cell_and, cell_or = parent_masks(res)
            parent_and, parent_or = parent_masks(PARENT_RES[res])
            db.execute(
                f"INSERT INTO picture_rollup ({_KEY_SQL}, {', '.join(columns)}, last_at) "
                f"SELECT 'h', {res}, o.unit_id, g.value, CASE WHEN k.by_kind THEN o.kind ELSE '' END, "
                f"(o.cell & ?) | ?, substr(o.occurred_at, 1, 13), (o.cell & ?) | ?, {', '.join(sums)}, "
                f"max(o.occurred_at) FROM {source} GROUP BY 3, 4, 5, 6, 7, 8",
                [parent_and, parent_or, cell_and, cell_or])
            db.execute(
                f"INSERT INTO picture_rollup ({_KEY_SQL}, {', '.join(columns)}, last_at) "
                f"SELECT 'd', res, unit_id, grp, kind, parent, substr(bucket, 1, 10), cell, "
                f"{', '.join(f'sum({c})' for c in columns)}, max(last_at) FROM picture_rollup "
                f"WHERE span = 'h' AND res = {res} GROUP BY 3, 4, 5, 6, 7, 8")
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


# --------------------------------------------------------------------------------------- aggregation

@dataclass
class CellSummary:
    """One hexagon's numbers for a filter: observations by kind and reported trend, score, latest time."""

    cell: int
    res: int
    observations: int = 0
    score: int = 0
    rising: int = 0
    easing: int = 0
    linked: int = 0
    last_at: str | None = None
    kinds: dict[str, int] = field(default_factory=dict)
    colour_class: int = 0
    rank: int = 0
    kinds_complete: bool = True

    @property
    def steady(self) -> int:
        return self.observations - self.rising - self.easing

    @property
    def h3(self) -> str:
        return h3.int_to_str(self.cell)

    @property
    def centre(self) -> tuple[float, float]:
        return h3.cell_to_latlng(self.h3)

    @property
    def top_kind(self) -> str | None:
        return max(self.kinds.items(), key=lambda item: (item[1], item[0]))[0] if self.kinds else None


def _pieces(start: datetime, end: datetime):
    """Split [start, end) into raw edges, whole hours and whole days: (span, low, high) with span None, h, d."""
    def ceil(dt, unit):
        floor = dt.replace(minute=0, second=0, microsecond=0) if unit == "h" else dt.replace(
            hour=0, minute=0, second=0, microsecond=0)
        return floor if floor == dt else floor + (timedelta(hours=1) if unit == "h" else timedelta(days=1))

    def floor(dt, unit):
        return dt.replace(minute=0, second=0, microsecond=0) if unit == "h" else dt.replace(
            hour=0, minute=0, second=0, microsecond=0)

    start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
    h0, h1 = ceil(start, "h"), floor(end, "h")
    if h0 >= h1:
        return [(None, iso(start), iso(end))]
    pieces = []
    if start < h0:
        pieces.append((None, iso(start), iso(h0)))
    d0, d1 = ceil(h0, "d"), floor(h1, "d")
    if d0 < d1:
        if h0 < d0:
            pieces.append(("h", iso(h0)[:13], iso(d0)[:13]))
        pieces.append(("d", iso(d0)[:10], iso(d1)[:10]))
        if d1 < h1:
            pieces.append(("h", iso(d1)[:13], iso(h1)[:13]))
    else:
        pieces.append(("h", iso(h0)[:13], iso(h1)[:13]))
    if h1 < end:
        pieces.append((None, iso(h1), iso(end)))
    return pieces


def _severity_sql(severities: tuple[int, ...]) -> dict[str, str]:
    """Roll-up column expressions for the chosen severities (the stored totals when all are chosen)."""
    if not severities:
        return {"n": "n", "score": "score", "up": "up", "down": "down", "ln": "ln"}
    return {
        "n": " + ".join(f"n{s}" for s in severities),
        "score": " + ".join(f"{WEIGHTS[s]} * n{s}" for s in severities),
        "up": " + ".join(f"up{s}" for s in severities),
        "down": " + ".join(f"down{s}" for s in severities),
        "ln": " + ".join(f"ln{s}" for s in severities),
    }


def _obs_conditions(scope: Scope, flt: PictureFilter, alias: str = "o") -> tuple[list[str], list]:
    """WHERE parts for picture_obs rows in scope and filter (time window excluded)."""
    where, params = [f"{alias}.unit_id = ?"], [scope.unit_id]
    if scope.deployment_id:
        where.append(f"{alias}.deployment_id = ?")
        params.append(scope.deployment_id)
    if flt.kinds:
        where.append(f"{alias}.kind IN ({','.join('?' * len(flt.kinds))})")
        params += list(flt.kinds)
    if flt.severities:
        where.append(f"{alias}.severity IN ({','.join(str(s) for s in flt.severities)})")
    if flt.group:
        where.append(f"EXISTS (SELECT 1 FROM json_each({alias}.groups) WHERE json_each.value = ?)")
        params.append(flt.group)
    return where, params


def _known_parents(db, scope: Scope, res: int) -> list[int]:
    return [row[0] for row in db.execute("SELECT parent FROM picture_parents WHERE res = ? AND unit_id = ?",
                                         [res, scope.unit_id])]


def _parents(db, scope: Scope, res: int, bbox) -> list[int]:
    """Ancestor cells holding data of this unit, narrowed to those overlapping the map view."""
    known = _known_parents(db, scope, res)
    if bbox is None or not known:
        return known
    west, south, east, north = bbox
    parent_res = PARENT_RES[res]
    pad_km = h3.average_hexagon_edge_length(parent_res, "km") * 2
    mid = math.radians((south + north) / 2)
    pad_lat, pad_lon = pad_km / 111.0, pad_km / (111.0 * max(math.cos(mid), 0.05))
    area = ((north - south + 2 * pad_lat) * 111.0) * ((east - west + 2 * pad_lon) * 111.0 * math.cos(mid))
    if area / h3.average_hexagon_area(parent_res, "km^2") > 20 * len(known) + 200:
        return known  # a view much larger than the data: listing its cells would cost more than it saves
    south, north = max(-89.9, south - pad_lat), min(89.9, north + pad_lat)
    west, east = max(-180.0, west - pad_lon), min(180.0, east + pad_lon)
    polygon = h3.LatLngPoly([(south, west), (south, east), (north, east), (north, west)])
    in_view = {h3.str_to_int(c) for c in h3.polygon_to_cells(polygon, parent_res)}
    return [p for p in known if p in in_view]


def _ints(values) -> str:
    return ",".join(str(int(v)) for v in values)


def _raw_rows(db, scope: Scope, flt: PictureFilter, res: int, low: str, high: str, *,
              parents: list[int] | None = None, cells: list[int] | None = None):
    """(cell, kind, n, score, rising, easing, linked, last) straight from the observations."""
    cell_and, cell_or = parent_masks(res)
    where, params = _obs_conditions(scope, flt)
    where += ["o.occurred_at >= ?", "o.occurred_at < ?"]
    params += [low, high]
    if parents is not None:
        parent_and, parent_or = parent_masks(PARENT_RES[res])
        where.append(f"((o.cell & {parent_and}) | {parent_or}) IN ({_ints(parents)})")
    if cells is not None:
        where.append(f"((o.cell & {cell_and}) | {cell_or}) IN ({_ints(cells)})")
    return db.execute(
        f"SELECT (o.cell & {cell_and}) | {cell_or} AS c, o.kind, count(*), sum(1 << (o.severity - 1)), "
        f"sum(o.trend = '{RISING}'), sum(o.trend = '{EASING}'), sum(o.linked), max(o.occurred_at) "
        f"FROM picture_obs o WHERE {' AND '.join(where)} GROUP BY c, o.kind", params)


def _rollup_rows(db, scope: Scope, flt: PictureFilter, res: int, span: str, low: str, high: str,
                 parents: list[int], kinds: tuple[str, ...] | None, cells: list[int] | None = None):
    """The same numbers from the roll-ups; kinds None reads the all-kinds rows (kind '')."""
    sql = _severity_sql(flt.severities)
    where = ["span = ?", "res = ?", "unit_id = ?", "grp = ?", f"kind IN ({','.join('?' * len(kinds or ('',)))})",
             f"parent IN ({_ints(parents)})", "bucket >= ?", "bucket < ?"]
    params: list = [span, res, scope.unit_id, flt.group, *(kinds or ("",)), low, high]
    if cells is not None:
        where.append(f"cell IN ({_ints(cells)})")
    return db.execute(
        f"SELECT cell, kind, sum({sql['n']}), sum({sql['score']}), sum({sql['up']}), sum({sql['down']}), "
        f"sum({sql['ln']}), max(CASE WHEN {sql['n']} > 0 THEN last_at END) FROM picture_rollup "
        f"WHERE {' AND '.join(where)} GROUP BY cell, kind", params)


def _merge(acc: dict, rows, keep_kinds: bool) -> None:
    for cell, kind, n, score, up, down, ln, last_at in rows:
        if not n:
            continue
        entry = acc.get(cell)
        if entry is None:
            entry = acc[cell] = [0, 0, 0, 0, 0, None, {}]
        entry[0] += n
        entry[1] += score
        entry[2] += up
        entry[3] += down
        entry[4] += ln
        if last_at and (entry[5] is None or last_at > entry[5]):
            entry[5] = last_at
        if keep_kinds:
            entry[6][kind] = entry[6].get(kind, 0) + n


def _all_kinds(db) -> tuple[str, ...]:
    return tuple(row[0] for row in db.execute("SELECT code FROM categories WHERE list = 'tension_kind' ORDER BY code"))


def _collect(db, scope: Scope, flt: PictureFilter, res: int, bbox=None, *, by_kind: bool = False,
             cells: list[int] | None = None) -> tuple[dict, bool]:
    """Sum the window's pieces per cell: ({cell: [n, score, up, down, linked, last, kinds]}, kinds complete)."""
    if res not in RESOLUTIONS:
        raise ValueError(f"resolution {res} is not served")
    acc: dict = {}
    if scope.deployment_id:  # one deployment: its few observations, read directly
        _merge(acc, _raw_rows(db, scope, flt, res, iso(flt.start), iso(flt.end), cells=cells), True)
        return acc, True
    kinds = flt.kinds or (_all_kinds(db) if by_kind else None)
    if cells is not None:
        known = set(_known_parents(db, scope, res))
        parents = sorted({parent_of(c, PARENT_RES[res]) for c in cells} & known)
    else:
        parents = _parents(db, scope, res, bbox)
    if not parents:
        return acc, True
    for span, low, high in _pieces(flt.start, flt.end):
        if span is None:
            rows = _raw_rows(db, scope, flt, res, low, high, parents=parents if bbox else None, cells=cells)
        else:
            rows = _rollup_rows(db, scope, flt, res, span, low, high, parents, kinds, cells)
        _merge(acc, rows, kinds is not None)
    return acc, kinds is not None


def _summaries(acc: dict, res: int) -> list[CellSummary]:
    return [CellSummary(cell, res, e[0], e[1], e[2], e[3], e[4], e[5], e[6]) for cell, e in acc.items()]


def aggregate(db, scope: Scope, flt: PictureFilter, res: int, bbox=None, *, by_kind: bool = False) -> list[CellSummary]:
    """The cells with observations for this scope and filter, highest score first (ranked, classed).

    A deployment is read from its observations; a unit from the roll-ups (see the module docstring).
    With bbox (west, south, east, north) only cells near the map view are returned. Counts by kind are
    filled for a deployment, under a kind filter or with by_kind; otherwise see fill_kinds().
    """
    acc, complete = _collect(db, scope, flt, res, bbox, by_kind=by_kind)
    cells = _summaries(acc, res)
    cells.sort(key=lambda c: (-c.score, -c.observations, c.cell))
    legend = legend_for(cells[0].score if cells else 0)
    for rank, summary in enumerate(cells, 1):
        summary.rank = rank
        summary.colour_class = colour_class(summary.score, legend)
        summary.kinds_complete = complete
    return cells


def fill_kinds(db, scope: Scope, flt: PictureFilter, cells: list[CellSummary]) -> list[CellSummary]:
    """Counts by tension kind for these cells (of one resolution), where aggregate() left them out."""
    missing = [c for c in cells if not c.kinds_complete]
    if missing:
        acc, _complete = _collect(db, scope, flt, missing[0].res, by_kind=True, cells=[c.cell for c in missing])
        for summary in missing:
            summary.kinds = acc.get(summary.cell, [None] * 7)[6] or {}
            summary.kinds_complete = True
    return cells


def cell_summary(db, scope: Scope, flt: PictureFilter, cell: int) -> CellSummary:
    """One cell's numbers with counts by kind (the map popup); zero counts if nothing matches."""
    res = h3.get_resolution(h3.int_to_str(cell))
    acc, _complete = _collect(db, scope, flt, res, by_kind=True, cells=[cell])
    found = _summaries(acc, res)
    summary = found[0] if found else CellSummary(cell, res)
    summary.kinds_complete = True
    return summary


@dataclass(frozen=True)
class LegendEntry:
    colour_class: int
    low: int
    high: int
    colour: str


def legend_for(top_score: int) -> list[LegendEntry]:
    """Up to five colour classes splitting 1..top_score evenly (whole numbers); class n is COLOURS[n]."""
    if top_score <= 0:
        return []
    steps = min(len(COLOURS), top_score)
    highs = sorted({math.ceil(top_score * i / steps) for i in range(1, steps + 1)})
    entries, low = [], 1
    offset = len(COLOURS) - len(highs)  # few classes take the darker colours, so the top is always darkest
    for i, high in enumerate(highs):
        entries.append(LegendEntry(offset + i, low, high, COLOURS[offset + i]))
        low = high + 1
    return entries


def colour_class(score: int, legend: list[LegendEntry]) -> int:
    for entry in legend:
        if score <= entry.high:
            return entry.colour_class
    return legend[-1].colour_class if legend else 0


# ------------------------------------------------------------------------------------------ hotspots

@dataclass
class Hotspot:
    summary: CellSummary
    previous_score: int
    place: str

    @property
    def change(self) -> str:
        """rising / easing / steady / new, comparing the score with the window just before."""
        if self.previous_score == 0:
            return "new"
        ratio = self.summary.score / self.previous_score
        return "rising" if ratio >= 1.25 else ("easing" if ratio <= 0.8 else "steady")

    @property
    def change_percent(self) -> int | None:
        if self.previous_score == 0:
            return None
        return round((self.summary.score - self.previous_score) * 100 / self.previous_score)


def _places(db, scope: Scope) -> list[tuple[float, float, str]]:
    if scope.deployment:
        rows = [scope.deployment]
    else:
        rows = db.query("SELECT place_name, lat, lon FROM deployments WHERE unit_id = ? AND deleted_at IS NULL "
                        "AND lat IS NOT NULL AND place_name != ''", [scope.unit_id])
    return [(r["lat"], r["lon"], r["place_name"]) for r in rows if r.get("lat") is not None and r.get("place_name")]


def nearest_place(places: list[tuple[float, float, str]], lat: float, lon: float, within_km: float) -> str:
    """The name of the nearest deployment place within reach, or ''."""
    best, best_km = "", within_km
    for plat, plon, name in places:
        km = math.hypot((plat - lat) * 111.0, (plon - lon) * 111.0 * math.cos(math.radians(lat)))
        if km <= best_km:
            best, best_km = name, km
    return best


def hotspots(db, scope: Scope, flt: PictureFilter, res: int, limit: int = HOTSPOT_LIMIT) -> list[Hotspot]:
    """The same aggregation as the map, as rows sorted by score, with the change from the previous window."""
    cells = fill_kinds(db, scope, flt, aggregate(db, scope, flt, res)[:limit])
    if not cells:
        return []
    previous = {c.cell: c.score for c in aggregate(db, scope, flt.previous(), res)}
    places = _places(db, scope)
    reach = max(1.0, cell_size_m(res) / 1000)
    return [Hotspot(c, previous.get(c.cell, 0), nearest_place(places, *c.centre, reach)) for c in cells]


# ------------------------------------------------------------------------------------------ GeoJSON

class Polygon(msgspec.Struct, kw_only=True):
    type: Literal["Polygon"] = "Polygon"
    coordinates: list[list[tuple[float, float]]]


class Point(msgspec.Struct, kw_only=True):
    type: Literal["Point"] = "Point"
    coordinates: tuple[float, float]


class CellProperties(msgspec.Struct, kw_only=True):
    """Counts of one hexagon (no free text, no individual records)."""

    cell: str
    res: int
    rank: int
    observations: int
    score: int
    colour_class: int
    rising: int
    steady: int
    easing: int
    linked_interventions: int
    last_observation: str | None = None
    kinds: dict[str, int] | None = None  # counts by tension kind: in a cell's own answer, and for a deployment


class CellFeature(msgspec.Struct, kw_only=True):
    type: Literal["Feature"] = "Feature"
    id: str
    geometry: Polygon
    properties: CellProperties


class LegendClass(msgspec.Struct, kw_only=True):
    colour_class: int
    min_score: int
    max_score: int
    colour: str


class CellCollection(msgspec.Struct, kw_only=True):
    """Hexagon cells of the situation picture, highest score first."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[CellFeature]
    res: int
    cell_size_m: int
    window_start: str
    window_end: str
    legend: list[LegendClass]


class PartnerCellProperties(msgspec.Struct, kw_only=True):
    """What partners get: a cell and counts. No times of single observations, no text, no deployments."""

    cell: str
    res: int
    observations: int
    score: int
    kinds: dict[str, int]
    rising: int
    steady: int
    easing: int
    linked_interventions: int


class PartnerCellFeature(msgspec.Struct, kw_only=True):
    type: Literal["Feature"] = "Feature"
    id: str
    geometry: Polygon
    properties: PartnerCellProperties


class PartnerCellCollection(msgspec.Struct, kw_only=True):
    """Aggregated cells for partners (POR): counts only, never free text."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[PartnerCellFeature]
    res: int
    cell_size_m: int
    window_start: str
    window_end: str


def cell_collection(cells: list[CellSummary], flt: PictureFilter, res: int) -> CellCollection:
    """The aggregation as GeoJSON for the map."""
    legend = legend_for(cells[0].score if cells else 0)
    return CellCollection(
        features=[CellFeature(
            id=c.h3, geometry=Polygon(coordinates=[list(cell_ring(c.cell))]),
            properties=CellProperties(
                cell=c.h3, res=c.res, rank=c.rank, observations=c.observations, score=c.score,
                colour_class=c.colour_class, rising=c.rising, steady=c.steady, easing=c.easing,
                linked_interventions=c.linked, last_observation=c.last_at,
                kinds=c.kinds if c.kinds_complete else None)) for c in cells],
        res=res, cell_size_m=cell_size_m(res), window_start=iso(flt.start), window_end=iso(flt.end),
        legend=[LegendClass(colour_class=e.colour_class, min_score=e.low, max_score=e.high, colour=e.colour)
                for e in legend])


def partner_collection(cells: list[CellSummary], flt: PictureFilter, res: int) -> PartnerCellCollection:
    return PartnerCellCollection(
        features=[PartnerCellFeature(
            id=c.h3, geometry=Polygon(coordinates=[list(cell_ring(c.cell))]),
            properties=PartnerCellProperties(
                cell=c.h3, res=c.res, observations=c.observations, score=c.score, kinds=c.kinds, rising=c.rising,
                steady=c.steady, easing=c.easing, linked_interventions=c.linked)) for c in cells],
        res=res, cell_size_m=cell_size_m(res), window_start=iso(flt.start), window_end=iso(flt.end))


PARTNER_CSV_FIELDS = ["cell", "res", "observations", "score", "rising", "steady", "easing", "linked_interventions"]


def partner_csv(db, cells: list[CellSummary]) -> str:
    """Partner cells as CSV: one column per tension kind, counts only."""
    kinds = [code for code, *_ in categories.DEFAULTS["tension_kind"]]
    kinds += sorted({k for c in cells for k in c.kinds} - set(kinds))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(PARTNER_CSV_FIELDS + [f"kind_{k}" for k in kinds])
    for c in cells:
        writer.writerow([c.h3, c.res, c.observations, c.score, c.rising, c.steady, c.easing, c.linked]
                        + [c.kinds.get(k, 0) for k in kinds])
    return out.getvalue()


# -------------------------------------------------------------------------- points of a live deployment

class PointProperties(msgspec.Struct, kw_only=True):
    id: str
    kind: str
    severity: int
    trend: str
    occurred_at: str


class PointFeature(msgspec.Struct, kw_only=True):
    type: Literal["Feature"] = "Feature"
    id: str
    geometry: Point
    properties: PointProperties


class PointCollection(msgspec.Struct, kw_only=True):
    """Single observations of one live deployment (only for its lead and assigned officers)."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[PointFeature]


def points(db, scope: Scope, flt: PictureFilter) -> PointCollection:
    """The observations of a live deployment as points; Forbidden unless scope.points_allowed."""
    if not scope.points_allowed:
        raise deployments_domain.Forbidden("points are shown only for one live deployment")
    where, params = _obs_conditions(scope, flt)
    rows = db.query(f"SELECT o.tension_id, o.kind, o.severity, o.trend, o.occurred_at, o.lat, o.lon "
                    f"FROM picture_obs o WHERE {' AND '.join(where)} AND o.occurred_at >= ? AND o.occurred_at < ? "
                    "ORDER BY o.occurred_at", [*params, iso(flt.start), iso(flt.end)])
    return PointCollection(features=[PointFeature(
        id=r["tension_id"], geometry=Point(coordinates=(r["lon"], r["lat"])),
        properties=PointProperties(id=r["tension_id"], kind=r["kind"], severity=r["severity"], trend=r["trend"],
                                   occurred_at=r["occurred_at"])) for r in rows])


# --------------------------------------------------------------------------------- records of a cell

def _tension_conditions(scope: Scope, flt: PictureFilter, alias: str = "t", *,
                        window: bool = True) -> tuple[list[str], list]:
    """WHERE parts for tensions rows in scope and filter (and in the time window unless window=False)."""
    where, params = [f"{alias}.deleted_at IS NULL"], []
    if window:
        where += [f"{alias}.occurred_at >= ?", f"{alias}.occurred_at < ?"]
        params += [iso(flt.start), iso(flt.end)]
    if scope.deployment_id:
        where.append(f"{alias}.deployment_id = ?")
        params.append(scope.deployment_id)
    else:
        where.append(f"{alias}.deployment_id IN (SELECT id FROM deployments WHERE unit_id = ?)")
        params.append(scope.unit_id)
    if flt.kinds:
        where.append(f"{alias}.kind IN ({','.join('?' * len(flt.kinds))})")
        params += list(flt.kinds)
    if flt.severities:
        where.append(f"{alias}.severity IN ({','.join(str(s) for s in flt.severities)})")
    if flt.group:
        where.append(f"EXISTS (SELECT 1 FROM json_each({alias}.groups) WHERE json_each.value = ?)")
        params.append(flt.group)
    return where, params


def _intervention_conditions(scope: Scope, flt: PictureFilter) -> tuple[list[str], list]:
    """Interventions in scope and window; with tension filters, only those linked to matching tensions."""
    where = ["i.deleted_at IS NULL", "i.occurred_at >= ?", "i.occurred_at < ?"]
    params: list = [iso(flt.start), iso(flt.end)]
    if scope.deployment_id:
        where.append("i.deployment_id = ?")
        params.append(scope.deployment_id)
    else:
        where.append("i.deployment_id IN (SELECT id FROM deployments WHERE unit_id = ?)")
        params.append(scope.unit_id)
    if flt.tension_filtered:
        t_where, t_params = _tension_conditions(scope, flt, window=False)
        where.append(f"i.tension_id IN (SELECT t.id FROM tensions t WHERE {' AND '.join(t_where)})")
        params += t_params
    return where, params


@dataclass
class CellDetail:
    cell: CellSummary | None
    h3: str
    res: int
    tensions: list[dict]
    interventions: list[dict]
    more_tensions: bool
    more_interventions: bool
    place: str = ""


def cell_detail(db, user, scope: Scope, flt: PictureFilter, cell: int) -> CellDetail:
    """The observations and interventions in one cell for this filter (newest first), audited as a view."""
    res = h3.get_resolution(h3.int_to_str(cell))
    low, high = descendant_range(cell)
    where, params = _tension_conditions(scope, flt)
    tensions = [dict(r) for r in db.query(
        f"SELECT t.*, d.name AS deployment_name, u.display_name AS author FROM picture_obs o "
        f"JOIN tensions t ON t.id = o.tension_id JOIN deployments d ON d.id = t.deployment_id "
        f"LEFT JOIN users u ON u.id = t.created_by WHERE o.unit_id = ? AND o.cell BETWEEN ? AND ? AND "
        f"{' AND '.join(where)} ORDER BY t.occurred_at DESC, t.id DESC LIMIT ?",
        [scope.unit_id, low, high, *params, DETAIL_LIMIT + 1])]
    for row in tensions:
        row["groups"] = _groups_of(row["groups"])
    lat_lons = [(lat, lng) for lat, lng in h3.cell_to_boundary(h3.int_to_str(cell))]
    lats, lons = [p[0] for p in lat_lons], [p[1] for p in lat_lons]
    i_where, i_params = _intervention_conditions(scope, flt)
    linked_ids = [t["id"] for t in tensions[:DETAIL_LIMIT]]
    located = [dict(r) for r in db.query(
        f"SELECT i.*, d.name AS deployment_name, u.display_name AS author FROM interventions i "
        f"JOIN deployments d ON d.id = i.deployment_id LEFT JOIN users u ON u.id = i.created_by "
        f"WHERE {' AND '.join(i_where)} AND ((i.lat BETWEEN ? AND ? AND i.lon BETWEEN ? AND ?) "
        f"OR i.tension_id IN ({','.join('?' * len(linked_ids)) or 'NULL'})) ORDER BY i.occurred_at DESC, i.id DESC",
        [*i_params, min(lats), max(lats), min(lons), max(lons), *linked_ids])]
    interventions = [r for r in located if r["tension_id"] in linked_ids or (
        r["lat"] is not None and parent_of(cell_int(r["lat"], r["lon"]), res) == cell)]
    summary = cell_summary(db, scope, flt, cell)
    place = nearest_place(_places(db, scope), *summary.centre, max(1.0, cell_size_m(res) / 1000))
    detail = CellDetail(summary, h3.int_to_str(cell), res, tensions[:DETAIL_LIMIT], interventions[:DETAIL_LIMIT],
                        len(tensions) > DETAIL_LIMIT, len(interventions) > DETAIL_LIMIT, place)
    with write(db):
        audit.record(db, user.id, "view", "picture_cell", detail.h3, json.dumps({
            "filter": flt.query(), "tensions": [t["id"] for t in detail.tensions],
            "interventions": [i["id"] for i in detail.interventions]}, separators=(",", ":")))
    return detail


# -------------------------------------------------------------------------------------------- exports

class TensionExportProperties(msgspec.Struct, kw_only=True):
    id: str
    deployment_id: str
    deployment_name: str
    occurred_at: str
    lat: float | None
    lon: float | None
    cell: str | None
    kind: str
    severity: int
    trend: str
    basis: str
    groups: list[str]
    people_estimate: int | None
    place_name: str
    notes: str
    version: int
    updated_at: str


class TensionExportFeature(msgspec.Struct, kw_only=True):
    type: Literal["Feature"] = "Feature"
    id: str
    geometry: Point | None
    properties: TensionExportProperties


class TensionExport(msgspec.Struct, kw_only=True):
    """Tension observations matching the picture's filters (for the unit's own use; audited)."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[TensionExportFeature]
    window_start: str
    window_end: str


class InterventionExportProperties(msgspec.Struct, kw_only=True):
    id: str
    deployment_id: str
    deployment_name: str
    occurred_at: str
    lat: float | None
    lon: float | None
    kind: str
    outcome: str | None
    referral_target: str | None
    tension_id: str | None
    contact_id: str | None
    place_name: str
    notes: str
    version: int
    updated_at: str


class InterventionExportFeature(msgspec.Struct, kw_only=True):
    type: Literal["Feature"] = "Feature"
    id: str
    geometry: Point | None
    properties: InterventionExportProperties


class InterventionExport(msgspec.Struct, kw_only=True):
    """Interventions matching the picture's filters (with tension filters: those linked to matching tensions)."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[InterventionExportFeature]
    window_start: str
    window_end: str


EXPORT_FIELDS = {
    "tension": [f for f in TensionExportProperties.__struct_fields__],
    "intervention": [f for f in InterventionExportProperties.__struct_fields__],
}


def export_rows(db, user, scope: Scope, flt: PictureFilter, kind_name: str, fmt: str) -> list[dict]:
    """The tension observations or interventions matching the filter, oldest first; audited as an export."""
    if kind_name == "tension":
        where, params = _tension_conditions(scope, flt)
        rows = [dict(r) for r in db.query(
            f"SELECT t.*, d.name AS deployment_name FROM tensions t JOIN deployments d ON d.id = t.deployment_id "
            f"WHERE {' AND '.join(where)} ORDER BY t.occurred_at, t.id", params)]
        for row in rows:
            row["groups"] = _groups_of(row["groups"])
            row["cell"] = h3.latlng_to_cell(row["lat"], row["lon"], FINEST) if row["lat"] is not None else None
    else:
        where, params = _intervention_conditions(scope, flt)
        rows = [dict(r) for r in db.query(
            f"SELECT i.*, d.name AS deployment_name FROM interventions i JOIN deployments d ON d.id = i.deployment_id "
            f"WHERE {' AND '.join(where)} ORDER BY i.occurred_at, i.id", params)]
    rows = [{name: row.get(name) for name in EXPORT_FIELDS[kind_name]} for row in rows]
    with write(db):
        audit.record(db, user.id, "export", kind_name, None, json.dumps(
            {"format": fmt, "filter": flt.query(), "deployment": scope.deployment_id, "count": len(rows)},
            separators=(",", ":")))
    return rows


def export_geojson(rows: list[dict], kind_name: str, flt: PictureFilter):
    properties, feature, collection = (
        (TensionExportProperties, TensionExportFeature, TensionExport) if kind_name == "tension"
        else (InterventionExportProperties, InterventionExportFeature, InterventionExport))
    return collection(
        features=[feature(id=row["id"], properties=properties(**row),
                          geometry=Point(coordinates=(row["lon"], row["lat"])) if row["lat"] is not None else None)
                  for row in rows],
        window_start=iso(flt.start), window_end=iso(flt.end))


def _csv_safe(value) -> str:
    """Text a spreadsheet will not run as a formula."""
    if value is None:
        return ""
    if isinstance(value, list):
        value = ";".join(value)
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def export_csv(rows: list[dict], kind_name: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_FIELDS[kind_name])
    for row in rows:
        writer.writerow([_csv_safe(row[name]) for name in EXPORT_FIELDS[kind_name]])
    return out.getvalue()


def partner_cells(db, user, scope: Scope, flt: PictureFilter, res: int, fmt: str) -> list[CellSummary]:
    """Aggregated cells for partners (counts only), audited as an export."""
    cells = aggregate(db, scope, flt, res, by_kind=True)
    with write(db):
        audit.record(db, user.id, "export", "picture_cell", None, json.dumps(
            {"format": fmt, "partner": True, "res": res, "filter": flt.query(), "deployment": scope.deployment_id,
             "count": len(cells)}, separators=(",", ":")))
    return cells


# ---------------------------------------------------------------------------------------------- trends

STEPS = (timedelta(minutes=10), timedelta(minutes=30), timedelta(hours=1), timedelta(hours=6), timedelta(days=1))


@dataclass
class Series:
    """Score and observation count per time step over a window (the trend chart's data)."""

    start: datetime
    end: datetime
    step: timedelta
    points: list[tuple[datetime, int, int]]  # (step start, score, observations)

    @property
    def total(self) -> int:
        return sum(p[2] for p in self.points)


def _step_for(length: timedelta) -> timedelta:
    for step in STEPS:
        if length / step <= 48:
            return step
    return STEPS[-1]


def _floor(dt: datetime, step: timedelta) -> datetime:
    epoch = datetime(2000, 1, 3, tzinfo=timezone.utc)
    return epoch + ((dt - epoch) // step) * step


def _series(start: datetime, end: datetime, step: timedelta, values: dict[datetime, list[int]]) -> Series:
    first = _floor(start, step)
    points, at = [], first
    while at < end:
        score, n = values.get(at, (0, 0))
        points.append((at, score, n))
        at += step
    return Series(first, at, step, points)


def trend(db, scope: Scope, flt: PictureFilter, cell: int | None = None) -> Series:
    """Score over time: of a deployment (its observations) or of the unit's area or one cell (roll-ups).

    A deployment's chart spans the window clipped to the deployment's own time (an hour either side).
    """
    start, end = flt.start, flt.end
    if scope.deployment:
        start = max(start, parse(scope.deployment["starts_at"]) - timedelta(hours=1))
        end = min(end, max(start + timedelta(minutes=10), parse(scope.deployment["ends_at"]) + timedelta(hours=1)))
    step = _step_for(end - start)
    values: dict[datetime, list[int]] = {}
    if scope.deployment or step < timedelta(hours=1):
        where, params = _obs_conditions(scope, flt)
        if cell is not None:
            where.append("o.cell BETWEEN ? AND ?")
            params += list(descendant_range(cell))
        rows = db.execute(f"SELECT o.occurred_at, o.severity FROM picture_obs o WHERE {' AND '.join(where)} "
                          "AND o.occurred_at >= ? AND o.occurred_at < ?", [*params, iso(start), iso(end)])
        for occurred_at, severity in rows:
            slot = values.setdefault(_floor(parse(occurred_at), step), [0, 0])
            slot[0] += WEIGHTS[severity]
            slot[1] += 1
    else:
        span = "h" if step < timedelta(days=1) else "d"
        res = h3.get_resolution(h3.int_to_str(cell)) if cell is not None else RESOLUTIONS[0]
        parents = [parent_of(cell, PARENT_RES[res])] if cell is not None else _parents(db, scope, res, None)
        if parents:
            sql = _severity_sql(flt.severities)
            kinds = flt.kinds or ("",)
            where = ["span = ?", "res = ?", "unit_id = ?", "grp = ?", f"kind IN ({','.join('?' * len(kinds))})",
                     f"parent IN ({_ints(parents)})", "bucket >= ?", "bucket < ?"]
            length = 13 if span == "h" else 10
            params = [span, res, scope.unit_id, flt.group, *kinds, iso(start)[:length], iso(end)[:length] + "~"]
            if cell is not None:
                where.append("cell = ?")
                params.append(cell)
            rows = db.execute(f"SELECT bucket, sum({sql['score']}), sum({sql['n']}) FROM picture_rollup "
                              f"WHERE {' AND '.join(where)} GROUP BY bucket", params)
            for bucket, score, n in rows:
                at = parse(bucket + (":00:00Z" if span == "h" else "T00:00:00Z"))
                slot = values.setdefault(_floor(at, step), [0, 0])
                slot[0] += score
                slot[1] += n
    return _series(start, end, step, values)
