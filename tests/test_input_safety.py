"""Input that cannot hurt: every free-text field is stored clean (fieldapp/text.py) and refuses identity codes
however they are written (fieldapp/personal_ids.py); a sync conflict keeps only validated, bounded values; bad
input of the kinds that used to give a 500 gets a clear, translated 4xx.

The identity codes are made up here (a date and a number, the control character computed)."""

from __future__ import annotations

import html
import json
import unicodedata
from datetime import date, timedelta

import pytest

from fieldapp import accounts, deployments, records
from fieldapp.alerts import messages
from fieldapp.clock import HELSINKI, iso, utcnow
from fieldapp.ids import new_id
from fieldapp.offline import sync
from fieldapp.text import clean
from tests.test_personal_ids import made_up_code

EN = {"Accept-Language": "en"}
RECORD_CODE_MESSAGE = "Remove the personal identity code: these records must not identify people."


def _letter_code() -> tuple[str, str, str]:
    """A made-up code whose control character is a letter (found in every written form)."""
    serial = 100
    while made_up_code(date(1987, 4, 23), serial)[2].isdigit():
        serial += 1
    return made_up_code(date(1987, 4, 23), serial)


def written_forms() -> list[str]:
    """One made-up code written every way the scan must see through, each inside a sentence."""
    digits, number, control = _letter_code()
    forms = [f"{digits}-{number}{control}", f"{digits} {number}{control}", f"{digits}{number}{control}",
             f"{digits}/{number}{control}", f"{digits[:3]}\u200b{digits[3:]}-{number}{control}",
             f"hetu{digits}Y{number}{control.lower()}", f"{digits}\u00ad{number}\u200d{control}"]
    return [f"Puhuttiin henkilön {form} kanssa." for form in forms]


# ------------------------------------------------------------------ the normaliser


def test_clean_text_is_nfc_without_controls_or_bidi_overrides_but_keeps_line_breaks_and_joiners():
    decomposed = "To\u0308o\u0308lo\u0308"  # Töölö typed with combining diaereses
    assert clean(decomposed) == "Töölö" and unicodedata.is_normalized("NFC", clean(decomposed))
    assert clean("a\x00b\x1bc\x7fd\x85e") == "abcde"
    assert clean("\u202eevil\u202c \u2066x\u2069 \u200fy\u200e \u061cz") == "evil x y z"
    assert clean("rivi\nrivi\r\n\tsisennys") == "rivi\nrivi\r\n\tsisennys"
    family = "\U0001F468\u200d\U0001F469\u200d\U0001F467"  # an emoji sequence needs its zero-width joiners
    assert clean(family) == family
    assert clean("lone \ud800 surrogate") == "lone  surrogate"
    assert clean("Kaksi ryhmää") == "Kaksi ryhmää"


# ------------------------------------------------------------------ every free-text field


def _form_time() -> str:
    return utcnow().astimezone(HELSINKI).strftime("%Y-%m-%dT%H:%M")


def _current(db) -> dict:
    return deployments.current_for_user(db, accounts.by_username(db, "officer1"))


def test_record_forms_and_sync_refuse_every_written_form_of_a_code_in_notes_and_place_name(login, db):
    officer = login("officer1")
    deployment = _current(db)
    before = db.execute("SELECT COUNT(*) FROM contacts").fetchone()[0]
    for text in written_forms():
        for field in ("notes", "place_name"):
            page = officer.post(f"/deployments/{deployment['id']}/contacts", data={field: text[:120]}, headers=EN)
            assert page.status_code == 400, (field, text)
            assert RECORD_CODE_MESSAGE in html.unescape(page.text)
            assert html.escape(text[:120], quote=False) in page.text  # what was typed is still there
    items = [{"id": new_id(), "kind": "tension", "deployment_id": deployment["id"],
              "values": {"kind": "provocation", "severity": "2", field: text[:120]}}
             for text in written_forms() for field in ("notes", "place_name")]
    results = officer.post_json("/api/sync", {"records": items}, headers=EN).json()["results"]
    assert [r["status"] for r in results] == ["rejected"] * len(items)
    assert all(RECORD_CODE_MESSAGE in r["errors"].values() for r in results)
    assert db.execute("SELECT COUNT(*) FROM contacts").fetchone()[0] == before
    assert all(records.get(db, "tension", item["id"]) is None for item in items)


