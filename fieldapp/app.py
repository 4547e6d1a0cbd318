"""create_app(settings) -> Litestar: the one place where the web app is put together."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar
from litestar.config.compression import CompressionConfig
from litestar.datastructures import CacheControlHeader, State
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.plugins.htmx import HTMXPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from fieldapp import (catch_up_worker, followup_worker, i18n, page_loops, por_worker, projections, push_worker,
                      retention_worker, web)
from fieldapp.writer import Writer
from fieldapp.alerts import rules as alert_rules
from fieldapp.db import close_kept, open_db
from fieldapp.routes import (
    admin,
    alerts,
    audit_admin,
    auth,
    categories_admin,
    deployments,
    devices,
    followups,
    home,
    offline,
    partner_summary,
    picture,
    por_admin,
    problems,
    records,
    reports,
)
from fieldapp.routes import basemap as basemap_routes
from fieldapp.routes import activities as activity_routes, yearly as yearly_routes
from fieldapp.services.login import LoginGuard
from fieldapp.settings import Settings
from fieldapp.templating import MinifiedStatic, immutable_when_versioned, make_environment

# Each route module exports ROUTES; the order does not matter (literal paths win over parameters).
ROUTE_MODULES = (auth, home, deployments, records, offline, picture, reports, alerts, admin, por_admin, audit_admin,
                 basemap_routes, devices, followups, problems, partner_summary, categories_admin)
ROUTE_MODULES += (activity_routes, yearly_routes)  # issue 15: preventive activities, the yearly report
STATIC_DIR = Path(__file__).parent / "static"


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the app for these settings (tests build one per test)."""
    settings = settings or Settings.from_env()
    db = open_db(settings.db_path)

    # Background workers (push sender, POR feed) register start/stop here; they open their own connections.
    on_startup: list = []
    on_shutdown: list = []
    por_feed = por_worker.install(db, settings, on_startup, on_shutdown)  # no POR URL: nothing queued, no worker

    # Alert rule thresholds into the database (the projections have no settings), VAPID keys, push sender.
    alert_rules.configure(db, settings.alert_severity, settings.alert_hotspot_score)
    push_sender = push_worker.install(settings, on_startup, on_shutdown)
    retention_worker.install(settings, on_startup, on_shutdown)  # the daily purge (retention.py)
    followup_worker.install(settings, on_startup, on_shutdown, push_sender.wake)  # due-day reminders (followups.py)
    # Records written but not yet projected (the server stopped right after a sync's commit): applied in the
    # background, so that a restart answers at once whatever the backlog; the picture says "updating" meanwhile.
    catch_up = catch_up_worker.install(db, settings, on_startup, on_shutdown)
    # The one writer of sync batches (group commit, a bounded queue: writer.py); it projects what it wrote.
    writer = Writer(settings.db_path, settings.sync_queue_records)
    on_startup.append(writer.start)
    on_shutdown.append(writer.stop)
    for locale in i18n.LOCALES:  # the catalogs compiled now, not by the first request that needs them
        i18n.translations(locale)
    login_guard = LoginGuard(settings)  # the login throttle and the bounded pool for password checks
    env = make_environment()
    env.globals["alert_notice"] = alerts.alert_notice
    env.globals["picture_behind"] = lambda: projections.behind(web.ctx().db)
    env.globals.update(problems.TEMPLATE_GLOBALS)  # the deployment page's partners and "open a problem"
    static = create_static_files_router(
        path="/static", directories=[STATIC_DIR], opt={"public": True},
        cache_control=CacheControlHeader(max_age=3600), include_in_schema=False, file_system=MinifiedStatic(),
        middleware=[immutable_when_versioned])  # pages ask for /static/...?v=<content hash>
    app = Litestar(
        route_handlers=[static, *(handler for module in ROUTE_MODULES for handler in module.ROUTES)],
        guards=[web.access_guard],
        middleware=[DefineMiddleware(web.session_middleware)],
        before_send=[web.security_headers],  # on every response, 404 and 405 of unmatched paths too
        exception_handlers=web.EXCEPTION_HANDLERS,
        template_config=TemplateConfig(engine=JinjaTemplateEngine.from_environment(env)),
        plugins=[HTMXPlugin()],
        # Level 6, not litestar's 9: pages and scripts compress about as small at a fraction of the CPU (a storm's
        # 300 reconnecting devices fetch some 5,000 pages; bench/README.md, "Reconnect storm").
        compression_config=CompressionConfig(backend="gzip", minimum_size=500, gzip_compress_level=6,
                                              exclude_opt_key="precompressed"),  # routes that gzip in a thread
        openapi_config=OpenAPIConfig(title="fieldapp", version="0.1.0", path="/schema",
                                     render_plugins=[ScalarRenderPlugin()]),
        request_max_body_size=settings.max_body_bytes,
        on_startup=on_startup,
        # The threads' connections closed before the app's own: the last one closed folds the WAL into the file.
        on_shutdown=[*on_shutdown, login_guard.close, lambda: close_kept(settings.db_path), lambda: db.conn.close()],
        state=State({"db": db, "settings": settings, "por_worker": por_feed, "push_worker": push_sender,
                     "catch_up": catch_up, "login_guard": login_guard,
                     "writer": writer}),
        debug=False,
    )
    web.document_api_errors(app)
    page_loops.serve_beside(app)  # every request but /livez and the sync batches beside the server's loop
    web.answer_head_as_get(app)  # HEAD of a page: its GET without the body (was 405)
    return app
