"""Migrations apply in the order their numbers say, use no current domain code, and an older database that
knows four of them by their old names is renamed, not migrated twice."""

from __future__ import annotations

import ast
import re
import sqlite3
from pathlib import Path

import sqlite_utils

from fieldapp import migrations as migrations_module
from fieldapp.db import open_db
from fieldapp.migrations import RENAMED, SEEDED_CATEGORIES, migrations

SOURCE = Path(migrations_module.__file__)


def test_migrations_are_registered_in_the_order_of_their_numbers():
    names = [m.name for m in migrations._migrations]
    numbers = [int(re.fullmatch(r"m(\d{3})_[a-z0-9_]+", name).group(1)) for name in names]
    assert numbers == list(range(1, len(names) + 1))


def test_a_fresh_database_records_them_in_that_order(tmp_path):
    db = open_db(tmp_path / "fresh.db")
    applied = [m.name for m in migrations.applied(db)]
    assert applied == [m.name for m in migrations._migrations]


def test_the_migrations_module_imports_nothing_of_fieldapp():
    tree = ast.parse(SOURCE.read_text())
    imported = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    assert [name for name in imported if name and name.startswith("fieldapp")] == []


def test_the_first_migration_seeds_the_frozen_category_lists(tmp_path):
    db = open_db(tmp_path / "seeded.db")
    stored = {(r["list"], r["code"]): (r["label_fi"], r["label_sv"], r["label_en"]) for r in db["categories"].rows
              if r["list"] in SEEDED_CATEGORIES}  # later migrations seed lists of their own (m012: partner_kinds)
    expected = {(name, code): (fi, sv, en) for name, items in SEEDED_CATEGORIES.items() for code, fi, sv, en in items}
    # Later migrations add entries (m014: the entries the seeds name, the motives); the first ones stay as seeded.
    assert {key: stored[key] for key in expected if key in stored} == expected


def test_a_database_that_applied_the_old_names_is_renamed_and_not_migrated_again(tmp_path):
    path = tmp_path / "old.db"
    open_db(path).conn.close()
    conn = sqlite3.connect(path)
    for old, new in RENAMED.items():  # as a database migrated before the renumbering has them
        conn.execute("UPDATE _sqlite_migrations SET name = ? WHERE name = ?", [old, new])
    conn.commit()
    conn.close()
    db = open_db(path)  # would fail with "table ... already exists" if any ran again
    names = [m.name for m in migrations.applied(db)]
    assert sorted(names) == sorted(m.name for m in migrations._migrations) and len(names) == len(set(names))
    assert not set(RENAMED) & set(names)


def test_a_pending_migration_still_applies_after_the_renaming(tmp_path):
    path = tmp_path / "partial.db"
    db = sqlite_utils.Database(path)
    migrations.apply(db, stop_before="m006_previous_versions")
    db.execute("UPDATE _sqlite_migrations SET name = 'm002_sync' WHERE name = 'm004_sync'")
    db.conn.commit()
    db.conn.close()
    applied = [m.name for m in migrations.applied(open_db(path))]
    assert applied[applied.index("m006_previous_versions"):][:4] == ["m006_previous_versions", "m007_record_seq", "m008_category_version",
                            "m009_conflict_saved_over"]


def test_opening_a_current_database_needs_no_write_lock(tmp_path):
    path = tmp_path / "busy.db"
    open_db(path).conn.close()
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process is in the middle of a write
    try:
        db = open_db(path)  # would wait for the lock (busy timeout) and fail if opening wrote anything
        assert [m.name for m in migrations.pending(db)] == []
    finally:
        writer.execute("ROLLBACK")
        writer.close()
