"""The category editor: administrators add, rename, reorder, retire and reactivate entries of every list; codes
are never reused; every change is audited; a retired entry stays readable on old records and out of new forms."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fieldapp import access, accounts, categories, demo, i18n, records, reports
from fieldapp.clock import iso, utcnow

EN = {"Accept-Language": "en"}
FI = {"Accept-Language": "fi"}
NEW = {"label_fi": "Kurdit", "label_sv": "Kurder", "label_en": "Kurds"}


def _audit(db, target: str) -> list[str]:
    return [r["action"] for r in db.query(
        "SELECT action FROM audit_log WHERE record_type = 'category' AND record_id = ? ORDER BY id", [target])]


def _active(db, list_name: str) -> list[str]:
    return [code for code, _label in categories.options(db, list_name, "en")]


# ---------------------------------------------------------------- roles


@pytest.mark.parametrize("username", ["officer1", "staff1", "lead1"])
def test_field_roles_may_not_see_or_change_the_lists(login, db, username):
    session = login(username)
    assert session.get("/admin/categories").status_code == 403
    assert session.get("/admin/categories/topic").status_code == 403
    assert session.post("/admin/categories/topic", NEW).status_code == 403
    assert session.post("/admin/categories/topic/rumour/retire", {}).status_code == 403
    assert "rumour" in _active(db, "topic") and "kurds" not in _active(db, "group_category")


def test_another_units_lead_may_not_either(login, db):
    other = accounts.ensure_unit(db, "Tampere preventive unit (test)")
    accounts.create_user(db, "lead9", demo.DEMO_PASSWORD, "lead", other, "Lead Nine")
    assert login("lead9").post("/admin/categories/topic", NEW).status_code == 403


def test_anonymous_is_sent_to_login(client, db):
    page = client.get("/admin/categories", follow_redirects=False)
    assert page.status_code in (302, 303, 401) and "kurds" not in _active(db, "group_category")
    response = client.post("/admin/categories/group_category", data=NEW, follow_redirects=False)
    assert response.status_code in (302, 303, 401, 403) and "kurds" not in _active(db, "group_category")


def test_admin_sees_every_list_with_its_name(login, db):
    db.execute("INSERT INTO categories (list, code, label_fi, label_sv, label_en, sort, active) "
               "VALUES ('future_list', 'a', 'A', 'A', 'A', 0, 1)")  # a list another area adds
    page = login("admin1").get("/admin/categories", headers=EN)
    assert page.status_code == 200
    for name in ("topic", "group_category", "motive", "referral_target", "future_list"):
        assert f'href="/admin/categories/{name}"' in page.text
    assert "Perceived motives of acts of hatred" in page.text and "Future list" in page.text
    assert login("admin1").get("/admin/categories/future_list", headers=EN).status_code == 200


def test_an_unknown_list_is_404(login):
    session = login("admin1")
    assert session.get("/admin/categories/nonexistent", headers=EN).status_code == 404
    assert session.post("/admin/categories/nonexistent", NEW, headers=EN).status_code == 404
    assert session.post("/admin/categories/topic/nonexistent/retire", {}, headers=EN).status_code == 404


# ---------------------------------------------------------------- add


def test_admin_adds_an_entry_that_new_forms_offer(login, db):
    admin = login("admin1")
    response = admin.post("/admin/categories/group_category", NEW, headers=EN)
    assert response.status_code == 303 and "done=added" in response.headers["location"]
    assert _active(db, "group_category")[-1] == "kurds"
    assert categories.label(db, "group_category", "kurds", "sv") == "Kurder"
    assert _audit(db, "group_category:kurds") == ["category_add"]
    form = login("officer1").get(f"/deployments/{_current(db)}/contacts/new", headers=FI)
    assert 'value="kurds"' in form.text and "Kurdit" in form.text


@pytest.mark.parametrize("missing", ["label_fi", "label_sv", "label_en"])
def test_all_three_labels_are_required_and_what_was_typed_stays(login, db, missing):
    typed = {**NEW, missing: "  "}
    page = login("admin1").post("/admin/categories/group_category", typed, headers=FI)
    assert page.status_code == 400
    assert "Anna nimi kaikilla kolmella kielellä." in page.text
    for name, value in typed.items():
        if name != missing:
            assert f'value="{value}"' in page.text
    assert "kurds" not in _active(db, "group_category")
    assert _audit(db, "group_category:kurds") == []


def test_a_retired_code_is_not_given_out_again(login, db):
    admin = login("admin1")
    admin.post("/admin/categories/topic", {"label_fi": "Huhu", "label_sv": "Rykte", "label_en": "Rumour"})
    admin.post("/admin/categories/topic/rumour/retire", {})
    admin.post("/admin/categories/topic", {"label_fi": "Huhu", "label_sv": "Rykte", "label_en": "Rumour"})
    codes = [row["code"] for row in categories.entries(db, "topic")]
    assert codes.count("rumour") == 1 and "rumour_2" in codes and "rumour_3" in codes
    assert categories.entry(db, "topic", "rumour")["active"] == 0


def test_a_given_code_that_the_list_held_is_refused(db):
    categories.set_active(db, "topic", "rumour", False, by=None)
    with pytest.raises(records.ValidationFailed) as refused:
        categories.add(db, "topic", NEW, by=None, code="rumour")
    assert "code" in refused.value.errors
    with pytest.raises(records.ValidationFailed):
        categories.add(db, "topic", NEW, by=None, code="Not A Code")
    assert categories.add(db, "topic", NEW, by=None, code="kurdish_matters") == "kurdish_matters"


def test_a_label_with_only_letters_outside_ascii_still_gets_a_code(db):
    code = categories.add(db, "topic", {"label_fi": "Ääni", "label_sv": "Röst", "label_en": "Ääöö"}, by=None)
    assert code == "aaoo"
    code = categories.add(db, "topic", {"label_fi": "x", "label_sv": "x", "label_en": "???"}, by=None)
    assert code == "entry"


def test_the_severity_scale_takes_no_new_entries(login, db):
    page = login("admin1").post("/admin/categories/severity", NEW, headers=EN)
    assert page.status_code == 400 and "Entries cannot be added to this list." in page.text
    assert len(categories.entries(db, "severity")) == 6


# ---------------------------------------------------------------- rename, move


def test_rename_changes_the_labels_old_records_show(login, db):
    contact = _contact(db, group_category="youth")
    admin = login("admin1")
    labels = {"label_fi": "Nuoret aikuiset", "label_sv": "Unga vuxna", "label_en": "Young adults"}
    assert admin.post("/admin/categories/group_category/youth/labels", labels).status_code == 303
    assert categories.label(db, "group_category", "youth", "en") == "Young adults"
    assert _audit(db, "group_category:youth") == ["category_rename"]
    page = login("lead1").get(f"/records/contact/{contact}", headers=EN)
    assert "Young adults" in page.text


def test_rename_without_a_label_is_refused_with_what_was_typed(login, db):
    typed = {"label_fi": "Nuoret aikuiset", "label_sv": "", "label_en": "Young adults"}
    page = login("admin1").post("/admin/categories/group_category/youth/labels", typed, headers=EN)
    assert page.status_code == 400 and "Give the label in all three languages." in page.text
    assert 'value="Nuoret aikuiset"' in page.text and 'value="Young adults"' in page.text
    assert categories.label(db, "group_category", "youth", "en") == "Young people"
    assert _audit(db, "group_category:youth") == []


def test_move_changes_the_order_forms_show(login, db):
    before = _active(db, "trend")
    admin = login("admin1")
    assert admin.post(f"/admin/categories/trend/{before[1]}/move", {"direction": "up"}).status_code == 303
    assert _active(db, "trend") == [before[1], before[0], *before[2:]]
    assert _audit(db, f"trend:{before[1]}") == ["category_move"]
    assert admin.post(f"/admin/categories/trend/{before[1]}/move", {"direction": "sideways"},
                      headers=EN).status_code == 400


# ---------------------------------------------------------------- retire, reactivate


def test_a_retired_entry_stays_on_old_records_and_leaves_new_forms(login, db):
    contact = _contact(db, group_category="youth", topics='["rumour"]')
    admin = login("admin1")
    assert admin.post("/admin/categories/topic/rumour/retire", {}).status_code == 303
    assert _audit(db, "topic:rumour") == ["category_retire"]
    lead = login("lead1")
    detail = lead.get(f"/records/contact/{contact}", headers=EN)
    assert "Rumour" in detail.text  # the label, not the code
    new_form = lead.get(f"/deployments/{_current(db)}/contacts/new", headers=EN)
    assert 'value="rumour"' not in new_form.text
    edit_form = lead.get(f"/records/contact/{contact}/edit", headers=EN)
    assert 'value="rumour" checked' in edit_form.text  # an edit keeps what the record holds
    # A new record with the retired code is refused; the old one is edited and keeps it.
    deployment = access.visible(db, accounts.by_username(db, "lead1"), records.get(db, "contact", contact)["deployment_id"])
    with pytest.raises(records.ValidationFailed):
        records.validate(db, "contact", {"topics": ["rumour"]}, deployment)
    stored = records.get(db, "contact", contact)
    values = records.validate(db, "contact", {"topics": ["rumour"], "notes": "edited"}, deployment, stored=stored)
    assert values["topics"] == ["rumour"]
    assert admin.post("/admin/categories/topic/rumour/reactivate", {}).status_code == 303
    assert "rumour" in _active(db, "topic")
    assert _audit(db, "topic:rumour") == ["category_retire", "category_reactivate"]
    page = admin.get("/admin/categories/topic", headers=EN)
    changes = page.text.split('class="history category-changes"', 1)[1]
    assert changes.index("Reactivated") < changes.index("Retired") and "<code>rumour</code>" in changes
    assert "admin1" in changes


def test_the_last_entry_in_use_and_the_entries_the_app_relies_on_stay(db):
    for code in _active(db, "group_size")[1:]:
        categories.set_active(db, "group_size", code, False, by=None)
    with pytest.raises(records.ValidationFailed):
        categories.set_active(db, "group_size", _active(db, "group_size")[0], False, by=None)
    with pytest.raises(records.ValidationFailed):
        categories.set_active(db, "deployment_kind", "popup_station", False, by=None)


def test_nothing_is_deleted(login, db):
    count = db.execute("SELECT count(*) FROM categories").fetchone()[0]
    admin = login("admin1")
    admin.post("/admin/categories/topic/rumour/retire", {})
    assert admin.post("/admin/categories/topic/rumour/delete", {}).status_code in (404, 405)
    assert db.execute("SELECT count(*) FROM categories").fetchone()[0] == count


def test_the_editor_works_as_htmx_partial(login):
    page = login("admin1").get("/admin/categories/topic", headers={"HX-Request": "true"})
    assert page.status_code == 200 and "<html" not in page.text and 'id="admin-category-list"' in page.text


def test_a_change_counts_up_the_version_devices_compare(login, db):
    session = login("officer1")
    before = session.get("/api/sync/pull?cursor=0").json()["categories_version"]
    categories.add(db, "topic", NEW, by=None)
    after = session.get("/api/sync/pull?cursor=0").json()["categories_version"]
    assert after > before
    boot = session.get("/api/offline/bootstrap?records=false").json()
    assert boot["categories_version"] == after and ["kurds", "Kurds"] not in boot["categories"]["group_category"]
    assert any(code == "kurds" for code, _label in boot["categories"]["topic"])


# ---------------------------------------------------------------- helpers


def _current(db) -> str:
    officer = accounts.by_username(db, "officer1")
    return db.execute("SELECT d.id FROM deployments d JOIN assignments a ON a.deployment_id = d.id "
                      "WHERE a.user_id = ? AND d.deleted_at IS NULL ORDER BY d.starts_at DESC", [officer.id]
                      ).fetchone()[0]


def _contact(db, **values) -> str:
    row = db.execute("SELECT id FROM contacts WHERE deleted_at IS NULL ORDER BY occurred_at DESC LIMIT 1").fetchone()
    sets = ", ".join(f"{name} = ?" for name in values)
    db.execute(f"UPDATE contacts SET {sets} WHERE id = ?", [*values.values(), row[0]])
    return row[0]


def test_a_retired_entry_is_still_counted_in_the_report_under_its_label(db):
    contact = _contact(db, topics='["rumour"]', occurred_at=iso(utcnow() - timedelta(minutes=30)))
    assert contact
    categories.set_active(db, "topic", "rumour", False, by=None)
    token = i18n.set_locale("en")
    try:
        report = reports.build(db, accounts.by_username(db, "lead1"), reports.default_query())
    finally:
        i18n._current.reset(token)
    [topics] = [s for s in report.sections if s.key == "contacts_topic"]
    rumour = [row for row in topics.rows if row.code == "rumour"]
    assert rumour and rumour[0].label == "Rumour" and rumour[0].value >= 1


def test_labels_and_options_are_kept_until_any_change_to_the_lists(memory_db):
    """Every page reads the lists' labels; they are kept per connection and language and read again after any
    change (a trigger counts changes, migration m008), also one made by SQL outside the app."""
    db = memory_db
    options, labels = categories.all_options(db, "en"), categories.all_labels(db, "fi")
    assert categories.all_options(db, "en") is options and categories.all_labels(db, "fi") is labels  # kept
    assert categories.all_options(db, "sv") is not options  # each language its own
    code = options["group_category"][0][0]
    db.execute("UPDATE categories SET label_en = 'Renamed (test)', label_fi = 'Uusi nimi (testi)' "
               "WHERE list = 'group_category' AND code = ?", [code])
    assert dict(categories.all_options(db, "en")["group_category"])[code] == "Renamed (test)"
    assert categories.all_labels(db, "fi")["group_category"][code] == "Uusi nimi (testi)"
    db.execute("UPDATE categories SET active = 0 WHERE list = 'group_category' AND code = ?", [code])
    assert code not in dict(categories.all_options(db, "en")["group_category"])  # retired: no longer offered
    assert categories.all_labels(db, "en")["group_category"][code] == "Renamed (test)"  # old records still show it
