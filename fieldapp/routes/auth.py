"""Log in, log out, choose the language."""

from __future__ import annotations

import math
from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery
from litestar.response import Redirect, Template

from fieldapp import accounts, devices, i18n, web
from fieldapp.i18n import gettext as _
from fieldapp.record_labels import FIELD_LABELS
from fieldapp.services import login

PUBLIC = {"public": True}
FormData = Annotated[dict, Body(media_type=RequestEncodingType.URL_ENCODED)]
# On a public route nobody may be logged in; the injected value is checked against this type (so not web.CurrentUser).


def _safe_next(target: str | None) -> str:
    # Only local paths, so the login form cannot be used to send people elsewhere.
    if isinstance(target, str) and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


async def _carried_form(request: Request) -> dict:
    """The form the login page carries (web.not_authorized_handler): its action and fields, or nothing."""
    form = await request.form()
    action = form.get("carry_action")
    fields = [(name.removeprefix("carry:"), value) for name, value in form.multi_items()
              if name.startswith("carry:") and isinstance(value, str)]
    if not isinstance(action, str) or _safe_next(action) != action or action == "/" or not fields:
        return {}
    return {"carry_action": action, "carry": fields}


def _too_many_message(refused: login.TooManyAttempts) -> str:
    if refused.busy:
        return _("The server is busy checking other logins. Try again in a moment.")
    minutes = max(1, math.ceil(refused.retry_after / 60))
    return _("Too many failed logins. Try again in %(minutes)s min.", minutes=minutes)


class AuthController(Controller):
    """The session: logging in and out, the language, and who is logged in (for scripts).

    No class-level guard: the login and the language are open to everyone (opt public), the rest needs a login."""

    path = "/"
    dependencies = web.DEPENDENCIES

    @get("/login", opt=PUBLIC, name="login")
    async def login_page(self, next: FromQuery[str | None] = None) -> Template:
        return Template("pages/login.html", context={"next": _safe_next(next), "error": None, "username": ""})

    @post("/login", opt=PUBLIC)
    async def login(self, request: Request, db: web.DB, settings: web.AppSettings,
                    data: FormData) -> Template | Redirect:
        username = str(data.get("username", ""))[:64]
        target = _safe_next(data.get("next"))
        carried = await _carried_form(request)
        page = {"next": target, "username": username, **carried}
        address = request.client.host if request.client else "unknown"
        try:
            user = await login.log_in(db, request.app.state.login_guard, username,
                                      str(data.get("password", ""))[:200], address)
        except login.WrongPassword:
            return Template("pages/login.html", status_code=400,
                            context={**page, "error": _("Wrong username or password.")})
        except login.TooManyAttempts as refused:
            return Template("pages/login.html", status_code=429, headers={"Retry-After": str(refused.retry_after)},
                            context={**page, "error": _too_many_message(refused)})
        device_id, device_token = devices.register(db, user, request.cookies.get(web.DEVICE_COOKIE),
                                                   request.headers.get("user-agent", ""))
        token, csrf = accounts.start_session(db, user, settings.session_hours, settings.session_max_hours,
                                             device_id=device_id)
        if carried:  # a form sent when the session had ended: shown again, to be sent with the new session
            response = Template("pages/resubmit.html", context={
                "action": carried["carry_action"], "fields": carried["carry"], "csrf": csrf,
                "labels": {name: _(text) for name, text in FIELD_LABELS.items()}})
        else:
            response = Redirect(target, status_code=303)
        response.set_cookie(web.SESSION_COOKIE, token, httponly=True, samesite="lax", path="/",
                            secure=web.secure_cookies(settings, request.scope))
        if device_token:
            web.set_device_cookie(response, device_token, settings, request.scope)
        return response

    @post("/logout")
    async def logout(self, request: Request, db: web.DB) -> Redirect:
        accounts.end_session(db, request.cookies.get(web.SESSION_COOKIE))
        response = Redirect("/login", status_code=303)
        response.delete_cookie(web.SESSION_COOKIE, path="/")
        return response

    @post("/language", opt=PUBLIC)
    async def choose_language(self, request: Request, db: web.DB, user: web.UserIfAny, settings: web.AppSettings,
                              data: FormData) -> Redirect:
        locale = data.get("locale")
        if locale not in i18n.LOCALES:
            locale = settings.default_locale
        if user:
            accounts.set_locale(db, user.id, locale)
        response = Redirect(_safe_next(data.get("next")), status_code=303)
        response.set_cookie(web.LANG_COOKIE, locale, httponly=True, samesite="lax", path="/", max_age=3600 * 24 * 365,
                            secure=web.secure_cookies(settings, request.scope))
        return response

    @get("/api/session")
    async def session_info(self, request: Request, user: web.CurrentUser) -> dict:
        """Who is logged in and the CSRF token for scripted requests (the outbox and the service worker)."""
        return {"user": {"id": user.id, "username": user.username, "role": user.role,
                         "display_name": user.display_name},
                "csrf": request.scope["csrf"], "locale": i18n.get_locale()}


ROUTES = [AuthController]
