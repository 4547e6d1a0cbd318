"""Administration of users (role admin): list, create, deactivate / reactivate, reset password, end sessions.

Administrators manage accounts only; field records stay out of their reach (access.py).
"""

from __future__ import annotations

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from fieldapp import accounts, audit, web
from fieldapp.errors import NotFound
from fieldapp.i18n import gettext as _, lazy

# Messages shown after a change (POST-redirect-GET carries only the key).
DONE = {
    "created": lazy("The user was created."),
    "deactivated": lazy("The user was deactivated and their sessions ended."),
    "reactivated": lazy("The user was reactivated."),
    "password": lazy("The password was changed and the user's sessions ended."),
    "sessions": lazy("All sessions of the user were ended."),
}
USER_PAGE, USER_PARTIAL = "pages/admin/user.html", "partials/admin/_user.html"


def _done(key) -> str | None:
    return _(DONE[key]) if isinstance(key, str) and key in DONE else None


def _account(db, user_id: str) -> dict:
    row = accounts.user_row(db, user_id)
    if row is None:
        raise NotFound(user_id)
    return row


def _user_context(db, me: accounts.User, user: dict, done: str | None = None, errors: dict | None = None) -> dict:
    history = audit.for_record(db, "user", user["id"])[::-1][:20]  # newest first
    return {"user": user, "done": _done(done), "errors": errors or {}, "history": history, "is_self": user["id"] == me.id}


def _after_change(request: Request, db, me: accounts.User, user_id: str, done: str) -> Response:
    """htmx: the user's part with the message; a plain form: POST-redirect-GET to the user's page."""
    if web.is_htmx(request):
        return Template(USER_PARTIAL, context=_user_context(db, me, _account(db, user_id), done))
    return Redirect(f"/admin/users/{user_id}?done={done}", status_code=303)


def _new_user_form(request: Request, db, form: dict, errors: dict | None = None, status: int = 200) -> Template:
    return web.render(request, "pages/admin/new_user.html", "partials/admin/_new_user.html",
                      {"form": form, "errors": errors or {}, "units": accounts.units(db)}, status=status)


class UsersController(Controller):
    """User accounts, for administrators only."""

    path = "/admin/users"
    guards = [web.roles("admin")]
    dependencies = web.DEPENDENCIES

    @get("/", name="admin_users")
    async def users(self, request: Request, db: web.DB, done: FromQuery[str | None] = None) -> Template:
        return web.render(request, "pages/admin/users.html", "partials/admin/_users.html",
                          {"users": accounts.list_users(db), "done": _done(done)})

    @get("/new")
    async def new_user(self, request: Request, db: web.DB, user: web.CurrentUser) -> Template:
        return _new_user_form(request, db, {"username": "", "display_name": "", "role": "officer",
                                            "unit_id": user.unit_id or ""})

    @post("/")
    async def create_user(self, request: Request, db: web.DB, user: web.CurrentUser) -> Template | Response:
        raw = web.form_dict(await request.form())
        try:
            values = accounts.validate_new_user(db, raw)
        except accounts.AccountInvalid as exc:
            form = {name: (raw.get(name) if isinstance(raw.get(name), str) else "")
                    for name in ("username", "display_name", "role", "unit_id")}
            return _new_user_form(request, db, form, exc.errors, status=400)
        created = accounts.create_user(db, values["username"], values["password"], values["role"], values["unit_id"],
                                       values["display_name"], created_by=user.id)
        if web.is_htmx(request):
            return Response("", status_code=200, headers={"HX-Redirect": f"/admin/users/{created.id}?done=created"})
        return Redirect(f"/admin/users/{created.id}?done=created", status_code=303)

    @get("/{user_id:str}")
    async def user_page(self, request: Request, db: web.DB, user: web.CurrentUser, user_id: FromPath[str],
                        done: FromQuery[str | None] = None) -> Template:
        return web.render(request, USER_PAGE, USER_PARTIAL, _user_context(db, user, _account(db, user_id), done))

    @post("/{user_id:str}/deactivate")
    async def deactivate(self, request: Request, db: web.DB, user: web.CurrentUser,
                         user_id: FromPath[str]) -> Template | Response:
        target = _account(db, user_id)
        if target["id"] == user.id:
            return web.error_page(request, 400, _("You cannot deactivate your own account."))
        accounts.set_active(db, user_id, False, changed_by=user.id)
        return _after_change(request, db, user, user_id, "deactivated")

    @post("/{user_id:str}/reactivate")
    async def reactivate(self, request: Request, db: web.DB, user: web.CurrentUser,
                         user_id: FromPath[str]) -> Template | Response:
        _account(db, user_id)
        accounts.set_active(db, user_id, True, changed_by=user.id)
        return _after_change(request, db, user, user_id, "reactivated")

    @post("/{user_id:str}/password")
    async def reset_password(self, request: Request, db: web.DB, user: web.CurrentUser,
                             user_id: FromPath[str]) -> Template | Response:
        target = _account(db, user_id)
        raw = web.form_dict(await request.form())
        password = raw.get("password") if isinstance(raw.get("password"), str) else ""
        problem = accounts.password_problem(password)
        if problem:
            return web.render(request, USER_PAGE, USER_PARTIAL,
                              _user_context(db, user, target, errors={"password": problem}), status=400)
        accounts.set_password(db, user_id, password, changed_by=user.id)
        return _after_change(request, db, user, user_id, "password")

    @post("/{user_id:str}/end-sessions")
    async def end_sessions(self, request: Request, db: web.DB, user: web.CurrentUser,
                           user_id: FromPath[str]) -> Template | Response:
        _account(db, user_id)
        accounts.expire_sessions_of(db, user_id, changed_by=user.id)
        return _after_change(request, db, user, user_id, "sessions")


ROUTES = [UsersController]
