"""The sealed outbox, server side (fieldapp/offline/sealing.py): records sealed as a device seals them open on
/api/sync, exactly once; rotation keeps older sealed records readable; what cannot be opened is refused with the
reason, never a 500."""

from __future__ import annotations

import json
import os
import stat

import msgspec
import pytest

from fieldapp import accounts, audit, deployments, records
from fieldapp.clock import iso, utcnow
from fieldapp.cli import main as cli_main
from fieldapp.ids import new_id
from fieldapp.offline import sealing


def _current(db, username="officer1") -> dict:
    return deployments.current_for_user(db, accounts.by_username(db, username))


def _public(session) -> dict:
    response = session.get("/api/offline/seal-key")
    assert response.status_code == 200, response.text
    return response.json()


def _sealed_tension(public, deployment_id, username="officer1", record_id=None, **values) -> dict:
    values = {"kind": "provocation", "severity": "3", "notes": "Kaksi ryhmää huutelee.", **values}
    envelope = sealing.seal(public, values, username)
    return {"id": record_id or new_id(), "kind": "tension", "deployment_id": deployment_id,
            "sealed": msgspec.to_builtins(envelope), "base_version": None, "device_time": iso(utcnow())}


def _send(session, *items):
    response = session.post_json("/api/sync", {"records": list(items)})
    assert response.status_code == 200, response.text
    return response.json()["results"]


def _flip(text: str) -> str:
    """The same base64url text with one character changed (a bit of the ciphertext flipped)."""
    return text[:-3] + ("A" if text[-3] != "A" else "B") + text[-2:]


# ---------------------------------------------------------------- keys


def test_the_key_file_is_made_on_first_use_beside_the_database_readable_by_the_owner_only(tmp_path):
    ring = sealing.load(tmp_path)
    path = tmp_path / sealing.KEY_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert sealing.load(tmp_path).current.kid == ring.current.kid  # the same key after a restart
    assert "PRIVATE KEY" in path.read_text()


def test_values_sealed_as_a_device_seals_them_open_with_the_servers_key(tmp_path):
    ring = sealing.load(tmp_path)
    values = {"notes": "Ryhmä nuoria, yksi uhkaili (ei tunnistettu)", "topics": ["rumour", "tip"], "severity": 4}
    envelope = sealing.seal(ring.public(), values, "officer1")
    assert "Ryhmä" not in msgspec.json.encode(envelope).decode()
    assert sealing.open_sealed(ring, envelope, "officer1") == values


def test_after_a_rotation_old_envelopes_still_open_and_new_ones_use_the_new_key(tmp_path):
    before = sealing.load(tmp_path)
    old = sealing.seal(before.public(), {"notes": "sealed before"}, "officer1")
    after = sealing.rotate(tmp_path)
    assert after.current.kid != before.current.kid and len(after.keys) == 2
    assert stat.S_IMODE(os.stat(tmp_path / sealing.KEY_FILE).st_mode) == 0o600
    assert sealing.open_sealed(after, old, "officer1") == {"notes": "sealed before"}
    new = sealing.seal(after.public(), {"notes": "sealed after"}, "officer1")
    assert new.kid == after.current.kid
    assert sealing.open_sealed(after, new, "officer1") == {"notes": "sealed after"}
    with pytest.raises(sealing.SealBroken) as unknown:  # a server that lost the new key cannot open it
        sealing.open_sealed(before, new, "officer1")
    assert unknown.value.code == "unknown_key"


@pytest.mark.parametrize("change, code", [
    (lambda e: {**e, "ct": _flip(e["ct"])}, "tampered"),
    (lambda e: {**e, "iv": _flip(e["iv"])}, "tampered"),
    (lambda e: {**e, "epk": "AAAA"}, "malformed"),
    (lambda e: {**e, "ct": "@@not base64@@"}, "malformed"),
    (lambda e: {**e, "kid": "0000000000000000"}, "unknown_key"),
    (lambda e: {**e, "v": 2}, "malformed"),
])
def test_an_envelope_that_was_changed_is_refused_with_its_reason(tmp_path, change, code):
    ring = sealing.load(tmp_path)
    envelope = msgspec.to_builtins(sealing.seal(ring.public(), {"notes": "x"}, "officer1"))
    with pytest.raises(sealing.SealBroken) as refused:
        sealing.open_sealed(ring, msgspec.convert(change(envelope), sealing.SealedRecord), "officer1")
    assert refused.value.code == code


