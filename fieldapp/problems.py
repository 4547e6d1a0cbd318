"""POR problems: a local problem a unit works on with partners, from opening to its outcome.

A problem has a title, an area (h3 map cells of the situation picture and/or a named place), the field records
that show it (links to tensions, contacts and interventions, counted live: a deleted record no longer counts),
the partners working on it (partners.py), agreed measures (what, who, by when, state), a review date and, once
closed, an outcome (better / no change / worse) with its area's tension before and after from the picture's
roll-ups. It is opened by hand, from a hotspot (the cell and its records of the picture's window) or from a
deployment (its records and place).

History: like field records, problem_versions keeps the previous versions (a snapshot of the whole problem,
with cells, links, partners and measures) and the row is the current one; every change has its audit row.

Who: leads and administrators of the unit, and officers a lead allows (problem_openers), open and edit; every
field role of the unit reads; anyone else gets NotFound, as for records. No web imports.

For other areas: problems_due_for_review(), measures_overdue(), open_problem_cells() / has_open_problem() and
public_summary() (a lead's public title and public measures only, never other free text).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import h3

from fieldapp import access, audit, partners, picture
from fieldapp.accounts import User
from fieldapp.clock import iso, now_iso, parse, utcnow
from fieldapp.db import one, write
from fieldapp.errors import Forbidden, NotFound
from fieldapp.i18n import gettext as _
from fieldapp.ids import is_valid_id, new_id
from fieldapp.personal_ids import find_identity_codes
from fieldapp.picture import aggregation
from fieldapp.text import clean

READ_ROLES = ("officer", "staff", "lead", "admin")
EDIT_ROLES = ("lead", "admin")
RECORD_TABLES = {"tension": "tensions", "contact": "contacts", "intervention": "interventions"}
OUTCOMES = ("better", "no_change", "worse")
MEASURE_STATES = ("agreed", "in_progress", "done", "dropped")
OPEN_MEASURE_STATES = ("agreed", "in_progress")
ORIGINS = ("hotspot", "deployment", "manual")
TREND_DAYS = 30  # the area's tension is compared over this many days before opening and before closing
MAX_CELLS = 50
LIMITS = {"title": 200, "place_name": 200, "description": 4000, "public_title": 200}
MEASURE_LIMITS = {"what": 500, "who": 200}


class ProblemInvalid(ValueError):
    """Values that cannot be stored: field -> translated message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(errors)
        self.errors = errors


# ------------------------------------------------------------------------------------------ who


def may_read(user: User) -> bool:
    return user.role in READ_ROLES and user.unit_id is not None


def is_allowed_officer(db, user: User) -> bool:
    return db.execute("SELECT 1 FROM problem_openers WHERE user_id = ?", [user.id]).fetchone() is not None


def may_edit(db, user: User) -> bool:
    """Leads and administrators of a unit, and officers a lead allowed."""
    if user.unit_id is None:
        return False
    return user.role in EDIT_ROLES or (user.role == "officer" and is_allowed_officer(db, user))


def openers(db, unit_id: str) -> list[dict]:
    """The unit's officers, each with whether a lead allowed them to open problems."""
    return list(db.query("SELECT u.id, u.username, u.display_name, (o.user_id IS NOT NULL) AS allowed FROM users u "
                         "LEFT JOIN problem_openers o ON o.user_id = u.id WHERE u.unit_id = ? AND u.role = 'officer' "
                         "AND u.active = 1 ORDER BY u.display_name, u.username", [unit_id]))


def set_opener(db, lead: User, user_id: str, allowed: bool) -> None:
    """A lead allows (or no longer allows) an officer of the unit to open and edit problems; audited."""
    if lead.role != "lead" or lead.unit_id is None:
        raise Forbidden("problem_openers")
    officer = one(db, "SELECT id FROM users WHERE id = ? AND unit_id = ? AND role = 'officer'",
                  [user_id, lead.unit_id]) if is_valid_id(user_id) else None
    if officer is None:
        raise NotFound(user_id)
    with write(db):
        if allowed:
            db.execute("INSERT OR IGNORE INTO problem_openers (user_id, granted_by, granted_at) VALUES (?, ?, ?)",
                       [user_id, lead.id, now_iso()])
        else:
            db.execute("DELETE FROM problem_openers WHERE user_id = ?", [user_id])
        audit.record(db, lead.id, "allow_problems" if allowed else "disallow_problems", "user", user_id)


