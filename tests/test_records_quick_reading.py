"""The quick reading of form values (one msgspec call against Literal code types) reads exactly what the
careful field-by-field reading does, whenever it reads a record at all; otherwise the careful one decides.

Both are compared through validate() itself: once as it runs, once with the quick reading switched off."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fieldapp import categories, record_values
from fieldapp.clock import HELSINKI, utcnow
from fieldapp.db import open_db
from fieldapp.errors import ValidationFailed

DB = open_db(memory=True)
CODES = categories.all_codes(DB)
NOW = utcnow()
DEPLOYMENT = {"id": "00000000-0000-7000-8000-000000000001", "lat": 60.17, "lon": 24.94, "place_name": "Tori"}


def _validated(kind_name: str, raw: dict) -> object:
    """What validate() answers: the row values, or the field errors."""
    try:
        return record_values.validate(DB, kind_name, raw, DEPLOYMENT, now=NOW)
    except ValidationFailed as exc:
        return ("refused", exc.errors)


def _careful(kind: record_values.RecordKind, raw: dict) -> tuple[dict, object, dict]:
    errors: dict = {}
    given_values, occurred = record_values._read_form(kind, raw, CODES, errors)
    try:
        values = msgspec.structs.asdict(msgspec.convert(given_values, kind.struct, strict=False))
    except msgspec.ValidationError:
        values = record_values._convert_fields(kind, given_values, errors)
    return values, occurred, errors


def _field_values(kind: record_values.RecordKind, name: str) -> st.SearchStrategy:
    """Values a form, an outbox or a careless client may send for one field: mostly the usual form."""
    clean, messy = _usual(kind, name), _unusual(kind, name)
    return st.one_of(clean, clean, clean, messy)


def _usual(kind: record_values.RecordKind, name: str) -> st.SearchStrategy:
    if name in kind.categories:
        code = st.sampled_from(sorted(CODES[kind.categories[name]]))
        return st.lists(code, max_size=4) if name in kind.multi else st.one_of(code, st.just(""))
    if name in kind.booleans:
        return st.sampled_from(["1", "on", ""])
    if name in ("lat", "lon"):
        return st.one_of(st.floats(55, 75, allow_nan=False).map(lambda v: f"{v:.5f}"), st.just(""))
    if name == "occurred_at":
        return st.integers(0, 60 * 24 * 9).map(
            lambda m: (NOW - timedelta(minutes=m)).astimezone(HELSINKI).strftime("%Y-%m-%dT%H:%M"))
    if name in ("severity", "people_estimate"):
        return st.one_of(st.integers(0, 8).map(str), st.just(""))
    if name in ("tension_id", "contact_id"):
        return st.one_of(st.uuids().map(str), st.just(""))
    return st.text(max_size=30)


def _unusual(kind: record_values.RecordKind, name: str) -> st.SearchStrategy:
    junk = st.sampled_from(["", " ", "null", "None", "0", "1", "on", "yes", "true", "false", "3.0", "1e1", "nan"])
    anything = st.one_of(junk, st.none(), st.integers(-5, 10), st.booleans(), st.floats(allow_nan=False),
                         st.text(max_size=5))
    usual = _usual(kind, name)
    if name in kind.multi:
        code = st.sampled_from(sorted(CODES[kind.categories[name]]))
        return st.one_of(st.lists(st.one_of(code, code.map(lambda c: f" {c} "), junk, st.none()), max_size=4),
                         code, anything)
    if name in ("lat", "lon"):
        number = st.floats(55, 75, allow_nan=False).map(lambda v: f"{v:.5f}")
        return st.one_of(number.map(lambda v: v.replace(".", ",")), number.map(lambda v: f" {v}"),
                         st.floats(55, 75), anything)
    if name == "occurred_at":
        return st.one_of(usual.map(lambda t: t + "Z"), usual.map(lambda t: f" {t} "), usual.map(lambda t: t + ":30"),
                         st.just("2026-13-40T25:61"), anything)
    if name in ("severity", "people_estimate"):
        return st.one_of(st.integers(0, 8), st.just("2.0"), st.just(" 3"), anything)
    if name in ("notes", "place_name"):
        # What fieldapp.text.clean() removes or composes, and what the identity-code scan looks through.
        suspicious = st.text(alphabet="aoä\u0308 -1\x00\x1b\u202e\u2066\u200b\u200d\ud800", max_size=20)
        return st.one_of(st.text(min_size=119, max_size=122), st.text(min_size=1000, max_size=1001), suspicious,
                         anything)
    return st.one_of(usual.map(lambda v: f" {v} "), usual.map(lambda v: f"{v}\n"), anything)


@st.composite
def _raw_record(draw):
    kind = record_values.KINDS[draw(st.sampled_from(sorted(record_values.KINDS)))]
    names = draw(st.lists(st.sampled_from(record_values.FIELD_NAMES[kind.name] + ["unknown", "_csrf"]), unique=True))
    return kind, {name: draw(_field_values(kind, name)) if name in record_values.FIELD_NAMES[kind.name] else "x"
                  for name in names}


@settings(max_examples=2000, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(_raw_record())
def test_quick_reading_reads_what_the_careful_reading_reads(sample):
    kind, raw = sample
    if record_values._quick_read(kind, raw, CODES, {}) is None:
        return  # validate() reads it carefully anyway
    quick = _validated(kind.name, raw)
    with mock.patch.object(record_values, "_quick_read", return_value=None):
        careful = _validated(kind.name, raw)
    assert repr(quick) == repr(careful), raw  # repr: "nan" equals itself


def test_form_values_as_an_outbox_sends_them_are_read_quickly():
    when = NOW.astimezone(HELSINKI).strftime("%Y-%m-%dT%H:%M")
    raw = {"kind": "provocation", "severity": "4", "trend": "stable", "basis": "observed", "groups": ["youth", "youth"],
           "people_estimate": "", "occurred_at": when, "place_name": "", "lat": "60.17100", "lon": "24.94100",
           "notes": "Shouting near the stage"}
    quick = record_values._quick_read(record_values.KINDS["tension"], raw, CODES, {})
    assert quick is not None
    values, occurred = quick
    assert values["severity"] == 4 and values["groups"] == ["youth"] and values["lat"] == 60.171
    careful_values, careful_time, _errors = _careful(record_values.KINDS["tension"], raw)
    assert values == careful_values and occurred == careful_time


def test_values_needing_care_are_left_to_the_careful_reading():
    kind = record_values.KINDS["contact"]
    for raw in ({"topics": ["rumour", ""]}, {"age_band": " 18_29 "}, {"lat": "60,17", "lon": "24,9"},
                {"feedback_promised": "0"}, {"age_band": "null"}, {"age_band": None}, {"age_band": "no_such_code"}):
        assert record_values._quick_read(kind, raw, CODES, {}) is None, raw


def test_form_time_by_the_hour_is_the_same_as_parsing_each_minute_across_daylight_saving_changes():
    hours: dict = {}
    for day in ("2026-03-28", "2026-03-29", "2026-10-24", "2026-10-25"):  # Finland changes clocks on the 29th / 25th
        for minute in range(0, 24 * 60, 7):
            text = f"{day}T{minute // 60:02d}:{minute % 60:02d}"
            expected = record_values._utc_naive(text).isoformat(timespec="milliseconds") + "Z"
            assert record_values._form_time(text, hours) == expected, text


def test_form_times_of_other_shapes_are_parsed_in_full():
    hours: dict = {}
    for text in ("2026-11-30T09:14:30", "2026-11-30T09:61", "2026-11-30T09:1x", "2026-13-30T09:14",
                 "2026-11-30T09:٣٣"):
        assert record_values._form_time(text, hours) is None, text
