"""The partner directory: organisations a unit works with in local problem solving (POR), per unit.

An entry describes an organisation, never a private person: a name, a kind (the editable category list
`partner_kinds`), the languages it works in, its area, what it can offer and the *role* of a contact person
("youth worker on duty"), not a name or a number. Text with a personal identity code is refused. Entries are
linked to problems (problems.py), to referrals (an intervention's referral_partner_id) and to deployments
(deployment_partners: who was there). Import and export as CSV: an import is checked whole and stored whole or
not at all, with the errors per row.

Who: leads and administrators of the unit edit; officers and staff of the unit read; anyone else is answered
as if the entry did not exist. No web imports.
"""

from __future__ import annotations

import csv
import io
import json

from fieldapp import audit, categories
from fieldapp.accounts import User
from fieldapp.clock import now_iso
from fieldapp.db import one, write
from fieldapp.errors import Forbidden, NotFound
from fieldapp.i18n import gettext as _
from fieldapp.ids import is_valid_id, new_id
from fieldapp.personal_ids import find_identity_codes
from fieldapp.text import clean

KIND_LIST = "partner_kinds"
READ_ROLES = ("officer", "staff", "lead", "admin")
EDIT_ROLES = ("lead", "admin")
LIMITS = {"name": 200, "area": 200, "offers": 2000, "contact_role": 200}
CSV_COLUMNS = ("id", "name", "kind", "languages", "area", "offers", "contact_role", "active")
MAX_IMPORT_ROWS = 2000


class PartnerInvalid(ValueError):
    """Values that cannot be stored: field -> translated message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(errors)
        self.errors = errors


class ImportInvalid(ValueError):
    """A CSV import refused whole: (row number, column, translated message) per problem; nothing was stored."""

    def __init__(self, errors: list[tuple[int, str, str]]):
        super().__init__(errors)
        self.errors = errors


def may_read(user: User) -> bool:
    return user.role in READ_ROLES and user.unit_id is not None


def may_edit(user: User) -> bool:
    return user.role in EDIT_ROLES and user.unit_id is not None


def _decode(row: dict | None) -> dict | None:
    if row is None:
        return None
    out = dict(row)
    out["languages"] = json.loads(out["languages"] or "[]")
    out["active"] = bool(out["active"])
    return out


def get(db, user: User, partner_id: str) -> dict:
    """A partner of the user's unit; NotFound for anything else (unknown ids and other units alike)."""
    row = one(db, "SELECT * FROM partners WHERE id = ?", [partner_id]) if is_valid_id(partner_id) else None
    if row is None or not may_read(user) or row["unit_id"] != user.unit_id:
        raise NotFound(partner_id)
    return _decode(row)


def for_unit(db, unit_id: str, *, active_only: bool = False) -> list[dict]:
    """The unit's partners by name (inactive ones too unless active_only)."""
    sql = "SELECT * FROM partners WHERE unit_id = ?" + (" AND active = 1" if active_only else "")
    return [_decode(r) for r in db.query(sql + " ORDER BY lower(name), id", [unit_id])]


def by_ids(db, unit_id: str, ids) -> list[dict]:
    """Partners of the unit among these ids (others are left out)."""
    ids = [i for i in ids if is_valid_id(i)]
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    return [_decode(r) for r in db.query(f"SELECT * FROM partners WHERE unit_id = ? AND id IN ({marks}) "
                                         "ORDER BY lower(name)", [unit_id, *ids])]


