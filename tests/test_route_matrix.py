"""Every route × every role × own and other unit: who may use what, and another unit's object is answered like none.

The table ACCESS below is the declared rule for every route the app has; the first test fails when a route is
added without a line here (or a line outlives its route), so nobody adds a route without saying who may use it.
The matrix then asks every route as anonymous, officer, staff, lead, admin and department (the head of preventive
work) of the demo unit A, as officer, staff and lead of a second unit B (outside the demo's department) and as
officer and lead of the demo's other unit E (in the same department as A), with path parameters naming an object
of the asker's unit, one of each other unit and one that does not exist, and checks:

- a role the table does not allow gets 401/403 (anonymous: 401 or a redirect to the login page);
- an allowed role never gets 401/403 for its own unit's objects on a read, and a lead reads its unit's
  objects (200);
- an object of another unit is answered exactly like an unknown one (same status), its content never shown;
  no page shows another unit's free text at all, and anonymous and the department role never see any;
- a public link's token is the key: an unknown or revoked one shows nothing;
- no request at all answers 5xx.
"""

from __future__ import annotations

import re
from datetime import timedelta

import h3
import pytest

from fieldapp import (access, accounts, activities, categories, demo, deployments, devices, partners, picture,
                      public_links)
from fieldapp import problems as problems_domain
from fieldapp.alerts import messages as alert_messages
from fieldapp.clock import iso, utcnow
from fieldapp.db import write
from fieldapp.ids import new_id
from fieldapp.services import recording

PUBLIC = "public"  # anyone, logged in or not
LOGGED_IN = "logged_in"  # every role
FIELD = frozenset({"officer", "staff", "lead"})
LEAD = frozenset({"lead"})
LEAD_ADMIN = frozenset({"lead", "admin"})
ADMIN = frozenset({"admin"})
FIELD_ADMIN = frozenset({"officer", "staff", "lead", "admin"})  # a unit's field roles and its administrators
LEAD_DEPT = frozenset({"lead", "department"})  # the yearly report: a lead's unit, the department role's units
DEPT = frozenset({"department"})  # the head of preventive work

