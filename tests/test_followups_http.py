"""The follow-up pages, the needs-action page and the feedback sync address, for every role."""

from __future__ import annotations

import msgspec
import pytest

from fieldapp import accounts, demo, followups
from fieldapp.ids import new_id
from fieldapp.offline import sealing

OTHER_UNIT = "Tampere preventive unit (test)"


def open_followup_of(db, username: str) -> dict:
    cursor = db.execute("SELECT f.* FROM followups f JOIN users u ON u.id = f.owner_id WHERE u.username = ? "
                        "AND f.state = 'open' ORDER BY f.due_on LIMIT 1", [username])
    return dict(zip([c[0] for c in cursor.description], cursor.fetchone()))


@pytest.fixture
def other_lead(db):
    unit = accounts.ensure_unit(db, OTHER_UNIT)
    accounts.create_user(db, "lead9", demo.DEMO_PASSWORD, "lead", unit, "Lead Nine")
    return "lead9"


def test_the_demo_has_open_followups_for_officers_and_overdue_ones_for_the_lead(db):
    assert db.execute("SELECT COUNT(*) FROM followups WHERE state = 'open'").fetchone()[0] > 0
    assert db.execute("SELECT COUNT(*) FROM followups WHERE state = 'open' AND due_on < date('now')").fetchone()[0] > 0


def test_anonymous_is_sent_to_the_login_and_the_api_answers_401(client, db):
    fid = open_followup_of(db, "officer1")["id"]
    for url in ("/followups", f"/followups/{fid}", "/needs-action", "/followups/settings"):
        response = client.get(url, follow_redirects=False)
        assert response.status_code == 303 and "/login" in response.headers["location"], url
    response = client.post("/api/sync/followups", json={"actions": []})
    assert response.status_code in (401, 403)


def test_admin_has_no_followups_nor_needs_action(login, db):
    admin = login("admin1")
    fid = open_followup_of(db, "officer1")["id"]
    for url in ("/followups", f"/followups/{fid}", "/needs-action", "/followups/settings"):
        assert admin.get(url).status_code == 403, url
    assert admin.post(f"/followups/{fid}/given", {"given_how": "phone"}).status_code == 403
    assert admin.post_json("/api/sync/followups", {"actions": []}).status_code == 403


def test_an_officer_sees_the_own_queue_on_the_start_page_and_marks_feedback_given(login, db):
    officer = login("officer1")
    mine = open_followup_of(db, "officer1")
    home = officer.get("/")
    assert home.status_code == 200 and 'id="my-followups"' in home.text and f"/followups/{mine['id']}" in home.text
    queue = officer.get("/followups")
    assert queue.status_code == 200 and f"/followups/{mine['id']}" in queue.text
    assert officer.get(f"/followups/{mine['id']}").status_code == 200
    response = officer.post(f"/followups/{mine['id']}/given", {"given_how": "phone", "given_at": "", "note": "Told."})
    assert response.status_code == 303
    row = db.execute("SELECT state, given_how, note FROM followups WHERE id = ?", [mine["id"]]).fetchone()
    assert tuple(row) == ("done", "phone", "Told.")


def test_a_refused_form_comes_back_with_the_error_and_what_was_typed(login, db):
    officer = login("officer1")
    mine = open_followup_of(db, "officer1")
    response = officer.post(f"/followups/{mine['id']}/given",
                            {"given_how": "phone", "given_at": "", "note": "hetu 131052-308T kept"})
    assert response.status_code == 400 and "hetu 131052-308T kept" in response.text and 'id="error-note"' in response.text
    response = officer.post(f"/followups/{mine['id']}/cannot", {"cannot_reason": ""})
    assert response.status_code == 400 and 'id="error-cannot_reason"' in response.text
    garbled = officer.post(f"/followups/{mine['id']}/given", {"given_how": "phone", "given_at": "yesterday-ish"})
    assert garbled.status_code == 400 and "yesterday-ish" in garbled.text
    assert db.execute("SELECT state FROM followups WHERE id = ?", [mine["id"]]).fetchone()[0] == "open"


