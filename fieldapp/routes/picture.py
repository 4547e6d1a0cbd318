"""The situation picture: map page, hotspot list, live part, cell details, GeoJSON for the map, exports.

Every handler reads the same filter (fieldapp.picture.parse_filter) and the user's scope
(picture.resolve_scope: leads their unit, officers and staff one deployment they can see).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Annotated

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, QueryParameter
from litestar.response import Template
from urllib.parse import urlencode
from html import escape

from fieldapp import deployments, i18n, picture, trend_svg, web
from fieldapp.routes.problems import problem_areas_for_map, problems_for_hotspots
from fieldapp.clock import HELSINKI, utcnow
from fieldapp.i18n import gettext as _

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
    motive: Annotated[str | None, QueryParameter(description="Perceived motive code (acts of hatred)")] = None,
) -> dict:
    """The filter's query parameters as typed (parsed and checked by picture.parse_filter)."""
    values = {"window": window, "from": from_, "to": to, "deployment": deployment, "kind": kind,
              "severity": severity, "group": group, "motive": motive}
    return {k: v for k, v in values.items() if v not in (None, "", [])}


# Every controller here reads the filter from the query (its parameters documented once, in provide_query).
DEPENDENCIES = {**web.DEPENDENCIES, "filters": Provide(provide_query)}
Filters = NamedDependency[dict]


def _qs(values: dict, **extra) -> str:
    merged = {**values, **{k: v for k, v in extra.items() if v is not None}}
    return urlencode(merged, doseq=True)


def _view(request: Request, db, scope: picture.Scope) -> dict:
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
        lat, lon = picture.map_centre(db, scope) or HELSINKI_CENTRE
        zoom = DEPLOYMENT_ZOOM if scope.deployment else AREA_ZOOM
    return {"lat": round(lat, 5), "lon": round(lon, 5), "z": zoom, "res": picture.res_for_zoom(zoom)}


def _trend_context(db, scope: picture.Scope, flt: picture.PictureFilter,
                   cell: int | None = None, chart_id: str = "trend") -> dict:
    """The trend chart (SVG) and the same numbers as rows for its table."""
    series = picture.trend(db, scope, flt, cell)
    short = series.step.total_seconds() < 86400
    tick = (lambda at: i18n.format_time(at)) if series.end - series.start <= timedelta(days=1) else (
        (lambda at: i18n.format_datetime(at)) if short else (lambda at: i18n.format_date(at)))
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
    svg = trend_svg.render_for_screens(
        [(at, score) for at, score, _n in series.points], chart_id=chart_id, title=title, description=description,
        x_label=_("Time (Helsinki)"), y_label=_("Score"), x_tick=tick,
        y_tick=lambda v: i18n.format_number(v), point_label=lambda at, v: f"{i18n.format_datetime(at)}: {i18n.format_number(v)}")
    return {"svg": svg, "title": title, "series": series, "chart_id": chart_id}


def _live_context(db, scope: picture.Scope, flt: picture.PictureFilter, raw: dict, view: dict) -> dict:
    cells = picture.aggregate(db, scope, flt, view["res"])
    top = picture.hotspots(db, scope, flt, view["res"], limit=5)
    return {
        "updated_at": utcnow(), "cells_count": len(cells), "observations": sum(c.observations for c in cells),
        "hotspots": top, "res": view["res"], "size_m": picture.cell_size_m(view["res"]),
        "trend": _trend_context(db, scope, flt),
        "live_url": "/picture/live?" + _qs(raw, z=view["z"], lat=view["lat"], lon=view["lon"]),
        "live_seconds": LIVE_SECONDS,
    }


def _base_context(db, user, raw: dict, errors: dict | None = None) -> dict:
    return {"raw": raw, "errors": errors or {}, "windows": [(code, _(label)) for code, label in picture.WINDOWS.items()],
            "deployment_options": deployments.for_user(db, user),
            "cell_sizes": [(res, picture.cell_size_m(res)) for res in reversed(picture.RESOLUTIONS)]}


