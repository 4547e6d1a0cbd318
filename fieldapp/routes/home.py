"""Home (my deployments) and the health check."""

from __future__ import annotations

from litestar import Controller, Request, get
from litestar.response import Redirect, Template

from fieldapp import deployments, web


class HomeController(Controller):
    """The start page: an officer's deployments, current first; admins go to their users."""

    path = "/"
    dependencies = web.DEPENDENCIES

    @get("/", name="home")
    async def home(self, request: Request, db: web.DB, user: web.CurrentUser) -> Template | Redirect:
        if user.role == "admin":
            return Redirect("/admin/users", status_code=303)
        return web.render(request, "pages/home.html", "partials/deployments/_list.html",
                          {"deployments": deployments.for_user(db, user)})

    @get("/healthz", opt={"public": True}, include_in_schema=False)
    async def healthz(self, db: web.DB) -> dict:
        db.execute("SELECT 1").fetchone()
        return {"status": "ok"}


ROUTES = [HomeController]
