"""Aggregation: the cells of a window and filter, their colour classes, and the hotspot list."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

import h3

from fieldapp.clock import iso
from fieldapp.picture.cells import (COLOURS, EASING, PARENT_RES, RESOLUTIONS, RISING, WEIGHTS, cell_size_m,
                                    parent_masks, parent_of)
from fieldapp.picture.filters import PictureFilter, Scope

HOTSPOT_LIMIT = 50


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
    more, more_params = filter_conditions(flt, alias)
    return where + more, params + more_params


def filter_conditions(flt: PictureFilter, alias: str, table: str = "picture_obs") -> tuple[list[str], list]:
    """WHERE parts for the tension filters (kind, severity, group, motive) on rows of picture_obs or tensions."""
    where: list[str] = []
    params: list = []
    if flt.kinds:
        where.append(f"{alias}.kind IN ({','.join('?' * len(flt.kinds))})")
        params += list(flt.kinds)
    if flt.severities:
        where.append(f"{alias}.severity IN ({','.join(str(s) for s in flt.severities)})")
    if flt.group:
        where.append(f"EXISTS (SELECT 1 FROM json_each({alias}.groups) WHERE json_each.value = ?)")
        params.append(flt.group)
    if flt.motive:  # picture_obs has no motives: read from the observation itself
        motives = f"{alias}.motives" if table == "tensions" else \
            f"(SELECT mt.motives FROM tensions mt WHERE mt.id = {alias}.tension_id)"
        where.append(f"EXISTS (SELECT 1 FROM json_each({motives}) mj WHERE mj.value = ?)")
        params.append(flt.motive)
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
    group_by = "cell, kind" if kinds else "cell"  # the all-kinds rows have one kind ('') per cell
    return db.execute(
        f"SELECT cell, kind, sum({sql['n']}), sum({sql['score']}), sum({sql['up']}), sum({sql['down']}), "
        f"sum({sql['ln']}), max(CASE WHEN {sql['n']} > 0 THEN last_at END) FROM picture_rollup "
        f"WHERE {' AND '.join(where)} GROUP BY {group_by}", params)


def _merge(acc: dict, rows, keep_kinds: bool) -> None:
    """Add grouped rows into acc: {cell: [n, score, up, down, linked, last, kinds]} (the hot loop of a map)."""
    get = acc.get
    for cell, kind, n, score, up, down, ln, last_at in rows:
        if not n:
            continue
        entry = get(cell)
        if entry is None:
            acc[cell] = [n, score, up, down, ln, last_at, {kind: n} if keep_kinds else {}]
            continue
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
    if scope.deployment_id or flt.motive:  # one deployment's few observations, or a motive (no roll-up has it)
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


# A cell with nothing in the previous window is "new" only if nothing was seen there for this long before it.
QUIET_BEFORE_NEW = timedelta(days=90)
# How far a cell may be from a deployment's place and still be named after it ("600 m north-east of ...").
PLACE_REACH_KM = 3.0
DIRECTIONS = ("north", "north-east", "east", "south-east", "south", "south-west", "west", "north-west")


@dataclass(frozen=True)
class PlaceNear:
    """The named place nearest to a point: its name, how far (m) and in which direction the point lies from it."""

    name: str
    metres: int
    direction: str


@dataclass
class Hotspot:
    summary: CellSummary
    previous_score: int
    place: str
    near: PlaceNear | None = None
    seen_before: bool = False  # observations in the cell before the previous window (within QUIET_BEFORE_NEW)

    @property
    def change(self) -> str:
        """rising / easing / steady, comparing the score with the window of the same length just before;
        back (nothing in that window, but earlier) or new (nothing in QUIET_BEFORE_NEW before this window)."""
        if self.previous_score == 0:
            return "back" if self.seen_before else "new"
        ratio = self.summary.score / self.previous_score
        return "rising" if ratio >= 1.25 else ("easing" if ratio <= 0.8 else "steady")

    @property
    def quiet_days(self) -> int:
        return QUIET_BEFORE_NEW.days

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


def place_near(places: list[tuple[float, float, str]], lat: float, lon: float, within_km: float) -> PlaceNear | None:
    """The nearest named place within reach, with the distance and direction from it to the point, or None."""
    best, best_km = None, within_km
    for plat, plon, name in places:
        north_km = (lat - plat) * 111.0
        east_km = (lon - plon) * 111.0 * math.cos(math.radians(lat))
        km = math.hypot(north_km, east_km)
        if km <= best_km:
            bearing = math.degrees(math.atan2(east_km, north_km)) % 360
            best, best_km = PlaceNear(name, int(round(km * 1000)), DIRECTIONS[int((bearing + 22.5) // 45) % 8]), km
    return best


def nearest_place(places: list[tuple[float, float, str]], lat: float, lon: float, within_km: float) -> str:
    """The name of the nearest deployment place within reach, or ''."""
    near = place_near(places, lat, lon, within_km)
    return near.name if near else ""


def _seen_before(db, scope: Scope, flt: PictureFilter, res: int, cells: list[int]) -> set[int]:
    """Which of these cells had observations in the QUIET_BEFORE_NEW before the previous window."""
    earlier = flt.previous()
    lookback = replace(earlier, start=flt.start - QUIET_BEFORE_NEW, end=earlier.start)
    if not cells or lookback.start >= lookback.end:
        return set()
    acc, _complete = _collect(db, scope, lookback, res, cells=cells)
    return {cell for cell, entry in acc.items() if entry[0]}


def hotspots(db, scope: Scope, flt: PictureFilter, res: int, limit: int = HOTSPOT_LIMIT) -> list[Hotspot]:
    """The same aggregation as the map, as rows sorted by score, with the change from the previous window
    (of the same length) and the nearest named place."""
    cells = fill_kinds(db, scope, flt, aggregate(db, scope, flt, res)[:limit])
    if not cells:
        return []
    previous = {c.cell: c.score for c in aggregate(db, scope, flt.previous(), res)}
    seen = _seen_before(db, scope, flt, res, [c.cell for c in cells if not previous.get(c.cell)])
    places = _places(db, scope)
    reach = max(PLACE_REACH_KM, cell_size_m(res) / 1000)
    rows = []
    for c in cells:
        near = place_near(places, *c.centre, reach)
        rows.append(Hotspot(c, previous.get(c.cell, 0), near.name if near else "", near, c.cell in seen))
    return rows
