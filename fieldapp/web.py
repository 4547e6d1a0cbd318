"""Web plumbing shared by all routes: session and language per request, CSRF, roles, security headers, errors."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import hmac
import json
import secrets
import sqlite3
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import quote, urlsplit

import msgspec
from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
)
from litestar.handlers import BaseRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.response import Redirect, Template
from sqlite_utils import Database

from fieldapp import accounts, audit, basemap, categories, devices, errors, i18n, page_loops
from fieldapp.db import reader, unavailable_reason
from fieldapp.i18n import gettext as _
from fieldapp.offline import shell
from fieldapp.settings import Settings
from fieldapp.writer import QueueFull, Writer

SESSION_COOKIE = "fieldapp_session"
ANON_CSRF_COOKIE = "fieldapp_csrf"
LANG_COOKIE = "fieldapp_lang"
DEVICE_COOKIE = "fieldapp_device"  # names the registered device (devices.py); outlives logins
DEVICE_COOKIE_DAYS = 400
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


@dataclass
class RequestContext:
    """What a template or a route needs to know about the person asking."""

    user: accounts.User | None
    csrf: str
    locale: str
    db: object
    settings: object
    head: bool = False  # asked with HEAD, answered as the GET without its body (answer_head_as_get)
    _labels: dict | None = field(default=None, repr=False)
    _options: dict | None = field(default=None, repr=False)

    def labels(self) -> dict[str, dict[str, str]]:
        """Every code's label, retired ones too (old records still show them)."""
        if self._labels is None:
            self._labels = categories.all_labels(self.db, self.locale)
        return self._labels

    def options(self) -> dict[str, list[tuple[str, str]]]:
        """The codes new values may take (active entries), in order."""
        if self._options is None:
            self._options = categories.all_options(self.db, self.locale)
        return self._options


_context: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar("fieldapp_request", default=None)


def ctx() -> RequestContext:
    value = _context.get()
    if value is None:
        raise RuntimeError("no request context")
    return value


def _cookies(scope) -> dict[str, str]:
    jar = SimpleCookie()
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed cookie header means no cookies, not a 500
                return {}
    return {k: v.value for k, v in jar.items()}


def _header(scope, wanted: bytes) -> str | None:
    for name, value in scope.get("headers", []):
        if name == wanted:
            return value.decode("latin-1")
    return None


def secure_cookies(settings, scope) -> bool:
    if settings.secure_cookies == "on":
        return True
    if settings.secure_cookies == "off":
        return False
    return scope.get("scheme") == "https" or _header(scope, b"x-forwarded-proto") == "https"


def content_security_policy(settings) -> str:
    # The tile server, only when one is configured: the map's <img> tiles, and the worker's fetches that cache them.
    tiles = "".join(" " + origin for origin in basemap.tile_origins(settings.tile_url))
    return ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:" + tiles + "; "
            "connect-src 'self'" + tiles + "; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
            "frame-ancestors 'none'; manifest-src 'self'; worker-src 'self'")


HSTS = b"max-age=63072000; includeSubDomains"