def test_a_record_sealed_by_one_officer_does_not_open_in_anothers_name(tmp_path):
    ring = sealing.load(tmp_path)
    envelope = sealing.seal(ring.public(), {"notes": "x"}, "officer1")
    with pytest.raises(sealing.SealBroken) as refused:
        sealing.open_sealed(ring, envelope, "officer2")
    assert refused.value.code == "tampered"


def test_init_makes_the_outbox_key_file_and_keeps_it(tmp_path, monkeypatch):
    db_file = tmp_path / "data" / "fieldapp.db"
    monkeypatch.setenv("FIELDAPP_DB", str(db_file))
    cli_main(["init"])
    path = db_file.parent / sealing.KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = path.read_text()
    cli_main(["init"])
    assert path.read_text() == first


def test_rotate_outbox_key_command_adds_a_key_and_keeps_the_old(settings, capsys, monkeypatch):
    first = sealing.load(settings.data_dir).current.kid
    monkeypatch.setenv("FIELDAPP_DB", str(settings.db_path))
    cli_main(["rotate-outbox-key"])
    ring = sealing.load(settings.data_dir)
    assert [key.kid for key in ring.keys][0] == first and ring.current.kid != first
    assert ring.current.kid in capsys.readouterr().out


# ---------------------------------------------------------------- sync


def test_a_sealed_record_is_opened_on_sync_and_stored_with_its_values(login, db):
    officer = login("officer1")
    item = _sealed_tension(_public(officer), _current(db)["id"], notes="Sinetöity havainto", severity="4")
    [result] = _send(officer, item)
    assert result["status"] == "accepted"
    stored = records.get(db, "tension", item["id"])
    assert (stored["notes"], stored["severity"]) == ("Sinetöity havainto", 4)


def test_the_bootstrap_gives_the_current_key_and_after_a_rotation_the_new_one(login, db, settings):
    officer = login("officer1")
    first = officer.get("/api/offline/bootstrap?records=false").json()["seal_key"]
    assert first == _public(officer) and first["kid"] == sealing.load(settings.data_dir).current.kid
    sealed_before = _sealed_tension(first, _current(db)["id"], notes="ennen vaihtoa")
    sealing.rotate(settings.data_dir)
    second = officer.get("/api/offline/bootstrap?records=false").json()["seal_key"]
    assert second["kid"] != first["kid"] and second["key"] != first["key"]
    sealed_after = _sealed_tension(second, _current(db)["id"], notes="vaihdon jälkeen")
    assert [r["status"] for r in _send(officer, sealed_before, sealed_after)] == ["accepted", "accepted"]
    assert records.get(db, "tension", sealed_before["id"])["notes"] == "ennen vaihtoa"


def test_a_resent_sealed_record_is_a_duplicate_even_when_sealed_again(login, db):
    officer = login("officer1")
    public = _public(officer)
    item = _sealed_tension(public, _current(db)["id"])
    [first] = _send(officer, item)
    [again] = _send(officer, item)
    # The same record sealed a second time (another ciphertext): the server compares what it holds.
    resealed = {**item, "sealed": msgspec.to_builtins(sealing.seal(public, {
        "kind": "provocation", "severity": "3", "notes": "Kaksi ryhmää huutelee."}, "officer1"))}
    assert resealed["sealed"]["ct"] != item["sealed"]["ct"]
    [third] = _send(officer, resealed)
    assert first["status"] == "accepted" and again["status"] == third["status"] == "duplicate"
    assert again["received_at"] == third["received_at"] == first["received_at"]
    assert db.execute("SELECT COUNT(*) FROM tensions WHERE id = ?", [item["id"]]).fetchone()[0] == 1


