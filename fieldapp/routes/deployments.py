"""Deployments for leads (create, edit, assign officers) and one-tap check-in / check-out for the field.

The deployment page itself (GET /deployments/{id}) lives in routes/records.py; the literal path
/deployments/new is preferred by the router over that parameter path.
"""

from __future__ import annotations

from datetime import timedelta

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from fieldapp import accounts, deployments, web
from fieldapp.clock import HELSINKI, local_input_value, utcnow
from fieldapp.i18n import gettext as _
from fieldapp.records import ValidationFailed

LEAD = {"roles": ("lead",)}
FIELD = {"roles": ("officer", "staff", "lead")}
TEXT_FIELDS = ("name", "kind", "place_name", "lat", "lon", "starts_at", "ends_at", "notes")


def _db(request: Request):
    return request.app.state.db


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


def _form_response(request: Request, form: dict, deployment: dict | None = None, errors: dict | None = None,
                   status: int = 200, notice: str | None = None) -> Template:
    user = request.scope["user"]
    context = {
        "form": form, "errors": errors or {}, "deployment": deployment, "notice": notice,
        "officers": accounts.officers_of_unit(_db(request), user.unit_id),
        "action": f"/deployments/{deployment['id']}/edit" if deployment else "/deployments",
    }
    template = "partials/deployments/_form.html" if web.is_htmx(request) else "pages/deployments/form.html"
    return Template(template, context=context, status_code=status)


def _go_to(request: Request, target: str) -> Response:
    """After a successful POST: a redirect (plain form) or HX-Redirect (an htmx request)."""
    if web.is_htmx(request):
        return Response("", status_code=200, headers={"HX-Redirect": target})
    return Redirect(target, status_code=303)


def _lead_deployment(request: Request, deployment_id: str) -> dict:
    """A deployment of the lead's own unit: 404 when unknown, 403 for another unit's."""
    return deployments.visible(_db(request), request.scope["user"], deployment_id)


@get("/deployments/new", opt=LEAD, name="deployment_new")
async def new_deployment(request: Request) -> Template:
    return _form_response(request, _new_form())


@post("/deployments", opt=LEAD)
async def create_deployment(request: Request) -> Template | Response:
    raw = web.form_dict(await request.form())
    user = request.scope["user"]
    try:
        values, assigned = deployments.validate_input(_db(request), user.unit_id, raw)
    except ValidationFailed as exc:
        return _form_response(request, _typed_form(raw), errors=exc.errors, status=400)
    deployment = deployments.save(_db(request), user, values, assigned=assigned)
    return _go_to(request, f"/deployments/{deployment['id']}")


@get("/deployments/{deployment_id:str}/edit", opt=LEAD)
async def edit_deployment(request: Request, deployment_id: FromPath[str]) -> Template:
    deployment = _lead_deployment(request, deployment_id)
    return _form_response(request, _stored_form(_db(request), deployment), deployment)


@post("/deployments/{deployment_id:str}/edit", opt=LEAD)
async def update_deployment(request: Request, deployment_id: FromPath[str]) -> Template | Response:
    deployment = _lead_deployment(request, deployment_id)
    raw = web.form_dict(await request.form())
    user = request.scope["user"]
    form = _typed_form(raw)
    try:
        values, assigned = deployments.validate_input(_db(request), user.unit_id, raw)
    except ValidationFailed as exc:
        return _form_response(request, form, deployment, errors=exc.errors, status=400)
    base_version = int(form["version"]) if form["version"].isdigit() else None
    try:
        deployments.save(_db(request), user, values, deployment_id, assigned=assigned, base_version=base_version)
    except deployments.EditConflict as exc:
        # Keep what this lead typed; saving again overwrites the other change knowingly.
        form["version"] = str(exc.current["version"])
        return _form_response(request, form, exc.current, status=409, notice=_(
            "Someone else changed this deployment while you were editing. Check the values and save again."))
    return _go_to(request, f"/deployments/{deployment_id}")


def _safe_next(value, default: str) -> str:
    value = value[-1] if isinstance(value, list) and value else value
    if isinstance(value, str) and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return default


async def _presence_response(request: Request, deployment_id: str, action) -> Response:
    raw = {}
    if request.headers.get("content-type", "").startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        raw = web.form_dict(await request.form())
    db, user = _db(request), request.scope["user"]
    try:
        action(db, user, deployment_id)
    except deployments.PresenceClosed as exc:
        return web.error_page(request, 400, str(exc))
    target = _safe_next(raw.get("next"), f"/deployments/{deployment_id}")
    if web.is_htmx(request):
        return Template("partials/deployments/_presence.html",
                        context={"deployment": deployments.get(db, deployment_id), "presence_next": target})
    return Redirect(target, status_code=303)


@post("/deployments/{deployment_id:str}/check-in", opt=FIELD)
async def check_in(request: Request, deployment_id: FromPath[str]) -> Response:
    return await _presence_response(request, deployment_id, deployments.check_in)


@post("/deployments/{deployment_id:str}/check-out", opt=FIELD)
async def check_out(request: Request, deployment_id: FromPath[str]) -> Response:
    return await _presence_response(request, deployment_id, deployments.check_out)


ROUTES = [new_deployment, create_deployment, edit_deployment, update_deployment, check_in, check_out]