async def security_headers(message, scope) -> None:
    """The app's before_send hook: security headers on every response, also those of unmatched paths (404, 405),
    which the route middleware never sees. A header a route set itself is kept."""
    if message["type"] != "http.response.start" or scope["type"] != "http":
        return
    settings = scope["app"].state.settings
    headers = list(message.get("headers", []))
    names = {name.lower() for name, _value in headers}
    extra = [
        (b"content-security-policy", content_security_policy(settings).encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=(self)"),
        (b"cache-control", b"no-store"),
    ]
    if secure_cookies(settings, scope):  # served over https: browsers must not come back over plain http
        extra.append((b"strict-transport-security", HSTS))
    message["headers"] = headers + [header for header in extra if header[0] not in names]


def session_middleware(app):
    """Sets the user, CSRF token and language of each request (the security headers: security_headers)."""

    async def middleware(scope, receive, send):
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        state = scope["app"].state
        db, settings = app_db(state), state.settings
        cookies = _cookies(scope)
        if page_loops.on_page_loop():
            device, found = _session_of(scope, cookies, db)
        elif scope["route_handler"].opt.get("public"):  # /livez: says only that the process answers; reads nothing
            device, found = None, None
        else:  # POST /api/sync, on the server's loop: its session is read by the sessions thread on a read-only
            # connection (no SQLite on the loop; the page loops may be busy with long pages)
            device, found = await asyncio.get_running_loop().run_in_executor(
                _SESSIONS, lambda: _session_of(scope, cookies, reader(settings.db_path)))
        if device is not None and device["revoked_at"]:  # a lost device: wipe it, whatever it asked for
            await revoked_device_response(scope, send, device, cookies)
            return
        new_anon_csrf = None
        if found:
            user, csrf, _device = found
        else:
            user = None
            csrf = cookies.get(ANON_CSRF_COOKIE) or ""
            if len(csrf) < 20:
                csrf = new_anon_csrf = secrets.token_urlsafe(24)
        locale = i18n.negotiate(user.locale if user else None, cookies.get(LANG_COOKIE),
                                _header(scope, b"accept-language"), settings.default_locale)
        scope["user"] = user
        scope["csrf"] = csrf
        request_ctx = RequestContext(user, csrf, locale, db, settings, scope.get(HEAD_KEY, False))
        token = _context.set(request_ctx)
        locale_token = i18n.set_locale(locale)
        secure = secure_cookies(settings, scope)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if new_anon_csrf:
                    cookie = f"{ANON_CSRF_COOKIE}={new_anon_csrf}; Path=/; HttpOnly; SameSite=Lax"
                    headers.append((b"set-cookie", (cookie + ("; Secure" if secure else "")).encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await app(scope, receive, send_with_headers)
        finally:
            i18n._current.reset(locale_token)
            _context.reset(token)

    return middleware


# One thread reads the sessions of the routes on the server's loop (sync batches): a lookup is two reads by key,
# so one thread keeps up with a storm. anyio's worker threads cost a 500 x 50 storm some 20 % more CPU and a
# second more to finish (many threads, each opening its connection, contending for the GIL; bench/README.md).
_SESSIONS = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="fieldapp-sessions")


def _session_of(scope, cookies: dict, db: Database) -> tuple[dict | None, tuple | None]:
    """(the request's device, (user, csrf, device id) of its session or None). Reads only (WAL: they never wait for
    the writer); the sliding expiry and "last seen" are written by the writer thread, so no request waits for the
    write lock here. A revoked device's session is not looked up."""
    state = scope["app"].state
    settings = state.settings
    device = devices.by_token(db, cookies.get(DEVICE_COOKIE))
    if device is not None and device["revoked_at"]:
        return device, None
    later = state.writer.later
    found = accounts.session_user(db, cookies.get(SESSION_COOKIE), settings.session_hours,
                                 settings.session_max_hours, later=later)
    if found:
        tied_to = found[2]
        if tied_to is not None and (device is None or device["id"] != tied_to):
            found = None  # a session cookie carried to another browser is not a login there
        elif device is not None and device["user_id"] == found[0].id:
            devices.seen(db, device, _served_version(scope), later=later)
    return device, found


HEAD_KEY = "fieldapp.head"  # in the scope of a HEAD answered as its GET: the audit log says HEAD


def answer_head_as_get(app) -> None:
    """HEAD of a page answered as its GET without the body (RFC 9110: same status and headers; an uptime monitor
    asks `HEAD /`). Litestar answers HEAD only where a route says so (/livez, /healthz, static files: those keep
    their own); everywhere else it was 405. A route that takes no GET stays 405. The audit rows such a request
    writes say HEAD (log_read, _log_refusal)."""
    own = {route.path for route in app.routes for handler in getattr(route, "route_handlers", ())
           if "HEAD" in handler.http_methods}
    inner = app.asgi_handler

    async def handler(scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "HEAD" or scope["path"] in own:
            await inner(scope, receive, send)
            return

        async def without_body(message):
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await inner({**scope, "method": "GET", HEAD_KEY: True}, receive, without_body)

    app.asgi_handler = handler


def _served_version(scope) -> str | None:
    """The app version a device is given when it fetches the service worker (else None: unchanged)."""
    if scope.get("path") != "/sw.js":
        return None
    return shell.worker_source()[0]  # a hash of what the worker caches (kept until a file changes)


REVOKED_HEADERS = [(b"clear-site-data", b'"cache", "storage"'), (b"x-fieldapp-device", b"revoked")]


def _revoked_answer(scope, device: dict, cookies: dict) -> tuple[bytes, str]:
    """(body, content type) of the 401 a revoked device gets: JSON for scripts, else the page (or for htmx its
    partial) whose data-device-revoked makes the app delete its own storage too. Logs the wipe once."""
    state = scope["app"].state
    db, settings = app_db(state), state.settings
    devices.wipe_delivered(db, device)
    locale = i18n.negotiate(None, cookies.get(LANG_COOKIE), _header(scope, b"accept-language"),
                            settings.default_locale)
    locale_token = i18n.set_locale(locale)
    token = _context.set(RequestContext(None, cookies.get(ANON_CSRF_COOKIE, ""), locale, db, settings))
    try:
        message = _("This device has been taken out of use and the fieldapp data on it was deleted.")
        accept = _header(scope, b"accept") or ""
        if scope["path"].startswith("/api/") or ("application/json" in accept and "text/html" not in accept):
            body = json.dumps({"error": message, "status": 401, "login": "/login", "device": "revoked"}).encode()
            return body, "application/json"
        partial = _header(scope, b"hx-request") == "true" and _header(scope, b"hx-boosted") != "true"
        name = "partials/devices/_revoked.html" if partial else "pages/devices/revoked.html"
        body = scope["app"].template_engine.get_template(name).render(revoked=True, request=Request(scope)).encode()
        return body, "text/html; charset=utf-8"
    finally:
        _context.reset(token)
        i18n._current.reset(locale_token)


def _dropped_cookies(settings, scope) -> list[bytes]:
    secure = "; Secure" if secure_cookies(settings, scope) else ""
    return [f"{name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}".encode()
            for name in (SESSION_COOKIE, DEVICE_COOKIE)]


async def revoked_device_response(scope, send, device: dict, cookies: dict) -> None:
    """401 for every request of a revoked device, with Clear-Site-Data (the browser deletes caches, storage and
    the service worker) and the page or JSON that makes the app delete them itself too. Its cookies are
    dropped, so the browser starts afresh: a new login registers a new device."""
    if page_loops.on_page_loop():
        body, content_type = _revoked_answer(scope, device, cookies)
    else:  # a route on the server's loop (POST /api/sync): the wipe's log entry may wait for the write lock
        body, content_type = await page_loops.run_beside(_revoked_answer, scope, device, cookies)
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()),
               *REVOKED_HEADERS, *((b"set-cookie", cookie) for cookie in _dropped_cookies(scope["app"].state.settings,
                                                                                          scope))]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def revoked_device_error(request: Request) -> Response | None:
    """The same 401 for a path no route matched (the session middleware runs only for routes), or None when the
    request does not come from a revoked device."""
    if "user" in request.scope:  # the middleware ran: it would have answered already
        return None
    cookies = _cookies(request.scope)
    device = devices.by_token(app_db(request.app.state), cookies.get(DEVICE_COOKIE))
    if device is None or not device["revoked_at"]:
        return None
    body, content_type = _revoked_answer(request.scope, device, cookies)
    response = Response(body, status_code=401, media_type=content_type,
                        headers={name.decode(): value.decode() for name, value in REVOKED_HEADERS})
    for cookie in _dropped_cookies(request.app.state.settings, request.scope):
        name = cookie.decode().split("=", 1)[0]
        response.delete_cookie(name, path="/")
    return response


def set_device_cookie(response, token: str, settings, scope) -> None:
    response.set_cookie(DEVICE_COOKIE, token, httponly=True, samesite="lax", path="/",
                        max_age=DEVICE_COOKIE_DAYS * 24 * 3600, secure=secure_cookies(settings, scope))


def cross_site(headers) -> bool:
    """Whether the browser says a request comes from another site (Sec-Fetch-Site, or an Origin that is not this
    host). Scripts and tests send neither header: the CSRF token still guards them."""
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None:  # every current browser sends it, and a proxy does not rewrite it
        return fetch_site not in ("same-origin", "none")
    origin = headers.get("origin")
    if origin is None:
        return False
    try:
        netloc = urlsplit(origin).netloc.lower()
    except ValueError:
        return True
    own = {(headers.get(name) or "").lower() for name in ("host", "x-forwarded-host")}
    return origin == "null" or not netloc or netloc not in own


async def access_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """The app's guard, before any controller's: login unless opt public, CSRF on unsafe methods.

    Set on the app, not per controller, so that a route nobody thought about is closed by default."""
    opt = handler.opt
    user = connection.scope.get("user")
    if not opt.get("public") and user is None:
        await _park_form(connection)
        raise NotAuthorizedException(_("Please log in."))
    if connection.scope["method"] not in SAFE_METHODS and cross_site(connection.headers):
        raise PermissionDeniedException(_("This request came from another site and was refused."))
    if connection.scope["method"] not in SAFE_METHODS and not opt.get("csrf_exempt"):
        sent = connection.headers.get("x-csrf-token")
        if not sent:
            content_type = connection.headers.get("content-type", "")
            if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
                form = await Request(connection.scope, connection.receive).form()
                sent = form.get("_csrf")
        expected = connection.scope.get("csrf") or ""
        if not sent or not expected or not hmac.compare_digest(str(sent), expected):
            raise PermissionDeniedException(_("The form has expired. Reload the page and try again."))


def roles(*allowed: str):
    """A guard for a controller (or one handler) that only these roles may use."""
    allowed_roles = frozenset(allowed)

    async def role_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
        if connection.scope["method"] == "OPTIONS":  # Litestar's automatic OPTIONS answers stay open to all
            return
        user = connection.scope.get("user")
        if user is None or user.role not in allowed_roles:
            raise PermissionDeniedException(_("Your role does not allow this."))

    role_guard.__name__ = f"roles_{'_'.join(sorted(allowed_roles))}"
    return role_guard


FIELD_ROLES = ("officer", "staff", "lead")


# ---------------------------------------------------------------- what controllers are given


def app_db(state: State) -> Database:
    """The connection of the thread this runs on: a page loop's own (fieldapp/page_loops.py), or on the server's
    event loop (/livez, paths no route matched) the app's."""
    return page_loops.connection(state.settings.db_path) if page_loops.on_page_loop() else state.db


def provide_db(state: State) -> Database:
    return app_db(state)


def provide_settings(state: State) -> Settings:
    return state.settings


def provide_writer(state: State) -> Writer:
    return state.writer


def provide_user(request: Request) -> accounts.User | None:
    """The logged-in user (None only on public routes: the app's guard turns everyone else away)."""
    return request.scope.get("user")


# Every controller declares these at class level (`dependencies = web.DEPENDENCIES`); handlers name them
# with these types: `db: web.DB, user: web.CurrentUser, settings: web.AppSettings`.
DB = NamedDependency[Database]
CurrentUser = NamedDependency[accounts.User]
UserIfAny = NamedDependency[accounts.User | None]  # on public routes (opt public), where no one may be logged in
AppSettings = NamedDependency[Settings]
AppWriter = NamedDependency[Writer]  # the one writer of sync batches (writer.py)
DEPENDENCIES = {
    "writer": Provide(provide_writer, sync_to_thread=False),
    "db": Provide(provide_db, sync_to_thread=False),
    "settings": Provide(provide_settings, sync_to_thread=False),
    "user": Provide(provide_user, sync_to_thread=False),
}


async def log_read(writer: Writer, user_id: str | None, action: str, record_type: str | None,
                   record_id: str | None = None, **detail) -> None:
    """A read's audit row (audit.read), written by the writer's thread in its next group and waited for: the
    event loop never waits for SQLite's write lock (a reconnect storm's batches hold it) and the row is committed
    before the answer leaves. A HEAD answered as its GET is logged with method HEAD: it disclosed that the target
    exists, not its content."""
    current = _context.get()
    if current is not None and current.head:
        detail["method"] = "HEAD"
    await writer.run(functools.partial(audit.read, user_id=user_id, action=action, record_type=record_type,
                                       record_id=record_id, **detail), records=0)


def render(request: Request, page: str, partial: str, context: dict, *, status: int = 200,
           headers: dict | None = None) -> Template:
    """The whole page, or for a (non-boosted) htmx request only its partial: the markup exists once."""
    return Template(partial if is_htmx(request) else page, context=context, status_code=status, headers=headers)


# A plain form sent after the session ended (no JavaScript, so no outbox to keep it) goes through the login
# page and back to a page that sends it again: nothing typed is lost. Passwords are never carried, and only a
# form sent from our own pages is (another site must not fill in what an officer is asked to save).
_NOT_PARKED = frozenset(("/logout", "/language"))


async def _park_form(connection: ASGIConnection) -> None:
    scope, headers = connection.scope, connection.headers
    if scope["method"] != "POST" or scope["path"] in _NOT_PARKED or headers.get("hx-request") == "true" \
            or headers.get("sec-fetch-site", "same-origin") != "same-origin" \
            or not headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return
    form = await Request(scope, connection.receive).form()
    fields = [(name, value) for name, value in form.multi_items()
              if isinstance(value, str) and name != "_csrf" and "password" not in name]
    if fields:
        scope["parked_form"] = (scope["path"], fields)


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return request.url.path.startswith("/api/") or (
        "application/json" in accept and "text/html" not in accept)


def _ensure_context(request: Request) -> None:
    """Unmatched paths skip the route middleware: give their error page an anonymous context."""
    if _context.get() is not None:
        return
    state = request.app.state
    cookies = _cookies(request.scope)
    locale = i18n.negotiate(None, cookies.get(LANG_COOKIE), _header(request.scope, b"accept-language"),
                            state.settings.default_locale)
    i18n.set_locale(locale)
    _context.set(RequestContext(None, cookies.get(ANON_CSRF_COOKIE, ""), locale, app_db(state), state.settings))


class ErrorBody(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    """What a JSON route answers when it refuses a request (error_page and the handlers below)."""

    error: str  # what went wrong, in the user's language
    status: int  # the HTTP status again, for scripts that only keep the body
    errors: dict[str, str] = {}  # per field, when a form or subscription was refused (400)
    login: str = ""  # where to log in (401)
    device: str = ""  # "revoked": this device was taken out of use and must delete its data (401)


_API_ERRORS = {
    400: "The request could not be understood, or a value was refused (`errors` names the fields).",
    401: "Not logged in: `login` is the address of the login page.",
    403: "The role may not do this, the CSRF token is missing or wrong, or the request came from another site.",
    404: "No such thing, or one the user may not see (answered alike).",
}
_BODY_ERRORS = {
    413: "The body is larger than FIELDAPP_MAX_BODY_BYTES, or a sync batch has too many records.",
    415: "The body is not of the content type the route reads.",
}


def document_api_errors(app) -> None:
    """Describe the error bodies of every JSON route (/api/...) in the OpenAPI document, where a route does not
    describe a status itself. Called once by create_app, before the document is first built."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if not route.path.startswith("/api/") or not handler.include_in_schema:
                continue
            errors = dict(_API_ERRORS)
            if handler.http_methods - SAFE_METHODS:
                errors.update(_BODY_ERRORS)
            documented = dict(handler.responses or {})
            for status, description in errors.items():
                documented.setdefault(status, ResponseSpec(data_container=ErrorBody, description=description,
                                                           generate_examples=False))
            handler.responses = documented


def error_page(request: Request, status: int, message: str) -> Response:
    _ensure_context(request)
    if wants_json(request):
        return Response({"error": message, "status": status}, status_code=status)
    context = {"status": status, "message": message}
    if request.headers.get("hx-request") == "true":
        return Template("partials/_error.html", context=context, status_code=status)
    return Template("pages/error.html", context=context, status_code=status)


def not_authorized_handler(request: Request, exc: Exception) -> Response:
    if wants_json(request):
        return Response({"error": _("Please log in."), "status": 401, "login": "/login"}, status_code=401)
    parked = request.scope.get("parked_form")
    if parked:  # the login page carries the form; after logging in it is shown to be sent again
        action, fields = parked
        return Template("pages/login.html", status_code=401, context={
            "next": "/", "username": "", "error": None, "carry_action": action, "carry": fields})
    target = "/login?next=" + quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    if request.headers.get("hx-request") == "true":
        return Response("", status_code=401, headers={"HX-Redirect": target})
    return Redirect(target, status_code=303)


def _log_refusal(request: Request, outcome: str) -> None:
    user = request.scope.get("user")
    method = "HEAD" if request.scope.get(HEAD_KEY) else request.method
    log = functools.partial(audit.refused, user_id=user.id if user else None, method=method,
                            path=request.url.path, outcome=outcome)
    if page_loops.on_page_loop():
        log(app_db(request.app.state))
    else:  # a route on the server's loop (POST /api/sync): the write goes to the writer's thread, not waited for
        request.app.state.writer.later(log)


def forbidden_handler(request: Request, exc: Exception) -> Response:
    _log_refusal(request, "refused")
    detail = getattr(exc, "detail", "") if isinstance(exc, HTTPException) else ""
    return error_page(request, 403, detail or _("Your role does not allow this."))


def not_found_handler(request: Request, exc: Exception) -> Response:
    _log_refusal(request, "not_found")
    _ensure_context(request)
    return error_page(request, 404, _("Not found."))


def http_exception_handler(request: Request, exc: HTTPException) -> Response:
    revoked = revoked_device_error(request)
    if revoked is not None:
        return revoked
    _ensure_context(request)
    messages = {
        400: _("The request could not be understood."),
        404: _("Not found."),
        405: _("This action is not available here."),
        413: _("The request is too large."),
        415: _("This content type is not accepted."),
    }
    return error_page(request, exc.status_code, messages.get(exc.status_code, exc.detail or _("Something went wrong.")))


def server_error_handler(request: Request, exc: Exception) -> Response:
    request.logger.exception("unhandled error", exc_info=exc)
    return error_page(request, 500, _("Something went wrong. What you entered was not saved; please try again."))


EXCEPTION_HANDLERS = {
    NotAuthorizedException: not_authorized_handler,
    PermissionDeniedException: forbidden_handler,
    errors.Forbidden: forbidden_handler,
    errors.NotFound: not_found_handler,
    HTTPException: http_exception_handler,
    500: server_error_handler,
}


def form_dict(form) -> dict:
    """A submitted form as a dict: repeated fields become lists, the CSRF field is dropped."""
    data: dict = {}
    for key in form.keys():
        if key == "_csrf":
            continue
        values = form.getall(key)
        data[key] = values if len(values) > 1 or key.endswith("[]") else values[0]
    return {k.removesuffix("[]"): v for k, v in data.items()}


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true" and request.headers.get("hx-boosted") != "true"


def json_attr(value) -> str:
    return json.dumps(value, separators=(",", ":"))


# How long a device waits before sending again when a write failed for space (an operator must act) or a lock.
RETRY_AFTER_SECONDS = {"full": 60, "disk": 60, "locked": 5}


def database_unavailable_handler(request: Request, exc: sqlite3.OperationalError) -> Response:
    """A write that failed for a full disk or a lock: 503 with Retry-After (the device keeps its outbox and
    sends again; a form's page says to try again); any other database error stays a 500."""
    reason = unavailable_reason(exc)
    if reason is None:
        return server_error_handler(request, exc)
    request.logger.warning("write refused, database %s: %s", reason, exc)
    response = error_page(request, 503, _("The server cannot save right now. Records waiting on this device are "
                                          "kept and sent again automatically; try again in a minute."))
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS[reason])
    return response


EXCEPTION_HANDLERS[sqlite3.OperationalError] = database_unavailable_handler


def busy_handler(request: Request, exc: QueueFull) -> Response:
    """Too many records wait for the writer (writer.py): 503 at once, with the Retry-After the writer chose."""
    response = error_page(request, 503, _("The server is busy. Records waiting on this device are kept and sent "
                                          "again automatically."))
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


EXCEPTION_HANDLERS[QueueFull] = busy_handler
# ---------------------------------------------------------------- request bodies that cannot be read


_BODY_DECODERS = frozenset(("decode_json", "parse_multipart_form"))  # Litestar's, reading a JSON or multipart body


def _raised_decoding_body(exc: BaseException) -> bool:
    """Whether Litestar's decoding of the request body raised this (before any handler ran)."""
    trace = exc.__traceback__
    while trace is not None:
        code = trace.tb_frame.f_code
        if code.co_name in _BODY_DECODERS and "litestar" in code.co_filename:
            return True
        trace = trace.tb_next
    return False


def undecodable_body_handler(request: Request, exc: Exception) -> Response:
    """A body that is not UTF-8 (JSON, a multipart form) or JSON nested too deeply for the decoder is the client's
    mistake: 400 with what is wrong (these get past Litestar's own 400). Raised anywhere else, it stays a 500."""
    if not _raised_decoding_body(exc):
        return server_error_handler(request, exc)
    if isinstance(exc, UnicodeDecodeError):
        return error_page(request, 400, _("The request is not valid UTF-8 text."))
    return error_page(request, 400, _("The JSON in the request is nested too deeply."))


EXCEPTION_HANDLERS[UnicodeDecodeError] = undecodable_body_handler
EXCEPTION_HANDLERS[RecursionError] = undecodable_body_handler