# ------------------------------------------------------------------------------------------ reading


def _decode(row: dict | None) -> dict | None:
    if row is None:
        return None
    out = dict(row)
    for name in ("trend_before", "trend_after"):
        out[name] = json.loads(out[name]) if out[name] else None
    return out


def get(db, user: User, problem_id: str) -> dict:
    """A problem of the user's unit with its cells, partners and measures; NotFound otherwise (other units,
    unknown ids and roles without access alike)."""
    row = one(db, "SELECT * FROM problems WHERE id = ?", [problem_id]) if is_valid_id(problem_id) else None
    if row is None or not may_read(user) or row["unit_id"] != user.unit_id:
        raise NotFound(problem_id)
    return load(db, row)


def load(db, row: dict) -> dict:
    """A problem row with its cells, partner ids, measures and live record counts."""
    problem = _decode(row)
    problem["cells"] = [r[0] for r in db.execute("SELECT cell FROM problem_cells WHERE problem_id = ? ORDER BY cell",
                                                  [problem["id"]])]
    problem["partner_ids"] = [r[0] for r in db.execute(
        "SELECT partner_id FROM problem_partners WHERE problem_id = ? ORDER BY partner_id", [problem["id"]])]
    problem["measures"] = list(db.query("SELECT * FROM problem_measures WHERE problem_id = ? "
                                        "ORDER BY due_date IS NULL, due_date, created_at, id", [problem["id"]]))
    problem["record_counts"] = record_counts(db, problem["id"])
    return problem


def cell_places(db, unit_id: str, cells: list[str]) -> list[tuple[str, object]]:
    """Each cell with the nearest named place of the unit's deployments (distance and direction from it), or None:
    a person reads "600 m north-east of Kontula", never a cell id (as on the hotspot list)."""
    places = aggregation._places(db, picture.Scope(unit_id))
    found = []
    for cell in cells:
        reach = max(aggregation.PLACE_REACH_KM, picture.cell_size_m(_cell_res(cell)) / 1000)
        found.append((cell, aggregation.place_near(places, *h3.cell_to_latlng(cell), reach)))
    return found


def record_counts(db, problem_id: str) -> dict[str, int]:
    """Linked records per kind, counted live (deleted records no longer count)."""
    counts = {}
    for kind, table in RECORD_TABLES.items():
        counts[kind] = db.execute(f"SELECT count(*) FROM problem_records l JOIN {table} r ON r.id = l.record_id "
                                  "WHERE l.problem_id = ? AND l.record_type = ? AND r.deleted_at IS NULL",
                                  [problem_id, kind]).fetchone()[0]
    return counts


def linked_records(db, user: User, problem_id: str) -> list[dict]:
    """The linked records this user may open (by time, newest first): kind, id, time, place, deployment name."""
    where, params = access.visible_sql(user, "d")
    rows = []
    for kind, table in RECORD_TABLES.items():
        rows += [{**r, "record_type": kind} for r in db.query(
            f"SELECT r.id, r.occurred_at, r.place_name, d.name AS deployment_name FROM problem_records l "
            f"JOIN {table} r ON r.id = l.record_id JOIN deployments d ON d.id = r.deployment_id "
            f"WHERE l.problem_id = :problem AND l.record_type = :kind AND r.deleted_at IS NULL AND {where}",
            {**params, "problem": problem_id, "kind": kind})]
    return sorted(rows, key=lambda r: r["occurred_at"], reverse=True)


