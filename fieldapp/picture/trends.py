"""Trends: score over time per deployment, per area and per cell (the data of the server-drawn chart)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import h3

from fieldapp.clock import iso, parse
from fieldapp.picture.aggregation import _ints, _obs_conditions, _parents, _severity_sql
from fieldapp.picture.cells import PARENT_RES, RESOLUTIONS, WEIGHTS, descendant_range, parent_of
from fieldapp.picture.filters import PictureFilter, Scope

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
    start = _floor(start, step)  # whole steps: the first one may reach back before the window
    values: dict[datetime, list[int]] = {}
    if scope.deployment or step < timedelta(hours=1) or flt.motive:  # no roll-up counts by motive
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
