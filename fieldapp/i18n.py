"""Languages: fi, sv, en catalogs (all .po files of a locale merged), formatting in Europe/Helsinki."""

from __future__ import annotations

import contextvars
import io
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from babel import dates, numbers
from babel.messages import mofile, pofile
from babel.support import Translations

from fieldapp.clock import HELSINKI, parse

LOCALES = ("fi", "sv", "en")
LOCALE_NAMES = {"fi": "Suomi", "sv": "Svenska", "en": "English"}
LOCALES_DIR = Path(__file__).parent / "locales"

_current = contextvars.ContextVar("fieldapp_locale", default="fi")


@lru_cache(maxsize=None)
def translations(locale: str) -> Translations:
    """Compile every .po file of a locale into one in-memory catalog (cached per process)."""
    merged = None
    for path in sorted((LOCALES_DIR / locale / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as fh:
            catalog = pofile.read_po(fh, locale=locale)
        if merged is None:
            merged = catalog
        else:
            for message in catalog:
                if message.id and message.string:
                    merged[message.id] = message
    buf = io.BytesIO()
    if merged is not None:
        mofile.write_mo(buf, merged)
        buf.seek(0)
        return Translations(buf)
    return Translations()


def set_locale(locale: str) -> contextvars.Token:
    return _current.set(locale if locale in LOCALES else "fi")


def get_locale() -> str:
    return _current.get()


def gettext(message: str, **variables) -> str:
    """Translate into the current request's language; %(name)s placeholders filled from variables."""
    text = translations(get_locale()).gettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables) -> str:
    text = translations(get_locale()).ngettext(singular, plural, n)
    variables.setdefault("num", n)
    return text % variables


_ = gettext


def lazy(message: str) -> str:
    """Mark a message for extraction; translate it later with gettext()."""
    return message


class CurrentTranslations:
    """Jinja's i18n extension calls this; it follows the request's language."""

    def gettext(self, message):
        return translations(get_locale()).gettext(message)

    def ngettext(self, singular, plural, n):
        return translations(get_locale()).ngettext(singular, plural, n)

    def pgettext(self, context, message):
        return translations(get_locale()).pgettext(context, message)

    def npgettext(self, context, singular, plural, n):
        return translations(get_locale()).npgettext(context, singular, plural, n)


def negotiate(user_locale: str | None, cookie_locale: str | None, accept_language: str | None, default: str) -> str:
    """User setting, then the language cookie, then Accept-Language, then the default."""
    for candidate in (user_locale, cookie_locale):
        if candidate in LOCALES:
            return candidate
    if accept_language:
        weighted = []
        for part in accept_language.split(","):
            lang, _, q = part.strip().partition(";q=")
            try:
                weight = float(q) if q else 1.0
            except ValueError:
                weight = 0.0
            weighted.append((weight, lang.strip().lower()[:2]))
        for _weight, lang in sorted(weighted, key=lambda pair: -pair[0]):
            if lang in LOCALES:
                return lang
    return default if default in LOCALES else "fi"


def format_datetime(value: str | datetime | None, fmt: str = "short") -> str:
    if not value:
        return ""
    return dates.format_datetime(parse(value), fmt, tzinfo=HELSINKI, locale=get_locale())


def format_time(value: str | datetime | None) -> str:
    if not value:
        return ""
    return dates.format_time(parse(value), "short", tzinfo=HELSINKI, locale=get_locale())


def format_date(value: str | datetime | None, fmt: str = "medium") -> str:
    if not value:
        return ""
    dt = parse(value).astimezone(HELSINKI)
    return dates.format_date(dt.date(), fmt, locale=get_locale())


def format_number(value, decimals: int | None = None) -> str:
    if value is None:
        return ""
    if decimals is not None:
        return numbers.format_decimal(value, format=f"#,##0.{'0' * decimals}" if decimals else "#,##0", locale=get_locale())
    return numbers.format_decimal(value, locale=get_locale())