def for_unit(db, unit_id: str, state: str | None = None) -> list[dict]:
    """The unit's problems (open ones first, then by review date), with their record counts."""
    sql = "SELECT * FROM problems WHERE unit_id = ?"
    params: list = [unit_id]
    if state:
        sql += " AND state = ?"
        params.append(state)
    sql += " ORDER BY state = 'closed', review_date IS NULL, review_date, updated_at DESC"
    return [load(db, row) for row in db.query(sql, params)]


def history(db, problem_id: str) -> list[dict]:
    """Every version, newest first: the current row and the previous versions (snapshots)."""
    current = one(db, "SELECT version, updated_by AS changed_by, updated_at AS changed_at FROM problems "
                      "WHERE id = ?", [problem_id])
    rows = [dict(r) for r in db.query("SELECT version, changed_by, changed_at, data FROM problem_versions "
                                      "WHERE problem_id = ? ORDER BY version DESC", [problem_id])]
    for row in rows:
        row["data"] = json.loads(row["data"])
    versions = ([{**current, "data": None, "current": True}] if current else []) + rows
    names = {r["id"]: r["display_name"] or r["username"] for r in db.query("SELECT id, username, display_name FROM users")}
    for row in versions:
        row["changed_by_name"] = names.get(row["changed_by"], "")
    return versions


# ------------------------------------------------------------------------------------------ the area


def _cell_res(cell: str) -> int:
    return h3.get_resolution(cell)


def parse_cells(texts) -> list[str]:
    """Served picture cells (resolution 5-9) from their h3 text; ProblemInvalid for anything else."""
    cells = []
    for text in texts:
        text = (text or "").strip()
        if not text:
            continue
        try:
            picture.parse_cell(text)
        except picture.FilterInvalid:
            raise ProblemInvalid({"cells": _("This map cell is not valid.")}) from None
        if text not in cells:
            cells.append(text)
    if len(cells) > MAX_CELLS:
        raise ProblemInvalid({"cells": _("At most %(n)s map cells.", n=MAX_CELLS)})
    return cells


def _overlaps(a: str, b: str) -> bool:
    """Whether two cells overlap: one is the other or an ancestor of it."""
    ra, rb = _cell_res(a), _cell_res(b)
    if ra == rb:
        return a == b
    fine, coarse = (a, b) if ra > rb else (b, a)
    return h3.cell_to_parent(fine, min(ra, rb)) == coarse


def open_problem_cells(db, unit_id: str) -> dict[str, list[dict]]:
    """The cells of the unit's open problems: h3 text -> [{id, title}] (for the hotspot list and the map)."""
    found: dict[str, list[dict]] = {}
    for row in db.query("SELECT c.cell, p.id, p.title FROM problem_cells c JOIN problems p ON p.id = c.problem_id "
                        "WHERE p.unit_id = ? AND p.state = 'open' ORDER BY p.opened_at", [unit_id]):
        found.setdefault(row["cell"], []).append({"id": row["id"], "title": row["title"]})
    return found


def problems_for_cell(open_cells: dict[str, list[dict]], cell: str) -> list[dict]:
    """The open problems (from open_problem_cells) whose area overlaps this cell at any resolution."""
    seen, result = set(), []
    for other, found in open_cells.items():
        if _overlaps(other, cell):
            for problem in found:
                if problem["id"] not in seen:
                    seen.add(problem["id"])
                    result.append(problem)
    return result


def has_open_problem(db, unit_id: str, cell: str) -> bool:
    """Whether an open problem of the unit already covers (overlaps) this hotspot cell."""
    return bool(problems_for_cell(open_problem_cells(db, unit_id), cell))


def _window_filter(start: datetime, end: datetime) -> picture.PictureFilter:
    return picture.PictureFilter(start=start, end=end, window="custom", live=False)


