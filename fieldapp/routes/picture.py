"""The situation picture: map page, hotspot list, live part, cell details, GeoJSON for the map, exports.

Every handler reads the same filter (fieldapp.picture.parse_filter) and the user's scope
(picture.resolve_scope: leads their unit, officers and staff one deployment they can see).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Annotated

from litestar import Request, Response, Router, get
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, QueryParameter
from litestar.response import Template
from urllib.parse import urlencode

from fieldapp import deployments, i18n, picture, trend_svg, web
from fieldapp.clock import HELSINKI, utcnow
from fieldapp.i18n import gettext as _

FIELD = {"roles": ("officer", "staff", "lead")}
LEAD = {"roles": ("lead",)}
HELSINKI_CENTRE = (60.1699, 24.9384)
LIVE_SECONDS = 20  # the live picture refreshes itself this often (the issue asks for at most 30 s)
DEPLOYMENT_ZOOM, AREA_ZOOM = 15, 11


async def provide_query(
    window: Annotated[str | None, QueryParameter(
        description="Time window: hour (last hour), today (since midnight, Helsinki), 7d, 30d or custom")] = None,
    from_: Annotated[str | None, QueryParameter(
        name="from", description="Start of a custom window (ISO time; without a zone: Helsinki time)")] = None,
    to: Annotated[str | None, QueryParameter(description="End of a custom window (ISO time)")] = None,
    deployment: Annotated[str | None, QueryParameter(
        description="One deployment's id (officers: one of theirs; default their current one)")] = None,
    kind: Annotated[list[str] | None, QueryParameter(description="Tension kind code(s)")] = None,
    severity: Annotated[str | None, QueryParameter(description="Lowest severity counted (1-6)")] = None,
    group: Annotated[str | None, QueryParameter(description="Group category code")] = None,
) -> dict:
    """The filter's query parameters as typed (parsed and checked by picture.parse_filter)."""
    values = {"window": window, "from": from_, "to": to, "deployment": deployment, "kind": kind,
              "severity": severity, "group": group}
    return {k: v for k, v in values.items() if v not in (None, "", [])}


DEPENDENCIES = {"filters": Provide(provide_query)}


def _db(request: Request):
    return request.app.state.db


def _user(request: Request):
    return request.scope["user"]


def _qs(values: dict, **extra) -> str:
    merged = {**values, **{k: v for k, v in extra.items() if v is not None}}
    return urlencode(merged, doseq=True)


def _view(request: Request, scope: picture.Scope) -> dict:
    """Where the map looks: the URL's z/lat/lon (kept by map.js), else the deployment or the unit's area."""
    params = request.query_params
    lat, lon, zoom = None, None, None
    try:
        zoom = int(params.get("z", ""))
        lat, lon = float(params.get("lat", "")), float(params.get("lon", ""))
        if not (3 <= zoom <= 19 and -85 < lat < 85 and -180 <= lon <= 180):
            raise ValueError
    except ValueError:
        lat = lon = zoom = None
    if zoom is None:
        lat, lon = picture.map_centre(_db(request), scope) or HELSINKI_CENTRE
        zoom = DEPLOYMENT_ZOOM if scope.deployment else AREA_ZOOM
    return {"lat": round(lat, 5), "lon": round(lon, 5), "z": zoom, "res": picture.res_for_zoom(zoom)}


