"""The follow-up reminder on the due day, end to end: the worker queues it, the push sender delivers it to the
owner's device (content-free), once."""

from __future__ import annotations

import json
import time

import pytest

from fieldapp import followups
from fieldapp.settings import Settings
from tests.push_service import LocalPushService


@pytest.fixture
def settings(db_path):
    # The reminders are looked for every 0.3 s and the push queue every 0.1 s, so that the test waits little.
    return Settings(db_path=db_path, push_loopback=1, extra={
        "push_poll_seconds": 0.1, "push_timeout": 3, "followup_first_seconds": 0.2, "followup_every_seconds": 0.3})


def test_the_owner_gets_one_content_free_push_on_the_due_day(login, db):
    today = followups.today().isoformat()
    db.execute("UPDATE followups SET reminded_at = 'before the test' WHERE due_on = ?", [today])
    db.conn.commit()
    with LocalPushService() as service:
        officer = login("officer1")
        device = service.client("officer1-phone")
        response = officer.post_json("/api/push/subscriptions", device.subscription_json())
        assert response.status_code == 201
        fid, deployment = db.execute(
            "SELECT f.id, d.name FROM followups f JOIN users u ON u.id = f.owner_id JOIN deployments d "
            "ON d.id = f.deployment_id WHERE u.username = 'officer1' AND f.state = 'open' LIMIT 1").fetchone()
        db.execute("UPDATE followups SET due_on = ?, reminded_at = NULL WHERE id = ?", [today, fid])
        db.conn.commit()

        request = service.wait_for(1, "officer1-phone")[0]
        payload = device.decrypt(request["body"])
        assert set(payload) == {"alert_id", "level", "title", "body"}
        assert deployment not in json.dumps(payload, ensure_ascii=False)
        rule, detail = db.execute("SELECT rule, detail FROM alerts WHERE id = ?", [payload["alert_id"]]).fetchone()
        assert rule == "followup_due" and json.loads(detail) == {"followup_id": fid}
        time.sleep(1.5)  # several more rounds of the reminder worker
        assert len(service.requests_for("officer1-phone")) == 1
        assert db.execute("SELECT COUNT(*) FROM alerts WHERE rule = 'followup_due'").fetchone()[0] == 1
        inbox = officer.get(f"/alerts/{payload['alert_id']}")
        assert inbox.status_code == 200 and f"/followups/{fid}" in inbox.text