def test_deployment_names_places_and_notes_refuse_every_written_form_of_a_code(login, db):
    lead = login("lead1")
    start = utcnow() + timedelta(hours=1)
    form = {"name": "Konsertti", "kind": "public_event", "place_name": "Kaivopuisto",
            "starts_at": start.astimezone(HELSINKI).strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (start + timedelta(hours=3)).astimezone(HELSINKI).strftime("%Y-%m-%dT%H:%M")}
    before = db.execute("SELECT COUNT(*) FROM deployments").fetchone()[0]
    for text in written_forms():
        for field in ("name", "place_name", "notes"):
            page = lead.post("/deployments", data={**form, field: text}, headers=EN)
            assert page.status_code == 400, (field, text)
            assert RECORD_CODE_MESSAGE in html.unescape(page.text)
    assert db.execute("SELECT COUNT(*) FROM deployments").fetchone()[0] == before


def test_alert_messages_refuse_every_written_form_of_a_code_and_are_stored_clean(login, db):
    lead = login("lead1")
    deployment_id = _current(db)["id"]
    for text in written_forms():
        page = lead.post("/alerts", data={"deployment_id": deployment_id, "level": "info", "message": text},
                         headers=EN)
        assert page.status_code == 400, text
        assert "Remove the personal identity code: alerts must not identify people." in html.unescape(page.text)
    assert db.execute("SELECT COUNT(*) FROM alerts WHERE kind = 'manual'").fetchone()[0] == 0
    sent = lead.post("/alerts", data={"deployment_id": deployment_id, "level": "info",
                                      "message": "Siirtykää\u202e pohjoiseen\x00 To\u0308o\u0308lo\u0308n suuntaan"})
    assert sent.status_code == 303
    [message] = [r[0] for r in db.execute("SELECT message FROM alerts WHERE kind = 'manual'")]
    assert message == "Siirtykää pohjoiseen Töölön suuntaan"


def test_display_names_refuse_a_code_and_are_stored_clean(login, db):
    admin = login("admin1")
    unit_id = accounts.by_username(db, "lead1").unit_id
    new_user = {"username": "officer9", "role": "officer", "password": "pitkä-salasana-9", "unit_id": unit_id}
    for text in written_forms():
        page = admin.post("/admin/users", data={**new_user, "display_name": text[:80]}, headers=EN)
        assert page.status_code == 400, text
        assert "Remove the personal identity code from the name." in html.unescape(page.text)
    assert accounts.by_username(db, "officer9") is None
    assert admin.post("/admin/users", data={**new_user, "display_name": "\u202eKonstaapeli\x00 Yhdeksän"}
                      ).status_code == 303
    assert accounts.by_username(db, "officer9").display_name == "Konstaapeli Yhdeksän"


def test_record_text_is_stored_clean_by_form_and_by_sync(login, db):
    officer = login("officer1")
    deployment_id = _current(db)["id"]
    typed = "Tilanne\x00 rauhoittui \u202eTo\u0308o\u0308lo\u0308ssa\u202c.\nKaksi partiota."
    stored = "Tilanne rauhoittui Töölössa.\nKaksi partiota."
    assert officer.post(f"/deployments/{deployment_id}/contacts",
                        data={"notes": typed, "place_name": "\u2066Kauppatori\u2069"}).status_code == 303
    contact = records.for_deployment(db, "contact", deployment_id, limit=1)[0]
    assert (contact["notes"], contact["place_name"]) == (stored, "Kauppatori")
    item = {"id": new_id(), "kind": "tension", "deployment_id": deployment_id,
            "values": {"kind": "provocation", "severity": "2", "notes": typed, "occurred_at": _form_time()}}
    [result] = officer.post_json("/api/sync", {"records": [item]}).json()["results"]
    assert result["status"] == "accepted"
    assert records.get(db, "tension", item["id"])["notes"] == stored


def test_a_device_time_that_is_no_time_is_kept_clean_and_never_as_an_identity_code(login, db):
    officer = login("officer1")
    deployment_id = _current(db)["id"]
    digits, number, control = _letter_code()
    sent = {f"{digits} {number}{control}": "?", "\x00" * 100: "?", "eilen\u202e illalla": "eilen illalla",
            "x" * 500: "x" * 40}
    items = [{"id": new_id(), "kind": "contact", "deployment_id": deployment_id, "values": {}, "device_time": text}
             for text in sent]
    results = officer.post_json("/api/sync", {"records": items}).json()["results"]
    assert [r["status"] for r in results] == ["accepted"] * len(items)
    for item, kept in zip(items, sent.values()):
        row = records.get(db, "contact", item["id"])
        assert row["device_time"] == kept and row["time_flagged"] == 1


# ------------------------------------------------------------------ conflicts keep only validated values


def _tension(deployment_id: str, **values) -> dict:
    return {"id": new_id(), "kind": "tension", "deployment_id": deployment_id, "device_time": iso(utcnow()),
            "values": {"kind": "provocation", "severity": "3", **values}}


def _conflicts(db) -> list[dict]:
    return list(db.query("SELECT * FROM sync_conflicts ORDER BY id"))