def _trend_context(request: Request, scope: picture.Scope, flt: picture.PictureFilter,
                   cell: int | None = None, chart_id: str = "trend") -> dict:
    """The trend chart (SVG) and the same numbers as rows for its table."""
    series = picture.trend(_db(request), scope, flt, cell)
    short = series.step.total_seconds() < 86400
    tick = (lambda at: i18n.format_time(at)) if series.end - series.start <= timedelta(days=1) else (
        (lambda at: i18n.format_datetime(at)) if short else (lambda at: i18n.format_date(at, "short")))
    if cell is not None:
        title = _("Score over time in the selected cell")
    elif scope.deployment:
        title = _("Score over time: %(name)s", name=scope.deployment["name"])
    else:
        title = _("Score over time in the unit's area")
    peak = max(series.points, key=lambda p: p[1]) if series.points else None
    if peak and peak[1] > 0:
        description = _("%(count)s observations from %(start)s to %(end)s. The highest score, %(score)s, "
                        "was at %(at)s. The table below has every value.",
                        count=i18n.format_number(series.total), start=i18n.format_datetime(series.start),
                        end=i18n.format_datetime(series.end), score=i18n.format_number(peak[1]),
                        at=i18n.format_datetime(peak[0]))
    else:
        description = _("No observations from %(start)s to %(end)s.", start=i18n.format_datetime(series.start),
                        end=i18n.format_datetime(series.end))
    svg = trend_svg.render(
        [(at, score) for at, score, _n in series.points], chart_id=chart_id, title=title, description=description,
        x_label=_("Time (Helsinki)"), y_label=_("Score"), x_tick=tick,
        y_tick=lambda v: i18n.format_number(v), point_label=lambda at, v: f"{i18n.format_datetime(at)}: {i18n.format_number(v)}")
    return {"svg": svg, "title": title, "series": series, "chart_id": chart_id}


def _live_context(request: Request, scope: picture.Scope, flt: picture.PictureFilter, raw: dict, view: dict) -> dict:
    cells = picture.aggregate(_db(request), scope, flt, view["res"])
    top = picture.hotspots(_db(request), scope, flt, view["res"], limit=5)
    return {
        "updated_at": utcnow(), "cells_count": len(cells), "observations": sum(c.observations for c in cells),
        "hotspots": top, "res": view["res"], "size_m": picture.cell_size_m(view["res"]),
        "trend": _trend_context(request, scope, flt),
        "live_url": "/picture/live?" + _qs(raw, z=view["z"], lat=view["lat"], lon=view["lon"]),
        "live_seconds": LIVE_SECONDS,
    }


def _base_context(request: Request, raw: dict, errors: dict | None = None) -> dict:
    return {"raw": raw, "errors": errors or {}, "windows": [(code, _(label)) for code, label in picture.WINDOWS.items()],
            "deployment_options": deployments.for_user(_db(request), _user(request)),
            "cell_sizes": [(res, picture.cell_size_m(res)) for res in reversed(picture.RESOLUTIONS)]}


def _filter_and_scope(request: Request, filters: NamedDependency[dict]):
    """(filter, scope) or raises FilterInvalid / NoDeployment / NotFound / Forbidden."""
    flt = picture.parse_filter(_db(request), filters)
    scope = picture.resolve_scope(_db(request), _user(request), flt.deployment_id)
    if flt.deployment_id is None and scope.deployment:
        flt = replace(flt, deployment_id=scope.deployment_id)
    return flt, scope


def _form_values(flt: picture.PictureFilter | None, filters: NamedDependency[dict]) -> dict:
    """What the filter form shows: the filter in use, overlaid with exactly what was typed."""
    values = dict(flt.query()) if flt else {}
    if flt and flt.window != "custom":
        values["from"] = flt.start.astimezone(HELSINKI).strftime("%Y-%m-%dT%H:%M")
        values["to"] = flt.end.astimezone(HELSINKI).strftime("%Y-%m-%dT%H:%M")
    typed = {k: (v[-1] if isinstance(v, list) else v) for k, v in filters.items()}
    return {**values, **typed}


@get("/picture", name="picture", opt=FIELD, dependencies=DEPENDENCIES, include_in_schema=False)
async def map_page(request: Request, filters: NamedDependency[dict]) -> Template | Response:
    """The tension map (leads: their unit; officers: their current deployment) with the live part."""
    if request.headers.get("hx-boosted") == "true":
        # Arriving by a boosted link: the page needs its own scripts (Leaflet, map.js), so load it whole.
        return Response("", status_code=200, headers={"HX-Redirect": str(request.url)})
    try:
        flt, scope = _filter_and_scope(request, filters)
    except picture.FilterInvalid as exc:
        return Template("pages/picture/map.html", status_code=400,
                        context={**_base_context(request, filters, exc.errors), "form": _form_values(None, filters)})
    except picture.NoDeployment:
        return Template("pages/picture/map.html", context={**_base_context(request, filters), "no_deployment": True,
                                                           "form": _form_values(None, filters)})
    view = _view(request, scope)
    raw = flt.query()
    map_data = {
        "cells_url": "/api/picture/cells?" + _qs(raw),
        "cell_url": "/api/picture/cells/",
        "detail_url": "/picture/cells/",
        "query": _qs(raw),
        "points_url": ("/api/picture/points?" + _qs(raw)) if scope.points_allowed else "",
        "tile_url": request.app.state.settings.tile_url,
        "zoom_res": {z: picture.res_for_zoom(z) for z in range(0, 20)},
        "refresh_seconds": LIVE_SECONDS if flt.live else 0,
        "markers": [{"name": d["name"], "place": d["place_name"], "lat": d["lat"], "lon": d["lon"]}
                    for d in picture.map_deployments(_db(request), scope, flt)],
    }
    context = {
        **_base_context(request, filters), "form": _form_values(flt, filters), "flt": flt, "scope": scope, "view": view,
        "map_data": map_data, "qs": _qs(raw), "live": _live_context(request, scope, flt, raw, view),
        "labels_json": _map_labels(),
    }
    return Template("pages/picture/map.html", context=context)


