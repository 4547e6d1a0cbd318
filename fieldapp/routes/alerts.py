"""Alerts: the inbox, a lead's send form, the delivery report, devices with alerts on, and the push API."""

from __future__ import annotations

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Redirect, Template

from fieldapp import alerts, deployments, push, web
from fieldapp.i18n import gettext as _

FIELD = {"roles": alerts.FIELD_ROLES}
LEAD = {"roles": ("lead",)}


class PushSubscriptionIn(msgspec.Struct):
    """A browser PushSubscription as PushSubscription.toJSON() gives it (the domain checks the values)."""

    endpoint: str = ""
    keys: dict[str, str] = {}


class PushSubscriptionOut(msgspec.Struct):
    endpoint: str = ""


def _db(request: Request):
    return request.app.state.db


def _wake_sender(request: Request) -> None:
    worker = getattr(request.app.state, "push_worker", None)
    if worker is not None:
        worker.wake()


def alert_notice() -> dict:
    """Unread alerts of the logged-in field user for the header badge and the notice (one query per page)."""
    context = web.ctx()
    cached = getattr(context, "_alert_notice", None)
    if cached is None:
        cached = {"unread": alerts.unread_count(context.db, context.user)}
        context._alert_notice = cached
    return cached


# ---- inbox and detail ----

@get("/alerts", opt=FIELD, name="alerts", include_in_schema=False)
async def inbox(request: Request) -> Template:
    user = request.scope["user"]
    return Template("pages/alerts/list.html", context={
        "alerts": alerts.inbox(_db(request), user), "alerts_page": True})


@get("/alerts/{alert_id:str}", opt=FIELD, include_in_schema=False)
async def alert_detail(request: Request, alert_id: FromPath[str]) -> Template:
    db, user = _db(request), request.scope["user"]
    alert = alerts.get_for_user(db, user, alert_id)
    if alert["received"] and not alert["read_at"]:
        alerts.mark_read(db, user, alert_id)
    report = alerts.delivery_report(db, alert_id) if alerts.can_see_deliveries(user, alert) else None
    return Template("pages/alerts/detail.html", context={"alert": alert, "report": report, "alerts_page": True})


@get("/alerts/{alert_id:str}/deliveries", opt=FIELD, include_in_schema=False)
async def alert_deliveries(request: Request, alert_id: FromPath[str]) -> Template:
    db, user = _db(request), request.scope["user"]
    alert = alerts.get_for_user(db, user, alert_id)
    if not alerts.can_see_deliveries(user, alert):
        raise deployments.Forbidden(alert_id)
    return Template("partials/alerts/_deliveries.html", context={"alert": alert, "report": alerts.delivery_report(db, alert_id)})


# ---- a lead sends ----

def _form_response(request: Request, form: dict, errors: dict | None = None, status: int = 200) -> Template:
    context = {"form": form, "errors": errors or {}, "alerts_page": True, "max_message": alerts.MAX_MESSAGE,
               "deployments": alerts.alertable_deployments(_db(request), request.scope["user"])}
    template = "partials/alerts/_form.html" if web.is_htmx(request) else "pages/alerts/new.html"
    return Template(template, context=context, status_code=status)


def _typed(raw: dict) -> dict:
    """What the lead typed, kept as typed for an error page."""
    form = {}
    for name in ("deployment_id", "level", "message"):
        value = raw.get(name, "")
        value = value[-1] if isinstance(value, list) and value else value
        form[name] = value if isinstance(value, str) else ""
    return form


@get("/alerts/new", opt=LEAD, include_in_schema=False)
async def new_alert(request: Request, deployment: FromQuery[str | None] = None) -> Template:
    if not deployment:  # the deployment happening now is the usual one
        current = [d for d in alerts.alertable_deployments(_db(request), request.scope["user"]) if d["status"] == "current"]
        deployment = current[0]["id"] if len(current) == 1 else ""
    return _form_response(request, {"deployment_id": deployment, "level": "info", "message": ""})


@post("/alerts", opt=LEAD, include_in_schema=False)
async def send_alert(request: Request) -> Template | Response:
    raw = web.form_dict(await request.form())
    form = _typed(raw)
    try:
        alert = alerts.send_alert(_db(request), request.scope["user"], form)
    except alerts.AlertInvalid as exc:
        return _form_response(request, form, exc.errors, status=400)
    except deployments.NotFound:
        return _form_response(request, form, {"deployment_id": _("Choose a deployment.")}, status=400)
    _wake_sender(request)
    target = f"/alerts/{alert['id']}"
    if web.is_htmx(request):
        return Response("", status_code=200, headers={"HX-Redirect": target})
    return Redirect(target, status_code=303)


# ---- devices ----

@get("/alerts/devices", opt=FIELD, include_in_schema=False)
async def device_list(request: Request) -> Template:
    user = request.scope["user"]
    context = {"devices": alerts.devices(_db(request), user), "alerts_page": True}
    template = "partials/alerts/_devices.html" if web.is_htmx(request) else "pages/alerts/devices.html"
    return Template(template, context=context)


@post("/alerts/devices/{subscription_id:str}/delete", opt=FIELD, include_in_schema=False)
async def delete_device(request: Request, subscription_id: FromPath[str]) -> Template | Response:
    alerts.unsubscribe(_db(request), request.scope["user"], subscription_id=subscription_id)
    if web.is_htmx(request):
        return Template("partials/alerts/_devices.html", context={
            "devices": alerts.devices(_db(request), request.scope["user"])})
    return Redirect("/alerts/devices", status_code=303)


# ---- JSON for the page script and the service worker ----

@get("/api/push/key", opt=FIELD)
async def push_key(request: Request) -> dict:
    """The server's public VAPID key (applicationServerKey for pushManager.subscribe)."""
    return {"public_key": push.public_key(push.load_vapid(request.app.state.settings))}


@post("/api/push/subscriptions", opt=FIELD, status_code=201)
async def add_subscription(request: Request, data: JSONBody[PushSubscriptionIn]) -> Response:
    """Turn alerts on for this device: the browser's PushSubscription (endpoint and keys)."""
    try:
        row = alerts.subscribe(_db(request), request.scope["user"], data.endpoint, data.keys.get("p256dh"),
                               data.keys.get("auth"), request.headers.get("user-agent"),
                               alerts.allowed_push_hosts(request.app.state.settings.push_hosts))
    except alerts.AlertInvalid as exc:
        message = next(iter(exc.errors.values()))
        return Response({"error": message, "errors": exc.errors, "status": 400}, status_code=400)
    return Response({"id": row["id"], "key": alerts.endpoint_key(row["endpoint"]), "label": row["user_agent"]},
                    status_code=201)


@delete("/api/push/subscriptions", opt=FIELD, status_code=200)
async def remove_subscription(request: Request, data: JSONBody[PushSubscriptionOut]) -> dict:
    """Turn alerts off for this device (the page unsubscribes the browser too)."""
    removed = alerts.unsubscribe(_db(request), request.scope["user"], endpoint=data.endpoint)
    return {"removed": removed}


@get("/api/alerts/unread", opt=FIELD)
async def unread(request: Request) -> dict:
    """How many alerts the user has not opened (for the app shell after a sync)."""
    return {"unread": alerts.unread_count(_db(request), request.scope["user"])}


ROUTES = [inbox, new_alert, send_alert, device_list, delete_device, alert_detail, alert_deliveries,
          push_key, add_subscription, remove_subscription, unread]
