"""Who sees which deployment: the rule in Python (access.sees, can_view) and as SQL (access.visible_sql,
deployments.for_user) agree on generated units, people, deployments and assignments."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fieldapp import access, deployments
from fieldapp.accounts import User
from fieldapp.db import open_db

UNITS = ("unit-a", "unit-b")
KINDS = ("popup_station", "demonstration", "public_event")
ROLES = ("officer", "staff", "lead", "admin", "department")
NOW = "2026-12-01T10:00:00.000Z"

_DB = open_db(memory=True)
_DB.execute("INSERT INTO units (id, name, created_at) VALUES ('unit-a', 'A', ?), ('unit-b', 'B', ?)", [NOW, NOW])

people = st.lists(st.tuples(st.sampled_from(ROLES), st.sampled_from((*UNITS, None))), min_size=1, max_size=6)
planned = st.lists(st.tuples(st.sampled_from(UNITS), st.sampled_from(KINDS), st.booleans()), min_size=1, max_size=8)


def _world(db, people_spec, deployment_spec, assigned_pairs) -> tuple[list[User], list[dict], set]:
    db.execute("DELETE FROM assignments")
    db.execute("DELETE FROM deployments")
    db.execute("DELETE FROM users")
    users = []
    for n, (role, unit) in enumerate(people_spec):
        user = User(id=f"u{n}", username=f"user{n}", display_name=f"Person {n}", role=role, unit_id=unit,
                    locale=None)
        db.execute("INSERT INTO users (id, username, password_hash, role, unit_id, created_at, updated_at) "
                   "VALUES (?, ?, 'x', ?, ?, ?, ?)", [user.id, user.username, role, unit, NOW, NOW])
        users.append(user)
    rows = []
    for n, (unit, kind, deleted) in enumerate(deployment_spec):
        row = {"id": f"d{n}", "unit_id": unit, "name": f"Deployment {n}", "kind": kind, "starts_at": NOW,
               "ends_at": NOW, "created_at": NOW, "updated_at": NOW, "deleted_at": NOW if deleted else None}
        db["deployments"].insert(row)
        if not deleted:
            rows.append(row)
    pairs = {(f"d{d % len(deployment_spec)}", f"u{u % len(users)}") for d, u in assigned_pairs}
    for deployment_id, user_id in pairs:
        db.execute("INSERT INTO assignments (deployment_id, user_id, created_at) VALUES (?, ?, ?)",
                   [deployment_id, user_id, NOW])
    return users, rows, pairs


@settings(max_examples=300, deadline=None)
@given(people, planned, st.lists(st.tuples(st.integers(0, 7), st.integers(0, 5)), max_size=12))
def test_the_python_rule_and_the_sql_filter_see_the_same_deployments(people_spec, deployment_spec, assigned_pairs):
    db = _DB
    users, rows, pairs = _world(db, people_spec, deployment_spec, assigned_pairs)
    for user in users:
        by_rule = {d["id"] for d in rows if access.sees(user, d, (d["id"], user.id) in pairs)}
        by_row = {d["id"] for d in rows if access.can_view(db, user, d)}
        where, params = access.visible_sql(user)
        by_sql = {r["id"] for r in db.query(f"SELECT d.id FROM deployments d WHERE {where} AND d.deleted_at IS NULL",
                                             params)}
        listed = {d["id"] for d in deployments.for_user(db, user)}
        assert by_rule == by_row == by_sql == listed, user
        recordable = {d["id"] for d in rows if access.may_record(user, d, (d["id"], user.id) in pairs)}
        assert recordable == {d["id"] for d in rows if access.can_record(db, user, d)} and recordable <= by_rule


def _user(role, unit="unit-a", uid="u0"):
    return User(id=uid, username=uid, display_name=uid, role=role, unit_id=unit, locale=None)


def test_a_lead_sees_the_whole_unit_and_nothing_of_another():
    mine, theirs = {"unit_id": "unit-a", "kind": "demonstration"}, {"unit_id": "unit-b", "kind": "demonstration"}
    assert access.sees(_user("lead"), mine, assigned=False)
    assert not access.sees(_user("lead"), theirs, assigned=True)


def test_an_officer_sees_only_assignments_of_their_own_unit():
    officer = _user("officer")
    assert access.sees(officer, {"unit_id": "unit-a", "kind": "demonstration"}, assigned=True)
    assert not access.sees(officer, {"unit_id": "unit-a", "kind": "popup_station"}, assigned=False)
    assert not access.sees(officer, {"unit_id": "unit-b", "kind": "demonstration"}, assigned=True)


def test_staff_see_and_record_at_every_popup_station_of_the_unit_but_record_nowhere_else():
    staff = _user("staff")
    popup, event = {"unit_id": "unit-a", "kind": "popup_station"}, {"unit_id": "unit-a", "kind": "public_event"}
    assert access.sees(staff, popup, assigned=False) and access.may_record(staff, popup, assigned=False)
    assert access.sees(staff, event, assigned=True) and not access.may_record(staff, event, assigned=True)


def test_an_administrator_sees_no_field_data():
    admin = _user("admin")
    assert not access.sees(admin, {"unit_id": "unit-a", "kind": "popup_station"}, assigned=True)
    assert access.visible_sql(admin) == ("0", {})


_UNITS_DB = open_db(memory=True)
_UNITS_DB.execute("INSERT INTO departments (id, name, created_at) VALUES ('dep-1', '1', ?), ('dep-2', '2', ?)",
                  [NOW, NOW])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(("dep-1", "dep-2", None)), min_size=1, max_size=5),
       st.lists(st.tuples(st.sampled_from(ROLES), st.integers(0, 5)), min_size=1, max_size=6))
def test_the_python_rule_and_the_sql_filter_give_the_same_yearly_report_units(departments, people_spec):
    """A lead: their unit; the department role: every unit of its home unit's department (a unit outside any
    department alone); everyone else none. Python and SQL agree."""
    db = _UNITS_DB
    db.execute("DELETE FROM units")
    units = [{"id": f"unit-{n}", "department_id": dep} for n, dep in enumerate(departments)]
    for unit in units:
        db.execute("INSERT INTO units (id, name, created_at, department_id) VALUES (?, ?, ?, ?)",
                   [unit["id"], unit["id"], NOW, unit["department_id"]])
    for n, (role, home) in enumerate(people_spec):
        user = User(id=f"u{n}", username=f"u{n}", display_name="", role=role, locale=None,
                    unit_id=units[home]["id"] if home < len(units) else None)
        by_rule = access.report_units(user, units)
        where, params = access.report_units_sql(user)
        by_sql = {row["id"] for row in db.query(f"SELECT un.id FROM units un WHERE {where}", params)}
        assert by_rule == by_sql, (user, units)
        if role == "lead" and user.unit_id:
            assert by_rule == {user.unit_id}
        if role not in ("lead", "department"):
            assert by_rule == set()
