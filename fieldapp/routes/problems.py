"""POR problems (open from a hotspot, a deployment or by hand; measures; close with an outcome) and the partner
directory (entries, CSV import and export, who was at a deployment).

Every field role of a unit and its administrators read; leads and administrators (and officers a lead allowed,
for problems) edit; other units get the same 404 as for an unknown id. Plain forms with POST-redirect-GET.
"""

from __future__ import annotations

from datetime import date, timedelta

import h3
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath
from litestar.response import Redirect, Template

from fieldapp import access, deployments, partners, picture, problems, web
from fieldapp.clock import utcnow
from fieldapp.errors import Forbidden, NotFound
from fieldapp.i18n import gettext as _

READ_ROLES = ("officer", "staff", "lead", "admin")
PROBLEM_FIELDS = ("title", "place_name", "description", "review_date", "public_title", "cells", "partner_ids")


def _redirect(request: Request, target: str) -> Response:
    if web.is_htmx(request):
        return Response("", status_code=200, headers={"HX-Redirect": target})
    return Redirect(target, status_code=303)


def _typed(raw: dict, names) -> dict:
    """What was typed, as typed (lists kept for the multi-value fields)."""
    form = {}
    for name in names:
        value = raw.get(name, "")
        if name in ("partner_ids", "cells", "languages"):
            form[name] = [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str) and v]
        else:
            value = value[-1] if isinstance(value, list) and value else value
            form[name] = value if isinstance(value, str) else ""
    return form


def _origin(db, user, raw: dict) -> tuple[problems.Origin, dict]:
    """Where a new problem comes from (query or form: cell + window, or deployment) and its context for the form;
    a bad cell or window is FilterInvalid, an unseen deployment NotFound."""
    cell = raw.get("cell") or ""
    cell = cell[-1] if isinstance(cell, list) else cell
    deployment_id = raw.get("deployment") or ""
    deployment_id = deployment_id[-1] if isinstance(deployment_id, list) else deployment_id
    if cell:
        picture.parse_cell(cell)
        flt = picture.parse_filter(db, {k: raw[k] for k in ("window", "from", "to") if raw.get(k)})
        origin = problems.Origin("hotspot", cell, flt.start, flt.end)
        return origin, {"origin_query": flt.query() | {"cell": cell}, "origin_records": len(
            problems.hotspot_records(db, user.unit_id, cell, flt.start, flt.end))}
    if deployment_id:
        try:
            deployment = access.visible(db, user, deployment_id) if user.role != "admin" else None
        except Forbidden:
            raise NotFound(deployment_id) from None
        if deployment is None:
            raise NotFound(deployment_id)
        return problems.Origin("deployment", deployment=deployment), {
            "origin_query": {"deployment": deployment_id},
            "origin_records": len(problems.deployment_records(db, deployment_id))}
    return problems.Origin(), {"origin_query": {}, "origin_records": 0}