def validate(db, unit_id: str, raw: dict, partner_id: str | None = None) -> dict:
    """Checked values from a form or a CSV row (texts, codes), or PartnerInvalid."""
    errors: dict[str, str] = {}
    values: dict = {}
    for name, limit in LIMITS.items():
        value = raw.get(name, "")
        value = clean(value.strip()) if isinstance(value, str) else ""
        if len(value) > limit:
            errors[name] = _("At most %(n)s characters.", n=limit)
        elif find_identity_codes(value):
            errors[name] = _("Remove the personal identity code: the directory holds organisations, not people.")
        values[name] = value
    if not values["name"] and "name" not in errors:
        errors["name"] = _("This field is required.")
    kind = (raw.get("kind") or "").strip() if isinstance(raw.get("kind"), str) else ""
    if kind not in categories.codes(db, KIND_LIST):
        errors["kind"] = _("Choose a value from the list.")
    values["kind"] = kind
    languages = raw.get("languages") or []
    if isinstance(languages, str):
        languages = [part.strip() for part in languages.replace(",", ";").split(";") if part.strip()]
    languages = sorted(set(languages))
    if not set(languages) <= categories.codes(db, "language"):
        errors["languages"] = _("Choose a value from the list.")
    values["languages"] = languages
    active = raw.get("active", True)
    values["active"] = active if isinstance(active, bool) else str(active).strip().lower() in ("1", "true", "yes", "on")
    if values["name"] and "name" not in errors:
        clash = one(db, "SELECT id FROM partners WHERE unit_id = ? AND lower(name) = lower(?)",
                    [unit_id, values["name"]])
        if clash and clash["id"] != partner_id:
            errors["name"] = _("The directory already has an organisation with this name.")
    if errors:
        raise PartnerInvalid(errors)
    return values


def _row(values: dict) -> dict:
    return {**values, "languages": json.dumps(values["languages"]), "active": int(values["active"])}


def save(db, user: User, raw: dict, partner: dict | None = None) -> dict:
    """Create (partner None) or change an entry of the user's unit; audited. Forbidden unless lead or admin."""
    if not may_edit(user):
        raise Forbidden("partners")
    with write(db):
        values = validate(db, user.unit_id, raw, partner["id"] if partner else None)
        now = now_iso()
        if partner is None:
            partner_id = new_id()
            db["partners"].insert({"id": partner_id, "unit_id": user.unit_id, **_row(values), "version": 1,
                                   "created_by": user.id, "created_at": now, "updated_by": user.id,
                                   "updated_at": now})
            audit.record(db, user.id, "create", "partner", partner_id)
        else:
            partner_id = partner["id"]
            changed = sorted(k for k in values if values[k] != partner.get(k))
            db.execute("UPDATE partners SET name = ?, kind = ?, languages = ?, area = ?, offers = ?, contact_role = ?, "
                       "active = ?, version = version + 1, updated_by = ?, updated_at = ? WHERE id = ?",
                       [values["name"], values["kind"], json.dumps(values["languages"]), values["area"],
                        values["offers"], values["contact_role"], int(values["active"]), user.id, now, partner_id])
            audit.record(db, user.id, "edit", "partner", partner_id, json.dumps({"fields": changed}))
    return _decode(one(db, "SELECT * FROM partners WHERE id = ?", [partner_id]))


def usage(db, partner_id: str) -> dict[str, int]:
    """How often an entry is used: problems, referrals, deployments (counted live)."""
    q = lambda sql: db.execute(sql, [partner_id]).fetchone()[0]  # noqa: E731
    return {"problems": q("SELECT count(*) FROM problem_partners WHERE partner_id = ?"),
            "referrals": q("SELECT count(*) FROM interventions WHERE referral_partner_id = ? AND deleted_at IS NULL"),
            "deployments": q("SELECT count(*) FROM deployment_partners WHERE partner_id = ?")}


# ------------------------------------------------------------------------------------------ deployments


def for_deployment(db, deployment_id: str) -> list[dict]:
    """The partners who were at a deployment."""
    return [_decode(r) for r in db.query(
        "SELECT p.* FROM partners p JOIN deployment_partners dp ON dp.partner_id = p.id "
        "WHERE dp.deployment_id = ? ORDER BY lower(p.name)", [deployment_id])]


