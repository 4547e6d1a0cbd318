"""Log in, log out, choose the language."""

from __future__ import annotations

from typing import Annotated

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery
from litestar.response import Redirect, Template

from fieldapp import accounts, i18n, web
from fieldapp.i18n import gettext as _
from fieldapp.routes.records import FIELD_LABELS

PUBLIC = {"public": True}


def _safe_next(target: str | None) -> str:
    # Only local paths, so the login form cannot be used to send people elsewhere.
    if isinstance(target, str) and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@get("/login", opt=PUBLIC, name="login")
async def login_page(request: Request, next: FromQuery[str | None] = None) -> Template:
    return Template("pages/login.html", context={"next": _safe_next(next), "error": None, "username": ""})


@post("/login", opt=PUBLIC)
async def login(request: Request, data: Annotated[dict, Body(media_type=RequestEncodingType.URL_ENCODED)]) -> Template | Redirect:
    state = request.app.state
    username = str(data.get("username", ""))[:64]
    user = accounts.authenticate(state.db, username, str(data.get("password", ""))[:200])
    target = _safe_next(data.get("next"))
    carried = await _carried_form(request)
    if user is None:
        return Template("pages/login.html", status_code=400, context={
            "next": target, "username": username, "error": _("Wrong username or password."), **carried})
    token, csrf = accounts.start_session(state.db, user, state.settings.session_hours)
    if carried:  # a form sent when the session had ended: shown again, to be sent with the new session
        response = Template("pages/resubmit.html", context={
            "action": carried["carry_action"], "fields": carried["carry"], "csrf": csrf,
            "labels": {name: _(text) for name, text in FIELD_LABELS.items()}})
    else:
        response = Redirect(target, status_code=303)
    response.set_cookie(web.SESSION_COOKIE, token, httponly=True, samesite="lax", path="/",
                        secure=web.secure_cookies(state.settings, request.scope))
    return response


async def _carried_form(request: Request) -> dict:
    """The form the login page carries (web.not_authorized_handler): its action and fields, or nothing."""
    form = await request.form()
    action = form.get("carry_action")
    fields = [(name.removeprefix("carry:"), value) for name, value in form.multi_items()
              if name.startswith("carry:") and isinstance(value, str)]
    if not isinstance(action, str) or _safe_next(action) != action or action == "/" or not fields:
        return {}
    return {"carry_action": action, "carry": fields}


@post("/logout")
async def logout(request: Request) -> Redirect:
    accounts.end_session(request.app.state.db, request.cookies.get(web.SESSION_COOKIE))
    response = Redirect("/login", status_code=303)
    response.delete_cookie(web.SESSION_COOKIE, path="/")
    return response


@post("/language", opt=PUBLIC)
async def choose_language(request: Request, data: Annotated[dict, Body(media_type=RequestEncodingType.URL_ENCODED)]) -> Redirect:
    locale = data.get("locale")
    if locale not in i18n.LOCALES:
        locale = request.app.state.settings.default_locale
    user = request.scope.get("user")
    if user:
        accounts.set_locale(request.app.state.db, user.id, locale)
    response = Redirect(_safe_next(data.get("next")), status_code=303)
    response.set_cookie(web.LANG_COOKIE, locale, httponly=True, samesite="lax", path="/", max_age=3600 * 24 * 365,
                        secure=web.secure_cookies(request.app.state.settings, request.scope))
    return response


ROUTES = [login_page, login, logout, choose_language]


@get("/api/session", opt={"public": True})
async def session_info(request: Request) -> dict:
    """Who is logged in and the CSRF token for scripted requests (the outbox and the service worker)."""
    user = request.scope.get("user")
    if user is None:
        from litestar.exceptions import NotAuthorizedException
        raise NotAuthorizedException(_("Please log in."))
    return {"user": {"id": user.id, "username": user.username, "role": user.role, "display_name": user.display_name},
            "csrf": request.scope["csrf"], "locale": i18n.get_locale()}


ROUTES.append(session_info)