# (method, path as the app declares it) -> who may use it. OPTIONS answers are open by design (no data).
ACCESS: dict[tuple[str, str], object] = {
    ("GET", "/static/{file_path:path}"): PUBLIC,
    ("HEAD", "/static/{file_path:path}"): PUBLIC,
    ("POST", "/language"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): LOGGED_IN,
    ("GET", "/api/session"): LOGGED_IN,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/livez"): PUBLIC,
    ("HEAD", "/healthz"): PUBLIC,
    ("HEAD", "/livez"): PUBLIC,
    ("GET", "/"): LOGGED_IN,
    ("POST", "/deployments"): LEAD,
    ("GET", "/deployments/new"): LEAD,
    ("GET", "/deployments/{deployment_id:str}/edit"): LEAD,
    ("POST", "/deployments/{deployment_id:str}/edit"): LEAD,
    ("POST", "/deployments/{deployment_id:str}/check-in"): FIELD,
    ("POST", "/deployments/{deployment_id:str}/check-out"): FIELD,
    ("GET", "/deployments/{deployment_id:str}"): LOGGED_IN,
    ("GET", "/deployments/{deployment_id:str}/{slug:str}"): LOGGED_IN,
    ("POST", "/deployments/{deployment_id:str}/{slug:str}"): LOGGED_IN,
    ("GET", "/deployments/{deployment_id:str}/{slug:str}/new"): LOGGED_IN,
    ("GET", "/records/{kind_name:str}/{record_id:str}"): LOGGED_IN,
    ("POST", "/records/{kind_name:str}/{record_id:str}"): LOGGED_IN,
    ("GET", "/records/{kind_name:str}/{record_id:str}/edit"): LOGGED_IN,
    ("POST", "/records/{kind_name:str}/{record_id:str}/delete"): LOGGED_IN,
    ("GET", "/manifest.webmanifest"): PUBLIC,
    ("GET", "/offline/{name:str}"): PUBLIC,
    ("GET", "/sw.js"): PUBLIC,
    ("GET", "/api/offline/bootstrap"): LOGGED_IN,
    ("POST", "/api/sync"): LOGGED_IN,
    ("POST", "/api/sync/presence"): LOGGED_IN,
    ("GET", "/api/sync/pull"): LOGGED_IN,
    ("POST", "/api/sync/conflicts/{conflict_id:int}/resolve"): LOGGED_IN,
    ("GET", "/offline"): LOGGED_IN,
    ("GET", "/pending"): LOGGED_IN,
    ("GET", "/picture"): FIELD,
    ("GET", "/picture/hotspots"): FIELD,
    ("GET", "/picture/live"): FIELD,
    ("GET", "/picture/cells/{cell:str}"): FIELD,
    ("GET", "/api/picture/cells"): FIELD,
    ("GET", "/api/picture/cells/{cell:str}"): FIELD,
    ("GET", "/api/picture/points"): FIELD,
    ("GET", "/api/picture/export/interventions.csv"): LEAD,
    ("GET", "/api/picture/export/interventions.geojson"): LEAD,
    ("GET", "/api/picture/export/partner-cells.csv"): LEAD,
    ("GET", "/api/picture/export/partner-cells.geojson"): LEAD,
    ("GET", "/api/picture/export/tensions.csv"): LEAD,
    ("GET", "/api/picture/export/tensions.geojson"): LEAD,
    ("GET", "/reports"): LEAD,
    ("GET", "/reports/export.csv"): LEAD,
    ("GET", "/alerts"): FIELD,
    ("POST", "/alerts"): LEAD,
    ("GET", "/alerts/new"): LEAD,
    ("GET", "/alerts/{alert_id:str}"): FIELD,
    ("GET", "/alerts/{alert_id:str}/deliveries"): LEAD,
    ("GET", "/alerts/devices"): FIELD,
    ("POST", "/alerts/devices/{subscription_id:str}/delete"): FIELD,
    ("GET", "/api/push/key"): FIELD,
    ("POST", "/api/push/subscriptions"): FIELD,
    ("DELETE", "/api/push/subscriptions"): FIELD,
    ("GET", "/api/alerts/unread"): FIELD,
    ("GET", "/admin/users"): ADMIN,
    ("POST", "/admin/users"): ADMIN,
    ("GET", "/admin/users/new"): ADMIN,
    ("GET", "/admin/users/{user_id:str}"): ADMIN,
    ("POST", "/admin/users/{user_id:str}/deactivate"): ADMIN,
    ("POST", "/admin/users/{user_id:str}/reactivate"): ADMIN,
    ("POST", "/admin/users/{user_id:str}/end-sessions"): ADMIN,
    ("POST", "/admin/users/{user_id:str}/password"): ADMIN,
    ("GET", "/admin/por"): ADMIN,
    ("POST", "/admin/por/retry"): ADMIN,
    ("GET", "/admin/audit"): ADMIN,
    ("GET", "/admin/audit/export.csv"): ADMIN,
    ("GET", "/schema"): LOGGED_IN,
    ("GET", "/schema/scalar"): LOGGED_IN,
    ("GET", "/schema/openapi.json"): LOGGED_IN,
    ("GET", "/schema/{path:str}"): LOGGED_IN,
    # The offline outbox: the key records are sealed to (a public key) and opening one's own sealed record again
    # (sealing.open_sealed checks the user), like /api/sync itself.
    ("GET", "/api/offline/seal-key"): LOGGED_IN,
    ("POST", "/api/sync/open"): LOGGED_IN,
    ("GET", "/api/offline/basemap"): FIELD,  # the tiles around one's deployments
    # Preventive activities outside deployments: every field role logs its own.
    ("GET", "/activities"): FIELD,
    ("POST", "/activities"): FIELD,
    ("GET", "/activities/new"): FIELD,
    # The yearly report: leads (their unit) and the department role (its department's units); targets: department.
    ("GET", "/yearly"): LEAD_DEPT,
    ("GET", "/yearly/export.csv"): LEAD_DEPT,
    ("GET", "/yearly/export.ods"): LEAD_DEPT,
    ("GET", "/yearly/targets"): DEPT,
    ("POST", "/yearly/targets"): DEPT,
    # POR problems and partners: the unit's field roles and administrators read; leads and administrators edit
    # (officers too once a lead allowed them at /problems/openers: none is, in the matrix).
    ("GET", "/problems"): FIELD_ADMIN,
    ("POST", "/problems"): LEAD_ADMIN,
    ("GET", "/problems/new"): LEAD_ADMIN,
    ("GET", "/problems/openers"): LEAD,
    ("POST", "/problems/openers"): LEAD,
    ("GET", "/problems/{problem_id:str}"): FIELD_ADMIN,
    ("POST", "/problems/{problem_id:str}"): LEAD_ADMIN,
    ("GET", "/problems/{problem_id:str}/edit"): LEAD_ADMIN,
    ("POST", "/problems/{problem_id:str}/close"): LEAD_ADMIN,
    ("POST", "/problems/{problem_id:str}/measures"): LEAD_ADMIN,
    ("POST", "/problems/{problem_id:str}/measures/{measure_id:str}"): LEAD_ADMIN,
    ("POST", "/problems/{problem_id:str}/records"): LEAD_ADMIN,
    ("GET", "/partners"): FIELD_ADMIN,
    ("POST", "/partners"): LEAD_ADMIN,
    ("GET", "/partners/new"): LEAD_ADMIN,
    ("GET", "/partners/export.csv"): FIELD_ADMIN,
    ("POST", "/partners/import"): LEAD_ADMIN,
    ("GET", "/partners/{partner_id:str}"): FIELD_ADMIN,
    ("POST", "/partners/{partner_id:str}"): LEAD_ADMIN,
    ("GET", "/partners/{partner_id:str}/edit"): LEAD_ADMIN,
    ("POST", "/partners/deployments/{deployment_id:str}"): LEAD,  # who was there: administrators see no deployments
    # What partners may see: a lead publishes; the public page needs no account (the token is the key).
    ("GET", "/partner-summary"): LEAD,
    ("GET", "/partner-summary/links"): LEAD,
    ("POST", "/partner-summary/links"): LEAD,
    ("POST", "/partner-summary/links/{link_id:str}/revoke"): LEAD,
    ("GET", "/shared/{token:str}"): PUBLIC,
    # Follow-ups: one's own (officers, staff), the unit's for leads; the unit's due days and reassigning: leads.
    ("GET", "/followups"): FIELD,
    ("GET", "/followups/settings"): LEAD,
    ("POST", "/followups/settings"): LEAD,
    ("GET", "/followups/{followup_id:str}"): FIELD,
    ("POST", "/followups/{followup_id:str}/given"): FIELD,
    ("POST", "/followups/{followup_id:str}/cannot"): FIELD,
    ("POST", "/followups/{followup_id:str}/owner"): LEAD,
    ("POST", "/followups/{followup_id:str}/reopen"): FIELD,
    ("POST", "/api/sync/followups"): FIELD,
    ("GET", "/needs-action"): LEAD,
    # Registered devices: everyone their own; administrators every device (the lost-device revoke).
    ("GET", "/devices"): LOGGED_IN,
    ("POST", "/devices/{device_id:str}/name"): LOGGED_IN,
    ("GET", "/devices/{device_id:str}/revoke"): LOGGED_IN,
    ("POST", "/devices/{device_id:str}/revoke"): LOGGED_IN,
    ("POST", "/api/device/report"): LOGGED_IN,
    ("GET", "/device/revoked"): PUBLIC,  # what a wiped device shows (a logged-in user is sent to /devices)
    ("GET", "/admin/devices"): ADMIN,
    ("GET", "/admin/devices/{device_id:str}/revoke"): ADMIN,
    ("POST", "/admin/devices/{device_id:str}/revoke"): ADMIN,
    ("GET", "/admin/devices/user/{user_id:str}/revoke"): ADMIN,
    ("POST", "/admin/devices/user/{user_id:str}/revoke"): ADMIN,
    # The category lists (global: every unit's forms use them).
    ("GET", "/admin/categories"): ADMIN,
    ("GET", "/admin/categories/{list_name:str}"): ADMIN,
    ("POST", "/admin/categories/{list_name:str}"): ADMIN,
    ("POST", "/admin/categories/{list_name:str}/{code:str}/labels"): ADMIN,
    ("POST", "/admin/categories/{list_name:str}/{code:str}/move"): ADMIN,
    ("POST", "/admin/categories/{list_name:str}/{code:str}/retire"): ADMIN,
    ("POST", "/admin/categories/{list_name:str}/{code:str}/reactivate"): ADMIN,
}

