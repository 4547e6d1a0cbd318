"""Category lists (age bands, group categories, topics, kinds, ...): data with labels in fi, sv, en."""

from __future__ import annotations

import json
import re
import unicodedata
import weakref

from fieldapp import audit
from fieldapp.db import one, write
from fieldapp.errors import NotFound, ValidationFailed
from fieldapp.i18n import gettext as _
from fieldapp.migrations import SEEDED_CATEGORIES
from fieldapp.text import clean

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
    """Every list's options in one query: what a form (or the offline cache) needs. Kept per connection and
    language until the lists change (_lists); shared between callers, so not to be changed."""
    column = f"label_{locale}" if locale in ("fi", "sv", "en") else "label_en"

    def read() -> dict[str, list[tuple[str, str]]]:
        result: dict[str, list[tuple[str, str]]] = {}
        for row in db.query(f"SELECT list, code, {column} AS label FROM categories WHERE active = 1 "
                            "ORDER BY list, sort, code"):
            result.setdefault(row["list"], []).append((row["code"], row["label"]))
        return result

    return _lists(db, ("options", column), read)


def known_codes(db, list_name: str) -> set[str]:
    """Every code a list has held, retired ones too (what old records and reports may name)."""
    return {row[0] for row in db.conn.execute("SELECT code FROM categories WHERE list = ?", [list_name])}


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


def all_labels(db, locale: str) -> dict[str, dict[str, str]]:
    """Every list's labels, retired entries included: what a stored record or a report shows. Kept as
    all_options is (not to be changed)."""
    column = f"label_{locale}" if locale in ("fi", "sv", "en") else "label_en"

    def read() -> dict[str, dict[str, str]]:
        result: dict[str, dict[str, str]] = {}
        for row in db.query(f"SELECT list, code, {column} AS label FROM categories "
                            "ORDER BY list, active DESC, sort, code"):
            result.setdefault(row["list"], {})[row["code"]] = row["label"]
        return result

    return _lists(db, ("labels", column), read)


# Database -> {(what, label column): (the lists' change count, value)}: the labels and options every page and
# form shows (a storm's pages read them some 5,000 times: bench/README.md), read again after a change only.
_LISTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _lists(db, key: tuple[str, str], read):
    row = db.conn.execute("SELECT value FROM sequences WHERE name = 'categories'").fetchone()
    if row is None:
        return read()
    kept = _LISTS.get(db)
    if kept is None:
        kept = _LISTS[db] = {}
    known = kept.get(key)
    if known is not None and known[0] == row[0]:
        return known[1]
    value = read()
    kept[key] = (row[0], value)
    return value


def version(db) -> int:
    """The lists' change count (m008): a device whose copy of the lists was taken at another count refreshes it."""
    row = db.conn.execute("SELECT value FROM sequences WHERE name = 'categories'").fetchone()
    return row[0] if row else 0


# ---------------------------------------------------------------- the administrator's editor

# Lists whose codes the records store as something else than a code: their labels change, nothing else.
LABELS_ONLY = frozenset({"severity"})  # a scale stored as the numbers 1-6
# Entries the code relies on (a default value, the pop-up station's access rule): they cannot be retired.
KEPT_ACTIVE = frozenset({("trend", "stable"), ("basis", "observed"), ("deployment_kind", "popup_station")})
LANGUAGES = ("fi", "sv", "en")
LABEL_MAX = 80
CODE_MAX = 40
_CODE = re.compile(r"[a-z0-9_]{1,40}")
_LIST = re.compile(r"[a-z0-9_]{1,60}")


def list_names(db) -> list[dict]:
    """Every list in the table (lists other areas add appear too): name, entries, active entries."""
    return list(db.query("SELECT list AS name, count(*) AS entries, sum(active) AS active FROM categories "
                         "GROUP BY list ORDER BY list"))


def entries(db, list_name: str) -> list[dict]:
    """All entries of one list, retired ones too, in their order (active first); NotFound for an unknown list."""
    rows = list(db.query("SELECT list, code, label_fi, label_sv, label_en, sort, active FROM categories "
                         "WHERE list = ? ORDER BY active DESC, sort, code", [list_name]))
    if not rows:
        raise NotFound(list_name)
    return rows


def entry(db, list_name: str, code: str) -> dict:
    row = one(db, "SELECT list, code, label_fi, label_sv, label_en, sort, active FROM categories "
                  "WHERE list = ? AND code = ?", [list_name, code])
    if row is None:
        raise NotFound(f"{list_name}:{code}")
    return row


def changes(db, list_name: str, limit: int = 20) -> list[dict]:
    """The newest changes to a list's entries from the audit log (who, when, what), newest first."""
    return list(db.query(
        "SELECT a.at, a.action, a.record_id, u.username FROM audit_log a LEFT JOIN users u ON u.id = a.user_id "
        "WHERE a.record_type = 'category' AND a.record_id >= ? AND a.record_id < ? ORDER BY a.id DESC LIMIT ?",
        [f"{list_name}:", f"{list_name};", limit]))


def _labels(raw: dict) -> dict[str, str]:
    """The three labels from raw form values; ValidationFailed naming each one missing or too long."""
    labels, errors = {}, {}
    for locale in LANGUAGES:
        value = raw.get(f"label_{locale}")
        text = " ".join(clean(value).split()) if isinstance(value, str) else ""
        if not text:
            errors[f"label_{locale}"] = _("Give the label in all three languages.")
        elif len(text) > LABEL_MAX:
            errors[f"label_{locale}"] = _("The label is too long (at most 80 characters).")
        labels[locale] = text
    if errors:
        raise ValidationFailed(errors)
    return labels