def _map_labels() -> dict:
    labels = web.ctx().labels()
    return {
        "kinds": labels.get("tension_kind", {}), "trend": labels.get("trend", {}),
        "score": _("Score"), "observations": _("Observations"), "last": _("Last observation"),
        "linked": _("Linked interventions"), "byKind": _("By kind"), "reportedTrend": _("Reported trend"),
        "legend": _("Score (severity-weighted)"), "centre": _("Map centre"), "failed": _("The map data could not be loaded."),
        "cells": _("%(n)s cells", n="{n}"), "noData": _("No observations with these filters."),
    }


@get("/picture/live", opt=FIELD, dependencies=DEPENDENCIES, include_in_schema=False)
async def live_part(request: Request, filters: NamedDependency[dict]) -> Template:
    """The part of the map page that refreshes itself (polled by htmx)."""
    flt, scope = _filter_and_scope(request, filters)
    view = _view(request, scope)
    return Template("partials/picture/_live.html", context={
        "flt": flt, "scope": scope, "qs": _qs(flt.query()), "live": _live_context(request, scope, flt, flt.query(), view)})


@get("/picture/hotspots", name="picture_hotspots", opt=FIELD, dependencies=DEPENDENCIES, include_in_schema=False)
async def hotspots_page(request: Request, filters: NamedDependency[dict],
                        res: Annotated[str | None, QueryParameter(name="res")] = None) -> Template:
    """The hotspot list: the map's aggregation as a table (works without JavaScript)."""
    try:
        flt, scope = _filter_and_scope(request, filters)
        view = _view(request, scope)
        cell_res = picture.parse_res(res, default=view["res"] if request.query_params.get("z") else 8)
    except picture.FilterInvalid as exc:
        return Template("pages/picture/hotspots.html", status_code=400, context={
            **_base_context(request, filters, exc.errors), "form": {**_form_values(None, filters), "res": res}})
    except picture.NoDeployment:
        return Template("pages/picture/hotspots.html", context={
            **_base_context(request, filters), "no_deployment": True, "form": _form_values(None, filters)})
    raw = flt.query()
    context = {
        **_base_context(request, filters), "form": {**_form_values(flt, filters), "res": str(cell_res)}, "flt": flt,
        "scope": scope, "res": cell_res, "size_m": picture.cell_size_m(cell_res),
        "hotspots": picture.hotspots(_db(request), scope, flt, cell_res),
        "qs": _qs(raw), "poll_url": "/picture/hotspots?" + _qs(raw, res=cell_res), "live_seconds": LIVE_SECONDS,
        "updated_at": utcnow(),
    }
    if web.is_htmx(request):
        return Template("partials/picture/_hotspots.html", context=context)
    return Template("pages/picture/hotspots.html", context=context)