def test_a_conflict_keeps_the_validated_values_of_known_fields_only_and_bounded(login, db):
    officer = login("officer1")
    deployment_id = _current(db)["id"]
    item = _tension(deployment_id, notes="Ensimmäinen")
    officer.post_json("/api/sync", {"records": [item]})
    changed = {**item, "device_time": "\u202e" + "y" * 10_000,
               "values": {**item["values"], "severity": "5", "groups": ["youth"] * 5000, "notes": "Toinen\x00",
                          "name": "Matti Meikäläinen", "huge": "x" * 1_500_000}}
    [result] = officer.post_json("/api/sync", {"records": [changed]}).json()["results"]
    assert result["status"] == "conflict"
    [kept] = _conflicts(db)
    values = json.loads(kept["device_values"])
    assert set(values) == set(records.FIELD_NAMES["tension"])
    assert values["notes"] == "Toinen" and values["severity"] == 5 and values["groups"] == ["youth"]
    assert len(kept["device_values"]) < 2000 and kept["device_time"] == "y" * 40


def test_the_largest_values_a_conflict_can_keep_are_a_few_kilobytes(login, db):
    officer = login("officer1")
    deployment_id = _current(db)["id"]
    item = _tension(deployment_id)
    officer.post_json("/api/sync", {"records": [item]})
    groups = [row[0] for row in db.execute("SELECT code FROM categories WHERE list = 'group_category'")]
    widest = {**item, "values": {"kind": "provocation", "severity": "6", "groups": groups, "people_estimate": "999999",
                                 "notes": "\U0001F6A8" * 1000, "place_name": "\"\\" * 60, "trend": "rising"}}
    [result] = officer.post_json("/api/sync", {"records": [widest]}).json()["results"]
    assert result["status"] == "conflict"
    [kept] = _conflicts(db)
    assert len(kept["device_values"].encode()) < 8_000


def test_a_conflicting_resend_or_stale_edit_with_an_identity_code_is_rejected_and_nothing_is_kept(login, db):
    officer = login("officer1")
    deployment_id = _current(db)["id"]
    item = _tension(deployment_id, notes="Ensimmäinen")
    officer.post_json("/api/sync", {"records": [item]})
    edit = {**item, "base_version": 1, "values": {**item["values"], "notes": "Muokattu"}}
    assert officer.post_json("/api/sync", {"records": [edit]}).json()["results"][0]["status"] == "accepted"
    sneaky = written_forms()[1]
    resend = {**item, "values": {**item["values"], "notes": sneaky}}
    stale = {**item, "base_version": 1, "values": {**item["values"], "place_name": sneaky[:120]}}
    results = officer.post_json("/api/sync", {"records": [resend, stale]}, headers=EN).json()["results"]
    assert [r["status"] for r in results] == ["rejected", "rejected"]
    assert RECORD_CODE_MESSAGE in results[0]["errors"].values() and RECORD_CODE_MESSAGE in results[1]["errors"].values()
    assert _conflicts(db) == []


def test_conflict_values_are_checked_as_a_stale_edit_would_be(db):
    officer = accounts.by_username(db, "officer1")
    deployment_id = _current(db)["id"]
    item = sync.SyncRecord(**_tension(deployment_id, notes="Eka"))
    sync.ingest(db, officer, sync.SyncBatch(records=[item]))
    sync.ingest(db, officer, sync.SyncBatch(records=[sync.SyncRecord(
        id=item.id, kind="tension", deployment_id=deployment_id, base_version=1,
        values={**item.values, "notes": "Toka"})]))
    [result] = sync.ingest(db, officer, sync.SyncBatch(records=[sync.SyncRecord(
        id=item.id, kind="tension", deployment_id=deployment_id, base_version=1,
        values={"kind": "provocation", "severity": "4", "notes": "Kolmas", "unknown": [1] * 1000})]))
    assert result.status == "conflict"
    [kept] = sync.conflicts_of(db, officer)
    assert kept["reason"] == "stale_edit" and kept["device_values"]["notes"] == "Kolmas"
    assert kept["device_values"]["occurred_at"] == records.get(db, "tension", item.id)["occurred_at"]
    assert "unknown" not in kept["device_values"]


# ------------------------------------------------------------------ what used to be a 500


def _raw_post(session, url: str, body: bytes, content_type: str = "application/json"):
    return session.client.post(url, content=body, headers={"X-CSRF-Token": session.csrf, "content-type": content_type,
                                                           **EN})


def test_a_json_body_that_is_not_utf8_or_is_nested_too_deeply_is_a_400(login):
    officer = login("officer1")
    not_utf8 = _raw_post(officer, "/api/sync", b'{"records": [{"id": "\xff\xfe"}]}')
    assert not_utf8.status_code == 400 and not_utf8.json()["error"] == "The request is not valid UTF-8 text."
    for depth in (1000, 100_000):
        nested = _raw_post(officer, "/api/sync", b'{"records": ' + b"[" * depth + b"]" * depth + b"}")
        assert nested.status_code == 400
        assert nested.json()["error"] == "The JSON in the request is nested too deeply."
    push = _raw_post(officer, "/api/push/subscriptions", b"[" * 1000 + b"]" * 1000)
    assert push.status_code == 400


