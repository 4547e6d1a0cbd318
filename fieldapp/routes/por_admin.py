"""Admin view of the POR feed: what is queued, what was delivered, what keeps failing; 'retry now'."""

from __future__ import annotations

from litestar import Request, Response, get, post
from litestar.response import Redirect, Template

from fieldapp import por, web

ADMIN = {"roles": ("admin",)}


@get("/admin/por", name="por_admin", opt=ADMIN, include_in_schema=False)
async def por_state(request: Request) -> Template:
    state = request.app.state
    worker = state.get("por_worker")
    context = {
        "summary": por.summary(state.db),
        "configured": bool(state.settings.por_url),
        "worker_running": bool(worker and worker.running),
        "retried": request.query_params.get("retried"),
    }
    template = "partials/admin/_por_state.html" if web.is_htmx(request) else "pages/admin/por.html"
    return Template(template, context=context)


@post("/admin/por/retry", name="por_retry", opt=ADMIN, include_in_schema=False)
async def por_retry(request: Request) -> Response:
    count = por.retry_now(request.app.state.db, request.scope["user"].id)
    worker = request.app.state.get("por_worker")
    if worker is not None:
        worker.wake()
    return Redirect(f"/admin/por?retried={count}", status_code=303)


ROUTES = [por_state, por_retry]