@get("/picture/cells/{cell:str}", opt=FIELD, dependencies=DEPENDENCIES, include_in_schema=False)
async def cell_page(request: Request, cell: FromPath[str], filters: NamedDependency[dict]) -> Template:
    """The observations and interventions in one cell (htmx: the list only). Every view is audited."""
    try:
        flt, scope = _filter_and_scope(request, filters)
        cell_id = picture.parse_cell(cell)
    except picture.FilterInvalid as exc:
        message = next(iter(exc.errors.values()))
        return web.error_page(request, 400, message)
    except picture.NoDeployment:
        return web.error_page(request, 404, _("You have no current deployment."))
    detail = picture.cell_detail(_db(request), _user(request), scope, flt, cell_id)
    context = {"detail": detail, "flt": flt, "scope": scope, "qs": _qs(flt.query()),
               "size_m": picture.cell_size_m(detail.res),
               "trend": _trend_context(request, scope, flt, cell_id, chart_id="cell-trend")}
    if web.is_htmx(request):
        return Template("partials/picture/_cell.html", context=context)
    return Template("pages/picture/cell.html", context=context)


# ------------------------------------------------------------------------------------------- API

def _api_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, picture.FilterInvalid):
        return Response({"error": next(iter(exc.errors.values())), "errors": exc.errors, "status": 400},
                        status_code=400)
    return Response({"error": _("You have no current deployment."), "status": 404}, status_code=404)


API_ERRORS = {picture.FilterInvalid: _api_error, picture.NoDeployment: _api_error}


def _api_scope(request: Request, filters: NamedDependency[dict]) -> tuple[picture.PictureFilter, picture.Scope]:
    return _filter_and_scope(request, filters)


@get("/api/picture/cells", opt=FIELD, dependencies=DEPENDENCIES, media_type="application/geo+json",
     summary="Hexagon cells of the situation picture (GeoJSON)",
     description="Tension observations aggregated into h3 cells (resolution 5-9, never finer: a resolution 9 cell "
                 "is about 350 m across). Leads: their unit; officers: one deployment. Cells only, never points.")
async def cells_geojson(
    request: Request, filters: NamedDependency[dict],
    res: Annotated[str | None, QueryParameter(description="h3 resolution 5-9 (default 8)")] = None,
    bbox: Annotated[str | None, QueryParameter(description="Map view west,south,east,north in degrees")] = None,
) -> picture.CellCollection:
    flt, scope = _api_scope(request, filters)
    cell_res = picture.parse_res(res)
    cells = picture.aggregate(_db(request), scope, flt, cell_res, picture.parse_bbox(bbox))
    return picture.cell_collection(cells, flt, cell_res)


@get("/api/picture/cells/{cell:str}", opt=FIELD, dependencies=DEPENDENCIES,
     summary="One cell's counts by tension kind and reported trend (the map popup)")
async def cell_json(request: Request, cell: FromPath[str], filters: NamedDependency[dict]) -> picture.CellProperties:
    flt, scope = _api_scope(request, filters)
    summary = picture.cell_summary(_db(request), scope, flt, picture.parse_cell(cell))
    return picture.CellProperties(
        cell=summary.h3, res=summary.res, rank=0, observations=summary.observations, score=summary.score,
        colour_class=0, kinds=summary.kinds, rising=summary.rising, steady=summary.steady, easing=summary.easing,
        linked_interventions=summary.linked, last_observation=summary.last_at)


@get("/api/picture/points", opt=FIELD, dependencies=DEPENDENCIES, media_type="application/geo+json",
     summary="Single observations of one live deployment (GeoJSON points)",
     description="Only for a deployment happening now, and only to the unit's leads and the officers assigned "
                 "to it; otherwise 403. Kind, severity, trend and time: no free text.")
async def points_geojson(request: Request, filters: NamedDependency[dict]) -> picture.PointCollection:
    flt, scope = _api_scope(request, filters)
    return picture.points(_db(request), scope, flt)


def _export(request: Request, filters: NamedDependency[dict], kind_name: str, fmt: str):
    flt, scope = _api_scope(request, filters)
    rows = picture.export_rows(_db(request), _user(request), scope, flt, kind_name, fmt)
    return flt, rows


def _attachment(name: str, flt: picture.PictureFilter) -> dict:
    stamp = flt.end.strftime("%Y%m%d-%H%M")
    return {"Content-Disposition": f'attachment; filename="fieldapp-{name}-{stamp}"'}


EXPORT_DESCRIPTION = ("The same filters as the map (window, from, to, deployment, kind, severity, group). "
                      "Leads only; every export is written to the audit log.")


