"""What other areas derive from the field records, applied after the records' own transaction.

A write of a field record (form, sync batch, demo data) stores the record, its history and audit rows and
stamps it with the next position of the change sequence (fieldapp/offline/changes.py). Everything derived
from records follows that sequence here, with a cursor of its own ('projected' in table sequences):

- the situation picture's observations and roll-ups (fieldapp/picture/rollups.py),
- the POR feed's outbox (fieldapp/por.py, only when an endpoint is configured),
- the automatic alert rules (fieldapp/alerts/rules.py: severe tension, hotspot cell),
- the follow-up queue (fieldapp/followups.py: feedback promised, follow-up needed).

Each of them looks at a record's current state, so applying a record twice changes nothing (an observation
is replaced, a POR version or an alert has a unique key): after a crash between the records' commit and
catch_up(), the next catch_up() (every write, app start) applies what was left, once.

When: the callers of a write run catch_up() after its transaction, never the records domain itself. A form
(fieldapp/services/recording.py) right after its commit, so the lead's map is current when the page answers;
a sync batch is answered first and projected right after (routes/offline.py), so the device's wait and the
write lock do not include the roll-ups; demo data once it is all written; the app at start.

An application-level step (layer "services" in tests/test_architecture.py): it reads the records and calls
the areas' hooks, and nothing in the domain calls it. No web imports.
"""

from __future__ import annotations

import logging

from fieldapp import alerts, followups, picture, por
from fieldapp.db import write
from fieldapp.offline import changes
from fieldapp.record_values import decode

log = logging.getLogger("fieldapp.projections")
CHUNK = 500
KIND_TABLES = (("contact", "contacts"), ("tension", "tensions"), ("intervention", "interventions"))


def behind(db) -> int:
    """How many positions of the change sequence are not yet applied (0: the picture is current)."""
    return changes.latest_seq(db) - changes.value(db, changes.PROJECTED)


def catch_up(db, chunk: int = CHUNK, most: int | None = None) -> int:
    """Apply every record written since the cursor (at most `most`), `chunk` records per transaction; returns
    how many. `most`: the background catch-up after a restart leaves the write lock free between steps."""
    done = 0
    while most is None or done < most:
        with write(db):
            cursor = changes.value(db, changes.PROJECTED)
            written = _written_after(db, cursor, chunk)
            if not written:
                return done
            _apply(db, written)
            db.conn.execute("UPDATE sequences SET value = ? WHERE name = ?", [written[-1][1]["seq"], changes.PROJECTED])
        done += len(written)
    return done


def _written_after(db, cursor: int, limit: int) -> list[tuple[str, dict]]:
    """(kind, record) of the first `limit` records with seq > cursor, in sequence order.

    The last position of the step is found first (the seq indexes only), so that each table is read for
    exactly the records of the step."""
    union = " UNION ALL ".join(f"SELECT * FROM (SELECT seq FROM {table} WHERE seq > ?1 ORDER BY seq LIMIT ?2)"
                               for _kind_name, table in KIND_TABLES)
    row = db.conn.execute(f"SELECT seq FROM ({union}) ORDER BY seq LIMIT 1 OFFSET ?2 - 1", [cursor, limit]).fetchone()
    last = row[0] if row else 1 << 62  # fewer than `limit`: all of them
    found: list[tuple[str, dict]] = []
    for kind_name, table in KIND_TABLES:
        cursor_rows = db.conn.execute(f"SELECT * FROM {table} WHERE seq > ? AND seq <= ?", [cursor, last])
        names = [column[0] for column in cursor_rows.description]
        found.extend((kind_name, decode(kind_name, dict(zip(names, values)))) for values in cursor_rows)
    found.sort(key=lambda pair: pair[1]["seq"])
    return found


def _apply(db, written: list[tuple[str, dict]]) -> None:
    """The areas' hooks for these records, by kind in sequence order; a record that fails is logged and
    skipped (in its own savepoint) so that it never holds up the others."""
    by_kind: dict[str, list[dict]] = {}
    for kind_name, record in written:
        by_kind.setdefault(kind_name, []).append(record)
    try:
        with write(db):  # a savepoint: all at once, the fast path
            _hooks(db, by_kind)
        return
    except Exception:
        log.exception("projection of %d records failed; applying them one by one", len(written))
    for kind_name, record in written:
        try:
            with write(db):
                _hooks(db, {kind_name: [record]})
        except Exception:
            log.exception("projection of %s %s failed; skipped (picture.rebuild() recomputes it)",
                          kind_name, record.get("id"))


def _hooks(db, by_kind: dict[str, list[dict]]) -> None:
    # The picture first: the hotspot alert rule reads the scores it keeps.
    for kind_name, kind_records in by_kind.items():
        picture.records_written(db, kind_name, kind_records)
    for kind_name, kind_records in by_kind.items():
        por.records_written(db, kind_name, kind_records)
    for kind_name, kind_records in by_kind.items():
        alerts.records_written(db, kind_name, kind_records)
    for kind_name, kind_records in by_kind.items():
        followups.records_written(db, kind_name, kind_records)
