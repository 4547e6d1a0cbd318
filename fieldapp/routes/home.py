"""Home (my deployments) and the health checks: /livez (the process answers), /healthz (ready for writes)."""

from __future__ import annotations

from litestar import Controller, Request, Response, get, head
from litestar.response import Redirect, Template

from fieldapp import deployments, followups, needs_action, web
from fieldapp.db import write_problem


class HomeController(Controller):
    """The start page: an officer's deployments, current first, and own follow-ups due soonest first; a lead's
    "needs action" above the deployments; admins go to their users."""

    path = "/"
    dependencies = web.DEPENDENCIES

    @get("/", name="home")
    async def home(self, request: Request, db: web.DB, user: web.CurrentUser) -> Template | Redirect:
        if user.role == "admin":
            return Redirect("/admin/users", status_code=303)
        if user.role == "department":  # the head of preventive work reads the units' figures
            return Redirect("/yearly", status_code=303)
        context = {"deployments": deployments.for_user(db, user)}
        if user.role == "lead":
            context.update(sections=needs_action.sections(db, user), refresh_seconds=60)
        else:
            context["my_followups"] = followups.own_queue(db, user)
        return web.render(request, "pages/home.html", "partials/deployments/_list.html", context)

    @get("/livez", opt={"public": True, "on_loop": True}, include_in_schema=False)
    async def livez(self) -> dict:
        """The process answers (a supervisor restarts it when this fails); says nothing about the database."""
        return {"status": "ok"}

    @get("/healthz", opt={"public": True}, include_in_schema=False)
    async def healthz(self, db: web.DB, settings: web.AppSettings) -> Response:
        """Ready: the database answers and takes writes (503 while the disk is full or writes fail for a lock,
        so a load balancer sends devices elsewhere or they wait)."""
        db.execute("SELECT 1").fetchone()
        problem = write_problem(db, settings.db_path)  # a failed write of the sync writer's connection too
        if problem is not None:
            return Response({"status": "unavailable", "problem": problem}, status_code=503,
                            headers={"Retry-After": str(web.RETRY_AFTER_SECONDS[problem])})
        return Response({"status": "ok"}, status_code=200)

    # The same checks asked with HEAD (some monitors do): the status without a body (Litestar answers HEAD only
    # where a route says so; before, both were 405).
    @head("/livez", opt={"public": True, "on_loop": True}, include_in_schema=False)
    async def livez_head(self) -> None:
        return None

    @head("/healthz", opt={"public": True}, include_in_schema=False)
    async def healthz_head(self, db: web.DB, settings: web.AppSettings) -> Response[None]:
        db.execute("SELECT 1").fetchone()
        problem = write_problem(db, settings.db_path)
        if problem is not None:
            return Response(None, status_code=503, headers={"Retry-After": str(web.RETRY_AFTER_SECONDS[problem])})
        return Response(None, status_code=200)


ROUTES = [HomeController]