@get("/api/picture/export/tensions.geojson", opt=LEAD, dependencies=DEPENDENCIES,
     media_type="application/geo+json", summary="Tension observations (GeoJSON FeatureCollection)",
     description=EXPORT_DESCRIPTION)
async def export_tensions_geojson(request: Request, filters: NamedDependency[dict]) -> picture.TensionExport:
    flt, rows = _export(request, filters, "tension", "geojson")
    return picture.export_geojson(rows, "tension", flt)


@get("/api/picture/export/interventions.geojson", opt=LEAD, dependencies=DEPENDENCIES,
     media_type="application/geo+json", summary="Interventions (GeoJSON FeatureCollection)",
     description=EXPORT_DESCRIPTION + " With a tension filter: the interventions linked to matching observations.")
async def export_interventions_geojson(request: Request, filters: NamedDependency[dict]) -> picture.InterventionExport:
    flt, rows = _export(request, filters, "intervention", "geojson")
    return picture.export_geojson(rows, "intervention", flt)


@get("/api/picture/export/tensions.csv", opt=LEAD, dependencies=DEPENDENCIES, media_type="text/csv",
     summary="Tension observations (CSV)",
     description=EXPORT_DESCRIPTION + " Columns: " + ", ".join(picture.EXPORT_FIELDS["tension"]) + ".")
async def export_tensions_csv(request: Request, filters: NamedDependency[dict]) -> Response[str]:
    flt, rows = _export(request, filters, "tension", "csv")
    return Response(picture.export_csv(rows, "tension"), media_type="text/csv",
                    headers=_attachment("tensions.csv", flt))


@get("/api/picture/export/interventions.csv", opt=LEAD, dependencies=DEPENDENCIES, media_type="text/csv",
     summary="Interventions (CSV)",
     description=EXPORT_DESCRIPTION + " Columns: " + ", ".join(picture.EXPORT_FIELDS["intervention"]) + ".")
async def export_interventions_csv(request: Request, filters: NamedDependency[dict]) -> Response[str]:
    flt, rows = _export(request, filters, "intervention", "csv")
    return Response(picture.export_csv(rows, "intervention"), media_type="text/csv",
                    headers=_attachment("interventions.csv", flt))


PARTNER_DESCRIPTION = ("For partners (POR): h3 cells and counts only, never free text, names or single "
                       "observations. " + EXPORT_DESCRIPTION)


@get("/api/picture/export/partner-cells.geojson", opt=LEAD, dependencies=DEPENDENCIES,
     media_type="application/geo+json", summary="Partner export: aggregated cells (GeoJSON)",
     description=PARTNER_DESCRIPTION)
async def export_partner_geojson(
    request: Request, filters: NamedDependency[dict],
    res: Annotated[str | None, QueryParameter(description="h3 resolution 5-9 (default 8)")] = None,
) -> picture.PartnerCellCollection:
    flt, scope = _api_scope(request, filters)
    cell_res = picture.parse_res(res)
    cells = picture.partner_cells(_db(request), _user(request), scope, flt, cell_res, "geojson")
    return picture.partner_collection(cells, flt, cell_res)


@get("/api/picture/export/partner-cells.csv", opt=LEAD, dependencies=DEPENDENCIES, media_type="text/csv",
     summary="Partner export: aggregated cells (CSV)",
     description=PARTNER_DESCRIPTION + " Columns: " + ", ".join(picture.PARTNER_CSV_FIELDS) + ", kind_<code>...")
async def export_partner_csv(
    request: Request, filters: NamedDependency[dict],
    res: Annotated[str | None, QueryParameter(description="h3 resolution 5-9 (default 8)")] = None,
) -> Response[str]:
    flt, scope = _api_scope(request, filters)
    cell_res = picture.parse_res(res)
    cells = picture.partner_cells(_db(request), _user(request), scope, flt, cell_res, "csv")
    return Response(picture.partner_csv(_db(request), cells), media_type="text/csv",
                    headers=_attachment("partner-cells.csv", flt))


API = Router(path="/", exception_handlers=API_ERRORS, route_handlers=[
    cells_geojson, cell_json, points_geojson, export_tensions_geojson, export_interventions_geojson,
    export_tensions_csv, export_interventions_csv, export_partner_geojson, export_partner_csv])

ROUTES = [map_page, live_part, hotspots_page, cell_page, API]
