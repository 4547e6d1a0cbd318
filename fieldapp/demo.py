"""Synthetic demo data: one unit, five users, deployments around Helsinki and a few hundred records.

Everything here is made up: no real names, identity codes or home addresses.
"""

from __future__ import annotations

import random
from datetime import timedelta

from fieldapp import accounts, projections, records
from fieldapp import deployments as deployments_domain
from fieldapp import por
from fieldapp import picture
from fieldapp import alerts
from fieldapp import followups
from fieldapp import demo_problems, problems
from fieldapp import demo_categories
from fieldapp import demo_yearly
from fieldapp.clock import iso, utcnow
from fieldapp.db import write
from fieldapp.ids import new_id

DEMO_UNIT = "Helsinki preventive unit (demo)"
DEMO_PASSWORD = "fieldapp-demo"
DEMO_USERS = [
    ("lead1", "lead", "Lead One"),
    ("officer1", "officer", "Officer One"),
    ("officer2", "officer", "Officer Two"),
    ("staff1", "staff", "Staff One"),
    ("admin1", "admin", "Admin One"),
]
# Public squares and venues (not home addresses), with a little jitter added per record.
PLACES = [
    ("Senaatintori", 60.1695, 24.9525),
    ("Narinkka", 60.1693, 24.9331),
    ("Kansalaistori", 60.1737, 24.9378),
    ("Itäkeskus", 60.2107, 25.0810),
    ("Kontula ostoskeskus", 60.2358, 25.0822),
    ("Malmin tori", 60.2510, 25.0110),
    ("Vuosaaren metroasema", 60.2078, 25.1443),
    ("Kallion kirjasto", 60.1845, 24.9500),
]
HOURS = 3600


def _reset(db, unit_id: str) -> None:
    ids = [r["id"] for r in db.query("SELECT id FROM deployments WHERE unit_id = ?", [unit_id])]
    if not ids:
        return
    marks = ",".join("?" * len(ids))
    for table in ("interventions", "tensions", "contacts"):
        db.execute(f"DELETE FROM record_versions WHERE record_id IN (SELECT id FROM {table} WHERE deployment_id IN ({marks}))", ids)
    # Each area registers a clean-up for its own tables that point at demo records.
    for cleanup in CLEANUPS:
        cleanup(db, ids)
    for table in ("interventions", "tensions", "contacts", "presence", "assignments"):
        db.execute(f"DELETE FROM {table} WHERE deployment_id IN ({marks})", ids)
    db.execute(f"DELETE FROM deployments WHERE id IN ({marks})", ids)


CLEANUPS: list = []
CLEANUPS.append(por.cleanup)  # queued POR feed rows of the demo records
CLEANUPS.append(picture.cleanup)  # situation picture cells and roll-ups of the demo records
CLEANUPS.append(alerts.cleanup)  # alerts (inbox, push deliveries) of the demo deployments
CLEANUPS.append(followups.cleanup)  # follow-ups of the demo deployments and their reminders
CLEANUPS.append(problems.cleanup)  # partners at demo deployments, problems opened from them


def _users(db, unit_id: str) -> dict[str, accounts.User]:
    users = {}
    for username, role, name in DEMO_USERS:
        user = accounts.by_username(db, username)
        if user is None:
            user = accounts.create_user(db, username, DEMO_PASSWORD, role, unit_id, name)
        else:
            accounts.set_password(db, user.id, DEMO_PASSWORD)
        users[username] = user
    return users


def _deployment_plan(now):
    """(name, kind, place index, start, hours) relative to now."""
    day = timedelta(days=1)
    plan = [
        ("Mielenosoitus Senaatintorilla", "demonstration", 0, now - timedelta(hours=2), 5),
        ("Nuorten ilta Kontulassa", "youth_event", 4, now - 3 * day - timedelta(hours=3), 5),
        ("Pop-up-piste Itäkeskuksessa", "popup_station", 3, now - 2 * day - timedelta(hours=5), 6),
        ("Yhteisövierailu Malmilla", "community_visit", 5, now + 6 * day, 3),
    ]
    rng = random.Random(11)
    for week in range(1, 7):
        place = rng.randrange(len(PLACES))
        plan.append((f"Tapahtumavalvonta, viikko -{week}", rng.choice(["public_event", "demonstration", "youth_event"]),
                     place, now - week * 7 * day + timedelta(hours=rng.randint(-30, 30)), rng.randint(3, 7)))
    return plan


