"""The period report for unit leads: a printable page (GET form, works without JavaScript) and CSV."""

from __future__ import annotations

from datetime import timedelta

from litestar import Controller, Request, Response, get
from litestar.response import Template

from fieldapp import reports, web

FORM_FIELDS = ("period", "year", "month", "quarter", "start", "end", "deployment_kind", "place", "deployment_id")


def _raw(request: Request) -> dict:
    """The report choices as typed (last value wins; anything missing stays missing)."""
    return {name: request.query_params.get(name) for name in FORM_FIELDS if request.query_params.get(name) is not None}


def _form_values(query: reports.ReportQuery, raw: dict) -> dict:
    """What the form shows: the query used, overlaid with exactly what the user typed."""
    values = {
        "period": query.period, "year": str(query.year), "month": str(query.month), "quarter": str(query.quarter),
        # The custom dates start out as the chosen period's first and last day.
        "start": query.first_day().isoformat(), "end": (query.day_after() - timedelta(days=1)).isoformat(),
        "deployment_kind": query.deployment_kind, "place": query.place, "deployment_id": query.deployment_id,
    }
    return {**values, **{k: str(v) for k, v in raw.items()}}


class ReportsController(Controller):
    """The unit's period report: a page and its CSV. Leads only; every view and export is audited."""

    path = "/reports"
    guards = [web.roles("lead")]
    dependencies = web.DEPENDENCIES

    @get("/", name="reports",
         summary="Period report of the lead's unit (HTML)",
         description="Query parameters: period (month, quarter, year, custom), year, month, quarter, start and end "
                     "(YYYY-MM-DD, custom period), deployment_kind, place, deployment_id. Each view is audited.")
    async def report_page(self, request: Request, db: web.DB, user: web.CurrentUser) -> Template:
        raw = _raw(request)
        errors: dict = {}
        report = None
        try:
            query = reports.parse_query(db, user, raw)
        except reports.InvalidQuery as exc:
            errors = exc.errors
            query = reports.default_query()
        else:
            report = reports.build(db, user, query, action="report_view")
        context = {
            "report": report, "errors": errors, "form": _form_values(query, raw),
            "scope": reports.scope_options(db, user), "months": reports.month_names(),
            "csv_url": f"/reports/export.csv?{query.query_string()}" if report else "",
        }
        # Without a report (the choices were wrong) htmx gets the whole page: the form shows what to fix.
        page = "pages/reports/report.html"
        return web.render(request, page, "partials/reports/_report.html" if report else page, context,
                          status=400 if errors else 200)

    @get("/export.csv", name="reports_csv",
         summary="Period report as CSV",
         description="The same parameters as /reports. Columns: section, category, label, count (UTF-8 with a byte "
                     "order mark; hours with one decimal and a dot). Each export is audited.")
    async def report_csv(self, request: Request, db: web.DB, user: web.CurrentUser) -> Response:
        try:
            query = reports.parse_query(db, user, _raw(request))
        except reports.InvalidQuery as exc:
            return web.error_page(request, 400, " ".join(exc.errors.values()))
        report = reports.build(db, user, query, action="report_export_csv")
        return Response(
            "\ufeff" + reports.to_csv(report), media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{reports.csv_filename(report)}"'})


ROUTES = [ReportsController]