def test_an_officer_cannot_see_a_colleagues_followup_nor_reassign_nor_use_lead_pages(login, db):
    officer = login("officer1")
    theirs = open_followup_of(db, "officer2")
    assert officer.get(f"/followups/{theirs['id']}").status_code == 404
    assert officer.post(f"/followups/{theirs['id']}/given", {"given_how": "phone"}).status_code == 404
    mine = open_followup_of(db, "officer1")
    assert officer.post(f"/followups/{mine['id']}/owner", {"owner_id": mine["owner_id"]}).status_code == 403
    assert officer.get("/needs-action").status_code == 403
    assert officer.get("/followups/settings").status_code == 403
    assert officer.post("/followups/settings", {"due_days": "3"}).status_code == 403


def test_staff_have_an_own_queue(login):
    staff = login("staff1")
    assert staff.get("/followups").status_code == 200
    assert staff.get("/needs-action").status_code == 403


def test_the_lead_starts_on_needs_action_sees_the_units_queue_and_reassigns(login, db):
    lead = login("lead1")
    home = lead.get("/")
    assert home.status_code == 200 and 'id="needs-action"' in home.text and 'data-section="overdue_followups"' in home.text
    page = lead.get("/needs-action")
    assert page.status_code == 200 and "<html" in page.text and 'hx-trigger="every 60s"' in page.text
    partial = lead.get("/needs-action", headers={"HX-Request": "true"})
    assert partial.status_code == 200 and "<html" not in partial.text and 'id="needs-action"' in partial.text
    assert 'class="badge flag overdue"' in lead.get("/followups").text
    assert lead.get("/followups?state=done").status_code == 200
    theirs = open_followup_of(db, "officer2")
    officer1 = db.execute("SELECT id FROM users WHERE username = 'officer1'").fetchone()[0]
    assert lead.get(f"/followups/{theirs['id']}").status_code == 200
    assert lead.post(f"/followups/{theirs['id']}/owner", {"owner_id": officer1}).status_code == 303
    assert db.execute("SELECT owner_id FROM followups WHERE id = ?", [theirs["id"]]).fetchone()[0] == officer1
    refused = lead.post(f"/followups/{theirs['id']}/owner", {"owner_id": "nobody"})
    assert refused.status_code == 400 and 'id="error-owner_id"' in refused.text


def test_the_lead_sets_the_units_due_days(login, db):
    lead = login("lead1")
    assert lead.get("/followups/settings").status_code == 200
    refused = lead.post("/followups/settings", {"due_days": "many"})
    assert refused.status_code == 400 and 'value="many"' in refused.text
    assert lead.post("/followups/settings", {"due_days": "10"}).status_code == 303
    assert db.execute("SELECT due_days FROM unit_followup_settings").fetchone()[0] == 10


def test_a_lead_of_another_unit_sees_nothing_of_this_units_followups(login, db, other_lead):
    lead = login(other_lead)
    fid = open_followup_of(db, "officer1")["id"]
    assert lead.get(f"/followups/{fid}").status_code == 404
    assert lead.post(f"/followups/{fid}/given", {"given_how": "phone"}).status_code == 404
    assert lead.post(f"/followups/{fid}/owner", {"owner_id": "x"}).status_code == 404
    assert fid not in lead.get("/followups").text
    assert 'data-total="0"' in lead.get("/needs-action").text


def test_feedback_synced_from_a_device_is_applied_once(login, db):
    officer = login("officer1")
    fid = open_followup_of(db, "officer1")["id"]
    action = {"id": new_id(), "followup_id": fid, "given_how": "community_meeting", "note": "At the mosque visit."}
    first = officer.post_json("/api/sync/followups", {"actions": [action]})
    again = officer.post_json("/api/sync/followups", {"actions": [action]})
    assert first.status_code == 200 and [r["status"] for r in first.json()["results"]] == ["accepted"]
    assert [r["status"] for r in again.json()["results"]] == ["duplicate"]
    assert db.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'followup_done' AND record_id = ?",
                      [fid]).fetchone()[0] == 1
    wrong = officer.client.post("/api/sync/followups", content=b"actions", headers={
        "X-CSRF-Token": officer.csrf, "Content-Type": "text/plain"})
    assert wrong.status_code == 415
    bad = officer.post_json("/api/sync/followups", {"actions": [{"id": "x"}]})
    assert bad.status_code == 400