def load(db, seed: int = 7) -> str:
    """Create or refresh the demo data; returns what to print (address is printed by `serve`)."""
    rng = random.Random(seed)
    unit_id = accounts.ensure_unit(db, DEMO_UNIT)
    with write(db):
        _reset(db, unit_id)
    users = _users(db, unit_id)
    lead = users["lead1"]
    now = utcnow()
    field_users = [users["officer1"], users["officer2"], lead]
    counts = {"contact": 0, "tension": 0, "intervention": 0}
    with write(db):
        for name, kind, place_index, start, hours in _deployment_plan(now):
            place, lat, lon = PLACES[place_index]
            assigned = [users["officer1"].id, users["officer2"].id]
            if kind == "popup_station":
                assigned.append(users["staff1"].id)
            deployment = deployments_domain.save(db, lead, {
                "name": name, "kind": kind, "place_name": place, "lat": lat, "lon": lon,
                "starts_at": iso(start), "ends_at": iso(start + timedelta(hours=hours)), "notes": "",
            }, assigned=assigned)
            if start > now:
                continue
            end = min(now, start + timedelta(hours=hours))
            span = max(60, int((end - start).total_seconds()))
            authors = field_users + ([users["staff1"]] if kind == "popup_station" else [])
            for user in authors[:3]:
                if user.role != "lead":
                    db["presence"].insert({"id": new_id(), "deployment_id": deployment["id"], "user_id": user.id,
                                           "checked_in_at": iso(start), "checked_out_at": None if end == now else iso(end)})
            n = {"demonstration": 40, "youth_event": 22, "popup_station": 30}.get(kind, 18)
            for _ in range(n):
                at = start + timedelta(seconds=rng.randrange(span))
                spot = (round(lat + rng.gauss(0, 0.0025), 5), round(lon + rng.gauss(0, 0.004), 5))
                author = rng.choice(authors)
                _demo_records(db, rng, author, deployment, kind, at, spot, counts)
    demo_categories.add_motives(db, unit_id, rng)
    projections.catch_up(db)  # the situation picture, alerts and POR feed of the demo records
    demo_problems.load(db, lead)  # partner directory and a POR problem
    demo_yearly.load(db, unit_id, DEMO_PASSWORD)  # a department, a second unit, activities and targets
    return (f"demo data ready: {counts['contact']} contacts, {counts['tension']} tension observations, "
            f"{counts['intervention']} interventions\n"
            f"demo logins (password '{DEMO_PASSWORD}', demo only): " + ", ".join([u for u, _r, _n in DEMO_USERS] + [u for u, *_rest in demo_yearly.USERS]))


def _demo_records(db, rng, author, deployment, kind, at, spot, counts) -> None:
    base = {"occurred_at": iso(at), "lat": spot[0], "lon": spot[1], "place_name": deployment["place_name"], "notes": ""}
    records.store_unchecked(db, author, "contact", deployment["id"], {
        **base,
        "age_band": rng.choice(["15_17", "18_29", "18_29", "30_49", "50_64", "65_plus", "mixed"]),
        "group_size": rng.choice(["1", "1", "2_5", "2_5", "6_20"]),
        "group_category": rng.choice(["general_public", "youth", "residents", "religious_community", "ethnic_minority",
                                      "demonstrators"]),
        "language": rng.choice(["fi", "fi", "fi", "sv", "en", "ar", "so", "ru"]),
        "topics": rng.sample(["safety_worry", "hate_speech", "rumour", "licence_matter", "question_police", "tip",
                              "neighbourhood"], rng.randint(1, 2)),
        "feedback_promised": rng.random() < 0.3, "feedback_given": rng.random() < 0.15,
        "follow_up": rng.random() < 0.2,
        "referral_target": rng.choice([None, None, None, "ankkuri", "victim_support", "youth_services", "ngo"]),
    }, received_at=at)
    counts["contact"] += 1
    if rng.random() < (0.8 if kind == "demonstration" else 0.4):
        severity = min(6, max(1, int(rng.triangular(1, 6, 2 if kind != "demonstration" else 4))))
        tension = records.store_unchecked(db, author, "tension", deployment["id"], {
            **base,
            "kind": rng.choice(["verbal_confrontation", "hate_speech_symbols", "provocation", "crowd_movement",
                                "rumour_online", "counter_demo_contact"]),
            "groups": rng.sample(["demonstrators", "counter_demonstrators", "youth", "supporters_group",
                                  "residents", "religious_community"], 2),
            "severity": severity, "trend": rng.choice(["rising", "stable", "stable", "easing"]),
            "basis": rng.choice(["observed", "observed", "reported", "assessment"]),
            "people_estimate": rng.choice([5, 10, 20, 40, 80, 150]),
        }, received_at=at)
        counts["tension"] += 1
        if rng.random() < 0.6:
            records.store_unchecked(db, author, "intervention", deployment["id"], {
                **base,
                "kind": rng.choice(["dialogue", "dialogue", "advice", "mediation", "organiser_negotiation",
                                    "separating_groups", "referral"]),
                "outcome": rng.choice(["resolved", "resolved", "partly", "not_resolved", "ongoing"]),
                "referral_target": None, "tension_id": tension["id"], "contact_id": None,
            }, received_at=at + timedelta(minutes=rng.randint(1, 20)))
            counts["intervention"] += 1
