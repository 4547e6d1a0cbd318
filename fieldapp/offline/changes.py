"""The change sequence devices pull from: every write of a field record stamps the record's `seq` column
with the next position of one sequence that only grows (table `sequences`, name 'records').

A record's seq is the position of its newest write, so "what changed after cursor c" is the records with
seq > c, each in its current state (deleted ones included). Positions are given out inside the write's
transaction (BEGIN IMMEDIATE: one writer at a time), so a reader that sees position n sees every write up
to n. The projections (fieldapp/projections.py) follow the same sequence with a cursor of their own.

Kept apart from sync.py so that records.py can use it without importing the sync protocol.
"""

from __future__ import annotations

RECORDS = "records"
PROJECTED = "projected"


def claim(db, count: int = 1) -> int:
    """Reserve `count` new positions (inside the caller's write transaction); returns the first of them."""
    newest = db.conn.execute("UPDATE sequences SET value = value + ? WHERE name = ? RETURNING value",
                             [count, RECORDS]).fetchone()[0]
    return newest - count + 1


def latest_seq(db) -> int:
    """The newest position given out (0 before any write): a device that has everything up to here is current."""
    return value(db, RECORDS)


def value(db, name: str) -> int:
    row = db.conn.execute("SELECT value FROM sequences WHERE name = ?", [name]).fetchone()
    return row[0] if row else 0