def _filter_and_scope(db, user, filters: dict) -> tuple[picture.PictureFilter, picture.Scope]:
    """(filter, scope) or raises FilterInvalid / NoDeployment / NotFound / Forbidden."""
    flt = picture.parse_filter(db, filters)
    scope = picture.resolve_scope(db, user, flt.deployment_id)
    if flt.deployment_id is None and scope.deployment:
        flt = replace(flt, deployment_id=scope.deployment_id)
    return flt, scope


def _form_values(flt: picture.PictureFilter | None, filters: dict) -> dict:
    """What the filter form shows: the filter in use, overlaid with exactly what was typed."""
    values = dict(flt.query()) if flt else {}
    if flt and flt.window != "custom":
        values["from"] = flt.start.astimezone(HELSINKI).strftime("%Y-%m-%dT%H:%M")
        values["to"] = flt.end.astimezone(HELSINKI).strftime("%Y-%m-%dT%H:%M")
    typed = {k: (v[-1] if isinstance(v, list) else v) for k, v in filters.items()}
    return {**values, **typed}


def _map_labels() -> dict:
    labels = web.ctx().labels()
    return {
        "kinds": labels.get("tension_kind", {}), "trend": labels.get("trend", {}),
        "score": _("Score"), "observations": _("Observations"), "last": _("Last observation"),
        "linked": _("Linked interventions"), "byKind": _("By kind"), "reportedTrend": _("Reported trend"),
        "legend": _("Score (severity-weighted)"), "centre": _("Map centre"), "failed": _("The map data could not be loaded."),
        "cells": _("%(n)s cells", n="{n}"), "noData": _("No observations with these filters."),
        "tilesOffline": _("Offline: this device keeps the map only around its deployments' places; the rest of the "
                          "background map is missing."),
        "tilesFailed": _("Part of the background map could not be loaded from the tile server."),
        "problemAreasToggle": _("Show the areas of open problems (POR)"),
    }