# Who asks: (label, username or None for anonymous, role, home unit: "A" demo unit, "B" the second unit).
ASKERS = [("anonymous", None, None, None), ("officer", "officer1", "officer", "A"), ("staff", "staff1", "staff", "A"),
          ("lead", "lead1", "lead", "A"), ("admin", "admin1", "admin", "A"),
          ("department", "head1", "department", "A"),  # the demo's head of preventive work, home unit A
          ("officer B", "officer_b", "officer", "B"), ("staff B", "staff_b", "staff", "B"),
          ("lead B", "lead_b", "lead", "B"),
          ("officer E", "officer3", "officer", "E"), ("lead E", "lead2", "lead", "E")]  # the demo's, A's department
OBJECT_UNITS = ("A", "B", "E")
OTHERS = {"A": ("B", "E"), "B": ("A",), "E": ("A",), None: ("B",)}  # whose objects an asker of a unit tries
# The department role reports on every unit of its department: E is its own as much as its home unit A.
ALSO_OWN = {"department": ("E",)}
PARAM = re.compile(r"\{(\w+):(\w+)\}")
SECRET = "matrix-secret-note"  # with the unit's letter in each unit's free text: must never reach another unit


def _routes(app) -> set[tuple[str, str]]:
    found = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            for method in handler.http_methods:
                if method != "OPTIONS":
                    found.add((method, route.path))
    return found