def set_for_deployment(db, user: User, deployment: dict, partner_ids: list[str]) -> list[dict]:
    """Who was there: replaces the deployment's partners (of its unit only); audited. The caller has checked
    that the user may see the deployment; editing needs lead or admin of the unit."""
    if not may_edit(user) or deployment["unit_id"] != user.unit_id:
        raise Forbidden(deployment["id"])
    chosen = by_ids(db, user.unit_id, partner_ids)
    if len(chosen) != len(set(partner_ids)):
        raise PartnerInvalid({"partner_ids": _("Choose a value from the list.")})
    with write(db):
        db.execute("DELETE FROM deployment_partners WHERE deployment_id = ?", [deployment["id"]])
        for partner in chosen:
            db.execute("INSERT INTO deployment_partners (deployment_id, partner_id) VALUES (?, ?)",
                       [deployment["id"], partner["id"]])
        audit.record(db, user.id, "partners", "deployment", deployment["id"],
                     json.dumps({"partners": [p["id"] for p in chosen]}))
    return chosen


# ------------------------------------------------------------------------------------------ CSV


def _csv_safe(text: str) -> str:
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(rows: list[dict]) -> str:
    """The directory as CSV (codes for kind and languages, languages separated by ';'); text a spreadsheet could
    run as a formula starts with an apostrophe, which import() takes off again."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([row["id"], _csv_safe(row["name"]), row["kind"], ";".join(row["languages"]),
                         _csv_safe(row["area"]), _csv_safe(row["offers"]), _csv_safe(row["contact_role"]),
                         "1" if row["active"] else "0"])
    return out.getvalue()


def _unsafe(text: str) -> str:
    return text[1:] if text[:1] == "'" and text[1:2] in ("=", "+", "-", "@", "\t", "\r") else text


def import_csv(db, user: User, text: str) -> dict[str, int]:
    """Create or update entries from CSV (the export's columns; id optional: a row with the id of an entry of the
    unit, or else the name of one, updates it). All rows are checked first: any error refuses the whole file
    (ImportInvalid with every row's errors), so nothing is half-imported. Returns {"created": n, "updated": n}."""
    if not may_edit(user):
        raise Forbidden("partners")
    text = text.lstrip("\ufeff")
    try:
        reader = csv.DictReader(io.StringIO(text))
        header = reader.fieldnames or []
        rows = list(reader)
    except csv.Error:
        raise ImportInvalid([(1, "", _("The file is not readable CSV."))]) from None
    missing = [c for c in ("name", "kind") if c not in header]
    if missing:
        raise ImportInvalid([(1, c, _("The column is missing.")) for c in missing])
    if not rows:
        raise ImportInvalid([(1, "", _("The file has no rows."))])
    if len(rows) > MAX_IMPORT_ROWS:
        raise ImportInvalid([(1, "", _("At most %(n)s rows at a time.", n=MAX_IMPORT_ROWS))])
    errors: list[tuple[int, str, str]] = []
    existing = {p["id"]: p for p in for_unit(db, user.unit_id)}
    by_name = {p["name"].lower(): p for p in existing.values()}
    names_seen: dict[str, int] = {}
    plan: list[tuple[dict | None, dict]] = []
    for number, row in enumerate(rows, start=2):  # line 1 is the header
        if None in row:
            errors.append((number, "", _("The row has more values than the header has columns.")))
            continue
        raw = {k: _unsafe(v or "") for k, v in row.items() if k in CSV_COLUMNS}
        raw.setdefault("active", "1")
        if raw["active"].strip() == "":
            raw["active"] = "1"
        row_id = raw.get("id", "").strip()
        target = existing.get(row_id) if row_id else by_name.get(raw.get("name", "").strip().lower())
        if row_id and target is None:
            errors.append((number, "id", _("No organisation of your unit has this id.")))
            continue
        name_key = raw.get("name", "").strip().lower()
        if name_key in names_seen:
            errors.append((number, "name", _("The same name is on row %(row)s.", row=names_seen[name_key])))
            continue
        names_seen[name_key] = number
        try:
            values = validate(db, user.unit_id, raw, target["id"] if target else None)
        except PartnerInvalid as exc:
            errors += [(number, field, message) for field, message in exc.errors.items()]
            continue
        plan.append((target, values))
    if errors:
        raise ImportInvalid(errors)
    counts = {"created": 0, "updated": 0}
    with write(db):
        for target, values in plan:
            save(db, user, values, target)
            counts["updated" if target else "created"] += 1
        audit.record(db, user.id, "import", "partner", None, json.dumps(counts))
    return counts
