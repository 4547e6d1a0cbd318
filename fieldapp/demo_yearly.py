"""Synthetic demo data of the yearly report: a department above the demo unit, a second unit in it with a lead
and an officer, the head of preventive work (department role), a few activities this year and last, targets.

Everything is made up: no real names, platforms' account names or addresses.
"""

from __future__ import annotations

from datetime import timedelta

from fieldapp import accounts, activities, yearly_report
from fieldapp.clock import HELSINKI, utcnow
from fieldapp.db import one, write
from fieldapp.ids import new_id

DEPARTMENT = "Helsinki police department (demo)"
SECOND_UNIT = "Eastern preventive unit (demo)"
USERS = [("head1", "department", "Head of Preventive Work", "first"), ("lead2", "lead", "Lead Two", "second"),
         ("officer3", "officer", "Officer Three", "second")]


def load(db, first_unit: str, password: str) -> None:
    """Idempotent: a department with both demo units, its users, activities and targets."""
    row = one(db, "SELECT id FROM departments WHERE name = ?", [DEPARTMENT])
    department_id = row["id"] if row else new_id()
    second_unit = accounts.ensure_unit(db, SECOND_UNIT)
    with write(db):
        if row is None:
            db["departments"].insert({"id": department_id, "name": DEPARTMENT, "created_at": "2026-01-01T00:00:00.000Z"})
        db.execute("UPDATE units SET department_id = ? WHERE id IN (?, ?)", [department_id, first_unit, second_unit])
        db.execute("DELETE FROM activities WHERE unit_id IN (?, ?)", [first_unit, second_unit])
    units = {"first": first_unit, "second": second_unit}
    users = {}
    for username, role, name, unit in USERS:
        user = accounts.by_username(db, username)
        if user is None:
            user = accounts.create_user(db, username, password, role, units[unit], name)
        else:
            accounts.set_password(db, user.id, password)
        users[username] = user
    now = utcnow()
    plan = [  # (who, kind, days ago, start, minutes, platform or place, online activity, people, languages)
        ("officer1", "online_presence", 3, "18:00", 90, "A video sharing service", "Live Q&A", 60, ["fi", "sv"]),
        ("officer2", "school_visit", 10, "09:00", 120, "Comprehensive school (demo)", "", 80, ["fi"]),
        ("officer1", "religious_visit", 20, "13:00", 60, "Community centre (demo)", "", 30, ["ar", "fi"]),
        ("officer3", "community_meeting", 5, "17:00", 120, "Library hall (demo)", "", 45, ["fi", "so"]),
        ("officer3", "online_presence", 400, "19:00", 60, "A game platform", "Answering messages", 25, ["fi"]),
    ]
    for who, kind, days, start, minutes, where, online, people, languages in plan:
        local = (now - timedelta(days=days)).astimezone(HELSINKI)
        owner = accounts.by_username(db, who)
        raw = {"kind": kind, "day": local.date().isoformat(), "start": start, "minutes": str(minutes),
               "people_reached": str(people), "languages": languages, "topics": ["question_police"],
               "online_activity": online, ("platform" if kind == "online_presence" else "place_name"): where}
        at = now if days <= 365 else now - timedelta(days=days - 1)  # last year's one as if logged back then
        activities.create(db, owner, raw, new_id(), now=at)
    year = now.astimezone(HELSINKI).year
    head = users["head1"]
    yearly_report.set_targets(db, head, first_unit, year, {"hours": "400", "activities": "20", "people_reached": "1000"})
    yearly_report.set_targets(db, head, second_unit, year, {"hours": "200", "activities": "10"})
