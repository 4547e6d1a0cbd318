"""Records behind the picture: one cell's observations and interventions, and the exports (all audited)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

import h3
import msgspec

from fieldapp import audit
from fieldapp.clock import iso
from fieldapp.db import write
from fieldapp.picture.aggregation import (CellSummary, _places, aggregate, cell_summary, filter_conditions,
                                         nearest_place)
from fieldapp.picture.cells import FINEST, cell_int, cell_size_m, descendant_range, parent_of
from fieldapp.picture.disclosure import DisclosedCell, partner_view
from fieldapp.picture.filters import PictureFilter, Scope
from fieldapp.picture.geojson import Point, feature_collection
from fieldapp.picture.rollups import _groups_of

DETAIL_LIMIT = 200


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
    more, more_params = filter_conditions(flt, alias, table="tensions")
    return where + more, params + more_params


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


# Tension observations matching the picture's filters (for the unit's own use; audited).
TensionExport, TensionExportFeature = feature_collection(
    "TensionExport", "TensionExportFeature", Point | None, TensionExportProperties, window_start=str, window_end=str)


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


# Interventions matching the picture's filters (with tension filters: those linked to matching tensions).
InterventionExport, InterventionExportFeature = feature_collection(
    "InterventionExport", "InterventionExportFeature", Point | None, InterventionExportProperties,
    window_start=str, window_end=str)


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


def partner_cells(db, user, scope: Scope, flt: PictureFilter, res: int, fmt: str) -> list[DisclosedCell]:
    """Aggregated cells for partners under the disclosure rule (picture/disclosure.py), audited as an export."""
    cells = partner_view(db, scope, flt, res)
    with write(db):
        audit.record(db, user.id, "export", "picture_cell", None, json.dumps(
            {"format": fmt, "partner": True, "res": res, "filter": flt.query(), "deployment": scope.deployment_id,
             "count": len(cells)}, separators=(",", ":")))
    return cells
