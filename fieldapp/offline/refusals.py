"""Why the server refuses a record, as codes a device can keep: the English message id of each reason.

A device keeps a refused record for days and may show it in another language than the one the server answered
in. So each sync result carries, beside its text, the code of its message and of each field error, and the
pending list carries the catalog of those codes in the screen's language (page.js keeps a copy for the tab's
forms, which do not carry it: it would be a tenth of what a form loads first). The codes are the
parameterless messages of the modules that refuse records, read from their source (so a new message is a code
at once, with no list to keep).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from babel.messages.extract import extract_from_file

from fieldapp import i18n

FIELDAPP = Path(__file__).resolve().parent.parent
SOURCES = ("record_values.py", "records.py", "offline/sync.py", "deployments.py", "followups.py",
           "offline/followup_actions.py")


@lru_cache(maxsize=1)
def codes() -> tuple[str, ...]:
    """Every message a refused record may carry (without placeholders), in source order."""
    found: dict[str, None] = {}
    for name in SOURCES:
        for _line, message, _comments, _context in extract_from_file(
                "python", str(FIELDAPP / name), keywords={"_": None, "gettext": None, "lazy": None}):
            if isinstance(message, str) and "%(" not in message:
                found[message] = None
    return tuple(found)


@lru_cache(maxsize=None)
def catalog(locale: str) -> dict[str, str]:
    """code -> the message in a language (what a page needs to show stored refusals in its own language)."""
    translations = i18n.translations(locale)
    return {code: translations.gettext(code) for code in codes()}


@lru_cache(maxsize=None)
def _reverse(locale: str) -> dict[str, str]:
    return {text: code for code, text in catalog(locale).items()}


def code_of(text: str | None, locale: str) -> str | None:
    """The code of a message as the server wrote it in `locale`, or None for a message that has none."""
    return _reverse(locale).get(text) if text else None


def with_codes(result: dict, locale: str) -> dict:
    """A sync result (as plain data) with `message_code` and `codes` (field -> code) beside its texts."""
    if result.get("status") not in ("rejected", "conflict"):
        return result
    out = dict(result)
    if result.get("message"):
        out["message_code"] = code_of(result["message"], locale)
    if result.get("errors"):
        out["codes"] = {field: code_of(text, locale) for field, text in result["errors"].items()}
    return out