def area_tension(db, unit_id: str, cells: list[str], start: datetime, end: datetime) -> dict:
    """The area's tension in [start, end) from the picture's roll-ups: observations, score and reported rising /
    easing, summed over its cells (cells of one problem do not overlap more than once: the finer ones inside a
    coarser one of the same problem are left out)."""
    kept = [c for c in cells if not any(o != c and _overlaps(o, c) and _cell_res(o) < _cell_res(c) for o in cells)]
    scope, flt = picture.Scope(unit_id), _window_filter(start, end)
    total = {"start": iso(start), "end": iso(end), "observations": 0, "score": 0, "rising": 0, "easing": 0}
    for cell in kept:
        summary = picture.cell_summary(db, scope, flt, h3.str_to_int(cell))
        for name in ("observations", "score", "rising", "easing"):
            total[name] += getattr(summary, name)
    return total


def trend_change(before: dict | None, after: dict | None) -> int | None:
    """The score's change in percent from before to after (None when there was nothing before)."""
    if not before or not after or before["score"] == 0:
        return None
    return round((after["score"] - before["score"]) * 100 / before["score"])


# ------------------------------------------------------------------------------------------ records to link


def hotspot_records(db, unit_id: str, cell: str, start: datetime, end: datetime) -> list[tuple[str, str]]:
    """(kind, id) of the records of a hotspot cell in a window: its tension observations (the picture's), the
    interventions linked to them or placed in it, and the contacts placed in it."""
    cell_int = picture.parse_cell(cell)
    res = _cell_res(cell)
    low, high = picture.descendant_range(cell_int)
    window = [iso(start), iso(end)]
    tensions = [r[0] for r in db.execute(
        "SELECT tension_id FROM picture_obs WHERE unit_id = ? AND cell BETWEEN ? AND ? AND occurred_at >= ? "
        "AND occurred_at < ? ORDER BY occurred_at", [unit_id, low, high, *window])]
    found = [("tension", t) for t in tensions]
    seen = set(tensions)
    for kind, table in (("intervention", "interventions"), ("contact", "contacts")):
        for row in db.query(
                f"SELECT r.id, r.lat, r.lon, {'r.tension_id' if kind == 'intervention' else 'NULL AS tension_id'} "
                f"FROM {table} r JOIN deployments d ON d.id = r.deployment_id WHERE d.unit_id = ? "
                "AND r.deleted_at IS NULL AND r.occurred_at >= ? AND r.occurred_at < ? ORDER BY r.occurred_at",
                [unit_id, *window]):
            inside = row["lat"] is not None and picture.cell_int(row["lat"], row["lon"], res) == cell_int
            if (inside or row["tension_id"] in seen) and row["id"] not in seen:
                seen.add(row["id"])
                found.append((kind, row["id"]))
    return found


def deployment_records(db, deployment_id: str) -> list[tuple[str, str]]:
    """(kind, id) of a deployment's records."""
    found = []
    for kind, table in RECORD_TABLES.items():
        found += [(kind, r[0]) for r in db.execute(
            f"SELECT id FROM {table} WHERE deployment_id = ? AND deleted_at IS NULL ORDER BY occurred_at",
            [deployment_id])]
    return found


# ------------------------------------------------------------------------------------------ writing


def _text_values(raw: dict, limits: dict, errors: dict) -> dict:
    values = {}
    for name, limit in limits.items():
        value = raw.get(name, "")
        value = clean(value.strip()) if isinstance(value, str) else ""
        if len(value) > limit:
            errors[name] = _("At most %(n)s characters.", n=limit)
        elif find_identity_codes(value):
            errors[name] = _("Remove the personal identity code: these records must not identify people.")
        values[name] = value
    return values


def _date(raw: dict, name: str, errors: dict) -> str | None:
    text = raw.get(name) or ""
    text = text.strip() if isinstance(text, str) else ""
    if not text:
        return None
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        errors[name] = _("Enter a date.")
        return None


def _as_list(value) -> list[str]:
    if value is None:
        return []
    return [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)]


