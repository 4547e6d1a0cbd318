"""Registered devices: each user's own list (rename, revoke), the administrators' list of all with the lost-device
revoke (one device or all of a user's), the device's report of its waiting records, and the page a revoked
device is shown. The rules live in fieldapp.devices and fieldapp.access."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Redirect, Template

from fieldapp import access, accounts, devices, web
from fieldapp.errors import NotFound
from fieldapp.i18n import gettext as _, lazy

DONE = {
    "revoked": lazy("The device was revoked. It deletes the fieldapp data on it the next time it reaches the server."),
    "revoked_all": lazy("The user's devices were revoked. Each deletes the fieldapp data on it the next time it "
                        "reaches the server."),
    "renamed": lazy("The device was renamed."),
}
MY_PAGE, MY_PARTIAL = "pages/devices/mine.html", "partials/devices/_mine.html"
ADMIN_PAGE, ADMIN_PARTIAL = "pages/devices/admin.html", "partials/devices/_admin.html"
CONFIRM_PAGE, CONFIRM_PARTIAL = "pages/devices/confirm.html", "partials/devices/_confirm.html"


def _done(key) -> str | None:
    return _(DONE[key]) if isinstance(key, str) and key in DONE else None


def _current_device_id(request: Request, db) -> str | None:
    device = devices.by_token(db, request.cookies.get(web.DEVICE_COOKIE))
    return device["id"] if device else None


def _device(db, user: accounts.User, device_id: str) -> dict:
    return access.device_managed(user, devices.get(db, device_id))


def _mine_context(request: Request, db, user: accounts.User, done=None, errors=None, names=None) -> dict:
    return {"devices": devices.of_user(db, user.id), "current": _current_device_id(request, db),
            "done": _done(done), "errors": errors or {}, "names": names or {}}


class MyDevicesController(Controller):
    """The devices the user has logged in on: see them, name them, revoke a lost one."""

    path = "/devices"
    guards = [web.roles(*accounts.ROLES)]
    dependencies = web.DEPENDENCIES

    @get("/", name="my_devices")
    async def mine(self, request: Request, db: web.DB, user: web.CurrentUser,
                   done: FromQuery[str | None] = None) -> Template:
        return web.render(request, MY_PAGE, MY_PARTIAL, _mine_context(request, db, user, done))

    @post("/{device_id:str}/name")
    async def rename(self, request: Request, db: web.DB, user: web.CurrentUser,
                     device_id: FromPath[str]) -> Template | Redirect:
        device = _device(db, user, device_id)
        if device["user_id"] != user.id:
            raise NotFound(device_id)
        raw = web.form_dict(await request.form())
        try:
            devices.rename(db, device, raw.get("name"), user.id)
        except devices.DeviceInvalid as exc:
            typed = raw.get("name") if isinstance(raw.get("name"), str) else ""
            return web.render(request, MY_PAGE, MY_PARTIAL, _mine_context(
                request, db, user, errors={device_id: exc.errors["name"]}, names={device_id: typed}), status=400)
        return Redirect("/devices?done=renamed", status_code=303)

    @get("/{device_id:str}/revoke")
    async def confirm(self, request: Request, db: web.DB, user: web.CurrentUser, device_id: FromPath[str]) -> Template:
        device = _device(db, user, device_id)
        return _confirm(request, db, [device], f"/devices/{device_id}/revoke", "/devices",
                        is_current=device["id"] == _current_device_id(request, db))

    @post("/{device_id:str}/revoke")
    async def revoke(self, db: web.DB, user: web.CurrentUser, device_id: FromPath[str]) -> Redirect:
        devices.revoke(db, _device(db, user, device_id), user.id)
        return Redirect("/devices?done=revoked", status_code=303)


def _confirm(request: Request, db, chosen: list[dict], action: str, back: str, owner: dict | None = None,
             is_current: bool = False) -> Template:
    waiting, unknown = devices.waiting_total([d for d in chosen if not d["revoked_at"]])
    return web.render(request, CONFIRM_PAGE, CONFIRM_PARTIAL, {
        "devices": chosen, "action": action, "back": back, "waiting": waiting, "unknown": unknown,
        "owner": owner, "is_current": is_current, "in_use": any(not d["revoked_at"] for d in chosen)})


class AdminDevicesController(Controller):
    """Every registered device, for administrators: the lost-device revoke of one device or of all of a user's."""

    path = "/admin/devices"
    guards = [web.roles("admin")]
    dependencies = web.DEPENDENCIES

    @get("/", name="admin_devices")
    async def everyone(self, request: Request, db: web.DB, user_id: FromQuery[str | None] = None,
                       done: FromQuery[str | None] = None) -> Template:
        owner = accounts.user_row(db, user_id) if user_id and len(user_id) <= 64 else None
        if user_id and owner is None:
            raise NotFound(user_id)
        return web.render(request, ADMIN_PAGE, ADMIN_PARTIAL, {
            "devices": devices.everyone(db, owner["id"] if owner else None), "owner": owner, "done": _done(done)})

    @get("/{device_id:str}/revoke")
    async def confirm(self, request: Request, db: web.DB, user: web.CurrentUser, device_id: FromPath[str]) -> Template:
        device = _device(db, user, device_id)
        return _confirm(request, db, [device], f"/admin/devices/{device_id}/revoke",
                        f"/admin/devices?user_id={device['user_id']}",
                        is_current=device["id"] == _current_device_id(request, db))

    @post("/{device_id:str}/revoke")
    async def revoke(self, db: web.DB, user: web.CurrentUser, device_id: FromPath[str]) -> Redirect:
        device = _device(db, user, device_id)
        devices.revoke(db, device, user.id)
        return Redirect(f"/admin/devices?user_id={device['user_id']}&done=revoked", status_code=303)

    @get("/user/{user_id:str}/revoke")
    async def confirm_all(self, request: Request, db: web.DB, user_id: FromPath[str]) -> Template:
        owner = accounts.user_row(db, user_id)
        if owner is None:
            raise NotFound(user_id)
        return _confirm(request, db, devices.in_use(db, user_id), f"/admin/devices/user/{user_id}/revoke",
                        f"/admin/devices?user_id={user_id}", owner=owner)

    @post("/user/{user_id:str}/revoke")
    async def revoke_all(self, db: web.DB, user: web.CurrentUser, user_id: FromPath[str]) -> Redirect:
        if accounts.user_row(db, user_id) is None:
            raise NotFound(user_id)
        devices.revoke_all(db, user_id, user.id)
        return Redirect(f"/admin/devices?user_id={user_id}&done=revoked_all", status_code=303)