def test_a_multipart_form_that_is_not_utf8_is_a_400(login):
    lead = login("lead1")
    body = (b'--b\r\nContent-Disposition: form-data; name="_csrf"\r\n\r\n' + lead.csrf.encode() +
            b'\r\n--b\r\nContent-Disposition: form-data; name="name"\r\n\r\n\xff\xfe\r\n--b--\r\n')
    page = _raw_post(lead, "/deployments", body, "multipart/form-data; boundary=b")
    assert page.status_code == 400 and "The request is not valid UTF-8 text." in page.text


def test_versions_and_conflict_ids_beyond_what_sqlite_stores_are_refused(login, db):
    officer = login("officer1")
    deployment_id = _current(db)["id"]
    items = [{**_tension(deployment_id), "base_version": 2**63}, {**_tension(deployment_id), "base_version": 2**70},
             {**_tension(deployment_id), "base_version": 0}, {**_tension(deployment_id), "resolves": 2**64},
             {**_tension(deployment_id), "resolves": -1}, _tension(deployment_id)]
    results = officer.post_json("/api/sync", {"records": items}, headers=EN).json()["results"]
    assert [r["status"] for r in results] == ["rejected"] * 5 + ["accepted"]  # the others in the batch are saved
    assert [next(iter(r["errors"].values())) for r in results[:5]] == \
        ["The version this edit is based on is not valid."] * 3 + ["The conflict this record settles is not valid."] * 2
    for conflict_id in (2**63, 2**64, 10**30):
        response = officer.post_json(f"/api/sync/conflicts/{conflict_id}/resolve", {"resolution": "kept_server"},
                                     headers=EN)
        assert response.status_code == 404 and response.json()["error"] == "Not found."


def test_a_custom_map_window_near_the_ends_of_the_calendar_is_a_400(login):
    lead = login("lead1")
    message = "Enter a time between the year 2000 and a year from now."
    for query in ("from=9999-12-30T00:00Z&to=9999-12-31T23:59:59Z", "from=9999-12-31T00:00&to=9999-12-31T23:59",
                  "from=0001-01-01T00:00Z&to=0001-01-02T00:00Z", "from=1999-12-01T00:00&to=2000-01-02T00:00"):
        for url in ("/picture/", "/picture/hotspots", "/picture/live", "/api/picture/cells",
                    "/api/picture/export/tensions.csv"):
            response = lead.get(f"{url}?window=custom&{query}", headers=EN)
            assert response.status_code == 400, (url, query)
            assert message in html.unescape(response.text), (url, query)


def test_the_live_map_part_with_a_bad_filter_is_a_400(login):
    officer = login("officer1")
    response = officer.get("/picture/live?window=bogus", headers={**EN, "HX-Request": "true"})
    assert response.status_code == 400 and "Choose a time window from the list." in response.text


def test_an_out_of_range_map_cell_is_a_400(login):
    lead = login("lead1")
    for cell in ("ffffffffffffffffffff", "-1", "1" * 30, "-8928308280fffff"):
        for url in (f"/api/picture/cells/{cell}", f"/picture/cells/{cell}"):
            response = lead.get(url, headers=EN)
            assert response.status_code == 400 and "This map cell is not valid." in response.text, url


def test_a_deployment_starting_in_year_1_is_a_400_that_keeps_the_form(login, db):
    lead = login("lead1")
    tomorrow = (utcnow() + timedelta(days=1)).astimezone(HELSINKI).strftime("%Y-%m-%dT%H:%M")
    for start, end, message in (
            ("0001-01-01T00:00", "0001-01-01T10:00", "The start must be at most a year back and two years ahead."),
            (tomorrow, "9999-12-31T23:59-05:00", "A deployment can last at most 31 days."),
            (tomorrow, "0001-01-01T01:00+05:00", "The end must be after the start.")):
        page = lead.post("/deployments", data={"name": "Vuosi yksi", "kind": "public_event", "starts_at": start,
                                                "ends_at": end}, headers=EN)
        assert page.status_code == 400 and message in page.text and "Vuosi yksi" in page.text
    assert db.execute("SELECT COUNT(*) FROM deployments WHERE name = 'Vuosi yksi'").fetchone()[0] == 0


def test_alert_validation_reads_clean_text():
    values = messages.validate_alert({"level": "info", "message": " \u202eHei\x00 ", "deployment_id": new_id()})
    assert values["message"] == "Hei"
