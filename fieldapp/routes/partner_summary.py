"""What partners may see: a lead's partner summary of an area and period, its public links, and the public page.

The summary follows the disclosure rule (picture/disclosure.py). The public page needs no account (opt public),
is read-only, works without JavaScript, is never indexed, and says clearly when a link has expired or was revoked.
"""

from __future__ import annotations

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from fieldapp import audit, picture, problems, public_links, web
from fieldapp.i18n import gettext as _

PERIODS = ("7d", "30d", "custom")
DEFAULT_RES = 8
# The public page: never in a search engine's index or archive, never kept by a cache.
PUBLIC_HEADERS = {"X-Robots-Tag": "noindex, nofollow, noarchive", "Cache-Control": "no-store",
                  "Referrer-Policy": "no-referrer"}


def _typed(raw: dict) -> dict:
    """What the lead typed, each value as text (kept for the form when something is refused)."""
    form = {}
    for name in ("window", "from", "to", "res", "area", "days"):
        value = raw.get(name, "")
        value = value[-1] if isinstance(value, list) and value else value
        form[name] = value.strip() if isinstance(value, str) else ""
    form["window"] = form["window"] or "30d"
    form["res"] = form["res"] or str(DEFAULT_RES)
    return form


def _question(db, form: dict) -> tuple[picture.PictureFilter, int, int | None]:
    """(period, cell size, area) from the form; FilterInvalid with a message per field."""
    found: dict[str, str] = {}
    flt = res = area = None
    if form["window"] not in PERIODS:
        found["window"] = _("Choose a time window from the list.")
    else:
        try:
            flt = picture.parse_filter(db, {k: form[k] for k in ("window", "from", "to") if form[k]})
        except picture.FilterInvalid as exc:
            found.update(exc.errors)
    try:
        res = picture.parse_res(form["res"], default=DEFAULT_RES)
    except picture.FilterInvalid as exc:
        found.update(exc.errors)
    if form["area"]:
        try:
            area = picture.parse_cell(form["area"])
        except picture.FilterInvalid:
            found["area"] = _("Enter a map cell id from the situation picture, or leave this empty.")
    if found:
        raise picture.FilterInvalid(found)
    return flt, res, area


def _page(request: Request, db, user, form: dict, *, errors_: dict | None = None, status: int = 200,
          summary: picture.PartnerSummary | None = None) -> Template:
    return web.render(request, "pages/partner_summary/summary.html", "partials/partner_summary/_result.html", {
        "form": form, "errors": errors_ or {}, "summary": summary, "periods": PERIODS,
        "windows": {code: _(label) for code, label in picture.WINDOWS.items()},
        "max_days": public_links.MAX_DAYS, "default_days": public_links.DEFAULT_DAYS,
        "cell_sizes": [(res, picture.cell_size_m(res)) for res in reversed(picture.RESOLUTIONS)],
    }, status=status)


class PartnerSummaryController(Controller):
    """A lead's view of what partners would see, and the links published from it."""

    path = "/partner-summary"
    guards = [web.roles("lead")]
    dependencies = web.DEPENDENCIES
    include_in_schema = False

    @get("/", name="partner_summary")
    async def summary_page(self, request: Request, db: web.DB, user: web.CurrentUser) -> Template:
        """The summary of the unit's area (or one cell of it) for a period, exactly as a partner would see it."""
        form = _typed(dict(request.query_params.dict()))
        try:
            flt, res, area = _question(db, form)
        except picture.FilterInvalid as exc:
            return _page(request, db, user, form, errors_=exc.errors, status=400)
        summary = picture.summarise(db, picture.Scope(user.unit_id), flt, res, area, problems=problems.for_partners)
        _audit_view(db, user, summary)
        return _page(request, db, user, form, summary=summary)

    @get("/links", name="partner_links")
    async def links_page(self, request: Request, db: web.DB, user: web.CurrentUser) -> Template:
        return web.render(request, "pages/partner_summary/links.html", "partials/partner_summary/_links.html",
                          {"links": public_links.for_unit(db, user)})

    @post("/links")
    async def publish(self, request: Request, db: web.DB, user: web.CurrentUser) -> Template | Response:
        """Publish the summary of these values as a read-only link (POST-redirect-GET to the list of links)."""
        form = _typed(web.form_dict(await request.form()))
        try:
            flt, res, area = _question(db, form)
        except picture.FilterInvalid as exc:
            return _page(request, db, user, form, errors_=exc.errors, status=400)
        summary = picture.summarise(db, picture.Scope(user.unit_id), flt, res, area, problems=problems.for_partners)
        try:
            days = public_links.parse_days(form["days"])
        except public_links.LinkInvalid as exc:  # the summary again, with the form as typed
            return _page(request, db, user, form, errors_=exc.errors, status=400, summary=summary)
        query = {k: v for k, v in {**flt.query(), "res": str(res), "area": form["area"], "start": summary.start,
                                    "end": summary.end}.items() if v}
        public_links.publish(db, user, summary, query, days)
        return _redirect(request, "/partner-summary/links")

    @post("/links/{link_id:str}/revoke")
    async def revoke(self, request: Request, db: web.DB, user: web.CurrentUser, link_id: FromPath[str]
                     ) -> Template | Response:
        public_links.revoke(db, user, link_id)
        if web.is_htmx(request):
            return Template("partials/partner_summary/_links.html", context={"links": public_links.for_unit(db, user)})
        return Redirect("/partner-summary/links", status_code=303)


def _audit_view(db, user, summary: picture.PartnerSummary) -> None:
    audit.read(db, user.id, "view", "partner_summary", None, res=summary.res, area=summary.area,
               start=summary.start, end=summary.end, cells=len(summary.cells))


def _redirect(request: Request, target: str) -> Response:
    if web.is_htmx(request):
        return Response("", status_code=200, headers={"HX-Redirect": target})
    return Redirect(target, status_code=303)


class PublicSummaryController(Controller):
    """The page a partner opens from a link: no account, read-only, no script, never indexed."""

    path = "/shared"
    dependencies = web.DEPENDENCIES
    include_in_schema = False

    @get("/{token:str}", name="public_summary", opt={"public": True})
    async def public_summary(self, db: web.DB, user: web.UserIfAny, token: FromPath[str]) -> Template:
        opened = public_links.open_link(db, token, user.id if user else None)  # a lead looking: in the log by name
        if opened.state == "open":
            return Template("pages/partner_summary/public.html", headers=PUBLIC_HEADERS, context={
                "summary": opened.summary, "expires_at": opened.expires_at})
        status = 404 if opened.state == "unknown" else 410
        return Template("pages/partner_summary/gone.html", status_code=status, headers=PUBLIC_HEADERS,
                        context={"state": opened.state, "status": status})


ROUTES = [PartnerSummaryController, PublicSummaryController]