def test_every_route_declares_who_may_use_it(app):
    routes = _routes(app)
    assert sorted(routes - ACCESS.keys()) == [], "routes without a line in ACCESS: say who may use them"
    assert sorted(ACCESS.keys() - routes) == [], "lines in ACCESS for routes that no longer exist"


def _second_unit(db) -> dict:
    """Unit B with a lead, an officer (assigned) and staff, a current deployment, records, an alert."""
    unit = accounts.ensure_unit(db, "Turku preventive unit (matrix test)")
    users = {name: accounts.create_user(db, name, demo.DEMO_PASSWORD, role, unit, name.title())
             for name, role in (("lead_b", "lead"), ("officer_b", "officer"), ("staff_b", "staff"))}
    return {"unit": unit, "users": users, "deployment": _current_deployment(db, users["lead_b"], "Matrix B market day",
                                                                            60.4518, 22.2666, users.values())}


def _current_deployment(db, lead, name: str, lat: float, lon: float, assigned) -> dict:
    now = utcnow()
    with write(db):
        return deployments.save(db, lead, {
            "name": name, "kind": "youth_event", "place_name": "Matrix place", "lat": lat, "lon": lon,
            "starts_at": iso(now - timedelta(hours=1)), "ends_at": iso(now + timedelta(hours=5)), "notes": ""},
            assigned=[user.id for user in assigned if user.role != "lead"])