def validate(db, user: User, raw: dict) -> dict:
    """Checked values of the problem form: texts, review date, cells, partner ids, or ProblemInvalid."""
    errors: dict[str, str] = {}
    values = _text_values(raw, LIMITS, errors)
    if not values["title"] and "title" not in errors:
        errors["title"] = _("This field is required.")
    values["review_date"] = _date(raw, "review_date", errors)
    try:
        cells_raw = [part for text in _as_list(raw.get("cells")) for part in text.replace(",", " ").split()]
        values["cells"] = parse_cells(cells_raw)
    except ProblemInvalid as exc:
        errors.update(exc.errors)
        values["cells"] = []
    if not values["cells"] and not values["place_name"] and "cells" not in errors and "place_name" not in errors:
        errors["place_name"] = _("Give the area: a named place or map cells.")
    partner_ids = sorted(set(_as_list(raw.get("partner_ids"))))
    if len(partners.by_ids(db, user.unit_id, partner_ids)) != len(partner_ids):
        errors["partner_ids"] = _("Choose a value from the list.")
    values["partner_ids"] = partner_ids
    if errors:
        raise ProblemInvalid(errors)
    return values


def _snapshot(db, problem_id: str) -> None:
    """Keep the version about to be replaced (the whole problem, with cells, partners, measures and links)."""
    row = one(db, "SELECT * FROM problems WHERE id = ?", [problem_id])
    data = load(db, row)
    data["records"] = [list(r) for r in db.execute(
        "SELECT record_type, record_id FROM problem_records WHERE problem_id = ? ORDER BY record_type, record_id",
        [problem_id])]
    data.pop("record_counts", None)
    db.execute("INSERT OR REPLACE INTO problem_versions (problem_id, version, data, changed_by, changed_at) "
               "VALUES (?, ?, ?, ?, ?)", [problem_id, row["version"], json.dumps(data, sort_keys=True),
                                          row["updated_by"], row["updated_at"]])


def _bump(db, user: User, problem_id: str, now: str) -> None:
    db.execute("UPDATE problems SET version = version + 1, updated_by = ?, updated_at = ? WHERE id = ?",
               [user.id, now, problem_id])


def _set_cells(db, problem_id: str, cells: list[str]) -> None:
    db.execute("DELETE FROM problem_cells WHERE problem_id = ?", [problem_id])
    for cell in cells:
        db.execute("INSERT INTO problem_cells (problem_id, cell) VALUES (?, ?)", [problem_id, cell])


def _set_partners(db, problem_id: str, partner_ids: list[str]) -> None:
    db.execute("DELETE FROM problem_partners WHERE problem_id = ?", [problem_id])
    for partner_id in partner_ids:
        db.execute("INSERT INTO problem_partners (problem_id, partner_id) VALUES (?, ?)", [problem_id, partner_id])


def _link(db, user: User, problem_id: str, refs: list[tuple[str, str]]) -> int:
    """Link records of the unit (others are skipped); returns how many new links."""
    added = 0
    for kind, record_id in refs:
        table = RECORD_TABLES.get(kind)
        if table is None or not is_valid_id(record_id):
            continue
        row = one(db, f"SELECT d.unit_id FROM {table} r JOIN deployments d ON d.id = r.deployment_id "
                      "WHERE r.id = ? AND r.deleted_at IS NULL", [record_id])
        if row is None or row["unit_id"] != user.unit_id:
            continue
        added += db.execute("INSERT OR IGNORE INTO problem_records (problem_id, record_type, record_id) "
                            "VALUES (?, ?, ?)", [problem_id, kind, record_id]).rowcount
    return added


@dataclass
class Origin:
    """Where a problem was opened from: a hotspot (cell and window), a deployment, or by hand."""

    kind: str = "manual"
    cell: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    deployment: dict | None = None


