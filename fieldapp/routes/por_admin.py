"""Admin view of the POR feed: what is queued, what was delivered, what keeps failing; 'retry now'."""

from __future__ import annotations

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.response import Redirect, Template

from fieldapp import por, web


class PorFeedController(Controller):
    """The POR feed's state for administrators, and a nudge for the worker."""

    path = "/admin/por"
    guards = [web.roles("admin")]
    dependencies = web.DEPENDENCIES
    include_in_schema = False

    @get("/", name="por_admin")
    async def por_state(self, request: Request, state: State, db: web.DB, settings: web.AppSettings) -> Template:
        worker = state.get("por_worker")
        return web.render(request, "pages/admin/por.html", "partials/admin/_por_state.html", {
            "summary": por.summary(db),
            "configured": bool(settings.por_url),
            "worker_running": bool(worker and worker.running),
            "retried": request.query_params.get("retried"),
        })

    @post("/retry", name="por_retry")
    async def por_retry(self, state: State, db: web.DB, user: web.CurrentUser) -> Response:
        count = por.retry_now(db, user.id)
        worker = state.get("por_worker")
        if worker is not None:
            worker.wake()
        return Redirect(f"/admin/por?retried={count}", status_code=303)


ROUTES = [PorFeedController]