class PictureController(Controller):
    """The pages: the map with its live part, the hotspot list and one cell's records."""

    path = "/picture"
    guards = [web.roles(*web.FIELD_ROLES)]
    dependencies = DEPENDENCIES
    include_in_schema = False

    @get("/", name="picture")
    async def map_page(self, request: Request, db: web.DB, user: web.CurrentUser, settings: web.AppSettings,
                       filters: Filters) -> Template | Response:
        """The tension map (leads: their unit; officers: their current deployment) with the live part."""
        if request.headers.get("hx-boosted") == "true":
            # Arriving by a boosted link: the page needs its own scripts (Leaflet, map.js), so load it whole.
            return Response("", status_code=200, headers={"HX-Redirect": str(request.url)})
        try:
            flt, scope = _filter_and_scope(db, user, filters)
        except picture.FilterInvalid as exc:
            return Template("pages/picture/map.html", status_code=400, context={
                **_base_context(db, user, filters, exc.errors), "form": _form_values(None, filters)})
        except picture.NoDeployment:
            return Template("pages/picture/map.html", context={
                **_base_context(db, user, filters), "no_deployment": True, "form": _form_values(None, filters)})
        view = _view(request, db, scope)
        raw = flt.query()
        map_data = {
            "cells_url": "/api/picture/cells?" + _qs(raw),
            "cell_url": "/api/picture/cells/",
            "detail_url": "/picture/cells/",
            "query": _qs(raw),
            "live_url": "/picture/live?" + _qs(raw),
            "points_url": ("/api/picture/points?" + _qs(raw)) if scope.points_allowed else "",
            "tile_url": settings.tile_url,
            "tile_attribution": escape(settings.tile_attribution),  # Leaflet writes it as HTML
            "zoom_res": {z: picture.res_for_zoom(z) for z in range(0, 20)},
            "refresh_seconds": LIVE_SECONDS if flt.live else 0,
            "markers": [{"name": d["name"], "place": d["place_name"], "lat": d["lat"], "lon": d["lon"]}
                        for d in picture.map_deployments(db, scope, flt)],
            "problems": problem_areas_for_map(db, user, scope),
        }
        context = {
            **_base_context(db, user, filters), "form": _form_values(flt, filters), "flt": flt, "scope": scope,
            "view": view, "map_data": map_data, "qs": _qs(raw), "live": _live_context(db, scope, flt, raw, view),
            "labels_json": _map_labels(),
        }
        return Template("pages/picture/map.html", context=context)

    @get("/live")
    async def live_part(self, request: Request, db: web.DB, user: web.CurrentUser, filters: Filters
                        ) -> Template | Response:
        """The part of the map page that refreshes itself (polled by htmx); a filter the map page would not have
        made is a 400, no current deployment a 404 (as on the map page)."""
        try:
            flt, scope = _filter_and_scope(db, user, filters)
        except picture.FilterInvalid as exc:
            return web.error_page(request, 400, next(iter(exc.errors.values())))
        except picture.NoDeployment:
            return web.error_page(request, 404, _("You have no current deployment."))
        view = _view(request, db, scope)
        return Template("partials/picture/_live.html", context={
            "flt": flt, "scope": scope, "qs": _qs(flt.query()), "live": _live_context(db, scope, flt, flt.query(), view)})

    @get("/hotspots", name="picture_hotspots")
    async def hotspots_page(self, request: Request, db: web.DB, user: web.CurrentUser, filters: Filters,
                            res: Annotated[str | None, QueryParameter(name="res")] = None) -> Template:
        """The hotspot list: the map's aggregation as a table (works without JavaScript)."""
        try:
            flt, scope = _filter_and_scope(db, user, filters)
            view = _view(request, db, scope)
            cell_res = picture.parse_res(res, default=view["res"])  # the map's cells for the same view
        except picture.FilterInvalid as exc:
            return Template("pages/picture/hotspots.html", status_code=400, context={
                **_base_context(db, user, filters, exc.errors), "form": {**_form_values(None, filters), "res": res}})
        except picture.NoDeployment:
            return Template("pages/picture/hotspots.html", context={
                **_base_context(db, user, filters), "no_deployment": True, "form": _form_values(None, filters)})
        raw = flt.query()
        return web.render(request, "pages/picture/hotspots.html", "partials/picture/_hotspots.html", {
            **_base_context(db, user, filters), "form": {**_form_values(flt, filters), "res": str(cell_res)},
            "flt": flt, "scope": scope, "res": cell_res, "size_m": picture.cell_size_m(cell_res),
            "hotspots": picture.hotspots(db, scope, flt, cell_res),
            "qs": _qs(raw), "poll_url": "/picture/hotspots?" + _qs(raw, res=cell_res), "live_seconds": LIVE_SECONDS,
            "updated_at": utcnow(),
            **problems_for_hotspots(db, user, scope),
        })

    @get("/cells/{cell:str}")
    async def cell_page(self, request: Request, db: web.DB, user: web.CurrentUser, cell: FromPath[str],
                        filters: Filters) -> Template:
        """The observations and interventions in one cell (htmx: the list only). Every view is audited."""
        try:
            flt, scope = _filter_and_scope(db, user, filters)
            cell_id = picture.parse_cell(cell)
        except picture.FilterInvalid as exc:
            message = next(iter(exc.errors.values()))
            return web.error_page(request, 400, message)
        except picture.NoDeployment:
            return web.error_page(request, 404, _("You have no current deployment."))
        detail = picture.cell_detail(db, user, scope, flt, cell_id)
        return web.render(request, "pages/picture/cell.html", "partials/picture/_cell.html", {
            "detail": detail, "flt": flt, "scope": scope, "qs": _qs(flt.query()),
            "size_m": picture.cell_size_m(detail.res),
            "trend": _trend_context(db, scope, flt, cell_id, chart_id="cell-trend")})


