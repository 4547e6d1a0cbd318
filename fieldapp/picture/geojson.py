"""GeoJSON for the map and for partners (msgspec structs, so the OpenAPI schema documents them)."""

from __future__ import annotations

import csv
import io
from typing import Literal

import msgspec

from fieldapp import categories
from fieldapp.errors import Forbidden
from fieldapp.clock import iso
from fieldapp.picture.aggregation import CellSummary, _obs_conditions, legend_for
from fieldapp.picture.cells import cell_ring, cell_size_m
from fieldapp.picture.disclosure import MIN_COUNT, DisclosedCell
from fieldapp.picture.filters import PictureFilter, Scope


class Polygon(msgspec.Struct, kw_only=True):
    type: Literal["Polygon"] = "Polygon"
    coordinates: list[list[tuple[float, float]]]


class Point(msgspec.Struct, kw_only=True):
    type: Literal["Point"] = "Point"
    coordinates: tuple[float, float]


def feature_collection(name: str, feature_name: str, geometry: object, properties: type,
                       **members: object) -> tuple[type[msgspec.Struct], type[msgspec.Struct]]:
    """The one GeoJSON shape of every answer here: a FeatureCollection (with these members) of Features.

    Returns the collection struct and its feature struct, named for the OpenAPI schema. Made with defstruct, not as
    a generic Struct: Litestar 2.25 does not resolve a generic subclass's parameters, so the schema would document
    the features as bare objects."""
    feature = msgspec.defstruct(feature_name, [("type", Literal["Feature"], "Feature"), ("id", str),
                                               ("geometry", geometry), ("properties", properties)],
                                kw_only=True, module=__name__)
    collection = msgspec.defstruct(name, [("type", Literal["FeatureCollection"], "FeatureCollection"),
                                          ("features", list[feature]), *members.items()],
                                   kw_only=True, module=__name__)
    return collection, feature


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


class LegendClass(msgspec.Struct, kw_only=True):
    colour_class: int
    min_score: int
    max_score: int
    colour: str


# Hexagon cells of the situation picture, highest score first.
CellCollection, CellFeature = feature_collection(
    "CellCollection", "CellFeature", Polygon, CellProperties,
    res=int, cell_size_m=int, window_start=str, window_end=str, legend=list[LegendClass])


class PartnerCellProperties(msgspec.Struct, kw_only=True):
    """What partners get: a cell and counts under the disclosure rule (picture/disclosure.py). No times of single
    observations, no text, no deployments. null is "fewer than 5": a cell with fewer than 5 observations is merged
    into a coarser cell (merged: true, its res smaller) or, still fewer than 5 at resolution 5, shown with null
    counts; a count by kind or trend of 1-4 is null, with as many others as it takes that none can be worked out
    (the nulls of one cell hold 5 or more together)."""

    cell: str
    res: int
    observations: int | None
    score: int | None
    kinds: dict[str, int | None]
    rising: int | None
    steady: int | None
    easing: int | None
    linked_interventions: int | None
    merged: bool


# Aggregated cells for partners (POR): counts only, never free text, never a count of 1-4.
PartnerCellCollection, PartnerCellFeature = feature_collection(
    "PartnerCellCollection", "PartnerCellFeature", Polygon, PartnerCellProperties,
    res=int, cell_size_m=int, window_start=str, window_end=str, min_count=int)


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


def cell_popup(c: CellSummary) -> CellProperties:
    """One cell's own answer (the map popup): its counts with all its kinds; no rank or colour outside the map."""
    return CellProperties(
        cell=c.h3, res=c.res, rank=0, observations=c.observations, score=c.score, colour_class=0, kinds=c.kinds,
        rising=c.rising, steady=c.steady, easing=c.easing, linked_interventions=c.linked, last_observation=c.last_at)


def partner_collection(cells: list[DisclosedCell], flt: PictureFilter, res: int) -> PartnerCellCollection:
    """Disclosed cells (disclosure.partner_view) as GeoJSON."""
    return PartnerCellCollection(
        features=[PartnerCellFeature(
            id=c.h3, geometry=Polygon(coordinates=[list(cell_ring(c.cell))]),
            properties=PartnerCellProperties(
                cell=c.h3, res=c.res, observations=c.observations, score=c.score, kinds=c.kinds,
                rising=c.trends.get("rising", 0) if c.trends else None,
                steady=c.trends.get("steady", 0) if c.trends else None,
                easing=c.trends.get("easing", 0) if c.trends else None,
                linked_interventions=c.linked, merged=c.merged)) for c in cells],
        res=res, cell_size_m=cell_size_m(res), window_start=iso(flt.start), window_end=iso(flt.end),
        min_count=MIN_COUNT)


PARTNER_CSV_FIELDS = ["cell", "res", "observations", "score", "rising", "steady", "easing", "linked_interventions",
                      "merged"]
FEWER = "<5"  # the partner CSV: fewer than 5 observations (a withheld area) or linked interventions
SUPPRESSED = "suppressed"  # the partner CSV: a count by kind or trend not shown on its own (see PartnerCellProperties)


def _count(value: int | None, hidden: str = FEWER) -> int | str:
    return hidden if value is None else value


def partner_csv(db, cells: list[DisclosedCell]) -> str:
    """Disclosed cells as CSV: one column per tension kind, counts only; "<5" for a withheld area's observations or
    a cell's linked interventions, "suppressed" for a count by kind or trend not shown on its own."""
    kinds = [code for code, *_ in categories.DEFAULTS["tension_kind"]]
    kinds += sorted({k for c in cells for k in c.kinds} - set(kinds))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(PARTNER_CSV_FIELDS + [f"kind_{k}" for k in kinds])
    for c in cells:
        if c.withheld:  # fewer than 5 in all: no other number either
            writer.writerow([c.h3, c.res, FEWER, "", "", "", "", "", "1"] + [""] * len(kinds))
            continue
        trends = [c.trends.get(t, 0) for t in ("rising", "steady", "easing")]
        writer.writerow([c.h3, c.res, c.observations, c.score, *(_count(t, SUPPRESSED) for t in trends),
                         _count(c.linked), "1" if c.merged else "0"]
                        + [_count(c.kinds.get(k, 0), SUPPRESSED) for k in kinds])
    return out.getvalue()


class PointProperties(msgspec.Struct, kw_only=True):
    id: str
    kind: str
    severity: int
    trend: str
    occurred_at: str


# Single observations of one live deployment (only for its lead and assigned officers).
PointCollection, PointFeature = feature_collection("PointCollection", "PointFeature", Point, PointProperties)


def points(db, scope: Scope, flt: PictureFilter) -> PointCollection:
    """The observations of a live deployment as points; Forbidden unless scope.points_allowed."""
    if not scope.points_allowed:
        raise Forbidden("points are shown only for one live deployment")
    where, params = _obs_conditions(scope, flt)
    rows = db.query(f"SELECT o.tension_id, o.kind, o.severity, o.trend, o.occurred_at, o.lat, o.lon "
                    f"FROM picture_obs o WHERE {' AND '.join(where)} AND o.occurred_at >= ? AND o.occurred_at < ? "
                    "ORDER BY o.occurred_at", [*params, iso(flt.start), iso(flt.end)])
    return PointCollection(features=[PointFeature(
        id=r["tension_id"], geometry=Point(coordinates=(r["lon"], r["lat"])),
        properties=PointProperties(id=r["tension_id"], kind=r["kind"], severity=r["severity"], trend=r["trend"],
                                   occurred_at=r["occurred_at"])) for r in rows])
