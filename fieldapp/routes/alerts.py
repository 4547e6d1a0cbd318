"""Alerts: the inbox, a lead's send form, the delivery report, devices with alerts on, and the push API."""

from __future__ import annotations

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Redirect, Template

from fieldapp import alerts, errors, push, web
from fieldapp.i18n import gettext as _


class PushSubscriptionIn(msgspec.Struct):
    """A browser PushSubscription as PushSubscription.toJSON() gives it (the domain checks the values)."""

    endpoint: str = ""
    keys: dict[str, str] = {}


class PushSubscriptionOut(msgspec.Struct):
    endpoint: str = ""


def _wake_sender(state: State) -> None:
    worker = state.get("push_worker")
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


def _form_response(request: Request, db, user, form: dict, errors: dict | None = None, status: int = 200) -> Template:
    context = {"form": form, "errors": errors or {}, "alerts_page": True, "max_message": alerts.MAX_MESSAGE,
               "deployments": alerts.alertable_deployments(db, user)}
    return web.render(request, "pages/alerts/new.html", "partials/alerts/_form.html", context, status=status)


def _typed(raw: dict) -> dict:
    """What the lead typed, kept as typed for an error page."""
    form = {}
    for name in ("deployment_id", "level", "message"):
        value = raw.get(name, "")
        value = value[-1] if isinstance(value, list) and value else value
        form[name] = value if isinstance(value, str) else ""
    return form


class AlertsController(Controller):
    """The pages: the inbox and an alert, a lead's send form, the devices with alerts on."""

    path = "/alerts"
    guards = [web.roles(*alerts.FIELD_ROLES)]
    dependencies = web.DEPENDENCIES
    include_in_schema = False

    # ---- inbox and detail ----

    @get("/", name="alerts")
    async def inbox(self, db: web.DB, user: web.CurrentUser) -> Template:
        return Template("pages/alerts/list.html", context={"alerts": alerts.inbox(db, user), "alerts_page": True})

    @get("/{alert_id:str}")
    async def alert_detail(self, db: web.DB, user: web.CurrentUser, alert_id: FromPath[str]) -> Template:
        alert = alerts.get_for_user(db, user, alert_id)
        if alert["received"] and not alert["read_at"]:
            alerts.mark_read(db, user, alert_id)
        report = alerts.delivery_report(db, alert_id) if alerts.can_see_deliveries(user, alert) else None
        return Template("pages/alerts/detail.html", context={"alert": alert, "report": report, "alerts_page": True})

    @get("/{alert_id:str}/deliveries")
    async def alert_deliveries(self, db: web.DB, user: web.CurrentUser, alert_id: FromPath[str]) -> Template:
        alert = alerts.get_for_user(db, user, alert_id)
        if not alerts.can_see_deliveries(user, alert):
            raise errors.Forbidden(alert_id)
        return Template("partials/alerts/_deliveries.html",
                        context={"alert": alert, "report": alerts.delivery_report(db, alert_id)})

    # ---- a lead sends ----

    @get("/new", guards=[web.roles("lead")])
    async def new_alert(self, request: Request, db: web.DB, user: web.CurrentUser,
                        deployment: FromQuery[str | None] = None) -> Template:
        if not deployment:  # the deployment happening now is the usual one
            current = [d for d in alerts.alertable_deployments(db, user) if d["status"] == "current"]
            deployment = current[0]["id"] if len(current) == 1 else ""
        return _form_response(request, db, user, {"deployment_id": deployment, "level": "info", "message": ""})

    @post("/", guards=[web.roles("lead")])
    async def send_alert(self, request: Request, state: State, db: web.DB,
                         user: web.CurrentUser) -> Template | Response:
        form = _typed(web.form_dict(await request.form()))
        try:
            alert = alerts.send_alert(db, user, form)
        except alerts.AlertInvalid as exc:
            return _form_response(request, db, user, form, exc.errors, status=400)
        except errors.NotFound:
            return _form_response(request, db, user, form, {"deployment_id": _("Choose a deployment.")}, status=400)
        _wake_sender(state)
        target = f"/alerts/{alert['id']}"
        if web.is_htmx(request):
            return Response("", status_code=200, headers={"HX-Redirect": target})
        return Redirect(target, status_code=303)

    # ---- devices ----

    @get("/devices")
    async def device_list(self, request: Request, db: web.DB, user: web.CurrentUser) -> Template:
        return web.render(request, "pages/alerts/devices.html", "partials/alerts/_devices.html",
                          {"devices": alerts.devices(db, user), "alerts_page": True})

    @post("/devices/{subscription_id:str}/delete")
    async def delete_device(self, request: Request, db: web.DB, user: web.CurrentUser,
                            subscription_id: FromPath[str]) -> Template | Response:
        alerts.unsubscribe(db, user, subscription_id=subscription_id)
        if web.is_htmx(request):
            return Template("partials/alerts/_devices.html", context={"devices": alerts.devices(db, user)})
        return Redirect("/alerts/devices", status_code=303)


class PushApiController(Controller):
    """JSON for the page script and the service worker: the push key, this device's subscription, unread count."""

    path = "/api"
    guards = [web.roles(*alerts.FIELD_ROLES)]
    dependencies = web.DEPENDENCIES

    @get("/push/key")
    async def push_key(self, settings: web.AppSettings) -> dict:
        """The server's public VAPID key (applicationServerKey for pushManager.subscribe)."""
        return {"public_key": push.public_key(push.load_vapid(settings))}

    @post("/push/subscriptions", status_code=201)
    async def add_subscription(self, request: Request, db: web.DB, user: web.CurrentUser, settings: web.AppSettings,
                               data: JSONBody[PushSubscriptionIn]) -> Response:
        """Turn alerts on for this device: the browser's PushSubscription (endpoint and keys)."""
        hosts = alerts.allowed_push_hosts(settings.push_hosts, settings.push_loopback)
        try:
            row = alerts.subscribe(db, user, data.endpoint, data.keys.get("p256dh"), data.keys.get("auth"),
                                   request.headers.get("user-agent"), hosts)
        except alerts.AlertInvalid as exc:
            message = next(iter(exc.errors.values()))
            return Response({"error": message, "errors": exc.errors, "status": 400}, status_code=400)
        return Response({"id": row["id"], "key": alerts.endpoint_key(row["endpoint"]), "label": row["user_agent"]},
                        status_code=201)

    @delete("/push/subscriptions", status_code=200)
    async def remove_subscription(self, db: web.DB, user: web.CurrentUser, data: JSONBody[PushSubscriptionOut]) -> dict:
        """Turn alerts off for this device (the page unsubscribes the browser too)."""
        return {"removed": alerts.unsubscribe(db, user, endpoint=data.endpoint)}

    @get("/alerts/unread")
    async def unread(self, db: web.DB, user: web.CurrentUser) -> dict:
        """How many alerts the user has not opened (for the app shell after a sync)."""
        return {"unread": alerts.unread_count(db, user)}


ROUTES = [AlertsController, PushApiController]