def _objects(db, unit: str, deployment: dict, author, lead) -> dict:
    """One object of each kind a path can name, in one unit (free text: SECRET and the unit)."""
    secret = f"{SECRET} {unit}"
    tension = recording.create(db, author, "tension", deployment["id"],
                               {"kind": "provocation", "severity": "3", "notes": secret,
                                "lat": deployment["lat"], "lon": deployment["lon"]})
    contact = recording.create(db, author, "contact", deployment["id"],
                               {"topics": ["rumour"], "feedback_promised": True, "notes": secret,
                                "lat": deployment["lat"], "lon": deployment["lon"]})
    followup = db.execute("SELECT id FROM followups WHERE record_id = ?", [contact["id"]]).fetchone()[0]
    activities.create(db, author, {"kind": sorted(categories.codes(db, activities.KIND_LIST))[0],
                                   "day": utcnow().date().isoformat(), "minutes": "30", "place_name": secret},
                      new_id())
    partner = partners.save(db, lead, {"name": f"{secret} partner", "kind": sorted(categories.codes(
        db, partners.KIND_LIST))[0], "area": secret, "offers": secret, "contact_role": secret})
    problem = problems_domain.open_problem(db, lead, {  # the public title is for partners: it is on public links
        "title": f"{secret} problem", "place_name": secret, "description": secret,
        "review_date": utcnow().date().isoformat(), "public_title": f"Matrix public title {unit}",
        "partner_ids": [partner["id"]]})
    measure = problems_domain.add_measure(db, lead, problem, {"what": secret, "who": secret,
                                                       "due_date": utcnow().date().isoformat(), "public": ""})
    device_id, _token = devices.register(db, lead, None, "Matrix browser")  # not the one the lead's session uses
    devices.rename(db, devices.get(db, device_id), secret, lead.id)
    summary = picture.summarise(db, picture.Scope(lead.unit_id), picture.parse_filter(db, {"window": "30d"}), 8,
                                problems=problems_domain.for_partners)
    link = public_links.publish(db, lead, summary, {"window": "30d"}, 14)
    revoked = public_links.publish(db, lead, summary, {"window": "30d"}, 14)
    public_links.revoke(db, lead, revoked["id"])
    with write(db):
        alert = alert_messages.create(db, unit_id=deployment["unit_id"], deployment_id=deployment["id"], level="info",
                                      message=f"Matrix alert {unit}", kind="manual", recipients=[author.id],
                                      created_by=lead.id)
        subscription = new_id()
        db["push_subscriptions"].insert({"id": subscription, "user_id": author.id,
                                         "endpoint": f"https://push.invalid/matrix/{subscription}",
                                         "p256dh": "x", "auth": "y", "created_at": iso(utcnow())})
    victim = accounts.create_user(db, f"victim_{unit.lower()}", demo.DEMO_PASSWORD, "officer",
                                  deployment["unit_id"], f"Victim {unit}")
    cell = db.execute("SELECT cell FROM picture_obs WHERE tension_id = ?", [tension["id"]]).fetchone()[0]
    return {"deployment_id": deployment["id"], "slug": "tensions", "kind_name": "tension", "record_id": tension["id"],
            "alert_id": alert["id"], "subscription_id": subscription, "user_id": victim.id,
            "cell": h3.int_to_str(cell), "conflict_id": None, "unit_id": deployment["unit_id"],
            "problem_id": problem["id"], "measure_id": measure["id"], "partner_id": partner["id"],
            "followup_id": followup, "device_id": device_id, "link_id": link["id"], "token": link["token"],
            "revoked_token": revoked["token"], "owner": lead.id,  # whom a lead gives a follow-up to
            **CATEGORY}


def _conflict(session, deployment_id: str) -> int:
    """A same-id-other-content conflict of the session's user, made through the sync protocol."""
    record_id = new_id()
    first = {"id": record_id, "kind": "tension", "deployment_id": deployment_id,
             "values": {"kind": "provocation", "severity": "3"}, "base_version": None, "device_time": iso(utcnow())}
    other = {**first, "values": {"kind": "provocation", "severity": "4"}}
    for item in (first, other):
        response = session.post_json("/api/sync", {"records": [item]})
        assert response.status_code == 200, response.text
    [result] = response.json()["results"]
    assert result["status"] == "conflict", result
    return result["conflict_id"]