class ProblemsController(Controller):
    """The unit's problems: list, open, detail with history, edit, measures, close; officers a lead allows."""

    path = "/problems"
    guards = [web.roles(*READ_ROLES)]
    dependencies = web.DEPENDENCIES
    include_in_schema = False

    def _form(self, request: Request, db, user, form: dict, origin_context: dict, errors: dict | None = None,
              status: int = 200, problem: dict | None = None) -> Template:
        context = {"form": form, "errors": errors or {}, "problem": problem, **origin_context,
                   "partner_options": [p for p in partners.for_unit(db, user.unit_id)  # inactive: only if chosen
                                       if p["active"] or p["id"] in form.get("partner_ids", [])],
                   "problems_page": True}
        return web.render(request, "pages/problems/form.html", "partials/problems/_form.html", context, status=status)

    @get("/", name="problems")
    async def problem_list(self, writer: web.AppWriter, request: Request, db: web.DB,
                           user: web.CurrentUser) -> Template:
        if not problems.may_read(user):
            raise Forbidden("problems")
        found = problems.for_unit(db, user.unit_id)
        await web.log_read(writer, user.id, "list", "problem", None, shown=len(found))
        today = utcnow().date()
        return web.render(request, "pages/problems/list.html", "partials/problems/_list.html", {
            "problems": found, "today": today.isoformat(), "may_edit": problems.may_edit(db, user),
            "overdue": problems.measures_overdue(db, user.unit_id, today), "problems_page": True})

    @get("/new")
    async def new_problem(self, request: Request, db: web.DB, user: web.CurrentUser) -> Template | Response:
        if not problems.may_edit(db, user):
            raise Forbidden("problems")
        raw = dict(request.query_params)
        try:
            origin, origin_context = _origin(db, user, raw)
        except picture.FilterInvalid as exc:
            return web.error_page(request, 400, next(iter(exc.errors.values())))
        form = {"title": "", "place_name": "", "description": "", "public_title": "", "partner_ids": [],
                "cells": [], "review_date": (utcnow().date() + timedelta(days=28)).isoformat()}
        if origin.kind == "deployment":
            form["place_name"] = origin.deployment["place_name"]
            form["partner_ids"] = [p["id"] for p in partners.for_deployment(db, origin.deployment["id"])]
        return self._form(request, db, user, form, {**origin_context, "origin": origin})

    @post("/")
    async def create_problem(self, request: Request, db: web.DB, user: web.CurrentUser) -> Template | Response:
        if not problems.may_edit(db, user):
            raise Forbidden("problems")
        raw = web.form_dict(await request.form())
        form = _typed(raw, PROBLEM_FIELDS)
        try:
            origin, origin_context = _origin(db, user, raw)
        except picture.FilterInvalid as exc:
            return web.error_page(request, 400, next(iter(exc.errors.values())))
        try:
            problem = problems.open_problem(db, user, raw, origin)
        except problems.ProblemInvalid as exc:
            return self._form(request, db, user, form, {**origin_context, "origin": origin}, exc.errors, 400)
        return _redirect(request, f"/problems/{problem['id']}")

    @get("/openers", guards=[web.roles("lead")])
    async def opener_list(self, request: Request, db: web.DB, user: web.CurrentUser) -> Template:
        return web.render(request, "pages/problems/openers.html", "partials/problems/_openers.html",
                          {"officers": problems.openers(db, user.unit_id), "problems_page": True})

    @post("/openers", guards=[web.roles("lead")])
    async def set_opener(self, request: Request, db: web.DB, user: web.CurrentUser) -> Response:
        raw = web.form_dict(await request.form())
        problems.set_opener(db, user, str(raw.get("user_id", "")), raw.get("allowed") == "1")
        return _redirect(request, "/problems/openers")

    @get("/{problem_id:str}")
    async def problem_detail(self, writer: web.AppWriter, request: Request, db: web.DB, user: web.CurrentUser,
                             problem_id: FromPath[str]) -> Template:
        problem = problems.get(db, user, problem_id)
        await web.log_read(writer, user.id, "view", "problem", problem_id)
        return self._detail_page(request, db, user, problem)

    def _detail_page(self, request: Request, db, user, problem: dict, errors: dict | None = None,
                     measure_form: dict | None = None, status: int = 200) -> Template:
        return web.render(request, "pages/problems/detail.html", "partials/problems/_detail.html",
                          self._detail(db, user, problem, errors, measure_form), status=status)

    async def _change(self, request: Request, db, user, problem_id: str, target: str, change,
                      typed: tuple = ()) -> Template | Response:
        """Load the problem, make one change from the posted form and go to `target`; a change the domain refuses
        shows the problem again with the reasons (400), the fields named in `typed` as they were typed."""
        problem = problems.get(db, user, problem_id)
        raw = web.form_dict(await request.form())
        try:
            change(problem, raw)
        except problems.ProblemInvalid as exc:
            form = _typed(raw, typed) if typed else None
            return self._detail_page(request, db, user, problem, exc.errors, form, status=400)
        return _redirect(request, target)

    def _detail(self, db, user, problem: dict, errors: dict | None = None, measure_form: dict | None = None) -> dict:
        partner_rows = partners.by_ids(db, user.unit_id, problem["partner_ids"])
        return {"problem": problem, "partners": partner_rows, "may_edit": problems.may_edit(db, user),
                "records": problems.linked_records(db, user, problem["id"]),
                "history": problems.history(db, problem["id"]), "errors": errors or {},
                "measure_form": measure_form or {"what": "", "who": "", "due_date": "", "public": ""},
                "today": utcnow().date().isoformat(), "public": problems.public_summary(db, problem),
                "change": problems.trend_change(problem["trend_before"], problem["trend_after"]),
                "deployment_options": deployments.for_user(db, user) if user.role != "admin" else [],
                "cell_places": problems.cell_places(db, problem["unit_id"], problem["cells"]), "problems_page": True}

    @get("/{problem_id:str}/edit")
    async def edit_problem(self, request: Request, db: web.DB, user: web.CurrentUser,
                           problem_id: FromPath[str]) -> Template:
        problem = problems.get(db, user, problem_id)
        if not problems.may_edit(db, user):
            raise Forbidden(problem_id)
        form = {k: problem.get(k) or ("" if k not in ("cells", "partner_ids") else []) for k in PROBLEM_FIELDS}
        return self._form(request, db, user, form, {"origin": None, "origin_query": {}, "origin_records": 0},
                          problem=problem)

    @post("/{problem_id:str}")
    async def update_problem(self, request: Request, db: web.DB, user: web.CurrentUser,
                             problem_id: FromPath[str]) -> Template | Response:
        problem = problems.get(db, user, problem_id)
        raw = web.form_dict(await request.form())
        try:
            problems.update(db, user, problem, raw)
        except problems.ProblemInvalid as exc:
            return self._form(request, db, user, _typed(raw, PROBLEM_FIELDS),
                              {"origin": None, "origin_query": {}, "origin_records": 0}, exc.errors, 400, problem)
        return _redirect(request, f"/problems/{problem_id}")

    @post("/{problem_id:str}/measures")
    async def add_measure(self, request: Request, db: web.DB, user: web.CurrentUser,
                          problem_id: FromPath[str]) -> Template | Response:
        return await self._change(
            request, db, user, problem_id, f"/problems/{problem_id}#measures",
            lambda problem, raw: problems.add_measure(db, user, problem, raw),
            typed=("what", "who", "due_date", "public"))

    @post("/{problem_id:str}/measures/{measure_id:str}")
    async def measure_state(self, request: Request, db: web.DB, user: web.CurrentUser, problem_id: FromPath[str],
                            measure_id: FromPath[str]) -> Template | Response:
        return await self._change(
            request, db, user, problem_id, f"/problems/{problem_id}#measures",
            lambda problem, raw: problems.set_measure_state(db, user, problem, measure_id, str(raw.get("state", ""))))

    @post("/{problem_id:str}/records")
    async def link_deployment_records(self, request: Request, db: web.DB, user: web.CurrentUser,
                                      problem_id: FromPath[str]) -> Template | Response:
        """Link the records of one more deployment the user can see (leads and allowed officers)."""
        problem = problems.get(db, user, problem_id)
        if not problems.may_edit(db, user):
            raise Forbidden(problem_id)
        raw = web.form_dict(await request.form())
        deployment_id = raw.get("deployment")
        deployment_id = deployment_id if isinstance(deployment_id, str) else ""
        try:
            deployment = access.visible(db, user, deployment_id) if user.role != "admin" else None
        except (NotFound, Forbidden):
            deployment = None
        if deployment is None:
            return self._detail_page(request, db, user, problem, {"deployment": _("Choose a deployment.")},
                                     status=400)
        problems.link_records(db, user, problem, problems.deployment_records(db, deployment["id"]))
        return _redirect(request, f"/problems/{problem_id}")

    @post("/{problem_id:str}/close")
    async def close_problem(self, request: Request, db: web.DB, user: web.CurrentUser,
                            problem_id: FromPath[str]) -> Template | Response:
        return await self._change(
            request, db, user, problem_id, f"/problems/{problem_id}",
            lambda problem, raw: problems.close(db, user, problem, str(raw.get("outcome", ""))))


