"""The access log for administrators: filter by user, record and time, page back, export as CSV.

Looking at the log is itself logged (a list, or an export, of the audit log)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get
from litestar.response import Template

from fieldapp import accounts, audit, clock, web
from fieldapp.i18n import gettext as _, lazy

PAGE_SIZE = 100
EXPORT_MAX = 100_000
FILTERS = ("user", "record", "from", "to", "before")
OUTCOME_LABELS = {"ok": lazy("Done"), "refused": lazy("Refused"), "not_found": lazy("Not found"), "failed": lazy("Failed")}


class FilterInvalid(Exception):
    def __init__(self, errors: dict[str, str]):
        super().__init__(errors)
        self.errors = errors


def _typed(request: Request) -> dict[str, str]:
    return {name: request.query_params.get(name, "").strip()[:100] for name in FILTERS}


def _day_start(text: str) -> str:
    """A date (YYYY-MM-DD) or a local time (YYYY-MM-DDTHH:MM), Helsinki, as UTC text."""
    value = clock.parse(text if "T" in text else text + "T00:00")
    return clock.iso(value)


def _query(db, typed: dict[str, str]) -> audit.LogQuery:
    """The typed filters as a query; FilterInvalid with translated messages for what cannot be read."""
    errors: dict[str, str] = {}
    query = audit.LogQuery(target=typed["record"] or None)
    if typed["user"]:
        found = accounts.by_username(db, typed["user"])
        if found is None:
            errors["user"] = _("No user with this username.")
        else:
            query.user_id = found.id
    for name in ("from", "to"):
        if typed[name]:
            try:
                moment = _day_start(typed[name])
                if name == "to" and "T" not in typed[name]:  # a day given as the end counts in whole
                    moment = clock.iso(clock.parse(moment) + timedelta(days=1))
            except (ValueError, OverflowError):
                errors[name] = _("Give a date as YYYY-MM-DD.")
                continue
            if name == "from":
                query.start = moment
            else:
                query.end = moment
    if typed["before"]:
        if typed["before"].isascii() and typed["before"].isdigit() and len(typed["before"]) < 19:
            query.before_id = int(typed["before"])
        else:
            errors["before"] = _("The page could not be read. Start again from the first page.")
    if errors:
        raise FilterInvalid(errors)
    return query


def _filter_text(typed: dict[str, str]) -> str:
    return " ".join(f"{name}={value}" for name, value in typed.items() if value and name != "before")


class AuditLogController(Controller):
    """The audit log (administrators only)."""

    path = "/admin/audit"
    guards = [web.roles("admin")]
    dependencies = web.DEPENDENCIES
    include_in_schema = False

    @get("/", name="admin_audit")
    async def audit_log(self, writer: web.AppWriter, request: Request, db: web.DB, user: web.CurrentUser) -> Template:
        """Newest first, a page at a time; a plain GET form for the filters (works without JavaScript)."""
        typed = _typed(request)
        try:
            query = _query(db, typed)
        except FilterInvalid as exc:
            return web.render(request, "pages/admin/audit.html", "partials/admin/_audit.html",
                              {"form": typed, "errors": exc.errors, "rows": [], "next_before": None,
                               "export_url": "", "outcomes": _outcomes()}, status=400)
        rows = audit.search(db, query, limit=PAGE_SIZE + 1)
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        await web.log_read(writer, user.id, "list", "audit_log", None, filter=_filter_text(typed), rows=len(rows))
        params = urlencode({name: value for name, value in typed.items() if value and name != "before"})
        return web.render(request, "pages/admin/audit.html", "partials/admin/_audit.html", {
            "form": typed, "errors": {}, "rows": rows, "outcomes": _outcomes(),
            "next_before": rows[-1]["id"] if more and rows else None, "params": params,
            "export_url": "/admin/audit/export.csv" + (f"?{params}" if params else ""),
        })

    @get("/export.csv", name="admin_audit_csv")
    async def audit_csv(self, writer: web.AppWriter, request: Request, db: web.DB, user: web.CurrentUser) -> Response:
        """The filtered rows as CSV (at most EXPORT_MAX), newest first; the export is logged."""
        typed = _typed(request)
        try:
            query = _query(db, typed)
        except FilterInvalid as exc:
            return web.error_page(request, 400, " ".join(exc.errors.values()))
        rows = audit.search(db, query, limit=EXPORT_MAX)
        await web.log_read(writer, user.id, "export", "audit_log", None, filter=_filter_text(typed), rows=len(rows))
        stamp = clock.utcnow().strftime("%Y%m%d-%H%M")
        return Response(audit.to_csv(rows), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="fieldapp-audit-{stamp}.csv"'})


def _outcomes() -> dict[str, str]:
    return {key: _(text) for key, text in OUTCOME_LABELS.items()}


ROUTES = [AuditLogController]
