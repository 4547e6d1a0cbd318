"""What partners may see: the disclosure rule every partner output follows (exports, summary page, public links).

The rule (issue 14, "what partners may see"):
- never free text (notes, place names, names of deployments or people): only cells and counts;
- never exact points: h3 cells of resolution 5-9 only;
- never a count of 1-4 observations. A cell with fewer than MIN_COUNT observations is merged with the other small
  cells of its parent (one resolution coarser, repeatedly, up to resolution 5); the merged cell holds only the
  observations of those small cells, so subtracting the cells shown from it gives nothing. What is still fewer
  than MIN_COUNT at resolution 5 is shown as "fewer than 5", without a number. So that the same records asked at
  a coarser size cannot be subtracted from this answer, a parent whose small cells hold 1-4 takes in the smallest
  cells shown inside it until they hold MIN_COUNT (disclose()). Within a cell that is shown,
  counts by kind and by reported trend of 1-4 are hidden too, together with enough others that the hidden ones
  hold at least MIN_COUNT between them (so none can be worked out from the cell's total); a count of linked
  interventions of 1-4 is hidden.

Every answer is computed for one area, period and cell size. Two answers for different sizes, periods or areas
could be subtracted from each other; public links are therefore snapshots of one answer (fieldapp/public_links.py),
and every partner output is in the audit log, so what was given to whom can be reviewed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import h3
import msgspec

from fieldapp.clock import iso
from fieldapp.picture.aggregation import CellSummary, aggregate
from fieldapp.picture.cells import RESOLUTIONS, cell_size_m, descendant_range, parent_of
from fieldapp.picture.filters import PictureFilter, Scope

MIN_COUNT = 5
COARSEST = RESOLUTIONS[0]


@dataclass
class DisclosedCell:
    """One cell as partners see it: counts of MIN_COUNT or more (or 0); None for a count not shown (see protect)."""

    cell: int
    res: int
    observations: int | None  # None: fewer than MIN_COUNT in all (a "fewer than 5" area, at resolution 5)
    score: int | None
    kinds: dict[str, int | None]
    trends: dict[str, int | None]  # reported trend: rising, steady, easing
    linked: int | None
    merged: bool = False  # holds the small cells of its area that are not shown on their own
    members: list[int] = field(default_factory=list)  # the cells (of the asked size) counted here

    @property
    def h3(self) -> str:
        return h3.int_to_str(self.cell)

    @property
    def withheld(self) -> bool:
        return self.observations is None


def protect(counts: dict[str, int]) -> dict[str, int | None]:
    """Counts of one cell by kind or by trend with every count of 1-4 hidden (None), and as many of the smallest
    others as it takes for the hidden ones to hold MIN_COUNT or more together; zeros are left out."""
    values = {k: v for k, v in counts.items() if v}
    hidden = {k for k, v in values.items() if v < MIN_COUNT}
    if hidden:
        rest = sorted((v, k) for k, v in values.items() if k not in hidden)
        while sum(values[k] for k in hidden) < MIN_COUNT and rest:
            hidden.add(rest.pop(0)[1])
    return {k: (None if k in hidden else v) for k, v in sorted(values.items())}


def _threshold(value: int) -> int | None:
    return None if 0 < value < MIN_COUNT else value


@dataclass
class _Pool:
    """Small cells being merged: summed counts and which cells they were."""

    cell: int
    res: int
    n: int = 0
    score: int = 0
    rising: int = 0
    easing: int = 0
    linked: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    members: list[int] = field(default_factory=list)

    def add(self, other: "_Pool") -> None:
        self.n += other.n
        self.score += other.score
        self.rising += other.rising
        self.easing += other.easing
        self.linked += other.linked
        for kind, n in other.kinds.items():
            self.kinds[kind] = self.kinds.get(kind, 0) + n
        self.members += other.members


def _pool_of(c: CellSummary) -> _Pool:
    return _Pool(c.cell, c.res, c.observations, c.score, c.rising, c.easing, c.linked, dict(c.kinds), [c.cell])


def _shown(pool: _Pool, merged: bool) -> DisclosedCell:
    trends = {"rising": pool.rising, "steady": pool.n - pool.rising - pool.easing, "easing": pool.easing}
    return DisclosedCell(pool.cell, pool.res, pool.n, pool.score, protect(pool.kinds), protect(trends),
                         _threshold(pool.linked), merged, sorted(pool.members))


def disclose(cells: list[CellSummary]) -> list[DisclosedCell]:
    """The rule applied to cells of one resolution (with their counts by kind): cells of MIN_COUNT or more as they
    are, the small ones merged into coarser cells, what stays small at resolution 5 withheld (no numbers).

    Consistent with the same records asked at a coarser cell size: the part of any coarser cell that is not shown
    inside it is 0 or MIN_COUNT and more, unless nothing inside it is shown (then it is withheld whole). Where the
    small cells of a parent hold 1-4, the smallest cells shown inside that parent are merged with them until they
    hold MIN_COUNT (otherwise the parent's count at the coarser size, less what is shown here, would be 1-4).

    Order: cells shown (the asked size first, then merged ones), highest score first; the withheld last."""
    shown: list[tuple[_Pool, bool]] = []  # (counts, merged)
    small: list[_Pool] = []
    for c in cells:
        if c.observations >= MIN_COUNT:
            shown.append((_pool_of(c), False))
        elif c.observations > 0:
            small.append(_pool_of(c))
    res = cells[0].res if cells else COARSEST
    while small and res > COARSEST:
        res -= 1
        parents: dict[int, _Pool] = {}
        for pool in small:
            parent = parent_of(pool.cell, res)
            parents.setdefault(parent, _Pool(parent, res)).add(pool)
        inside: dict[int, list[tuple[_Pool, bool]]] = {}
        for entry in shown:
            if entry[0].res > res:
                inside.setdefault(parent_of(entry[0].cell, res), []).append(entry)
        small = []
        for pool in parents.values():
            below = sorted(inside.get(pool.cell, []), key=lambda e: (e[0].n, e[0].cell))
            while pool.n < MIN_COUNT and below:  # the parent's remainder must not be 1-4
                entry = below.pop(0)
                shown.remove(entry)
                pool.add(entry[0])
            if pool.n >= MIN_COUNT:
                shown.append((pool, True))
            else:
                small.append(pool)
    disclosed = [_shown(pool, merged) for pool, merged in shown]
    disclosed.sort(key=lambda d: (d.merged, -d.res if d.merged else 0, -(d.score or 0), d.cell))
    withheld = [DisclosedCell(p.cell, p.res, None, None, {}, {}, None, True, sorted(p.members))
                for p in sorted(small, key=lambda p: p.cell)]
    return disclosed + withheld


def in_area(cells: list[CellSummary], area: int | None) -> list[CellSummary]:
    """The cells inside an area cell of their resolution or coarser (its descendants); all when area is None."""
    if area is None or not cells:
        return cells
    low, high = descendant_range(area, cells[0].res)
    return [c for c in cells if low <= c.cell <= high]


def _res(cell: int) -> int:
    return h3.get_resolution(h3.int_to_str(cell))


def partner_view(db, scope: Scope, flt: PictureFilter, res: int, area: int | None = None) -> list[DisclosedCell]:
    """The disclosed cells of a scope, filter and resolution (optionally only inside an area cell)."""
    if area is not None and _res(area) > res:
        area = parent_of(area, res)
    return disclose(in_area(aggregate(db, scope, flt, res, by_kind=True), area))


# ------------------------------------------------------------------------------------------- the summary


class SummaryCell(msgspec.Struct, kw_only=True):
    """A cell of the partner summary; None is "fewer than 5" (never a number below MIN_COUNT)."""

    cell: str
    res: int
    size_m: int
    lat: float  # the cell's centre (3 decimals), never a place where something was seen
    lon: float
    observations: int | None
    score: int | None
    kinds: dict[str, int | None]
    trends: dict[str, int | None]
    linked_interventions: int | None
    merged: bool
    change: str | None  # compared with the period of the same length just before: rising, steady, easing, new


class PublicMeasure(msgspec.Struct, kw_only=True):
    """An agreed measure of an open problem, as written for partners."""

    what: str
    state: str  # a code of the problems module (shown through the category list "measure_state", else as it is)
    due: str | None = None


class PublicProblem(msgspec.Struct, kw_only=True):
    """An open POR problem's public title and measures (written for partners, never a record's notes)."""

    title: str
    measures: list[PublicMeasure] = []


class PartnerSummary(msgspec.Struct, kw_only=True):
    """What a partner sees of an area and period (the page, and the snapshot a public link keeps)."""

    start: str
    end: str
    res: int
    size_m: int
    area: str | None
    cells: list[SummaryCell]
    withheld_areas: int  # areas with fewer than 5 observations, not shown on their own
    observations_shown: int
    change: str | None  # of the cells shown together
    problems: list[PublicProblem]
    unit: str = ""  # the police unit's name (who shares this)


def change_between(score: int, previous: int) -> str | None:
    """rising / steady / easing / new by the same ratios as the hotspot list; None when nothing now."""
    if not score:
        return None
    if previous == 0:
        return "new"
    ratio = score / previous
    return "rising" if ratio >= 1.25 else ("easing" if ratio <= 0.8 else "steady")


def open_problems_for_partners(db, unit_id: str, area: int | None, start: str, end: str) -> list[PublicProblem]:
    """No problems: the default for a caller without the POR problems module (fieldapp/problems.py for_partners is
    what the partner summary pages pass: the picture package cannot import it, problems builds on the picture)."""
    return []


def summarise(db, scope: Scope, flt: PictureFilter, res: int, area: int | None = None,
              problems=None) -> PartnerSummary:
    """The partner summary of an area (a unit, or one cell of it) and period: disclosed cells with the change from
    the period before, and the open problems (problems: the hook above)."""
    if area is not None and _res(area) > res:
        area = parent_of(area, res)
    disclosed = partner_view(db, scope, flt, res, area)
    previous = {c.cell: c.score for c in aggregate(db, scope, flt.previous(), res)}
    shown = [d for d in disclosed if not d.withheld]
    cells = [SummaryCell(
        cell=d.h3, res=d.res, size_m=cell_size_m(d.res), lat=round(h3.cell_to_latlng(d.h3)[0], 3),
        lon=round(h3.cell_to_latlng(d.h3)[1], 3), observations=d.observations, score=d.score, kinds=d.kinds,
        trends=d.trends, linked_interventions=d.linked, merged=d.merged,
        change=change_between(d.score or 0, sum(previous.get(m, 0) for m in d.members))) for d in shown]
    score_now = sum(d.score or 0 for d in shown)
    score_before = sum(previous.get(m, 0) for d in shown for m in d.members)
    area_h3 = h3.int_to_str(area) if area is not None else None
    unit = db.execute("SELECT name FROM units WHERE id = ?", [scope.unit_id]).fetchone()
    return PartnerSummary(
        start=iso(flt.start), end=iso(flt.end), res=res, size_m=cell_size_m(res), area=area_h3, cells=cells,
        withheld_areas=len(disclosed) - len(shown), observations_shown=sum(d.observations or 0 for d in shown),
        change=change_between(score_now, score_before), unit=unit[0] if unit else "",
        problems=list((problems or open_problems_for_partners)(db, scope.unit_id, area, iso(flt.start), iso(flt.end))))

