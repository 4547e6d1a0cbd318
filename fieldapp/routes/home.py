"""Home (my deployments) and the health check."""

from __future__ import annotations

from litestar import Request, get
from litestar.response import Redirect, Template

from fieldapp import deployments, web


@get("/", name="home")
async def home(request: Request) -> Template | Redirect:
    user = request.scope["user"]
    if user.role == "admin":
        return Redirect("/admin/users", status_code=303)
    rows = deployments.for_user(request.app.state.db, user)
    template = "partials/deployments/_list.html" if web.is_htmx(request) else "pages/home.html"
    return Template(template, context={"deployments": rows})


@get("/healthz", opt={"public": True}, include_in_schema=False)
async def healthz(request: Request) -> dict:
    request.app.state.db.execute("SELECT 1").fetchone()
    return {"status": "ok"}


ROUTES = [home, healthz]