# ------------------------------------------------------------------------------------------- API

def _api_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, picture.FilterInvalid):
        return Response({"error": next(iter(exc.errors.values())), "errors": exc.errors, "status": 400},
                        status_code=400)
    return Response({"error": _("You have no current deployment."), "status": 404}, status_code=404)


API_ERRORS = {picture.FilterInvalid: _api_error, picture.NoDeployment: _api_error}
RES_PARAMETER = QueryParameter(description="h3 resolution 5-9 (default 8)")


class PictureApiController(Controller):
    """JSON for the map: cells, one cell's popup, the points of a live deployment."""

    path = "/api/picture"
    guards = [web.roles(*web.FIELD_ROLES)]
    dependencies = DEPENDENCIES
    exception_handlers = API_ERRORS

    @get("/cells", media_type="application/geo+json",
         summary="Hexagon cells of the situation picture (GeoJSON)",
         description="Tension observations aggregated into h3 cells (resolution 5-9, never finer: a resolution 9 "
                     "cell is about 350 m across). Leads: their unit; officers: one deployment. Cells only, never "
                     "points.")
    async def cells_geojson(
        self, db: web.DB, user: web.CurrentUser, filters: Filters,
        res: Annotated[str | None, RES_PARAMETER] = None,
        bbox: Annotated[str | None, QueryParameter(description="Map view west,south,east,north in degrees")] = None,
    ) -> picture.CellCollection:
        flt, scope = _filter_and_scope(db, user, filters)
        cell_res = picture.parse_res(res)
        cells = picture.aggregate(db, scope, flt, cell_res, picture.parse_bbox(bbox))
        return picture.cell_collection(cells, flt, cell_res)

    @get("/cells/{cell:str}", summary="One cell's counts by tension kind and reported trend (the map popup)")
    async def cell_json(self, db: web.DB, user: web.CurrentUser, cell: FromPath[str],
                        filters: Filters) -> picture.CellProperties:
        flt, scope = _filter_and_scope(db, user, filters)
        return picture.cell_popup(picture.cell_summary(db, scope, flt, picture.parse_cell(cell)))

    @get("/points", media_type="application/geo+json",
         summary="Single observations of one live deployment (GeoJSON points)",
         description="Only for a deployment happening now, and only to the unit's leads and the officers assigned "
                     "to it; otherwise 403. Kind, severity, trend and time: no free text.")
    async def points_geojson(self, writer: web.AppWriter, db: web.DB, user: web.CurrentUser,
                             filters: Filters) -> picture.PointCollection:
        flt, scope = _filter_and_scope(db, user, filters)
        found = picture.points(db, scope, flt)
        await web.log_read(writer, user.id, "view", "picture_points", flt.deployment_id, records=len(found.features))
        return found


def _export(db, user, filters: dict, kind_name: str, fmt: str) -> tuple[picture.PictureFilter, list[dict]]:
    flt, scope = _filter_and_scope(db, user, filters)
    return flt, picture.export_rows(db, user, scope, flt, kind_name, fmt)


def _attachment(name: str, flt: picture.PictureFilter) -> dict:
    stamp = flt.end.strftime("%Y%m%d-%H%M")
    return {"Content-Disposition": f'attachment; filename="fieldapp-{name}-{stamp}"'}


EXPORT_DESCRIPTION = ("The same filters as the map (window, from, to, deployment, kind, severity, group, motive). "
                      "Leads only; every export is written to the audit log.")
PARTNER_DESCRIPTION = ("For partners (POR): h3 cells and counts only, never free text, names or single "
                       "observations, and never a count of 1-4: a cell with fewer than 5 observations is merged into "
                       "a coarser cell (merged) or, still fewer than 5 at resolution 5, given without numbers; a "
                       "count by kind or trend of 1-4 is hidden (null; CSV: suppressed) with as many others as it "
                       "takes that none can be worked out. " + EXPORT_DESCRIPTION)