def test_feedback_sealed_in_the_outbox_is_opened_by_the_server_and_applied_once(login, db):
    # The outbox seals every record's values (fieldapp/offline/sealing.py), feedback too: the device sends the
    # envelope with the follow-up's id as its header. Before, the device sent the sealed entry's empty values.
    officer = login("officer1")
    fid = open_followup_of(db, "officer1")["id"]
    public = officer.get("/api/offline/seal-key").json()
    envelope = msgspec.to_builtins(sealing.seal(public, {"followup_id": fid, "given_how": "phone",
                                                         "note": "Called back."}, "officer1"))
    action = {"id": new_id(), "followup_id": fid, "sealed": envelope}
    first = officer.post_json("/api/sync/followups", {"actions": [action]})
    assert [r["status"] for r in first.json()["results"]] == ["accepted"], first.text
    row = db.execute("SELECT state, given_how, note FROM followups WHERE id = ?", [fid]).fetchone()
    assert row == ("done", "phone", "Called back.")
    again = officer.post_json("/api/sync/followups", {"actions": [action]})
    assert [r["status"] for r in again.json()["results"]] == ["duplicate"]
    # Sealed by another officer, or naming another follow-up than its header: refused, nothing applied.
    stolen = {"id": new_id(), "followup_id": fid, "sealed": msgspec.to_builtins(sealing.seal(
        public, {"followup_id": fid, "given_how": "phone"}, "officer2"))}
    swapped = {"id": new_id(), "followup_id": new_id(), "sealed": envelope}
    answer = officer.post_json("/api/sync/followups", {"actions": [stolen, swapped]}).json()["results"]
    assert [(r["status"], r["message_code"]) for r in answer] == [("rejected", "tampered"), ("rejected", "tampered")]


def test_reloading_the_demo_replaces_its_followups_and_reminders(db):
    from fieldapp import followups
    followups.remind_due(db, followups.utcnow())
    before = db.execute("SELECT COUNT(*) FROM followups").fetchone()[0]
    demo.load(db)
    assert db.execute("SELECT COUNT(*) FROM followups").fetchone()[0] == before
    assert db.execute("SELECT COUNT(*) FROM followups f LEFT JOIN deployments d ON d.id = f.deployment_id "
                      "WHERE d.id IS NULL").fetchone()[0] == 0


def test_the_device_keeps_the_own_followup_pages_for_offline_work(login, db):
    officer = login("officer1")
    mine = open_followup_of(db, "officer1")["id"]
    pages = officer.get("/api/offline/bootstrap").json()["pages"]
    assert "/followups" in pages and f"/followups/{mine}" in pages
    theirs = open_followup_of(db, "officer2")["id"]
    assert f"/followups/{theirs}" not in pages


@pytest.mark.parametrize("username", ["admin1", "head1"])
def test_the_bootstrap_names_no_followup_page_to_a_role_without_followups(login, db, username):
    """The device fetches every page the bootstrap names: a refused one was fetched (and logged as a refusal) on
    every refresh of an administrator's or the department role's device."""
    session = login(username)
    pages = session.get("/api/offline/bootstrap").json()["pages"]
    assert not [page for page in pages if page.startswith("/followups")]
    assert all(session.get(page, follow_redirects=False).status_code < 400 for page in pages), pages


ROUTES = [("GET", "/followups"), ("GET", "/followups/{id}"), ("POST", "/followups/{id}/given"),
          ("POST", "/followups/{id}/cannot"), ("POST", "/followups/{id}/owner"), ("GET", "/followups/settings"),
          ("POST", "/followups/settings"), ("GET", "/needs-action"), ("POST", "/api/sync/followups"),
          ("POST", "/followups/{id}/reopen")]
# Who gets what for officer1's open follow-up (a refused form is 400: nothing valid was sent; reopening an open
# one is 409: not a follow-up that is done).
EXPECTED = {
    "officer1": [200, 200, 400, 400, 403, 403, 403, 403, 200, 409],
    "officer2": [200, 404, 404, 404, 403, 403, 403, 403, 200, 404],
    "staff1": [200, 404, 404, 404, 403, 403, 403, 403, 200, 404],
    "lead1": [200, 200, 400, 400, 400, 200, 400, 200, 200, 409],
    "admin1": [403, 403, 403, 403, 403, 403, 403, 403, 403, 403],
    "lead9": [200, 404, 404, 404, 404, 200, 400, 200, 200, 404],
}