CATEGORY = {"list_name": "topic", "code": ""}  # an entry the test adds (the lists are global, not a unit's)
NO_ID = "00000000-0000-7000-8000-000000000000"  # shaped like a real id (UUIDv7), naming nothing
UNKNOWN = {"deployment_id": NO_ID, "slug": "tensions", "kind_name": "tension", "record_id": NO_ID,
           "alert_id": NO_ID, "subscription_id": NO_ID, "user_id": NO_ID,
           "cell": h3.latlng_to_cell(0.0, 0.0, 9),  # a valid cell where no unit works
           "conflict_id": 999_999, "unit_id": NO_ID, "problem_id": NO_ID, "measure_id": NO_ID,
           "partner_id": NO_ID, "followup_id": NO_ID, "device_id": NO_ID, "link_id": NO_ID,
           "token": "A" * 43,  # shaped like a real token
           "list_name": "no_such_list", "code": "no_such_code"}
FIXED = {"file_path": "css/app.css", "name": "pages.js", "path": "openapi.yaml"}
OWN_UNIT_SCOPED = {"deployment_id", "record_id", "alert_id", "subscription_id", "conflict_id", "unit_id", "problem_id",
                   "measure_id", "partner_id", "followup_id", "device_id", "link_id"}
UNSCOPED = {"user_id", "list_name", "code"}  # administrators' objects of every unit: own and unknown are asked
ADMIN_EVERY_UNIT = {"device_id"}  # an administrator manages every unit's devices (the lost-device revoke)
TOKENS = {"token"}  # a public link: whoever holds the token may open it, whichever unit published it


def _url(path: str, objects: dict) -> str:
    return PARAM.sub(lambda m: str(objects.get(m.group(1), FIXED.get(m.group(1), "x"))), path)


QUERY = {"/api/picture/points": "?deployment={deployment_id}", "/yearly": "?unit={unit_id}",
         "/yearly/export.csv": "?unit={unit_id}", "/yearly/export.ods": "?unit={unit_id}",
         "/yearly/targets": "?unit={unit_id}"}
OPEN_SUMMARY = "this link is open until"  # only on the public page of an open link


def _sees(db, user, path: str, values: dict) -> bool:
    """Whether a field user sees (or, on a form for a new record, may record in) the deployment a path names."""
    if user is None or not ({"{deployment_id", "{record_id"} & set(re.findall(r"\{\w+", path + QUERY.get(path, "")))):
        return True
    deployment = deployments.get(db, values["deployment_id"])
    if path.endswith("/new") or path.endswith("/edit"):
        return access.can_record(db, user, deployment)
    return access.can_view(db, user, deployment)


def _allowed(rule, role) -> bool:
    if rule == PUBLIC:
        return True
    if rule == LOGGED_IN:
        return role is not None
    return role in rule


def _foreign_secret(text: str, role, unit, path: str) -> bool:
    """Whether a response shows free text it must not: another unit's (anyone), or any at all (anonymous and the
    department role, who read no field records). Administrators manage every unit's devices by design."""
    if role == "admin" and (path.startswith("/admin/") or "{device_id" in path):
        return False
    if role is None or role == "department":
        return SECRET in text
    return any(f"{SECRET} {other}" in text for other in OBJECT_UNITS if other != unit)


def _refused(status: int, location: str, role) -> bool:
    if role is None:
        return status == 401 or (status in (302, 303) and "/login" in location)
    return status in (401, 403)


