"""A lead's "needs action" page: what needs a lead now, one section per concern, each from its own area.

A section is a function (db, user, now) -> Section; SECTIONS lists them in the page's order. The page (routes/
needs_action.py) shows every section of SECTIONS with its own partial, so another area adds its section (problems
due for review, measures past their date: fieldapp/por problems) with one function and one line here, and a
partial `partials/needs_action/_<key>.html`. No web imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from fieldapp import followups, picture, problems
from fieldapp.accounts import User
from fieldapp.clock import utcnow
from fieldapp.i18n import lazy

HOTSPOT_RES = 8  # cells about 0.9 km across, as the hotspot alert rule uses
HOTSPOT_WINDOW = "7d"  # this week against the week before
HOTSPOT_CHANGES = ("rising", "new", "back")
ITEMS_SHOWN = 5  # per section; a link leads to the whole list


@dataclass
class Section:
    """One concern on the page: its key (the partial is partials/needs_action/_<key>.html), title and rows."""

    key: str
    title: str
    items: list = field(default_factory=list)
    total: int = 0  # how many there are (items may show fewer)


def overdue_followups(db, user: User, now: datetime) -> Section:
    """Open follow-ups of the unit whose due day has passed, the oldest first."""
    return Section("overdue_followups", lazy("Overdue follow-ups"), followups.overdue(db, user, limit=ITEMS_SHOWN, now=now),
                   followups.count_overdue(db, user, now))


def rising_hotspots(db, user: User, now: datetime) -> Section:
    """Cells of the unit whose tension score rose this week against the week before (or that are new or back) and
    that no open POR problem covers yet: one already being worked on does not need the lead again."""
    flt = picture.parse_filter(db, {"window": HOTSPOT_WINDOW}, now=now)
    open_cells = problems.open_problem_cells(db, user.unit_id)
    rows = [h for h in picture.hotspots(db, picture.Scope(user.unit_id), flt, HOTSPOT_RES)
            if h.change in HOTSPOT_CHANGES and not problems.problems_for_cell(open_cells, h.summary.h3)]
    return Section("rising_hotspots", lazy("Hotspots rising with no problem"), rows[:ITEMS_SHOWN], len(rows))


def problems_due(db, user: User, now: datetime) -> Section:
    """Open POR problems of the unit whose review date is today or past."""
    rows = problems.problems_due_for_review(db, user.unit_id, followups.today(now))
    return Section("problems_due", lazy("Problems due for review"), rows[:ITEMS_SHOWN], len(rows))


def measures_overdue(db, user: User, now: datetime) -> Section:
    """Agreed or ongoing measures of open problems whose date has passed."""
    rows = problems.measures_overdue(db, user.unit_id, followups.today(now))
    return Section("measures_overdue", lazy("Measures past their date"), rows[:ITEMS_SHOWN], len(rows))


# The page's sections, in order.
SECTIONS = [overdue_followups, rising_hotspots, problems_due, measures_overdue]


def sections(db, user: User, now: datetime | None = None) -> list[Section]:
    """Every section for a lead of a unit (nobody else has this page)."""
    if user.role != "lead" or not user.unit_id:
        return []
    now = now or utcnow()
    return [section(db, user, now) for section in SECTIONS]


def total(found: list[Section]) -> int:
    return sum(section.total for section in found)