class DeviceReport(msgspec.Struct, forbid_unknown_fields=True):
    """What a device says about itself while online."""

    waiting: Annotated[int, msgspec.Meta(ge=0, le=devices.WAITING_MAX)]  # records its outbox holds, of any state


class DevicePolicy(msgspec.Struct):
    """How long the device may keep others' records (hours without reaching the server; age of a record)."""

    forget_after_hours: int
    keep_hours: int
    device: str | None


class DeviceApiController(Controller):
    path = "/api/device"
    dependencies = web.DEPENDENCIES

    @post("/report", status_code=200, summary="A device reports what its outbox holds",
          description="The count of records waiting or set aside on the device (shown to whoever revokes it); "
                      "answers how long the device may keep others' records offline.")
    async def report(self, request: Request, db: web.DB, user: web.CurrentUser, settings: web.AppSettings,
                     data: JSONBody[DeviceReport]) -> DevicePolicy:
        device = devices.by_token(db, request.cookies.get(web.DEVICE_COOKIE))
        if device is not None and device["user_id"] == user.id:
            devices.report(db, device, data.waiting)
        return DevicePolicy(forget_after_hours=settings.device_forget_hours, keep_hours=devices.KEEP_HOURS,
                            device=device["id"] if device else None)


class RevokedController(Controller):
    """What a wiped device shows afterwards (the wipe itself comes with the 401: web.revoked_device_response)."""

    path = "/device"
    opt = {"public": True}
    include_in_schema = False
    dependencies = web.DEPENDENCIES

    @get("/revoked")
    async def revoked(self, request: Request, user: web.UserIfAny) -> Template | Redirect:
        if user is not None:  # a device in use: what it says would not be true here
            return Redirect("/devices", status_code=303)
        return web.render(request, "pages/devices/revoked.html", "partials/devices/_revoked.html", {"revoked": False})


ROUTES = [MyDevicesController, AdminDevicesController, DeviceApiController, RevokedController]