TODAY = utcnow().date().isoformat()
# Forms that pass validation, so that a write reaches the access decisions behind it (placeholders: the objects',
# {label} something unique, {new_id} a fresh id); other writes send only the CSRF token.
FORMS = {
    "/problems": {"title": "t", "place_name": "p", "review_date": TODAY},
    "/problems/openers": {"user_id": "{user_id}", "allowed": "0"},
    "/problems/{problem_id:str}": {"title": "t", "place_name": "p", "review_date": TODAY},
    "/problems/{problem_id:str}/measures": {"what": "w", "who": "x", "due_date": TODAY},
    "/problems/{problem_id:str}/measures/{measure_id:str}": {"state": "done"},
    "/problems/{problem_id:str}/records": {"deployment": "{deployment_id}"},
    "/problems/{problem_id:str}/close": {"outcome": "better"},
    "/partners": {"name": "new partner {label}", "kind": "youth_services"},
    "/partners/{partner_id:str}": {"name": "changed partner {label}", "kind": "youth_services"},
    "/partners/deployments/{deployment_id:str}": {"partner_ids": "{partner_id}"},
    "/followups/{followup_id:str}/given": {"given_how": "phone"},
    "/followups/{followup_id:str}/cannot": {"cannot_reason": "r"},
    "/followups/{followup_id:str}/owner": {"owner_id": "{owner}"},
    "/followups/{followup_id:str}/reopen": {"reopen_reason": "r"},
    "/followups/settings": {"due_days": "14"},
    "/yearly/targets": {"unit": "{unit_id}", "year": TODAY[:4]},
    "/devices/{device_id:str}/name": {"name": "n"},
    "/activities": {"id": "{new_id}", "kind": "school_visit", "day": TODAY, "minutes": "30", "place_name": "x"},
    "/admin/categories/{list_name:str}": {"label_fi": "a{label}", "label_sv": "b{label}", "label_en": "c{label}"},
    "/admin/categories/{list_name:str}/{code:str}/labels": {"label_fi": "a", "label_sv": "b", "label_en": "c"},
    "/admin/categories/{list_name:str}/{code:str}/move": {"direction": "up"},
}


class _Blank(dict):
    def __missing__(self, key):
        return ""


def _ask(session, method: str, url: str, path: str = "", values: dict | None = None):
    headers = {"Accept-Language": "en"}
    if method == "GET" or method == "HEAD":
        return session.client.request(method, url, headers=headers, follow_redirects=False)
    if url.startswith("/api/"):
        return session.client.request(method, url, json={}, follow_redirects=False,
                                      headers={**headers, "X-CSRF-Token": session.csrf})
    form = {k: v.format_map(_Blank({**(values or {}), "label": new_id()[-6:], "new_id": new_id()}))
            for k, v in FORMS.get(path, {}).items()}
    return session.client.request(method, url, data={"_csrf": session.csrf, **form}, headers=headers,
                                  follow_redirects=False)


class _Anonymous:
    csrf = ""

    def __init__(self, client):
        self.client = client