def test_a_sealed_record_with_other_content_under_the_same_id_is_a_conflict(login, db):
    officer = login("officer1")
    public = _public(officer)
    item = _sealed_tension(public, _current(db)["id"], notes="ensimmäinen")
    _send(officer, item)
    other = _sealed_tension(public, _current(db)["id"], record_id=item["id"], notes="toinen")
    [result] = _send(officer, other)
    assert result["status"] == "conflict"
    [kept] = db.execute("SELECT device_values FROM sync_conflicts WHERE record_id = ?", [item["id"]]).fetchall()
    assert json.loads(kept[0])["notes"] == "toinen"


def test_a_tampered_sealed_record_is_refused_with_a_clear_reason_and_the_others_are_stored(login, db):
    officer = login("officer1")
    public = _public(officer)
    deployment_id = _current(db)["id"]
    good = _sealed_tension(public, deployment_id, notes="hyvä")
    tampered = _sealed_tension(public, deployment_id, notes="muutettu")
    tampered["sealed"]["ct"] = _flip(tampered["sealed"]["ct"])
    stranger = _sealed_tension(public, deployment_id, username="officer2", notes="toisen sinetöimä")
    plain_too = _sealed_tension(public, deployment_id)
    plain_too["values"] = {"notes": "both sealed and plain"}
    results = _send(officer, tampered, good, stranger, plain_too)
    assert [r["status"] for r in results] == ["rejected", "accepted", "rejected", "rejected"]
    assert "muutettu tallentamisen jälkeen" in results[0]["message"]  # (officer1 reads Finnish)
    assert results[0]["message_code"]  # shown again in any language on the device
    assert "vioittunut" in results[3]["message"]
    assert [records.get(db, "tension", i["id"]) is None for i in (tampered, good, stranger, plain_too)] \
        == [True, False, True, True]


def test_a_refusal_of_a_sealed_record_is_in_the_users_language(login, db):
    officer = login("officer1")
    officer.post("/language", data={"locale": "fi", "next": "/"})
    item = _sealed_tension(_public(officer), _current(db)["id"])
    item["sealed"]["kid"] = "0000000000000000"
    [result] = _send(officer, item)
    assert result["status"] == "rejected" and "avaimella" in result["message"]


@pytest.mark.parametrize("sealed", [
    {"v": 1, "kid": "x"},                                  # fields missing
    {"v": 1, "kid": "x", "epk": 1, "iv": "", "ct": ""},    # wrong types
    "not an object",
])
def test_a_malformed_envelope_is_a_4xx_never_a_500(login, db, sealed):
    officer = login("officer1")
    item = {"id": new_id(), "kind": "tension", "deployment_id": _current(db)["id"], "sealed": sealed}
    response = officer.post_json("/api/sync", {"records": [item]})
    assert 400 <= response.status_code < 500


# ---------------------------------------------------------------- opening for the officer's own screen


def test_the_officer_can_have_their_own_sealed_record_opened_and_the_read_is_logged(login, db):
    officer = login("officer1")
    envelope = _sealed_tension(_public(officer), _current(db)["id"], notes="korjattava")["sealed"]
    response = officer.post_json("/api/sync/open", {"sealed": envelope})
    assert response.status_code == 200 and response.json()["values"]["notes"] == "korjattava"
    assert db.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'open' AND record_type = 'sealed'") \
        .fetchone()[0] == 1


def test_opening_a_tampered_or_anothers_sealed_record_is_a_400_with_the_reason(login, db):
    officer, colleague = login("officer1"), login("officer2")
    envelope = _sealed_tension(_public(officer), _current(db)["id"])["sealed"]
    response = colleague.post_json("/api/sync/open", {"sealed": envelope})
    assert response.status_code == 400 and "toinen käyttäjä" in response.json()["error"]
    response = officer.post_json("/api/sync/open", {"sealed": {**envelope, "ct": _flip(envelope["ct"])}})
    assert response.status_code == 400 and "muutettu tallentamisen jälkeen" in response.json()["error"]
