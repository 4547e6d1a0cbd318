"""Demo data for POR problems and the partner directory: synthetic organisations (no real names of people) and
one problem opened from the week's top hotspot. Run again, it adds only what is missing."""

from __future__ import annotations

from fieldapp import partners, picture, problems
from fieldapp.accounts import User
from fieldapp.clock import utcnow

DEMO_TITLE = "Iltojen jännitteet torilla (demo)"
DEMO_PARTNERS = [
    {"name": "Nuorisotalo (demo)", "kind": "youth_services", "languages": ["fi", "sv", "so"], "area": "Kontula",
     "offers": "Evening outreach; a hall for meetings", "contact_role": "Youth worker on duty"},
    {"name": "Moskeijayhdistys (demo)", "kind": "religious_community", "languages": ["ar", "so", "fi"],
     "area": "Itäkeskus", "offers": "Contact with families; interpreters", "contact_role": "Chair of the board"},
    {"name": "Sovittelutoimisto (demo)", "kind": "mediation_office", "languages": ["fi", "sv", "en"],
     "area": "Helsinki", "offers": "Mediation between groups and neighbours", "contact_role": "Mediation coordinator"},
    {"name": "Ankkuri-tiimi (demo)", "kind": "anchor_team", "languages": ["fi", "en"], "area": "Helsinki",
     "offers": "Early intervention with young people", "contact_role": "Social worker of the team"},
]


def load(db, lead: User) -> None:
    """The demo partners of the lead's unit, and a problem from the top hotspot of the last 7 days."""
    known = {p["name"] for p in partners.for_unit(db, lead.unit_id)}
    for entry in DEMO_PARTNERS:
        if entry["name"] not in known:
            partners.save(db, lead, entry)
    flt = picture.parse_filter(db, {"window": "7d"})
    top = picture.hotspots(db, picture.Scope(lead.unit_id), flt, 8, limit=1)
    if not top:
        return
    existing = [p for p in problems.for_unit(db, lead.unit_id) if p["title"] == DEMO_TITLE]
    if existing:  # demo data made again: the problem's links went with the old records; link the new ones
        if not any(existing[0]["record_counts"].values()):
            problems.link_records(db, lead, existing[0], problems.hotspot_records(
                db, lead.unit_id, existing[0]["cells"][0], flt.start, flt.end))
        return
    helpers = [p["id"] for p in partners.for_unit(db, lead.unit_id) if p["name"] in
               ("Nuorisotalo (demo)", "Sovittelutoimisto (demo)")]
    problem = problems.open_problem(db, lead, {
        "title": DEMO_TITLE, "place_name": top[0].place,
        "description": "Toistuvaa sanailua ryhmien välillä iltaisin.", "partner_ids": helpers,
        "review_date": (utcnow().date()).isoformat(), "public_title": "Turvallisemmat illat torilla"},
        problems.Origin("hotspot", top[0].summary.h3, flt.start, flt.end))
    problems.add_measure(db, lead, problem, {"what": "Yhteiset iltakävelyt nuorisotyön kanssa",
                                             "who": "Nuorisotalo (demo)", "public": "1",
                                             "due_date": utcnow().date().isoformat()})