def open_problem(db, user: User, raw: dict, origin: Origin | None = None, *, now: datetime | None = None) -> dict:
    """Open a problem of the user's unit from the form's values; from a hotspot its cell's records of the window
    are linked, from a deployment the deployment's records. Audited ('create'); returns the problem."""
    if not may_edit(db, user):
        raise Forbidden("problems")
    origin = origin or Origin()
    if origin.kind == "hotspot":  # the hotspot's cell is the area (the form may add more)
        raw = {**raw, "cells": [origin.cell, *_as_list(raw.get("cells"))]}
    values = validate(db, user, raw)
    moment = iso(now or utcnow())
    refs: list[tuple[str, str]] = []
    if origin.kind == "hotspot":
        refs = hotspot_records(db, user.unit_id, origin.cell, origin.start, origin.end)
    elif origin.kind == "deployment":
        if origin.deployment["unit_id"] != user.unit_id:
            raise NotFound(origin.deployment["id"])
        refs = deployment_records(db, origin.deployment["id"])
    problem_id = new_id()
    with write(db):
        db["problems"].insert({
            "id": problem_id, "unit_id": user.unit_id, "title": values["title"], "place_name": values["place_name"],
            "description": values["description"], "origin": origin.kind,
            "deployment_id": origin.deployment["id"] if origin.deployment else None, "state": "open",
            "review_date": values["review_date"], "public_title": values["public_title"], "opened_at": moment,
            "version": 1, "created_by": user.id, "created_at": moment, "updated_by": user.id, "updated_at": moment})
        _set_cells(db, problem_id, values["cells"])
        _set_partners(db, problem_id, values["partner_ids"])
        linked = _link(db, user, problem_id, refs)
        audit.record(db, user.id, "create", "problem", problem_id,
                     json.dumps({"origin": origin.kind, "cells": len(values["cells"]), "records": linked}))
    return load(db, one(db, "SELECT * FROM problems WHERE id = ?", [problem_id]))


def _editable(db, user: User, problem: dict) -> None:
    if not may_edit(db, user) or problem["unit_id"] != user.unit_id:
        raise Forbidden(problem["id"])


def update(db, user: User, problem: dict, raw: dict) -> dict:
    """Change the problem's title, area, description, review date, public title and partners (a new version)."""
    _editable(db, user, problem)
    values = validate(db, user, raw)
    with write(db):
        _snapshot(db, problem["id"])
        now = now_iso()
        db.execute("UPDATE problems SET title = ?, place_name = ?, description = ?, review_date = ?, public_title = ? "
                   "WHERE id = ?", [values["title"], values["place_name"], values["description"],
                                    values["review_date"], values["public_title"], problem["id"]])
        _set_cells(db, problem["id"], values["cells"])
        _set_partners(db, problem["id"], values["partner_ids"])
        _bump(db, user, problem["id"], now)
        changed = sorted(k for k in ("title", "place_name", "description", "review_date", "public_title", "cells",
                                     "partner_ids") if values[k] != problem.get(k))
        audit.record(db, user.id, "edit", "problem", problem["id"], json.dumps({"fields": changed}))
    return load(db, one(db, "SELECT * FROM problems WHERE id = ?", [problem["id"]]))


def link_records(db, user: User, problem: dict, refs: list[tuple[str, str]]) -> int:
    """Link more records of the unit; a new version when any was added."""
    _editable(db, user, problem)
    with write(db):
        _snapshot(db, problem["id"])
        added = _link(db, user, problem["id"], refs)
        if added:
            _bump(db, user, problem["id"], now_iso())
            audit.record(db, user.id, "link", "problem", problem["id"], json.dumps({"records": added}))
        else:
            db.execute("DELETE FROM problem_versions WHERE problem_id = ? AND version = ?",
                       [problem["id"], problem["version"]])
    return added


def _measure_values(raw: dict) -> dict:
    errors: dict[str, str] = {}
    values = _text_values(raw, MEASURE_LIMITS, errors)
    if not values["what"] and "what" not in errors:
        errors["what"] = _("This field is required.")
    values["due_date"] = _date(raw, "due_date", errors)
    state = raw.get("state") or "agreed"
    if state not in MEASURE_STATES:
        errors["state"] = _("Choose a value from the list.")
    values["state"] = state
    public = raw.get("public")
    values["public"] = int(public in (True, "1", "on", "true"))
    if errors:
        raise ProblemInvalid(errors)
    return values