class PictureExportController(Controller):
    """The exports: the unit's records (GeoJSON, CSV) and aggregated cells for partners. Leads only, audited."""

    path = "/api/picture/export"
    guards = [web.roles("lead")]
    dependencies = DEPENDENCIES
    exception_handlers = API_ERRORS

    @get("/tensions.geojson", media_type="application/geo+json",
         summary="Tension observations (GeoJSON FeatureCollection)", description=EXPORT_DESCRIPTION)
    async def export_tensions_geojson(self, db: web.DB, user: web.CurrentUser,
                                      filters: Filters) -> picture.TensionExport:
        flt, rows = _export(db, user, filters, "tension", "geojson")
        return picture.export_geojson(rows, "tension", flt)

    @get("/interventions.geojson", media_type="application/geo+json",
         summary="Interventions (GeoJSON FeatureCollection)",
         description=EXPORT_DESCRIPTION + " With a tension filter: the interventions linked to matching observations.")
    async def export_interventions_geojson(self, db: web.DB, user: web.CurrentUser,
                                           filters: Filters) -> picture.InterventionExport:
        flt, rows = _export(db, user, filters, "intervention", "geojson")
        return picture.export_geojson(rows, "intervention", flt)

    @get("/tensions.csv", media_type="text/csv", summary="Tension observations (CSV)",
         description=EXPORT_DESCRIPTION + " Columns: " + ", ".join(picture.EXPORT_FIELDS["tension"]) + ".")
    async def export_tensions_csv(self, db: web.DB, user: web.CurrentUser, filters: Filters) -> Response[str]:
        flt, rows = _export(db, user, filters, "tension", "csv")
        return Response(picture.export_csv(rows, "tension"), media_type="text/csv",
                        headers=_attachment("tensions.csv", flt))

    @get("/interventions.csv", media_type="text/csv", summary="Interventions (CSV)",
         description=EXPORT_DESCRIPTION + " Columns: " + ", ".join(picture.EXPORT_FIELDS["intervention"]) + ".")
    async def export_interventions_csv(self, db: web.DB, user: web.CurrentUser, filters: Filters) -> Response[str]:
        flt, rows = _export(db, user, filters, "intervention", "csv")
        return Response(picture.export_csv(rows, "intervention"), media_type="text/csv",
                        headers=_attachment("interventions.csv", flt))

    @get("/partner-cells.geojson", media_type="application/geo+json",
         summary="Partner export: aggregated cells (GeoJSON)", description=PARTNER_DESCRIPTION)
    async def export_partner_geojson(self, db: web.DB, user: web.CurrentUser, filters: Filters,
                                     res: Annotated[str | None, RES_PARAMETER] = None) -> picture.PartnerCellCollection:
        flt, scope = _filter_and_scope(db, user, filters)
        cell_res = picture.parse_res(res)
        cells = picture.partner_cells(db, user, scope, flt, cell_res, "geojson")
        return picture.partner_collection(cells, flt, cell_res)

    @get("/partner-cells.csv", media_type="text/csv", summary="Partner export: aggregated cells (CSV)",
         description=PARTNER_DESCRIPTION + " Columns: " + ", ".join(picture.PARTNER_CSV_FIELDS) + ", kind_<code>...")
    async def export_partner_csv(self, db: web.DB, user: web.CurrentUser, filters: Filters,
                                 res: Annotated[str | None, RES_PARAMETER] = None) -> Response[str]:
        flt, scope = _filter_and_scope(db, user, filters)
        cell_res = picture.parse_res(res)
        cells = picture.partner_cells(db, user, scope, flt, cell_res, "csv")
        return Response(picture.partner_csv(db, cells), media_type="text/csv",
                        headers=_attachment("partner-cells.csv", flt))


ROUTES = [PictureController, PictureApiController, PictureExportController]