@pytest.mark.parametrize("username", list(EXPECTED))
def test_every_route_answers_each_role_as_its_access_says(login, db, other_lead, username):
    fid = open_followup_of(db, "officer1")["id"]
    session = login(username)
    answers = []
    for method, path in ROUTES:
        url = path.replace("{id}", fid)
        if method == "GET":
            answers.append(session.get(url).status_code)
        elif url.startswith("/api/"):
            answers.append(session.post_json(url, {"actions": []}).status_code)
        else:
            answers.append(session.post(url, {"given_how": "", "cannot_reason": "", "owner_id": "", "due_days": "",
                                              "reopen_reason": ""}).status_code)
    assert answers == EXPECTED[username]
    assert db.execute("SELECT state, owner_id FROM followups WHERE id = ?", [fid]).fetchone()[0] == "open"


def test_anonymous_gets_the_login_for_every_route(client, db):
    fid = open_followup_of(db, "officer1")["id"]
    for method, path in ROUTES:
        url = path.replace("{id}", fid)
        response = client.request(method, url, follow_redirects=False,
                                  **({"json": {"actions": []}} if url.startswith("/api/") else {}))
        expected = (401, 403) if url.startswith("/api/") else (303,)  # a page: to the login; the API: refused
        assert response.status_code in expected, (url, response.status_code)
        assert response.status_code == 401 or "/login" in response.headers.get("location", "/login")


def test_the_period_report_page_has_the_followup_section(login):
    lead = login("lead1")
    page = lead.get("/reports")
    assert page.status_code == 200 and 'id="section-followups"' in page.text and 'data-code="share_closed"' in page.text


def test_the_needs_action_page_is_logged_once_and_not_at_every_refresh(login, db):
    lead = login("lead1")

    def logged():
        return db.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'view' AND record_type = 'needs_action'"
                          ).fetchone()[0]
    before = logged()
    lead.get("/needs-action")
    lead.get("/needs-action", headers={"HX-Request": "true"})
    lead.get("/needs-action", headers={"HX-Request": "true"})
    assert logged() == before + 1


# ---------------------------------------------------------------- reopening a done follow-up


def done_followup_of(db, login, username: str = "officer1") -> tuple[object, str]:
    """The user's session and one of their follow-ups, marked done through the form."""
    session = login(username)
    fid = open_followup_of(db, username)["id"]
    assert session.post(f"/followups/{fid}/given", {"given_how": "phone", "given_at": "", "note": ""}).status_code == 303
    return session, fid


def test_a_done_followup_is_reopened_with_a_plain_form_and_shows_its_history(login, db):
    officer, fid = done_followup_of(db, login)
    page = officer.get(f"/followups/{fid}", headers={"Accept-Language": "en"})
    assert f'action="/followups/{fid}/reopen"' in page.text and 'name="reopen_reason"' in page.text
    response = officer.post(f"/followups/{fid}/reopen", {"reopen_reason": "They asked what came of it."})
    assert response.status_code == 303 and response.headers["location"] == f"/followups/{fid}?reopened=1"
    row = db.execute("SELECT state, due_on, reopened_at FROM followups WHERE id = ?", [fid]).fetchone()
    assert row[0] == "open" and row[2]
    shown = officer.get(response.headers["location"], headers={"Accept-Language": "en"})
    assert shown.status_code == 200 and "data-reopened" in shown.text and "Reopened: back in the queue" in shown.text
    assert "They asked what came of it." in shown.text and "data-reopening" in shown.text
    assert f'data-feedback-form="{fid}"' in shown.text  # the feedback form is back
    assert f"/followups/{fid}" in officer.get("/followups").text  # and so is the queue's line
    assert db.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'followup_reopen' AND record_id = ?",
                      [fid]).fetchone()[0] == 1


def test_htmx_gets_the_followups_part_back_reopened_or_with_the_error_and_what_was_typed(login, db):
    lead = login("lead1")
    _officer, fid = done_followup_of(db, login)
    refused = lead.post(f"/followups/{fid}/reopen", {"reopen_reason": "   "}, htmx=True,
                        headers={"Accept-Language": "en"})
    assert refused.status_code == 400 and "<html" not in refused.text and f'id="followup-{fid}"' in refused.text
    assert 'id="error-reopen_reason"' in refused.text and "This field is required." in refused.text
    long_reason = "Needs another talk. " * 20  # over 300 characters: refused, and kept for shortening
    refused = lead.post(f"/followups/{fid}/reopen", {"reopen_reason": long_reason}, htmx=True)
    assert refused.status_code == 400 and long_reason.strip() in refused.text and "<details class=\"card\" data-reopen open>" in refused.text
    done = lead.post(f"/followups/{fid}/reopen", {"reopen_reason": "The lead asked for more."}, htmx=True,
                     headers={"Accept-Language": "en"})
    assert done.status_code == 200 and "<html" not in done.text and "data-reopened" in done.text
    assert 'data-state="open"' in done.text and "The lead asked for more." in done.text
    assert db.execute("SELECT state FROM followups WHERE id = ?", [fid]).fetchone()[0] == "open"


