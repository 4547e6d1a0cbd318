"""Languages: fi, sv, en catalogs (all .po files of a locale merged), formatting in Europe/Helsinki."""

from __future__ import annotations

import contextvars
import io
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

from babel import Locale, dates, numbers, units
from babel.messages import mofile, pofile
from babel.support import Translations

from fieldapp.clock import HELSINKI, parse, utcnow

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


# One way to write a moment per language, all from CLDR through babel: Finnish and Swedish as written in
# Finland, and English the Finnish-English way (day first, 24-hour clock, en_FI), never the US short date.
BABEL_LOCALES = {"fi": "fi", "sv": "sv_FI", "en": "en_FI"}


@lru_cache(maxsize=None)
def _parsed(identifier: str) -> Locale:
    """Babel's Locale of an identifier, parsed once (given as a string, every format call parses it again)."""
    return Locale.parse(identifier)


def _babel() -> Locale:
    """The current language's Locale for dates and units."""
    return _parsed(BABEL_LOCALES[get_locale()])


@lru_cache(maxsize=None)
def date_patterns(locale: str) -> dict:
    """CLDR patterns of the one date and time format of a language (the strip's script gets the same)."""
    loc = Locale.parse(BABEL_LOCALES.get(locale, "fi"))
    return {
        "date": loc.datetime_skeletons["MMMd"].pattern,
        "date_year": loc.datetime_skeletons["yMMMd"].pattern,
        "time": loc.datetime_skeletons["Hm"].pattern,
        "datetime": loc.datetime_formats["short"],
        "months": [loc.months["format"]["abbreviated"][m] for m in range(1, 13)],
    }


def _local(value: str | datetime) -> datetime:
    return parse(value).astimezone(HELSINKI)


def _date_text(local: datetime, this_year: int) -> str:
    patterns = date_patterns(get_locale())
    pattern = patterns["date"] if local.year == this_year else patterns["date_year"]
    return dates.format_datetime(local, pattern, locale=_babel())


def _this_year() -> int:
    return utcnow().astimezone(HELSINKI).year


def format_datetime(value: str | datetime | None, this_year: int | None = None) -> str:
    """Date and time in Helsinki, the year only where it is not this year (this_year: for tests)."""
    if not value:
        return ""
    local = _local(value)
    time_text = dates.format_datetime(local, date_patterns(get_locale())["time"], locale=_babel())
    day = _date_text(local, this_year or _this_year())
    return date_patterns(get_locale())["datetime"].replace("{1}", day).replace("{0}", time_text)


def format_time(value: str | datetime | None) -> str:
    if not value:
        return ""
    return dates.format_datetime(_local(value), date_patterns(get_locale())["time"], locale=_babel())


def format_date(value: str | datetime | None, this_year: int | None = None) -> str:
    if not value:
        return ""
    return _date_text(_local(value), this_year or _this_year())


def format_number(value, decimals: int | None = None) -> str:
    if value is None:
        return ""
    if decimals is not None:
        return numbers.format_decimal(value, format=f"#,##0.{'0' * decimals}" if decimals else "#,##0",
                                      locale=_parsed(get_locale()))
    return numbers.format_decimal(value, locale=_parsed(get_locale()))


def format_duration(span: timedelta) -> str:
    """A window's length in words: whole hours up to two days, days after that ("7 päivää", "24 timmar")."""
    hours = span.total_seconds() / 3600
    if hours < 48:
        return units.format_unit(max(1, round(hours)), "duration-hour", length="long", locale=_babel())
    return units.format_unit(round(hours / 24), "duration-day", length="long", locale=_babel())
