"""Catalog upkeep: which messages the code uses, and which each language still lacks.

`python -m fieldapp.i18n_catalogs missing` lists gaps; `... add AREA [PATH_PREFIX ...]` appends them (only those used under the prefixes) to
locales/<locale>/LC_MESSAGES/AREA.po (English filled in, Finnish and Swedish left to translate).
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages import pofile
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir

from fieldapp.i18n import LOCALES, LOCALES_DIR

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy": None}
METHOD_MAP = [("fieldapp/**.py", "python"), ("fieldapp/templates/**.html", "jinja2")]


def used_messages() -> dict[str, list[str]]:
    """Every message id in the code and templates, with where it is used."""
    found: dict[str, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), METHOD_MAP, keywords=KEYWORDS, options_map={"fieldapp/templates/**.html": {"trimmed": "true"}}):
        ids = message if isinstance(message, tuple) else (message,)
        for msgid in ids:
            if msgid:
                found.setdefault(msgid, []).append(f"{filename}:{lineno}")
    return found


def translated(locale: str) -> dict[str, str]:
    """msgid -> msgstr over all .po files of a locale (empty translations left out)."""
    result: dict[str, str] = {}
    for path in sorted((LOCALES_DIR / locale / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as fh:
            for message in pofile.read_po(fh, locale=locale):
                if not message.id:
                    continue
                strings = message.string if isinstance(message.string, tuple) else (message.string,)
                msgid = message.id[0] if isinstance(message.id, tuple) else message.id
                if all(strings):
                    result[msgid] = strings[0]
    return result


def missing(locale: str) -> list[str]:
    have = translated(locale)
    return sorted(m for m in used_messages() if m not in have)


def add(area: str, only: list[str] | None = None) -> None:
    """Append missing messages to AREA.po of each locale (English: same text).

    With `only` (path prefixes such as fieldapp/templates/pages/map), just the messages used there.
    """
    used = used_messages()
    if only:
        used = {m: locs for m, locs in used.items() if any(loc.startswith(tuple(only)) for loc in locs)}
    for locale in LOCALES:
        path = LOCALES_DIR / locale / "LC_MESSAGES" / f"{area}.po"
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            with path.open("rb") as fh:
                catalog = pofile.read_po(fh, locale=locale)
        else:
            catalog = Catalog(locale=locale, project="fieldapp", fuzzy=False)
        have = translated(locale)
        for msgid in sorted(used):
            if msgid in have or msgid in catalog:
                continue
            catalog.add(msgid, msgid if locale == "en" else "", locations=[])
        with path.open("wb") as fh:
            pofile.write_po(fh, catalog, omit_header=False, width=100, include_lineno=False)


def main(argv: list[str]) -> None:
    if argv[:1] == ["missing"]:
        for locale in argv[1:] or LOCALES:
            for msgid in missing(locale):
                print(f"{locale}\t{msgid}")
    elif argv[:1] == ["add"] and len(argv) >= 2:
        add(argv[1], argv[2:] or None)
    else:
        print(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])


def fill(area: str, locale: str, translations: dict[str, str]) -> None:
    """Set translations in AREA.po of a locale (used when adding a batch of translated messages)."""
    path = LOCALES_DIR / locale / "LC_MESSAGES" / f"{area}.po"
    with path.open("rb") as fh:
        catalog = pofile.read_po(fh, locale=locale)
    for msgid, msgstr in translations.items():
        if msgid in catalog:
            catalog[msgid].string = msgstr
        else:
            catalog.add(msgid, msgstr, locations=[])
    catalog.fuzzy = False
    with path.open("wb") as fh:
        pofile.write_po(fh, catalog, width=100, include_lineno=False)
