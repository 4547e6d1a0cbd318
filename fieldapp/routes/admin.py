"""Administration of users (role admin): list, create, deactivate / reactivate, reset password, end sessions.

Administrators manage accounts only; field records stay out of their reach (deployments.can_view).
"""

from __future__ import annotations

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from fieldapp import accounts, audit, web
from fieldapp.deployments import NotFound
from fieldapp.i18n import gettext as _, lazy

ADMIN = {"roles": ("admin",)}
# Messages shown after a change (POST-redirect-GET carries only the key).
DONE = {
    "created": lazy("The user was created."),
    "deactivated": lazy("The user was deactivated and their sessions ended."),
    "reactivated": lazy("The user was reactivated."),
    "password": lazy("The password was changed and the user's sessions ended."),
    "sessions": lazy("All sessions of the user were ended."),
}


def _db(request: Request):
    return request.app.state.db


def _page(request: Request, page: str, partial: str, context: dict, status: int = 200) -> Template:
    return Template(partial if web.is_htmx(request) else page, context=context, status_code=status)


def _done(key) -> str | None:
    return _(DONE[key]) if isinstance(key, str) and key in DONE else None


def _target_user(request: Request, user_id: str) -> dict:
    row = accounts.user_row(_db(request), user_id)
    if row is None:
        raise NotFound(user_id)
    return row


def _user_context(request: Request, user: dict, done: str | None = None, errors: dict | None = None) -> dict:
    history = audit.for_record(_db(request), "user", user["id"])[::-1][:20]  # newest first
    return {"user": user, "done": _done(done), "errors": errors or {}, "history": history,
            "is_self": user["id"] == request.scope["user"].id}


def _after_change(request: Request, user_id: str, done: str) -> Response:
    if web.is_htmx(request):
        user = _target_user(request, user_id)
        return Template("partials/admin/_user.html", context=_user_context(request, user, done))
    return Redirect(f"/admin/users/{user_id}?done={done}", status_code=303)


@get("/admin/users", opt=ADMIN, name="admin_users")
async def users(request: Request, done: FromQuery[str | None] = None) -> Template:
    rows = accounts.list_users(_db(request))
    return _page(request, "pages/admin/users.html", "partials/admin/_users.html",
                 {"users": rows, "done": _done(done)})


def _new_user_form(request: Request, form: dict, errors: dict | None = None, status: int = 200) -> Template:
    return _page(request, "pages/admin/new_user.html", "partials/admin/_new_user.html",
                 {"form": form, "errors": errors or {}, "units": accounts.units(_db(request))}, status)


@get("/admin/users/new", opt=ADMIN)
async def new_user(request: Request) -> Template:
    me = request.scope["user"]
    return _new_user_form(request, {"username": "", "display_name": "", "role": "officer", "unit_id": me.unit_id or ""})


@post("/admin/users", opt=ADMIN)
async def create_user(request: Request) -> Template | Response:
    raw = web.form_dict(await request.form())
    db, me = _db(request), request.scope["user"]
    try:
        values = accounts.validate_new_user(db, raw)
    except accounts.AccountInvalid as exc:
        form = {name: (raw.get(name) if isinstance(raw.get(name), str) else "")
                for name in ("username", "display_name", "role", "unit_id")}
        return _new_user_form(request, form, exc.errors, status=400)
    user = accounts.create_user(db, values["username"], values["password"], values["role"], values["unit_id"],
                                values["display_name"], created_by=me.id)
    if web.is_htmx(request):
        return Response("", status_code=200, headers={"HX-Redirect": f"/admin/users/{user.id}?done=created"})
    return Redirect(f"/admin/users/{user.id}?done=created", status_code=303)


@get("/admin/users/{user_id:str}", opt=ADMIN)
async def user_page(request: Request, user_id: FromPath[str], done: FromQuery[str | None] = None) -> Template:
    user = _target_user(request, user_id)
    return _page(request, "pages/admin/user.html", "partials/admin/_user.html", _user_context(request, user, done))


@post("/admin/users/{user_id:str}/deactivate", opt=ADMIN)
async def deactivate(request: Request, user_id: FromPath[str]) -> Template | Response:
    user = _target_user(request, user_id)
    if user["id"] == request.scope["user"].id:
        return web.error_page(request, 400, _("You cannot deactivate your own account."))
    accounts.set_active(_db(request), user_id, False, changed_by=request.scope["user"].id)
    return _after_change(request, user_id, "deactivated")


@post("/admin/users/{user_id:str}/reactivate", opt=ADMIN)
async def reactivate(request: Request, user_id: FromPath[str]) -> Template | Response:
    _target_user(request, user_id)
    accounts.set_active(_db(request), user_id, True, changed_by=request.scope["user"].id)
    return _after_change(request, user_id, "reactivated")


@post("/admin/users/{user_id:str}/password", opt=ADMIN)
async def reset_password(request: Request, user_id: FromPath[str]) -> Template | Response:
    user = _target_user(request, user_id)
    raw = web.form_dict(await request.form())
    password = raw.get("password") if isinstance(raw.get("password"), str) else ""
    problem = accounts.password_problem(password)
    if problem:
        context = _user_context(request, user, errors={"password": problem})
        return _page(request, "pages/admin/user.html", "partials/admin/_user.html", context, status=400)
    accounts.set_password(_db(request), user_id, password, changed_by=request.scope["user"].id)
    return _after_change(request, user_id, "password")


@post("/admin/users/{user_id:str}/end-sessions", opt=ADMIN)
async def end_sessions(request: Request, user_id: FromPath[str]) -> Template | Response:
    _target_user(request, user_id)
    accounts.expire_sessions_of(_db(request), user_id, changed_by=request.scope["user"].id)
    return _after_change(request, user_id, "sessions")


ROUTES = [users, new_user, create_user, user_page, deactivate, reactivate, reset_password, end_sessions]
