"""Who may see and record in which deployment: the rule, stated once, in Python and as SQL.

Leads see every deployment of their unit. Officers and staff see the deployments of their unit they are
assigned to; staff also every pop-up station of their unit. Administrators see no field data. Field records
follow their deployment: whoever sees a deployment sees its records. Recording needs the same view, and
staff record only at pop-up stations. A record is edited by its creator (while still allowed to record
there) or by a lead of the unit.

`sees()` is the rule for one deployment whose assignment is known; `visible_sql()` is the same rule as a
filter for queries over many (tests/test_access.py checks on generated data that they agree). Callers check
access once per request through `visible()`, `record_visible()`, `recordable()` or `editable()` and pass the
deployment on. A record someone may not see is answered as unknown (NotFound), and so is another unit's deployment; a
deployment of one's own unit one is not at is Forbidden (colleagues know it exists; the page says why).

No web imports.
"""

from __future__ import annotations

from fieldapp.accounts import User
from fieldapp.db import one
from fieldapp.errors import Forbidden, NotFound

POPUP = "popup_station"
FIELD_ROLES = ("officer", "staff", "lead")


def sees(user: User, deployment: dict, assigned: bool) -> bool:
    """Whether the user may see this deployment (assigned: the user is among its assigned people)."""
    if user.role not in FIELD_ROLES or user.unit_id is None or deployment["unit_id"] != user.unit_id:
        return False
    return user.role == "lead" or assigned or (user.role == "staff" and deployment["kind"] == POPUP)


def may_record(user: User, deployment: dict, assigned: bool) -> bool:
    """Whether the user may add field records to this deployment."""
    return sees(user, deployment, assigned) and (user.role != "staff" or deployment["kind"] == POPUP)


def visible_sql(user: User, alias: str = "d") -> tuple[str, dict]:
    """sees() as an SQL condition over `deployments AS alias`, with its named parameters."""
    if user.role not in FIELD_ROLES or user.unit_id is None:
        return "0", {}
    params = {"access_unit": user.unit_id, "access_user": user.id, "access_popup": POPUP}
    same_unit = f"{alias}.unit_id = :access_unit"
    if user.role == "lead":
        return same_unit, params
    assigned = (f"EXISTS (SELECT 1 FROM assignments a WHERE a.deployment_id = {alias}.id "
                "AND a.user_id = :access_user)")
    if user.role == "staff":
        return f"{same_unit} AND ({alias}.kind = :access_popup OR {assigned})", params
    return f"{same_unit} AND {assigned}", params


def is_assigned(db, user: User, deployment_id: str) -> bool:
    return db.conn.execute("SELECT 1 FROM assignments WHERE deployment_id = ? AND user_id = ?",
                           [deployment_id, user.id]).fetchone() is not None


def _deployment(db, deployment_id: str) -> dict | None:
    return one(db, "SELECT * FROM deployments WHERE id = ? AND deleted_at IS NULL", [deployment_id])


def can_view(db, user: User, deployment: dict) -> bool:
    """sees() for a deployment row (looks up the assignment only when it matters)."""
    if user.role == "lead" or (user.role == "staff" and deployment["kind"] == POPUP):
        return sees(user, deployment, False)
    return sees(user, deployment, is_assigned(db, user, deployment["id"]))


def can_record(db, user: User, deployment: dict) -> bool:
    """may_record() for a deployment row."""
    return can_view(db, user, deployment) and (user.role != "staff" or deployment["kind"] == POPUP)


def visible(db, user: User, deployment_id: str) -> dict:
    """The deployment if this user may see it. NotFound for unknown ids and for another unit's deployments (so that
    their ids tell nothing, not even that they exist); Forbidden for a deployment of one's own unit one is not at."""
    deployment = _deployment(db, deployment_id)
    if deployment is None or deployment["unit_id"] != user.unit_id:
        raise NotFound(deployment_id)
    if not can_view(db, user, deployment):
        raise Forbidden(deployment_id)
    return deployment


def record_visible(db, user: User, record: dict) -> dict:
    """The deployment of a record this user may see; NotFound otherwise, exactly as for an id that does not exist,
    so that record ids of other units and deployments tell nothing (not even that they exist)."""
    deployment = _deployment(db, record["deployment_id"])
    if deployment is None or not can_view(db, user, deployment):
        raise NotFound(record["id"])
    return deployment


def recordable(db, user: User, deployment_id: str) -> dict:
    """The deployment if this user may add records to it; NotFound / Forbidden otherwise."""
    deployment = visible(db, user, deployment_id)
    if user.role == "staff" and deployment["kind"] != POPUP:
        raise Forbidden(deployment_id)
    return deployment


def can_edit(db, user: User, record: dict, deployment: dict) -> bool:
    """The record's creator (still allowed to record there) or a lead of the unit."""
    return (user.role == "lead" or record["created_by"] == user.id) and can_record(db, user, deployment)


def editable(db, user: User, record: dict) -> dict:
    """The record's deployment if this user may edit the record; Forbidden otherwise."""
    deployment = _deployment(db, record["deployment_id"])
    if deployment is None or not can_edit(db, user, record, deployment):
        raise Forbidden(record["id"])
    return deployment


def device_managed(user: User, device: dict | None) -> dict:
    """A registered device (devices.py) if this user may see, rename or revoke it: their own, or any for an
    administrator. Anyone else's is answered as unknown (NotFound)."""
    if device is None or not (user.role == "admin" or device["user_id"] == user.id):
        raise NotFound(device["id"] if device else "")
    return device


# --- The yearly report: which units' figures a user sees --------------------------------------------------------
# A lead sees their own unit's figures; the department role (the head of preventive work) every unit of the
# department its home unit belongs to, read-only (figures and targets, no field records); nobody else any.

def report_units(user: User, units: list[dict]) -> set[str]:
    """The ids of the units (rows with id, department_id) whose yearly report this user may see."""
    if user.unit_id is None or user.role not in ("lead", "department"):
        return set()
    if user.role == "lead":
        return {u["id"] for u in units if u["id"] == user.unit_id}
    home = next((u for u in units if u["id"] == user.unit_id), None)
    if home is None:
        return set()
    if home["department_id"] is None:  # a unit outside any department is a department of its own
        return {home["id"]}
    return {u["id"] for u in units if u["department_id"] == home["department_id"]}


def report_units_sql(user: User, alias: str = "un") -> tuple[str, dict]:
    """report_units() as an SQL condition over `units AS alias`, with its named parameters."""
    if user.unit_id is None or user.role not in ("lead", "department"):
        return "0", {}
    params = {"report_unit": user.unit_id}
    if user.role == "lead":
        return f"{alias}.id = :report_unit", params
    return (f"({alias}.id = :report_unit OR {alias}.department_id = (SELECT h.department_id FROM units h "
            "WHERE h.id = :report_unit))", params)


def may_set_targets(user: User) -> bool:
    """Targets are set by the department role, for the units of its department."""
    return user.role == "department" and user.unit_id is not None