PARTNER_FIELDS = ("name", "kind", "languages", "area", "offers", "contact_role", "active")


class PartnersController(Controller):
    """The partner directory: list, entry, new/edit (leads, administrators), CSV export and import."""

    path = "/partners"
    guards = [web.roles(*READ_ROLES)]
    dependencies = web.DEPENDENCIES
    include_in_schema = False

    def _form(self, request: Request, form: dict, errors: dict | None = None, status: int = 200,
              partner: dict | None = None) -> Template:
        return web.render(request, "pages/partners/form.html", "partials/partners/_form.html",
                          {"form": form, "errors": errors or {}, "partner": partner, "partners_page": True},
                          status=status)

    def _list(self, request: Request, db, user, import_errors: list | None = None, imported: dict | None = None,
              status: int = 200, csv_text: str = "") -> Template:
        rows = partners.for_unit(db, user.unit_id)
        return web.render(request, "pages/partners/list.html", "partials/partners/_list.html", {
            "partners": rows, "may_edit": partners.may_edit(user), "import_errors": import_errors or [],
            "csv_text": csv_text, "partners_page": True}, status=status)

    @get("/", name="partners")
    async def partner_list(self, request: Request, db: web.DB, user: web.CurrentUser) -> Template:
        if not partners.may_read(user):
            raise Forbidden("partners")
        return self._list(request, db, user)

    @get("/new")
    async def new_partner(self, request: Request, user: web.CurrentUser) -> Template:
        if not partners.may_edit(user):
            raise Forbidden("partners")
        return self._form(request, {"name": "", "kind": "", "languages": [], "area": "", "offers": "",
                                    "contact_role": "", "active": True})

    @post("/")
    async def create_partner(self, request: Request, db: web.DB, user: web.CurrentUser) -> Template | Response:
        if not partners.may_edit(user):
            raise Forbidden("partners")
        raw = web.form_dict(await request.form())
        raw["active"] = raw.get("active") == "1"
        try:
            partner = partners.save(db, user, raw)
        except partners.PartnerInvalid as exc:
            return self._form(request, {**_typed(raw, PARTNER_FIELDS), "active": raw["active"]}, exc.errors, 400)
        return _redirect(request, f"/partners/{partner['id']}")

    @get("/export.csv", media_type="text/csv")
    async def export_csv(self, writer: web.AppWriter, db: web.DB, user: web.CurrentUser) -> Response[str]:
        if not partners.may_read(user):
            raise Forbidden("partners")
        rows = partners.for_unit(db, user.unit_id)
        await web.log_read(writer, user.id, "export", "partner", None, rows=len(rows))
        return Response(partners.to_csv(rows), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="fieldapp-partners-{date.today():%Y%m%d}.csv"'})

    @post("/import")
    async def import_csv(self, request: Request, db: web.DB, user: web.CurrentUser) -> Template | Response:
        if not partners.may_edit(user):
            raise Forbidden("partners")
        form = await request.form()
        upload = form.get("csv_file")
        text = form.get("csv_text") or ""
        if isinstance(upload, UploadFile):
            content = await upload.read()
            if content:
                try:
                    text = content.decode("utf-8")
                except UnicodeDecodeError:
                    return self._list(request, db, user, [(1, "", _("The file is not UTF-8 text."))], status=400)
        text = text if isinstance(text, str) else ""
        try:
            counts = partners.import_csv(db, user, text)
        except partners.ImportInvalid as exc:
            return self._list(request, db, user, exc.errors, status=400, csv_text=text if len(text) < 100_000 else "")
        return _redirect(request, f"/partners?created={counts['created']}&updated={counts['updated']}")

    @get("/{partner_id:str}")
    async def partner_detail(self, request: Request, db: web.DB, user: web.CurrentUser,
                             partner_id: FromPath[str]) -> Template:
        partner = partners.get(db, user, partner_id)
        return web.render(request, "pages/partners/detail.html", "partials/partners/_detail.html", {
            "partner": partner, "usage": partners.usage(db, partner_id), "may_edit": partners.may_edit(user),
            "partners_page": True})

    @get("/{partner_id:str}/edit")
    async def edit_partner(self, request: Request, db: web.DB, user: web.CurrentUser,
                           partner_id: FromPath[str]) -> Template:
        partner = partners.get(db, user, partner_id)
        if not partners.may_edit(user):
            raise Forbidden(partner_id)
        return self._form(request, {k: partner[k] for k in PARTNER_FIELDS}, partner=partner)

    @post("/{partner_id:str}")
    async def update_partner(self, request: Request, db: web.DB, user: web.CurrentUser,
                             partner_id: FromPath[str]) -> Template | Response:
        partner = partners.get(db, user, partner_id)
        raw = web.form_dict(await request.form())
        raw["active"] = raw.get("active") == "1"
        try:
            partners.save(db, user, raw, partner)
        except partners.PartnerInvalid as exc:
            return self._form(request, {**_typed(raw, PARTNER_FIELDS), "active": raw["active"]}, exc.errors, 400,
                              partner)
        return _redirect(request, f"/partners/{partner_id}")

    @post("/deployments/{deployment_id:str}")
    async def deployment_partners(self, request: Request, db: web.DB, user: web.CurrentUser,
                                  deployment_id: FromPath[str]) -> Response:
        """Who was there: the partners at a deployment (leads; administrators see no deployments)."""
        if user.role != "lead":
            raise Forbidden(deployment_id)
        deployment = access.visible(db, user, deployment_id)
        raw = web.form_dict(await request.form())
        ids = raw.get("partner_ids") or []
        try:
            partners.set_for_deployment(db, user, deployment, ids if isinstance(ids, list) else [ids])
        except partners.PartnerInvalid as exc:
            return web.error_page(request, 400, next(iter(exc.errors.values())))
        return _redirect(request, f"/deployments/{deployment_id}")


ROUTES = [ProblemsController, PartnersController]


def problems_for_hotspots(db, user, scope: picture.Scope) -> dict:
    """What the hotspot list needs to say whether a hotspot already has a problem, or to offer opening one."""
    return {"problem_cells": problems.open_problem_cells(db, scope.unit_id),
            "open_problems": problems.for_unit(db, scope.unit_id, "open") if problems.may_read(user) else [],
            "problems_for_cell": problems.problems_for_cell, "may_open_problem": problems.may_edit(db, user)}


def problem_areas_for_map(db, user, scope: picture.Scope) -> list[dict]:
    """The unit's open problems' areas for the tension map (issue 14): each problem's title, address and its cells'
    outlines ([lat, lon] rings). None for a role that does not read problems."""
    if not problems.may_read(user):
        return []
    cells_of: dict[str, list[str]] = {}
    for cell, found in problems.open_problem_cells(db, scope.unit_id).items():  # one query for every open problem
        for problem in found:
            cells_of.setdefault(problem["id"], []).append(cell)
    areas = []
    for problem in problems.for_unit(db, scope.unit_id, "open"):
        if problem["id"] in cells_of:
            areas.append({"id": problem["id"], "title": problem["title"], "url": f"/problems/{problem['id']}",
                          "rings": [[[round(lat, 6), round(lon, 6)] for lat, lon in h3.cell_to_boundary(cell)]
                                    for cell in sorted(cells_of[problem["id"]])]})
    return areas


def _deployment_partners(deployment_id: str) -> dict:
    """For a deployment's page: the partners who were there, the unit's active partners to choose from, and
    whether the user may open a problem from it."""
    context = web.ctx()
    db, user = context.db, context.user
    if user is None or not partners.may_read(user):
        return {"present": [], "choices": [], "may_open_problem": False}
    return {"present": partners.for_deployment(db, deployment_id),
            "choices": partners.for_unit(db, user.unit_id, active_only=True) if user.role == "lead" else [],
            "may_open_problem": problems.may_edit(db, user)}


def _referral_partners() -> list[dict]:
    """The active partners of the user's unit an intervention's referral may name."""
    context = web.ctx()
    if context.user is None or not partners.may_read(context.user):
        return []
    return partners.for_unit(context.db, context.user.unit_id, active_only=True)


def _partner_name(partner_id: str) -> str:
    """A partner's name for a record's page (the record's reader sees the unit's directory)."""
    row = web.ctx().db.execute("SELECT name FROM partners WHERE id = ?", [partner_id]).fetchone()
    return row[0] if row else partner_id


# Template globals (registered in app.py): what other areas' pages show of this one without a route of their own.
TEMPLATE_GLOBALS = {"deployment_partners": _deployment_partners, "referral_partners": _referral_partners,
                    "partner_name": _partner_name}
