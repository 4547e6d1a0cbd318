"""A record of another unit (or of a deployment one is not in) is answered exactly like an id that does not exist."""

from __future__ import annotations

import pytest

from fieldapp import access, accounts, demo, deployments, records
from fieldapp.errors import NotFound
from fieldapp.ids import new_id
from fieldapp.services import recording


@pytest.fixture
def tension(db):
    officer = accounts.by_username(db, "officer1")
    deployment = deployments.current_for_user(db, officer)
    return recording.create(db, officer, "tension", deployment["id"], {"kind": "provocation", "severity": "2",
                                                                       "notes": "Only for the unit"})


@pytest.fixture
def stranger(db):
    """A lead of another unit."""
    unit = accounts.ensure_unit(db, "Turku preventive unit (test)")
    accounts.create_user(db, "lead_turku", demo.DEMO_PASSWORD, "lead", unit, "Lead Turku")
    return "lead_turku"


def _answers(session, record_id: str) -> list[tuple[int, str]]:
    """Status and body of every way to reach a record, the id taken out of the body."""
    base = f"/records/tension/{record_id}"
    english = {"Accept-Language": "en"}
    responses = [session.get(base, headers=english), session.get(base, headers={**english, "HX-Request": "true"}),
                 session.get(f"{base}/edit", headers=english),
                 session.post(base, data={"version": "1", "kind": "provocation", "severity": "6"}, headers=english),
                 session.post(f"{base}/delete", data={}, headers=english)]
    return [(response.status_code, response.text.replace(record_id, "ID")) for response in responses]


@pytest.mark.parametrize("username", ["stranger", "staff1", "admin1"])
def test_a_hidden_record_is_answered_exactly_like_an_unknown_one(login, db, tension, stranger, username):
    """Another unit's lead, staff not at this deployment, an administrator: 404 and the same page as for no record."""
    session = login(stranger if username == "stranger" else username)
    hidden = _answers(session, tension["id"])
    unknown = _answers(session, new_id())
    assert [status for status, _body in hidden] == [404] * 5
    assert hidden == unknown
    assert records.get(db, "tension", tension["id"])["severity"] == 2


def test_a_colleague_who_sees_the_record_but_may_not_edit_it_is_told_so(login, tension):
    session = login("officer2")
    assert session.get(f"/records/tension/{tension['id']}").status_code == 200
    assert session.get(f"/records/tension/{tension['id']}/edit").status_code == 403


def test_a_sync_edit_of_a_hidden_record_is_rejected_like_an_unknown_one(login, db, tension, stranger):
    session = login(stranger)
    mine = deployments.save(db, accounts.by_username(db, stranger), {
        "kind": "demonstration", "name": "Turku", "place_name": "Kauppatori", "lat": "60.45", "lon": "22.27",
        "starts_at": tension["occurred_at"][:16], "ends_at": "2099-01-01T00:00", "notes": ""}, assigned=[])

    def edit(record_id):
        item = {"id": record_id, "kind": "tension", "deployment_id": mine["id"], "base_version": 1,
                "values": {"kind": "provocation", "severity": "6"}}
        [result] = session.post_json("/api/sync", {"records": [item]}, headers={"Accept-Language": "en"}).json()[
            "results"]
        return {key: value for key, value in result.items() if key != "id"}

    assert edit(tension["id"]) == edit(new_id())
    assert edit(tension["id"])["status"] == "rejected"
    assert records.get(db, "tension", tension["id"])["severity"] == 2


def test_record_visible_is_the_deployment_rule(db, tension):
    """access.record_visible follows can_view: the same people see the record and its deployment."""
    deployment = access.visible(db, accounts.by_username(db, "officer1"), tension["deployment_id"])
    assert access.record_visible(db, accounts.by_username(db, "lead1"), tension) == deployment
    with pytest.raises(NotFound):
        access.record_visible(db, accounts.by_username(db, "admin1"), tension)