def add_measure(db, user: User, problem: dict, raw: dict) -> dict:
    """An agreed measure (what, who, by when, state, public or not); a new version of the problem."""
    _editable(db, user, problem)
    values = _measure_values(raw)
    measure_id = new_id()
    with write(db):
        _snapshot(db, problem["id"])
        now = now_iso()
        db["problem_measures"].insert({"id": measure_id, "problem_id": problem["id"], **values,
                                       "created_at": now, "updated_at": now})
        _bump(db, user, problem["id"], now)
        audit.record(db, user.id, "measure_add", "problem", problem["id"], json.dumps({"measure": measure_id}))
    return one(db, "SELECT * FROM problem_measures WHERE id = ?", [measure_id])


def set_measure_state(db, user: User, problem: dict, measure_id: str, state: str) -> dict:
    """Move a measure to another state (agreed, in progress, done, dropped); a new version of the problem."""
    _editable(db, user, problem)
    measure = one(db, "SELECT * FROM problem_measures WHERE id = ? AND problem_id = ?", [measure_id, problem["id"]]) \
        if is_valid_id(measure_id) else None
    if measure is None:
        raise NotFound(measure_id)
    if state not in MEASURE_STATES:
        raise ProblemInvalid({"state": _("Choose a value from the list.")})
    with write(db):
        _snapshot(db, problem["id"])
        now = now_iso()
        db.execute("UPDATE problem_measures SET state = ?, updated_at = ? WHERE id = ?", [state, now, measure_id])
        _bump(db, user, problem["id"], now)
        audit.record(db, user.id, "measure_state", "problem", problem["id"],
                     json.dumps({"measure": measure_id, "from": measure["state"], "to": state}))
    return one(db, "SELECT * FROM problem_measures WHERE id = ?", [measure_id])


def close(db, user: User, problem: dict, outcome: str, *, now: datetime | None = None) -> dict:
    """Close with an outcome (better / no change / worse); the area's tension in the TREND_DAYS before opening
    and before closing is kept with it. A new version; audited."""
    _editable(db, user, problem)
    if problem["state"] != "open":
        raise ProblemInvalid({"outcome": _("The problem is already closed.")})
    if outcome not in OUTCOMES:
        raise ProblemInvalid({"outcome": _("Choose a value from the list.")})
    moment = now or utcnow()
    opened = parse(problem["opened_at"])
    span = timedelta(days=TREND_DAYS)
    before = area_tension(db, problem["unit_id"], problem["cells"], opened - span, opened)
    after = area_tension(db, problem["unit_id"], problem["cells"], moment - span, moment)
    with write(db):
        _snapshot(db, problem["id"])
        db.execute("UPDATE problems SET state = 'closed', outcome = ?, trend_before = ?, trend_after = ?, "
                   "closed_at = ? WHERE id = ?", [outcome, json.dumps(before), json.dumps(after), iso(moment),
                                                  problem["id"]])
        _bump(db, user, problem["id"], iso(moment))
        audit.record(db, user.id, "close", "problem", problem["id"],
                     json.dumps({"outcome": outcome, "score_before": before["score"], "score_after": after["score"]}))
    return load(db, one(db, "SELECT * FROM problems WHERE id = ?", [problem["id"]]))


# ------------------------------------------------------------------------------------------ for other areas


def problems_due_for_review(db, unit_id: str, today: date) -> list[dict]:
    """Open problems of the unit whose review date is today or past, earliest first: {id, title, review_date}."""
    return list(db.query("SELECT id, title, review_date FROM problems WHERE unit_id = ? AND state = 'open' "
                         "AND review_date IS NOT NULL AND review_date <= ? ORDER BY review_date, title",
                         [unit_id, today.isoformat()]))


