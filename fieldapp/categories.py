"""Category lists (age bands, group categories, topics, kinds, ...): data with labels in fi, sv, en."""

from __future__ import annotations

import weakref

from fieldapp.migrations import SEEDED_CATEGORIES

# The lists as the first migration seeds them (m001_core), then edited as data: (code, fi, sv, en) per list.
DEFAULTS = SEEDED_CATEGORIES


def options(db, list_name: str, locale: str) -> list[tuple[str, str]]:
    """Active (code, label) pairs of one list, in order, labelled in the given language."""
    column = f"label_{locale}" if locale in ("fi", "sv", "en") else "label_en"
    return [
        (row["code"], row[column])
        for row in db.query(
            f"SELECT code, {column} FROM categories WHERE list = ? AND active = 1 ORDER BY sort, code",
            [list_name],
        )
    ]


def all_options(db, locale: str) -> dict[str, list[tuple[str, str]]]:
    """Every list's options in one query: what a form (or the offline cache) needs."""
    column = f"label_{locale}" if locale in ("fi", "sv", "en") else "label_en"
    result: dict[str, list[tuple[str, str]]] = {}
    for row in db.query(f"SELECT list, code, {column} AS label FROM categories WHERE active = 1 ORDER BY list, sort, code"):
        result.setdefault(row["list"], []).append((row["code"], row["label"]))
    return result


def codes(db, list_name: str) -> set[str]:
    """Valid (active) codes of a list."""
    return {row[0] for row in db.conn.execute("SELECT code FROM categories WHERE list = ? AND active = 1", [list_name])}


# Database -> (the lists' change count, codes): valid codes stay in memory until a list changes.
_CODES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def all_codes(db) -> dict[str, frozenset[str]]:
    """Valid (active) codes of every list. Read again only after a change to the lists: a trigger counts every
    change in sequences 'categories' (migration m008), and that count is one row to read."""
    version = db.conn.execute("SELECT value FROM sequences WHERE name = 'categories'").fetchone()
    cached = _CODES.get(db)
    if cached is not None and version is not None and cached[0] == version[0]:
        return cached[1]
    found: dict[str, set[str]] = {}
    for list_name, code in db.conn.execute("SELECT list, code FROM categories WHERE active = 1"):
        found.setdefault(list_name, set()).add(code)
    result = {list_name: frozenset(codes) for list_name, codes in found.items()}
    if version is not None:
        _CODES[db] = (version[0], result)
    return result


def label(db, list_name: str, code: str | None, locale: str) -> str:
    """The label of one code, or the code itself when unknown."""
    if code is None:
        return ""
    column = f"label_{locale}" if locale in ("fi", "sv", "en") else "label_en"
    row = db.execute(f"SELECT {column} FROM categories WHERE list = ? AND code = ?", [list_name, code]).fetchone()
    return row[0] if row else code
