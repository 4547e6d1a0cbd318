"""The Jinja environment: gettext following the request's language, formatting filters, request globals."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from fieldapp import clock, i18n, web
from fieldapp.offline import refusals

TEMPLATES_DIR = Path(__file__).parent / "templates"


def _label(list_name: str, code) -> str:
    if code is None or code == "":
        return ""
    return web.ctx().labels().get(list_name, {}).get(str(code), str(code))


def _options(list_name: str) -> list[tuple[str, str]]:
    return list(web.ctx().labels().get(list_name, {}).items())


def _presence_of(deployment_id: str) -> dict:
    """Check-in state of the current user at a deployment (for partials/deployments/_presence.html)."""
    from fieldapp import deployments
    context = web.ctx()
    return deployments.presence_state(context.db, context.user, deployment_id)


def make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(["html", "xml", "svg"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(i18n.CurrentTranslations(), newstyle=True)
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
    })
    return env