@pytest.mark.parametrize(("language", "says"), [("fi", "Tämä kenttä on pakollinen."),
                                                 ("sv", "Fältet är obligatoriskt."),
                                                 ("en", "This field is required.")])
def test_a_blank_reason_is_refused_in_the_users_language(login, db, language, says):
    officer, fid = done_followup_of(db, login)
    response = officer.post(f"/followups/{fid}/reopen", {"reopen_reason": ""}, headers={"Accept-Language": language})
    assert response.status_code == 400 and says in response.text
    assert db.execute("SELECT state FROM followups WHERE id = ?", [fid]).fetchone()[0] == "done"


def test_hostile_reopen_input_is_refused_with_a_4xx_and_never_a_500(login, db, other_lead):
    officer, fid = done_followup_of(db, login)
    hostile = ["", " ", "\x00", "a" * 100_000, "<script>alert(1)</script>" * 20, "131052-308T", "\u202e" * 400]
    for reason in hostile:
        response = officer.post(f"/followups/{fid}/reopen", {"reopen_reason": reason})
        assert 400 <= response.status_code < 500, (reason[:20], response.status_code)
    for body in ({}, {"reopen_reason": ["a", "b"]}):  # missing, and sent twice (the last one is taken)
        response = officer.post(f"/followups/{fid}/reopen", body)
        assert response.status_code in (303, 400), response.status_code
    assert db.execute("SELECT COUNT(*) FROM followup_reopenings WHERE followup_id = ?", [fid]).fetchone()[0] <= 1
    for url in (f"/followups/{new_id()}/reopen", "/followups/%2e%2e/reopen", "/followups/' OR 1=1 --/reopen"):
        assert officer.post(url, {"reopen_reason": "x"}).status_code == 404, url
    # Another unit's lead and a colleague get what an unknown id gets; the follow-up is not touched.
    _other, theirs = done_followup_of(db, login, "officer2")
    assert officer.post(f"/followups/{theirs}/reopen", {"reopen_reason": "x"}).status_code == 404
    assert login(other_lead).post(f"/followups/{theirs}/reopen", {"reopen_reason": "x"}).status_code == 404
    assert db.execute("SELECT state FROM followups WHERE id = ?", [theirs]).fetchone()[0] == "done"
    # Without the form's token: refused before anything is read.
    assert officer.client.post(f"/followups/{theirs}/reopen", data={"reopen_reason": "x"},
                               follow_redirects=False).status_code == 403


def test_a_reason_with_markup_is_shown_as_text(login, db):
    officer, fid = done_followup_of(db, login)
    assert officer.post(f"/followups/{fid}/reopen", {"reopen_reason": "<b>bold</b> & more"}).status_code == 303
    page = officer.get(f"/followups/{fid}")
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; more" in page.text and "<b>bold</b>" not in page.text


def test_reopening_one_that_is_not_done_is_a_409_with_the_message(login, db):
    officer = login("officer1")
    fid = open_followup_of(db, "officer1")["id"]
    response = officer.post(f"/followups/{fid}/reopen", {"reopen_reason": "Typed this."},
                            headers={"Accept-Language": "en"})
    assert response.status_code == 409 and "Only a follow-up that is done can be reopened." in response.text
    assert officer.post(f"/followups/{fid}/cannot", {"cannot_reason": "Moved away."}).status_code == 303
    response = officer.post(f"/followups/{fid}/reopen", {"reopen_reason": "Typed this."}, htmx=True)
    assert response.status_code == 409 and 'id="error-state"' in response.text


# ---------------------------------------------------------------- feedback marked before a reopening


