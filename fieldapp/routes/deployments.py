"""Deployments for leads (create, edit, assign officers) and one-tap check-in / check-out for the field.

The deployment page itself (GET /deployments/{id}) lives in routes/records.py; the literal path
/deployments/new is preferred by the router over that parameter path.
"""

from __future__ import annotations

from datetime import timedelta

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from fieldapp import access, accounts, deployments, web
from fieldapp.clock import HELSINKI, local_input_value, utcnow
from fieldapp.errors import ValidationFailed
from fieldapp.i18n import gettext as _

TEXT_FIELDS = ("name", "kind", "place_name", "lat", "lon", "starts_at", "ends_at", "notes")


def _new_form() -> dict:
    """A new deployment starts at the next full hour and lasts four hours."""
    start = (utcnow().astimezone(HELSINKI) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    return {"name": "", "kind": "", "place_name": "", "lat": "", "lon": "", "notes": "",
            "starts_at": local_input_value(start), "ends_at": local_input_value(start + timedelta(hours=4)),
            "assigned": [], "version": ""}


def _stored_form(db, deployment: dict) -> dict:
    form = {name: "" if deployment.get(name) is None else str(deployment[name]) for name in TEXT_FIELDS}
    form["starts_at"] = local_input_value(deployment["starts_at"])
    form["ends_at"] = local_input_value(deployment["ends_at"])
    form["assigned"] = sorted(deployments.assigned_user_ids(db, deployment["id"]))
    form["version"] = str(deployment["version"])
    return form


def _typed_form(raw: dict) -> dict:
    """What the user sent, kept as typed so that an error page shows it again."""
    form = {}
    for name in (*TEXT_FIELDS, "version"):
        value = raw.get(name, "")
        value = value[-1] if isinstance(value, list) and value else value
        form[name] = value if isinstance(value, str) else ""
    assigned = raw.get("assigned", [])
    form["assigned"] = [a for a in (assigned if isinstance(assigned, list) else [assigned]) if isinstance(a, str)]
    return form


def _form_response(request: Request, db, user, form: dict, deployment: dict | None = None,
                   errors: dict | None = None, status: int = 200, notice: str | None = None) -> Template:
    context = {
        "form": form, "errors": errors or {}, "deployment": deployment, "notice": notice,
        "officers": accounts.officers_of_unit(db, user.unit_id),
        "action": f"/deployments/{deployment['id']}/edit" if deployment else "/deployments",
    }
    return web.render(request, "pages/deployments/form.html", "partials/deployments/_form.html", context,
                      status=status)


def _go_to(request: Request, target: str) -> Response:
    """After a successful POST: a redirect (plain form) or HX-Redirect (an htmx request)."""
    if web.is_htmx(request):
        return Response("", status_code=200, headers={"HX-Redirect": target})
    return Redirect(target, status_code=303)


def _safe_next(value, default: str) -> str:
    value = value[-1] if isinstance(value, list) and value else value
    if isinstance(value, str) and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return default


class DeploymentPlanningController(Controller):
    """Leads plan their unit's deployments: create, edit, assign officers."""

    path = "/deployments"
    guards = [web.roles("lead")]
    dependencies = web.DEPENDENCIES

    @get("/new", name="deployment_new")
    async def new_deployment(self, request: Request, db: web.DB, user: web.CurrentUser) -> Template:
        return _form_response(request, db, user, _new_form())

    @post("/")
    async def create_deployment(self, request: Request, db: web.DB, user: web.CurrentUser) -> Template | Response:
        raw = web.form_dict(await request.form())
        try:
            values, assigned = deployments.validate_input(db, user.unit_id, raw)
        except ValidationFailed as exc:
            return _form_response(request, db, user, _typed_form(raw), errors=exc.errors, status=400)
        deployment = deployments.save(db, user, values, assigned=assigned)
        return _go_to(request, f"/deployments/{deployment['id']}")

    @get("/{deployment_id:str}/edit")
    async def edit_deployment(self, request: Request, db: web.DB, user: web.CurrentUser,
                              deployment_id: FromPath[str]) -> Template:
        deployment = access.visible(db, user, deployment_id)  # a lead's own unit: 404 unknown, 403 another's
        return _form_response(request, db, user, _stored_form(db, deployment), deployment)

    @post("/{deployment_id:str}/edit")
    async def update_deployment(self, request: Request, db: web.DB, user: web.CurrentUser,
                                deployment_id: FromPath[str]) -> Template | Response:
        deployment = access.visible(db, user, deployment_id)
        raw = web.form_dict(await request.form())
        form = _typed_form(raw)
        try:
            values, assigned = deployments.validate_input(db, user.unit_id, raw)
        except ValidationFailed as exc:
            return _form_response(request, db, user, form, deployment, errors=exc.errors, status=400)
        base_version = int(form["version"]) if form["version"].isascii() and form["version"].isdigit() else None
        try:
            deployments.save(db, user, values, deployment_id, assigned=assigned, base_version=base_version)
        except deployments.EditConflict as exc:
            # Keep what this lead typed; saving again overwrites the other change knowingly.
            form["version"] = str(exc.current["version"])
            return _form_response(request, db, user, form, exc.current, status=409, notice=_(
                "Someone else changed this deployment while you were editing. Check the values and save again."))
        return _go_to(request, f"/deployments/{deployment_id}")


class PresenceController(Controller):
    """One-tap check-in and check-out for the people in the field."""

    path = "/deployments/{deployment_id:str}"
    guards = [web.roles(*web.FIELD_ROLES)]
    dependencies = web.DEPENDENCIES

    @post("/check-in")
    async def check_in(self, request: Request, db: web.DB, user: web.CurrentUser,
                       deployment_id: FromPath[str]) -> Response:
        return await _presence_response(request, db, user, deployment_id, deployments.check_in)

    @post("/check-out")
    async def check_out(self, request: Request, db: web.DB, user: web.CurrentUser,
                        deployment_id: FromPath[str]) -> Response:
        return await _presence_response(request, db, user, deployment_id, deployments.check_out)


async def _presence_response(request: Request, db, user, deployment_id: str, action) -> Response:
    raw = {}
    if request.headers.get("content-type", "").startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        raw = web.form_dict(await request.form())
    try:
        action(db, user, deployment_id)
    except deployments.PresenceClosed as exc:
        return web.error_page(request, 400, str(exc))
    target = _safe_next(raw.get("next"), f"/deployments/{deployment_id}")
    if web.is_htmx(request):
        return Template("partials/deployments/_presence.html",
                        context={"deployment": deployments.get(db, deployment_id), "presence_next": target})
    return Redirect(target, status_code=303)


ROUTES = [DeploymentPlanningController, PresenceController]