def measures_overdue(db, unit_id: str, today: date) -> list[dict]:
    """Measures of the unit's open problems not done or dropped whose date has passed (before today), earliest
    first: {id, problem_id, problem_title, what, who, due_date, state}."""
    return list(db.query(
        "SELECT m.id, m.problem_id, p.title AS problem_title, m.what, m.who, m.due_date, m.state "
        "FROM problem_measures m JOIN problems p ON p.id = m.problem_id WHERE p.unit_id = ? AND p.state = 'open' "
        "AND m.state IN ('agreed', 'in_progress') AND m.due_date IS NOT NULL AND m.due_date < ? "
        "ORDER BY m.due_date, p.title", [unit_id, today.isoformat()]))


def public_summary(db, problem: dict) -> dict | None:
    """What partners may see of a problem: the public title a lead gave and the measures a lead marked public
    (what, state, due date): no other free text, no records, no cells. None when no public title was given."""
    if not problem.get("public_title"):
        return None
    measures = [{"what": m["what"], "state": m["state"], "due_date": m["due_date"]} for m in db.query(
        "SELECT what, state, due_date FROM problem_measures WHERE problem_id = ? AND public = 1 "
        "ORDER BY due_date IS NULL, due_date, created_at", [problem["id"]])]
    return {"title": problem["public_title"], "state": problem["state"], "outcome": problem.get("outcome"),
            "measures": measures}


def cleanup(db, deployment_ids: list[str]) -> None:
    """Before deployments are removed (demo reset): forget who was at them and which problem came from them."""
    if not deployment_ids:
        return
    marks = ",".join("?" * len(deployment_ids))
    db.execute(f"DELETE FROM deployment_partners WHERE deployment_id IN ({marks})", deployment_ids)
    db.execute(f"UPDATE problems SET deployment_id = NULL WHERE deployment_id IN ({marks})", deployment_ids)
    db.execute(f"UPDATE interventions SET referral_partner_id = NULL WHERE deployment_id IN ({marks})", deployment_ids)
    for kind, table in RECORD_TABLES.items():
        db.execute(f"DELETE FROM problem_records WHERE record_type = ? AND record_id IN (SELECT id FROM {table} "
                   f"WHERE deployment_id IN ({marks}))", [kind, *deployment_ids])


def public_summaries(db, unit_id: str) -> list[dict]:
    """public_summary() of every open problem of the unit that has a public title (for partners' pages)."""
    rows = db.query("SELECT * FROM problems WHERE unit_id = ? AND state = 'open' AND public_title != '' "
                    "ORDER BY opened_at", [unit_id])
    return [public_summary(db, row) for row in rows]


def for_partners(db, unit_id: str, area: int | None, start: str, end: str) -> list[picture.PublicProblem]:
    """The partner summary's open problems (picture.summarise(problems=...)): the unit's problems open at the
    period's end that a lead gave a public title, with their public measures; for one area (an h3 cell) only those
    whose cells overlap it. Nothing else of a problem (description, records, cells, partners) reaches partners."""
    rows = list(db.query("SELECT * FROM problems WHERE unit_id = ? AND public_title != '' AND opened_at < ? "
                         "AND (state = 'open' OR closed_at >= ?) ORDER BY opened_at", [unit_id, end, end]))
    if area is not None:
        cell = h3.int_to_str(area)
        cells: dict[str, list[str]] = {}
        for row in db.query("SELECT problem_id, cell FROM problem_cells WHERE problem_id IN (SELECT id FROM problems "
                            "WHERE unit_id = ?)", [unit_id]):
            cells.setdefault(row["problem_id"], []).append(row["cell"])
        rows = [r for r in rows if any(_overlaps(c, cell) for c in cells.get(r["id"], []))]
    found = []
    for row in rows:
        summary = public_summary(db, row)
        found.append(picture.PublicProblem(title=summary["title"], measures=[
            picture.PublicMeasure(what=m["what"], state=m["state"], due=m["due_date"]) for m in summary["measures"]]))
    return found