def test_the_feedback_form_carries_how_many_reopenings_the_page_showed(login, db):
    officer = login("officer1")
    fid = open_followup_of(db, "officer1")["id"]
    assert 'name="reopenings" value="0"' in officer.get(f"/followups/{fid}").text
    assert officer.post(f"/followups/{fid}/given", {"given_how": "phone", "reopenings": "0"}).status_code == 303
    assert officer.post(f"/followups/{fid}/reopen", {"reopen_reason": "They asked again."}).status_code == 303
    assert 'name="reopenings" value="1"' in officer.get(f"/followups/{fid}").text


def test_feedback_synced_after_a_reopening_it_did_not_see_is_refused_with_its_code_and_one_that_saw_it_closes(
        login, db):
    officer, fid = done_followup_of(db, login)
    public = officer.get("/api/offline/seal-key").json()
    # Marked on the device's copy while the follow-up was open (no reopening yet): sealed as the outbox does.
    before = {"id": new_id(), "followup_id": fid, "sealed": msgspec.to_builtins(sealing.seal(
        public, {"followup_id": fid, "given_how": "phone", "given_at": "2026-01-01T10:00", "reopenings": 0},
        "officer1"))}
    lead = login("lead1")
    assert lead.post(f"/followups/{fid}/reopen", {"reopen_reason": "The person called again."}).status_code == 303
    answer = officer.post_json("/api/sync/followups", {"actions": [before]},
                               headers={"Accept-Language": "fi"}).json()["results"]
    assert [(r["status"], r["message_code"]) for r in answer] == [("rejected", followups.REOPENED_SINCE)]
    assert "avattiin uudelleen" in answer[0]["message"]
    assert db.execute("SELECT state FROM followups WHERE id = ?", [fid]).fetchone()[0] == "open"
    # Marked on the page that showed the reopening (the count sealed with the values): closes it; a resend is a
    # duplicate.
    after = {"id": new_id(), "followup_id": fid, "sealed": msgspec.to_builtins(sealing.seal(
        public, {"followup_id": fid, "given_how": "in_person", "note": "Met them.", "reopenings": 1}, "officer1"))}
    assert [r["status"] for r in officer.post_json("/api/sync/followups", {"actions": [after]}).json()["results"]] == [
        "accepted"]
    assert [r["status"] for r in officer.post_json("/api/sync/followups", {"actions": [after]}).json()["results"]] == [
        "duplicate"]
    assert db.execute("SELECT state, note FROM followups WHERE id = ?", [fid]).fetchone() == ("done", "Met them.")
    # An older client's action (no count) on a reopened follow-up: refused the same way; a negative count: 400.
    assert lead.post(f"/followups/{fid}/reopen", {"reopen_reason": "Once more."}).status_code == 303
    old = {"id": new_id(), "followup_id": fid, "given_how": "phone"}
    answer = officer.post_json("/api/sync/followups", {"actions": [old]}).json()["results"]
    assert [(r["status"], r["message_code"]) for r in answer] == [("rejected", followups.REOPENED_SINCE)]
    negative = {"id": new_id(), "followup_id": fid, "given_how": "phone", "reopenings": -1}
    assert officer.post_json("/api/sync/followups", {"actions": [negative]}).status_code == 400


def test_the_plain_form_from_a_page_loaded_before_a_close_and_reopen_is_a_409_and_the_page_comes_back(login, db):
    officer = login("officer1")
    fid = open_followup_of(db, "officer1")["id"]
    lead = login("lead1")
    assert lead.post(f"/followups/{fid}/given", {"given_how": "phone"}).status_code == 303
    assert lead.post(f"/followups/{fid}/reopen", {"reopen_reason": "Not enough."}).status_code == 303
    typed = {"given_how": "partner", "note": "Through the school.", "reopenings": "0"}
    response = officer.post(f"/followups/{fid}/given", typed, headers={"Accept-Language": "en"})
    assert response.status_code == 409 and "reopened after the page you marked it on was loaded" in response.text
    assert 'name="reopenings" value="1"' in response.text and "Through the school." in response.text
    assert db.execute("SELECT state FROM followups WHERE id = ?", [fid]).fetchone()[0] == "open"
    assert officer.post(f"/followups/{fid}/given", {**typed, "reopenings": "1"}).status_code == 303
    hostile = open_followup_of(db, "officer1")["id"]
    for value in ("-1", "x", "9" * 40, "²"):  # not a count: not checked, as a page without the field
        assert officer.post(f"/followups/{hostile}/given", {"given_how": "phone", "reopenings": value}).status_code \
            in (303, 409)
