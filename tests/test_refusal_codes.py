"""Refused records keep codes, not only sentences: a record set aside on the device is shown in the language of
the screen that shows it, whatever the language of the sync that refused it."""

from __future__ import annotations

import html
import json
import re

from fieldapp import accounts, deployments, i18n, records
from fieldapp.ids import new_id
from fieldapp.offline import refusals


def _current(db) -> dict:
    return deployments.current_for_user(db, accounts.by_username(db, "officer1"))


def test_a_refused_record_carries_the_code_of_each_message_beside_its_text(login, db):
    officer = login("officer1")
    item = {"id": new_id(), "kind": "tension", "deployment_id": _current(db)["id"],
            "values": {"severity": "9", "notes": "no kind"}}
    response = officer.post_json("/api/sync", {"records": [item]})
    [result] = response.json()["results"]
    assert result["status"] == "rejected"
    assert result["codes"] == {"kind": "This field is required.", "severity": "Choose a severity from 1 to 6."}
    assert result["message_code"] == "The record could not be saved. Check the marked fields."
    locale = officer.get("/api/offline/bootstrap?records=false").json()["locale"]
    assert result["errors"]["kind"] == refusals.catalog(locale)["This field is required."]  # the text stays


def test_an_accepted_batch_is_answered_without_codes(login, db):
    officer = login("officer1")
    item = {"id": new_id(), "kind": "tension", "deployment_id": _current(db)["id"],
            "values": {"kind": "provocation", "severity": "3"}}
    [result] = officer.post_json("/api/sync", {"records": [item]}).json()["results"]
    assert result["status"] == "accepted" and "codes" not in result and "message_code" not in result


def test_every_code_is_translated_and_found_back_from_its_text_in_each_language():
    assert "This field is required." in refusals.codes()
    assert refusals.catalog("sv")["This field is required."] == "Fältet är obligatoriskt."
    for locale in ("fi", "sv", "en"):
        for code, text in refusals.catalog(locale).items():
            assert refusals.code_of(text, locale) == code


def test_the_pending_list_carries_the_catalog_in_the_screens_language_and_a_form_only_its_required_text(login, db):
    """The pending list carries every code in the screen's language (page.js keeps a copy for the tab's forms);
    a form does not carry the catalog (a tenth of its first load), only the required-field text on the strip."""
    officer = login("officer1")
    deployment_id = _current(db)["id"]
    page = officer.get("/pending", headers={"Accept-Language": "sv"}).text
    found = re.search(r'data-refusal-messages="([^"]*)"', page)
    assert found
    lang = re.search(r'<html lang="(\w+)"', page).group(1)
    assert json.loads(html.unescape(found.group(1))) == refusals.catalog(lang)
    for url in (f"/deployments/{deployment_id}/tensions/new", "/activities/new"):
        form = officer.get(url, headers={"Accept-Language": "sv"}).text
        assert "data-refusal-messages" not in form, url
        required = re.search(r'data-text-required="([^"]*)"', form).group(1)
        form_lang = re.search(r'<html lang="(\w+)"', form).group(1)
        assert required == i18n.translations(form_lang).gettext("This field is required.")


def test_the_fields_the_form_marks_required_are_the_ones_the_server_requires(login, db):
    """capture.js checks the fields marked required before a record enters the outbox."""
    officer = login("officer1")
    deployment_id = _current(db)["id"]
    for kind, slug in (("contact", "contacts"), ("tension", "tensions"), ("intervention", "interventions")):
        page = officer.get(f"/deployments/{deployment_id}/{slug}/new").text
        marked = re.findall(r'id="f-(\w+)">\s*<fieldset[^>]*>\s*<legend>[^<]*<span class="required">', page)
        assert tuple(marked) == records.KINDS[kind].required, kind
