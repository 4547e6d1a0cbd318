"""The strategy's yearly report: the page (GET form, works without JavaScript), CSV and .ods; targets for the
department role. Leads see their unit; the department role every unit of its department and their sum."""

from __future__ import annotations

from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect, Template

from fieldapp import access, i18n, web, year_bars_svg, yearly_ods, yearly_report
from fieldapp.errors import ValidationFailed
from fieldapp.i18n import gettext


def _year(request: Request) -> tuple[int, dict]:
    text = (request.query_params.get("year") or "").strip()
    if not text:
        return yearly_report.this_year(), {}
    try:
        year = int(text)
        yearly_report.check_year(year)
    except (ValueError, ValidationFailed):
        return yearly_report.this_year(), {"year": gettext("Enter a year between %(low)s and %(high)s.",
                                                           low=yearly_report.YEAR_RANGE[0],
                                                           high=yearly_report.YEAR_RANGE[1])}
    return year, {}


def _scope(request: Request) -> str:
    return (request.query_params.get("unit") or "").strip()[:64]


def _charts(report: yearly_report.YearlyReport) -> dict:
    """Per block and section: the indicators' totals, this year against the previous year."""
    charts = {}
    for block in report.blocks:
        for section in yearly_report.SECTIONS:
            rows = [(line.label, line.value, line.previous) for line in block.sections[section] if line.code == ""]
            charts[(block.key, section)] = year_bars_svg.render(
                rows, chart_id=f"chart-{block.key}-{section}",
                title=f"{block.name}: {yearly_report.section_title(section)}",
                this_label=str(report.year), previous_label=str(report.year - 1),
                fmt=lambda v: i18n.format_number(v, 1 if not float(v).is_integer() else 0))
    return charts


class YearlyReportController(Controller):
    """The yearly report and the targets. Every view and export is audited."""

    path = "/yearly"
    guards = [web.roles("lead", "department")]
    dependencies = web.DEPENDENCIES

    @get("/", name="yearly",
         summary="The strategy's yearly report (HTML)",
         description="Query parameters: year, unit (a unit id, or 'all' for the department's sum and every unit).")
    async def report_page(self, request: Request, db: web.DB, user: web.CurrentUser) -> Template:
        year, errors = _year(request)
        scope = _scope(request)
        report = yearly_report.build(db, user, year, scope)
        context = {"report": report, "errors": errors, "year": year, "scope": scope, "charts": _charts(report),
                   "units": yearly_report.visible_units(db, user), "sections": yearly_report.SECTIONS,
                   "section_title": yearly_report.section_title, "how": yearly_report.indicator_how,
                   "may_set_targets": access.may_set_targets(user),
                   "query": f"year={year}" + (f"&unit={scope}" if scope else "")}
        return web.render(request, "pages/yearly/report.html", "partials/yearly/_report.html", context,
                          status=400 if errors else 200)

    @get("/export.csv", name="yearly_csv", summary="The yearly report as CSV",
         description="The same parameters as /yearly. Columns: scope, section, indicator, category, label, year, "
                     "previous_year, target (UTF-8 with a byte order mark).")
    async def report_csv(self, request: Request, db: web.DB, user: web.CurrentUser) -> Response:
        year, errors = _year(request)
        if errors:
            return web.error_page(request, 400, errors["year"])
        report = yearly_report.build(db, user, year, _scope(request), action="yearly_report_export_csv")
        return Response("\ufeff" + yearly_report.to_csv(report), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition":
                                 f'attachment; filename="{yearly_report.filename(report, _scope(request), "csv")}"'})

    @get("/export.ods", name="yearly_ods", summary="The yearly report as an OpenDocument spreadsheet",
         description="The same parameters as /yearly; a sheet per section.")
    async def report_ods(self, request: Request, db: web.DB, user: web.CurrentUser) -> Response:
        year, errors = _year(request)
        if errors:
            return web.error_page(request, 400, errors["year"])
        report = yearly_report.build(db, user, year, _scope(request), action="yearly_report_export_ods")
        return Response(yearly_ods.to_ods(report), media_type="application/vnd.oasis.opendocument.spreadsheet",
                        headers={"Content-Disposition":
                                 f'attachment; filename="{yearly_report.filename(report, _scope(request), "ods")}"'})


def _targets_context(db, user, year: int, unit_id: str, values: dict, errors: dict) -> dict:
    return {"year": year, "unit_id": unit_id, "units": yearly_report.visible_units(db, user), "values": values,
            "errors": errors, "indicators": yearly_report.INDICATORS, "name": yearly_report.indicator_name,
            "how": yearly_report.indicator_how}


class TargetsController(Controller):
    """Targets per unit and year, set by the head of preventive work (department role)."""

    path = "/yearly/targets"
    guards = [web.roles("department")]
    dependencies = web.DEPENDENCIES

    @get("/", name="yearly_targets", summary="The targets form of one unit and year")
    async def targets_form(self, request: Request, db: web.DB, user: web.CurrentUser) -> Template:
        year, errors = _year(request)
        units = yearly_report.visible_unit_ids(db, user)
        unit_id = _scope(request) or (units[0] if units else "")
        if unit_id not in units:
            return web.error_page(request, 404, gettext("Not found."))
        stored = yearly_report.targets(db, [unit_id], year)[unit_id]
        values = {key: i18n.format_number(value) for key, value in stored.items()}
        return web.render(request, "pages/yearly/targets.html", "partials/yearly/_targets.html",
                          _targets_context(db, user, year, unit_id, values, errors), status=400 if errors else 200)

    @post("/", name="yearly_targets_save", summary="Set or clear the targets of one unit and year")
    async def save_targets(self, request: Request, db: web.DB, user: web.CurrentUser) -> Template | Redirect:
        raw = web.form_dict(await request.form())
        unit_id = str(raw.get("unit") or "")
        try:
            year = int(str(raw.get("year") or ""))
        except ValueError:
            year = 0
        try:
            yearly_report.set_targets(db, user, unit_id, year, raw)
        except ValidationFailed as exc:
            values = {k: str(v) for k, v in raw.items()}
            return web.render(request, "pages/yearly/targets.html", "partials/yearly/_targets.html",
                              _targets_context(db, user, year if year else yearly_report.this_year(), unit_id,
                                               values, exc.errors), status=400)
        return Redirect(f"/yearly?year={year}&unit={unit_id}", status_code=303)


ROUTES = [YearlyReportController, TargetsController]
