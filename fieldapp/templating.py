"""The Jinja environment: gettext following the request's language, formatting filters, request globals."""

from __future__ import annotations

import hashlib
import io
import time
from pathlib import Path

import anyio
import rcssmin
import rjsmin
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from litestar.file_system import BaseLocalFileSystem
from markupsafe import Markup

from fieldapp import clock, i18n, web
from fieldapp.offline import refusals

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
# A static file addressed with its content hash (?v=) never changes, so browsers may keep it for a year.
IMMUTABLE = b"public, max-age=31536000, immutable"
_hashes: dict[str, tuple[float, int, str]] = {}  # path -> (when its file was last looked at, its mtime, hash)
STAT_EVERY = 1.0  # seconds: a page names some ten static files; their mtimes are looked at once a second


def static_url(path: str) -> str:
    """/static/<path>?v=<hash of its content> (the hash is recomputed when the file changes)."""
    known, now = _hashes.get(path), time.monotonic()
    if known is not None and now - known[0] < STAT_EVERY:
        return f"/static/{path}?v={known[2]}"
    file = STATIC_DIR / path
    mtime = file.stat().st_mtime_ns
    if known is None or known[1] != mtime:
        known = (now, mtime, hashlib.sha256(file.read_bytes()).hexdigest()[:12])
    _hashes[path] = (now, known[1], known[2])
    return f"/static/{path}?v={known[2]}"


class MinifiedStatic(BaseLocalFileSystem):
    """The static files as served: our stylesheets and scripts without comments and spare whitespace (rcssmin,
    rjsmin; nothing renamed), vendored files and everything else as they are. What a phone loads first stays
    small while the sources keep their explanations (bench/README.md, "Contact form": the contact form's first
    load). Kept in memory per file until it changes."""

    def __init__(self) -> None:
        self._made: dict[str, tuple[int, bytes]] = {}  # path -> (mtime, minified bytes)

    @staticmethod
    def _minifier(path: Path):
        if "vendor" in path.parts:
            return None
        return {".css": rcssmin.cssmin, ".js": rjsmin.jsmin}.get(path.suffix)

    def _minified(self, path: Path) -> bytes | None:
        minify = self._minifier(path)
        if minify is None:
            return None
        mtime = path.stat().st_mtime_ns
        known = self._made.get(str(path))
        if known is None or known[0] != mtime:
            known = self._made[str(path)] = (mtime, minify(path.read_text(encoding="utf-8")).encode())
        return known[1]

    async def info(self, path, **kwargs):
        found = await super().info(path, **kwargs)
        if found.get("type") == "file":
            body = self._minified(Path(path))
            if body is not None:
                found = {**found, "size": len(body)}
        return found

    async def open(self, file, mode="rb", buffering=-1):
        body = self._minified(Path(file))
        if body is None:
            return await super().open(file, mode, buffering)
        return anyio.wrap_file(io.BytesIO(body))


def immutable_when_versioned(app):
    """ASGI middleware for /static: a request with ?v= gets the year-long immutable Cache-Control."""
    async def middleware(scope, receive, send):
        if scope["type"] != "http" or b"v=" not in scope.get("query_string", b""):
            return await app(scope, receive, send)

        async def send_with_cache(message):
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"]
                message = {**message, "headers": [*headers, (b"cache-control", IMMUTABLE)]}
            await send(message)
        return await app(scope, receive, send_with_cache)
    return middleware


def _label(list_name: str, code) -> str:
    if code is None or code == "":
        return ""
    return web.ctx().labels().get(list_name, {}).get(str(code), str(code))


def _options(list_name: str, keep=None) -> list[tuple[str, str]]:
    """A list's active entries; keep: the value(s) a form holds, shown too when retired (an edit keeps them)."""
    found = list(web.ctx().options().get(list_name, []))
    kept = [keep] if isinstance(keep, str) else list(keep or [])
    known = {code for code, _text in found}
    for code in kept:
        if code and code not in known:
            found.append((code, _label(list_name, code)))
            known.add(code)
    return found


def _presence_of(deployment_id: str) -> dict:
    """Check-in state of the current user at a deployment (for partials/deployments/_presence.html)."""
    from fieldapp import deployments
    context = web.ctx()
    return deployments.presence_state(context.db, context.user, deployment_id)


# Where a cell lies from the place it is named after, as the sentence puts it in each language.
DIRECTIONS = {"north": i18n.lazy("north"), "north-east": i18n.lazy("north-east"), "east": i18n.lazy("east"),
              "south-east": i18n.lazy("south-east"), "south": i18n.lazy("south"), "south-west": i18n.lazy("south-west"),
              "west": i18n.lazy("west"), "north-west": i18n.lazy("north-west")}


def _place_offset(near) -> str:
    """ "600 m north-east of Kontula" for a picture.PlaceNear: a hotspot named by a place, not a cell id."""
    if near.metres < 1000:
        distance = i18n.format_number(max(100, round(near.metres, -2))) + "\u00a0m"
    else:
        distance = i18n.format_number(near.metres / 1000, 1) + "\u00a0km"
    return i18n.gettext("%(distance)s %(direction)s of %(place)s", distance=distance,
                        direction=i18n.gettext(DIRECTIONS[near.direction]), place=near.name)


KEPT_MESSAGES = 20_000  # translated messages kept per process (the catalogs hold about 1,000 per language)


def _template_gettext():
    """`_()` and `gettext()` in templates: what Jinja's newstyle gettext gives (the translation, Markup where the
    template autoescapes, always %-formatted with its variables), in one call instead of three, with the
    translated Markup kept per language (the extension's three calls were about a tenth of a storm's page CPU)."""
    translated: dict[tuple[str, str, bool], str] = {}
    plain: dict[tuple[str, str, bool], str] = {}

    def lookup(key: tuple[str, str, bool]) -> str:
        rv = i18n.translations(key[0]).gettext(key[1])
        if key[2]:
            rv = Markup(rv)
        if len(translated) < KEPT_MESSAGES:
            translated[key] = rv
        return rv

    @pass_context
    def gettext(context, message: str, /, **variables) -> str:
        key = (i18n.get_locale(), message, context.eval_ctx.autoescape)
        if variables:
            return (translated.get(key) or lookup(key)) % variables
        done = plain.get(key)
        if done is None:
            done = (translated.get(key) or lookup(key)) % {}
            if len(plain) < KEPT_MESSAGES:
                plain[key] = done
        return done

    return gettext


def make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(["html", "xml", "svg"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        # The templates are the installed app's files: not looked at again on every use (a page includes 10-20
        # partials; each os.stat was about a tenth of a page loop's time in a reconnect storm, py-spy).
        auto_reload=False,
    )
    env.install_gettext_translations(i18n.CurrentTranslations(), newstyle=True)
    env.globals["_"] = env.globals["gettext"] = _template_gettext()
    env.filters.update({
        "datetime": i18n.format_datetime,
        "time": i18n.format_time,
        "date": i18n.format_date,
        "number": i18n.format_number,
        "local_input": clock.local_input_value,
        "tojson_attr": web.json_attr,
    })
    env.globals.update({
        "ctx": web.ctx,
        "label": _label,
        "options": _options,
        "presence_of": _presence_of,
        "refusal_messages": lambda: refusals.catalog(i18n.get_locale()),
        "LOCALE_NAMES": i18n.LOCALE_NAMES,
        "date_patterns": i18n.date_patterns,
        "static": static_url,
        "duration": i18n.format_duration,
        "place_offset": _place_offset,
    })
    return env
