"""Police departments above units: the department role (the head of preventive work) sees the yearly report of
every unit of its department (access.report_units). No web imports."""

from __future__ import annotations

from fieldapp import audit
from fieldapp.accounts import ensure_unit
from fieldapp.clock import now_iso
from fieldapp.db import one, write
from fieldapp.ids import new_id
from fieldapp.text import clean


def place_unit(db, unit_name: str, department_name: str, by: str | None = None) -> tuple[str, str]:
    """Put the unit in the department (each made when missing); (unit id, department id). Audited."""
    department_name = clean(department_name).strip()
    if not department_name or len(department_name) > 120:
        raise ValueError("department name must be 1-120 characters")
    unit_id = ensure_unit(db, unit_name)
    with write(db):
        row = one(db, "SELECT id FROM departments WHERE name = ?", [department_name])
        department_id = row["id"] if row else new_id()
        if row is None:
            db["departments"].insert({"id": department_id, "name": department_name, "created_at": now_iso()})
        db.execute("UPDATE units SET department_id = ? WHERE id = ?", [department_id, unit_id])
        audit.record(db, by, "unit_department", "unit", unit_id, f"department={department_id}")
    return unit_id, department_id
