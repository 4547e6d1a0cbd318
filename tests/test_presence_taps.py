"""Check-in and check-out taps kept on a device go through the outbox: each applied exactly once, at the time
tapped, and a resend (lost acknowledgement, two senders) is answered like the first time and changes nothing."""

from __future__ import annotations

from datetime import timedelta

from fieldapp import accounts, deployments
from fieldapp.clock import iso, utcnow
from fieldapp.ids import new_id
from tests.test_deployments import _make


def _presence(db, deployment_id):
    return [dict(r) for r in db.query("SELECT * FROM presence WHERE deployment_id = ? ORDER BY checked_in_at",
                                      [deployment_id])]


def _tap(deployment_id, action, minutes_ago=0):
    return {"id": new_id(), "deployment_id": deployment_id, "action": action,
            "at": iso(utcnow() - timedelta(minutes=minutes_ago))}


def test_taps_apply_once_at_the_time_tapped_and_a_resend_changes_nothing(login, db):
    officer = login("officer1")
    deployment_id = _make(db, start=utcnow() - timedelta(hours=1))["id"]
    check_in, check_out = _tap(deployment_id, "check_in", 30), _tap(deployment_id, "check_out", 10)
    answer = officer.post_json("/api/sync/presence", {"taps": [check_in, check_out]})
    assert answer.status_code == 200, answer.text
    assert [r["status"] for r in answer.json()["results"]] == ["accepted", "accepted"]
    [row] = _presence(db, deployment_id)
    assert row["checked_in_at"] == check_in["at"] and row["checked_out_at"] == check_out["at"]

    # The check-in's acknowledgement was lost: it arrives again after the check-out. No second presence.
    again = officer.post_json("/api/sync/presence", {"taps": [check_in, check_out]}).json()["results"]
    assert [r["status"] for r in again] == ["duplicate", "duplicate"]
    assert _presence(db, deployment_id) == [row]


def test_a_tap_outside_the_deployments_time_is_refused_with_a_code_and_stays_refused(login, db):
    officer = login("officer1")
    deployment_id = _make(db, start=utcnow() + timedelta(days=2))["id"]
    tap = _tap(deployment_id, "check_in")
    [result] = officer.post_json("/api/sync/presence", {"taps": [tap]}).json()["results"]
    assert result["status"] == "rejected"
    assert result["message_code"] == "Check-in is possible from three hours before the start until the end."
    [again] = officer.post_json("/api/sync/presence", {"taps": [tap]}).json()["results"]
    assert again == result and _presence(db, deployment_id) == []


def test_a_tap_from_the_future_or_long_ago_is_applied_at_a_believable_time(db):
    from fieldapp.offline import presence_taps
    user = accounts.by_username(db, "officer1")
    deployment_id = _make(db, start=utcnow() - timedelta(hours=1))["id"]
    future = presence_taps.PresenceTap(id=new_id(), deployment_id=deployment_id, action="check_in",
                                       at=iso(utcnow() + timedelta(hours=5)))
    assert presence_taps.apply(db, user, [future])[0].status == "accepted"
    [row] = _presence(db, deployment_id)
    assert row["checked_in_at"] <= iso(utcnow())
    assert deployments.open_presence(db, user, deployment_id) is not None