def test_every_route_every_role_own_and_other_unit(app, db, client, login):
    b = _second_unit(db)
    CATEGORY["code"] = categories.add(db, CATEGORY["list_name"], {"label_fi": "Matriisi", "label_sv": "Matris",
                                                                  "label_en": "Matrix topic"}, by=None)
    officer1 = accounts.by_username(db, "officer1")
    deployment_a = deployments.current_for_user(db, officer1)
    lead_e, officer_e = accounts.by_username(db, "lead2"), accounts.by_username(db, "officer3")
    deployment_e = _current_deployment(db, lead_e, "Matrix E evening", 60.2107, 25.0805, [officer_e])
    objects = {"A": _objects(db, "A", deployment_a, officer1, accounts.by_username(db, "lead1")),
               "B": _objects(db, "B", b["deployment"], b["users"]["officer_b"], b["users"]["lead_b"]),
               "E": _objects(db, "E", deployment_e, officer_e, lead_e)}
    sessions = {label: (_Anonymous(client) if username is None else login(username))
                for label, username, _role, _unit in ASKERS}
    for unit, label in (("A", "officer"), ("B", "officer B"), ("E", "officer E")):
        objects[unit]["conflict_id"] = _conflict(sessions[label], objects[unit]["deployment_id"])

    problems: list[str] = []
    routes = sorted(_routes(app), key=lambda r: (r[1] in ("/logout",), r[0] != "GET", r[1]))
    asked = 0
    # Reads first, for everyone; then writes (a delete must not take away what a later read asks for); logout last.
    phases = [[r for r in routes if r[0] in ("GET", "HEAD")], [r for r in routes if r[0] not in ("GET", "HEAD")]]
    for phase, (label, username, role, unit) in [(p, a) for p in phases for a in ASKERS]:
        session = sessions[label]
        user = accounts.by_username(db, username) if username else None
        for method, path in phase:
            rule = ACCESS[(method, path)]
            if path == "/logout":
                continue  # asked last, below: it ends the session the rest of the matrix uses
            params = {m.group(1) for m in PARAM.finditer(path)} | set(re.findall(r"\{(\w+)\}", QUERY.get(path, "")))
            own = objects[unit or "A"]
            variants = {"own": own}
            if params & TOKENS:  # no other-unit rule (the token is the key); a revoked and an unknown one show nothing
                variants.update({"revoked": {**own, "token": own["revoked_token"]}, "unknown": UNKNOWN})
            elif role == "admin" and params & ADMIN_EVERY_UNIT:
                variants["unknown"] = UNKNOWN
            elif params & (OWN_UNIT_SCOPED | {"cell"}):
                variants.update({f"own {also}": objects[also] for also in ALSO_OWN.get(label, ())})
                variants.update({f"other {other}": objects[other] for other in OTHERS[unit]
                                 if other not in ALSO_OWN.get(label, ())})
                variants["unknown"] = UNKNOWN
            elif params & UNSCOPED:  # administrators manage the users and lists of every unit: no other-unit rule
                variants["unknown"] = UNKNOWN
            statuses = {}
            for variant, values in variants.items():
                url = _url(path, values) + QUERY.get(path, "").format(**values)
                response = _ask(session, method, url, path, values)
                asked += 1
                status, location = response.status_code, response.headers.get("location", "")
                statuses[variant] = status
                where = f"{label} {method} {path} ({variant}) -> {status}"
                mine = variant.startswith("own")  # the asker's unit's object (the department role: its units')
                if status >= 500:
                    problems.append(f"{where}: server error")
                if _foreign_secret(response.text, role, unit, path):
                    problems.append(f"{where}: another unit's content shown")
                if variant in ("revoked", "unknown") and params & TOKENS and (
                        status not in (404, 410) or OPEN_SUMMARY in response.text):
                    problems.append(f"{where}: a revoked or unknown link not answered as gone")
                hidden = params & OWN_UNIT_SCOPED and status == 404  # a refusal that hides the object
                if not _allowed(rule, role) or (mine and not _sees(db, user, path, values)):
                    if not (_refused(status, location, role) or hidden):
                        problems.append(f"{where}: role not allowed but not refused")
                    continue
                if _refused(status, location, role) and mine and (method == "GET" or path in FORMS):
                    problems.append(f"{where}: allowed role refused")
                if variant.startswith("other") and SECRET in response.text:
                    problems.append(f"{where}: another unit's content shown")
                if mine and method == "GET" and params & TOKENS and OPEN_SUMMARY not in response.text:
                    problems.append(f"{where}: an open link does not show its summary")
                if (mine and method == "GET" and role == "lead" and params & OWN_UNIT_SCOPED
                        and status != 200):
                    problems.append(f"{where}: a lead cannot read its own unit's object")
            for variant, status in statuses.items():
                if variant.startswith("other") and _allowed(rule, role) and status != statuses["unknown"]:
                    problems.append(f"{label} {method} {path}: another unit's object ({variant}) answered {status}, "
                                    f"an unknown one {statuses['unknown']}")
    # The pages the bootstrap names for offline work are fetched by the device after every refresh: each one must
    # be a page the role may open (a refused one is fetched for nothing, and logged as a refusal each time).
    for label, _username, role, _unit in ASKERS:
        if role is not None:
            for page in _ask(sessions[label], "GET", "/api/offline/bootstrap").json()["pages"]:
                status = _ask(sessions[label], "GET", page).status_code
                asked += 1
                if status >= 400:  # a redirect is fine (home sends admins and the department role elsewhere)
                    problems.append(f"{label}: the bootstrap names {page} for offline work, which answers {status}")
    for label, _username, role, _unit in ASKERS:
        if role is not None:
            response = _ask(sessions[label], "POST", "/logout")
            asked += 1
            if response.status_code >= 400:
                problems.append(f"{label} POST /logout -> {response.status_code}")
    assert asked > 11 * 260  # 11 askers, about 170 routes, up to 4 objects each: 3031 asked when written
    assert problems == [], "\n".join(problems)