def _code_from(text: str) -> str:
    """A code made of a label: lower-case ASCII letters, digits and underscores."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "_", ascii_text).strip("_")[:CODE_MAX - 4] or "entry"


def _check_list(db, list_name: str) -> None:
    if not isinstance(list_name, str) or not _LIST.fullmatch(list_name) or one(
            db, "SELECT 1 AS found FROM categories WHERE list = ? LIMIT 1", [list_name]) is None:
        raise NotFound(str(list_name))


def add(db, list_name: str, raw: dict, *, by: str | None, code: str | None = None) -> str:
    """Add an entry at the end of a list (active) and return its code. The three labels are required; the code
    is made of the English label unless given, and never one the list has held (a retired code keeps its
    meaning on old records, so it is not given out again)."""
    _check_list(db, list_name)
    if list_name in LABELS_ONLY:
        raise ValidationFailed({"list": _("Entries cannot be added to this list.")})
    labels = _labels(raw)
    with write(db):
        taken = {row[0] for row in db.conn.execute("SELECT code FROM categories WHERE list = ?", [list_name])}
        if code is not None:
            if not _CODE.fullmatch(code):
                raise ValidationFailed({"code": _("A code has 1-40 lower-case letters a-z, digits or underscores.")})
            if code in taken:
                raise ValidationFailed({"code": _("This code is already used in the list; codes are never reused.")})
        else:
            base = _code_from(labels["en"])
            code, n = base, 2
            while code in taken:
                code, n = f"{base}_{n}", n + 1
        sort = db.conn.execute("SELECT COALESCE(MAX(sort) + 1, 0) FROM categories WHERE list = ?",
                               [list_name]).fetchone()[0]
        db.execute("INSERT INTO categories (list, code, label_fi, label_sv, label_en, sort, active) "
                   "VALUES (?, ?, ?, ?, ?, ?, 1)", [list_name, code, labels["fi"], labels["sv"], labels["en"], sort])
        audit.record(db, by, "category_add", "category", f"{list_name}:{code}", json.dumps(labels, ensure_ascii=False))
    return code


def rename(db, list_name: str, code: str, raw: dict, *, by: str | None) -> None:
    """Change an entry's labels (all three required); the code stays, so old records read the new labels."""
    before = entry(db, list_name, code)
    labels = _labels(raw)
    if all(before[f"label_{locale}"] == labels[locale] for locale in LANGUAGES):
        return  # nothing changed: no write, no audit row
    with write(db):
        db.execute("UPDATE categories SET label_fi = ?, label_sv = ?, label_en = ? WHERE list = ? AND code = ?",
                   [labels["fi"], labels["sv"], labels["en"], list_name, code])
        detail = {"from": {locale: before[f"label_{locale}"] for locale in LANGUAGES}, "to": labels}
        audit.record(db, by, "category_rename", "category", f"{list_name}:{code}",
                     json.dumps(detail, ensure_ascii=False))


def move(db, list_name: str, code: str, direction: str, *, by: str | None) -> None:
    """Move an active entry one place up or down among the list's active entries."""
    if direction not in ("up", "down"):
        raise ValidationFailed({"direction": _("Choose up or down.")})
    entry(db, list_name, code)
    if list_name in LABELS_ONLY:
        raise ValidationFailed({"list": _("This list keeps its order.")})
    with write(db):
        order = [row[0] for row in db.conn.execute(
            "SELECT code FROM categories WHERE list = ? AND active = 1 ORDER BY sort, code", [list_name])]
        if code not in order:
            raise ValidationFailed({"code": _("Reactivate the entry first.")})
        i = order.index(code)
        j = i - 1 if direction == "up" else i + 1
        if not 0 <= j < len(order):
            return  # already first or last
        order[i], order[j] = order[j], order[i]
        # Renumbered in the new order (retired entries after them keep their place at the end).
        for sort, each in enumerate(order):
            db.execute("UPDATE categories SET sort = ? WHERE list = ? AND code = ? AND sort != ?",
                       [sort, list_name, each, sort])
        audit.record(db, by, "category_move", "category", f"{list_name}:{code}", direction)


def set_active(db, list_name: str, code: str, active: bool, *, by: str | None) -> None:
    """Retire an entry (gone from new forms, still shown on old records and counted in reports) or bring it back."""
    row = entry(db, list_name, code)
    if bool(row["active"]) == active:
        return
    if not active:
        if list_name in LABELS_ONLY or (list_name, code) in KEPT_ACTIVE:
            raise ValidationFailed({"code": _("This entry cannot be retired: the app relies on it.")})
        left = db.conn.execute("SELECT count(*) FROM categories WHERE list = ? AND active = 1", [list_name]).fetchone()
        if left[0] <= 1:
            raise ValidationFailed({"code": _("A list needs at least one entry in use.")})
    with write(db):
        if active:  # back at the end of the active entries
            sort = db.conn.execute("SELECT COALESCE(MAX(sort) + 1, 0) FROM categories WHERE list = ? AND active = 1",
                                   [list_name]).fetchone()[0]
            db.execute("UPDATE categories SET active = 1, sort = ? WHERE list = ? AND code = ?", [sort, list_name, code])
        else:
            db.execute("UPDATE categories SET active = 0 WHERE list = ? AND code = ?", [list_name, code])
        audit.record(db, by, "category_reactivate" if active else "category_retire", "category",
                     f"{list_name}:{code}")
