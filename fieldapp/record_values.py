"""The three kinds of field records (contact, tension observation, intervention) and how their values are read
and checked: validate() turns raw values (form strings or JSON) into row values or ValidationFailed.

No web imports. Two readings of raw values give the same result: a quick one for values in the usual form
(one msgspec call) and a careful one field by field for anything else, which also gives the messages.
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Annotated

import msgspec

from fieldapp import access, categories
from fieldapp.accounts import User
from fieldapp.clock import HELSINKI, iso, parse, utcnow
from fieldapp.db import one
from fieldapp.errors import Forbidden, NotFound, ValidationFailed
from fieldapp.geo import in_finland
from fieldapp.i18n import gettext as _
from fieldapp.ids import ID_PATTERN, is_valid_id
from fieldapp.personal_ids import find_identity_codes
from fieldapp.text import clean

# Finland's bounding box, generous at the edges (Åland to the eastern border).
MAX_PAST = timedelta(days=7)
MAX_FUTURE = timedelta(minutes=5)
DEVICE_CLOCK_TOLERANCE = timedelta(minutes=10)

Code = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
PlaceName = Annotated[str, msgspec.Meta(max_length=120)]
Notes = Annotated[str, msgspec.Meta(max_length=1000)]
Outcome = Annotated[str, msgspec.Meta(max_length=40)]


class _Common(msgspec.Struct, kw_only=True):
    occurred_at: datetime | None = None
    lat: float | None = None
    lon: float | None = None
    place_name: PlaceName = ""
    notes: Notes = ""


class ContactInput(_Common, kw_only=True):
    age_band: Code | None = None
    group_size: Code | None = None
    group_category: Code | None = None
    language: Code | None = None
    topics: list[Code] = []
    feedback_promised: bool = False
    feedback_given: bool = False
    follow_up: bool = False
    referral_target: Code | None = None
    motives: list[Code] = []  # perceived motive of an act of hatred experienced or reported (an event's, not a person's)
    advised_to_report: bool = False
    offence_reported: bool = False
    channel: Code | None = None      # 'online' for a contact made online (m015)


class TensionInput(_Common, kw_only=True):
    kind: Code | None = None
    groups: list[Code] = []
    severity: Annotated[int, msgspec.Meta(ge=1, le=6)] | None = None
    trend: Code = "stable"
    basis: Code = "observed"
    people_estimate: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] | None = None
    motives: list[Code] = []


class InterventionInput(_Common, kw_only=True):
    kind: Code | None = None
    outcome: Outcome | None = None
    referral_target: Code | None = None
    referral_partner_id: str | None = None  # a partner of the directory (partners.py), besides the kind of service
    tension_id: str | None = None
    contact_id: str | None = None
    channel: Code | None = None      # 'online' for an intervention made online (m015)


@dataclass(frozen=True)
class RecordKind:
    name: str            # contact, tension, intervention
    table: str
    struct: type
    categories: dict     # field -> category list
    multi: tuple = ()    # fields holding a list of codes (stored as JSON)
    required: tuple = ()
    booleans: tuple = ()


KINDS: dict[str, RecordKind] = {
    "contact": RecordKind(
        "contact", "contacts", ContactInput,
        {"age_band": "age_band", "group_size": "group_size", "group_category": "group_category",
         "language": "language", "topics": "topic", "referral_target": "referral_target", "motives": "motive",
         "channel": "channel"},
        multi=("topics", "motives"),
        booleans=("feedback_promised", "feedback_given", "follow_up", "advised_to_report", "offence_reported")),
    "tension": RecordKind(
        "tension", "tensions", TensionInput,
        {"kind": "tension_kind", "groups": "group_category", "trend": "trend", "basis": "basis", "motives": "motive"},
        multi=("groups", "motives"), required=("kind", "severity")),
    "intervention": RecordKind(
        "intervention", "interventions", InterventionInput,
        {"kind": "intervention_kind", "outcome": "outcome", "referral_target": "referral_target",
         "channel": "channel"},
        required=("kind",)),
}

# msgspec.structs.fields() re-evaluates the annotations on every call: computed once per kind.
FIELDS = {name: msgspec.structs.fields(kind.struct) for name, kind in KINDS.items()}
FIELD_NAMES = {name: [f.name for f in fields] for name, fields in FIELDS.items()}


class BatchCache:
    """What stays the same within one batch of writes: category codes, deployment access per id, the receive
    time's window and the UTC hour of each local hour a form time names."""

    def __init__(self, db, user: User | None = None, *, recordable: dict | None = None):
        """recordable: a deployment the caller has already checked (access.recordable) for this user."""
        self.db, self.user = db, user
        self._codes: dict[str, frozenset[str]] = {}
        self._access: dict[str, tuple] = {} if recordable is None else {recordable["id"]: (recordable, None)}
        self._now: tuple | None = None
        self.hours: dict[str, str | None] = {}  # form times: local hour -> UTC hour (_form_time)

    def clock(self, now: datetime) -> tuple[str, str, str]:
        """The earliest and latest time a new record may have and now, as UTC text (_utc_text); once per batch
        (every record of a batch is received at the same time)."""
        if self._now is None or self._now[0] != now:
            utc = now.astimezone(timezone.utc).replace(tzinfo=None)
            self._now = (now, (_utc_text(utc - MAX_PAST), _utc_text(utc + MAX_FUTURE), iso(now)))
        return self._now[1]

    def all_codes(self) -> dict[str, frozenset[str]]:
        """list name -> valid codes, every list read at once (a batch needs most of them)."""
        if not self._codes:
            self._codes = categories.all_codes(self.db)
        return self._codes

    def recordable(self, deployment_id: str) -> dict:
        """The deployment if the user may add records to it (access.recordable, once per deployment and batch)."""
        if deployment_id not in self._access:
            try:
                self._access[deployment_id] = (access.recordable(self.db, self.user, deployment_id), None)
            except (NotFound, Forbidden) as exc:
                self._access[deployment_id] = (None, (type(exc), exc.args))
        deployment, error = self._access[deployment_id]
        if error is not None:
            raise error[0](*error[1])
        return deployment


def unreadable_device_time(value) -> str:
    """What is kept of a device time that is not a time (the record is flagged: its clock cannot be judged): at
    most 40 characters of clean text, "?" if that is nothing or holds an identity code."""
    text = clean(str(value))[:40]
    return "?" if not text.strip() or find_identity_codes(text) else text


def _type_error(kind: RecordKind, field: str) -> str:
    if field in kind.categories:
        return _("Choose a value from the list.")
    messages = {
        "tension_id": _("Choose a record of the same deployment."),
        "contact_id": _("Choose a record of the same deployment."),
        "referral_partner_id": _("Choose a partner of the directory."),
        "occurred_at": _("Enter a date and time."),
        "lat": _("Enter the latitude as a number."),
        "lon": _("Enter the longitude as a number."),
        "severity": _("Choose a severity from 1 to 6."),
        "people_estimate": _("Enter the number of people as a whole number from 1 upwards."),
        "place_name": _("The place name is too long (at most 120 characters)."),
        "notes": _("The notes are too long (at most 1000 characters)."),
    }
    return messages.get(field, _("This value is not valid."))


# How _read_form() reads each field of a kind: its mode, and the category list of a code or list of codes.
_CODE, _PLAIN, _MULTI, _BOOLEAN, _TEXT, _COORDINATE, _TIME = range(7)


def _mode(kind: RecordKind, name: str) -> int:
    if name in kind.multi:
        return _MULTI
    if name in kind.booleans:
        return _BOOLEAN
    if name in ("notes", "place_name"):
        return _TEXT
    if name in kind.categories:
        return _CODE
    return {"lat": _COORDINATE, "lon": _COORDINATE, "occurred_at": _TIME}.get(name, _PLAIN)


_READ = {name: {field: (_mode(kind, field), kind.categories.get(field)) for field in FIELD_NAMES[name]}
         for name, kind in KINDS.items()}
_UNCHECKED = {name: {field: False for field in kind.booleans} for name, kind in KINDS.items()}  # a box not sent
_TRUE = frozenset((True, 1, "1", "on", "true", "yes"))
_NO_CODES: frozenset[str] = frozenset()


def _read_form(kind: RecordKind, raw: dict, codes: dict[str, frozenset[str]], errors: dict
               ) -> tuple[dict, str | None]:
    """The raw values as msgspec should see them, and the time given, as UTC text (_utc_text).

    Blank form values and None count as missing (the field's default applies); booleans from checkboxes;
    lists from single values, without blanks, a code chosen twice counting once; a decimal comma in
    coordinates. Codes are checked against their category list here ("Choose a value from the list.").
    The time is parsed here (Helsinki time when it has no zone) and left out of the returned values.
    """
    given = dict(_UNCHECKED[kind.name])
    occurred = None
    read = _READ[kind.name]
    for name, value in raw.items():
        how = read.get(name)
        if how is None or value is None:
            continue  # not a field of this kind, or missing
        mode, list_name = how
        if type(value) is str:
            if mode <= _PLAIN:  # a code or a number as text, the most common field
                value = value.strip()
                if not value:
                    continue
                if mode == _CODE and value not in codes.get(list_name, _NO_CODES):
                    errors[name] = _("Choose a value from the list.")
            elif mode == _TEXT:
                pass
            elif mode == _BOOLEAN:
                value = value in _TRUE
            elif mode == _MULTI:
                if not value:
                    continue
                value = [value]
            else:
                value = value.strip()
                if not value:
                    continue
                if mode == _COORDINATE:
                    value = value.replace(",", ".")  # a Finnish keyboard gives a decimal comma
                else:
                    try:
                        occurred = _utc_text(_utc_naive(value))
                        continue
                    except (ValueError, OverflowError):
                        value = "invalid"  # msgspec answers "Enter a date and time."
        elif mode == _BOOLEAN:
            value = isinstance(value, int) and value in _TRUE
        elif mode == _MULTI and type(value) is not list:
            value = [value]
        if mode == _MULTI:
            try:
                value = list(dict.fromkeys(value))
                if "" in value or None in value:
                    value = [v for v in value if v != "" and v is not None]
                valid = codes.get(list_name, _NO_CODES).issuperset(value)
            except TypeError:  # something unhashable in the list
                valid = False
            if not valid:
                errors[name] = _("Choose a value from the list.")
        given[name] = value
    return given, occurred


# The quick reading: a record as forms and outboxes send it (codes from the lists, numbers as plain text, no
# stray spaces) converts in one msgspec call, against a struct whose category fields are Literal types of the
# active codes. Anything else (a decimal comma, a code not in its list, a blank inside a list, a null) fails
# that call and is read field by field by _read_form(), which also gives the messages. Both read the same
# values: tests/test_records_quick_reading.py checks that with Hypothesis.
_TRUE_TEXT = tuple(sorted(value for value in _TRUE if isinstance(value, str)))
_QUICK: dict[str, tuple[object, type | None]] = {}  # kind -> (the codes it was built from, struct or None)


def _quick_struct(kind: RecordKind, codes: dict[str, frozenset[str]]) -> type | None:
    """The quick-reading struct of a kind for these codes; None when a list it needs has no codes."""
    fields = []
    for field in FIELDS[kind.name]:
        if typing.get_origin(field.type) in (typing.Union, types.UnionType):  # X | None: None comes by default
            [type_] = [arg for arg in typing.get_args(field.type) if arg is not type(None)]
        else:
            type_ = field.type
        if field.name in kind.categories:
            valid = codes.get(kind.categories[field.name])
            if not valid:
                return None
            type_ = typing.Literal.__getitem__(tuple(sorted(valid)))
            if field.name in kind.multi:
                type_ = list[type_]
        elif field.name in kind.booleans:
            type_ = typing.Literal.__getitem__(_TRUE_TEXT)
        elif field.name == "occurred_at":
            type_ = str
        elif field.name in ("tension_id", "contact_id", "referral_partner_id"):
            type_ = Annotated[str, msgspec.Meta(pattern=ID_PATTERN)]
        default = field.default if field.default is not msgspec.NODEFAULT else \
            msgspec.field(default_factory=field.default_factory)
        fields.append((field.name, type_, default))
    return msgspec.defstruct(f"Quick{kind.struct.__name__}", fields, kw_only=True)


def _quick_read(kind: RecordKind, raw: dict, codes: dict[str, frozenset[str]], hours: dict[str, str | None]
                ) -> tuple[dict, str | None] | None:
    """What _read_form() and the struct's conversion give, for values in the usual form; None otherwise.
    The time as UTC text, as _read_form() gives it (the form's usual shape by the hour: _form_time)."""
    built = _QUICK.get(kind.name)
    if built is None or built[0] is not codes:
        built = _QUICK[kind.name] = (codes, _quick_struct(kind, codes))
    if built[1] is None:
        return None
    if "" in raw.values():  # blank means not given (the sync client leaves blanks out already)
        raw = {name: value for name, value in raw.items() if value != ""}
    try:
        values = msgspec.structs.asdict(msgspec.convert(raw, built[1], strict=False))
    except msgspec.ValidationError:
        return None
    for name in kind.multi:
        values[name] = list(dict.fromkeys(values[name]))  # a code chosen twice counts once
    for name in kind.booleans:
        values[name] = values[name] is not False
    occurred = values["occurred_at"]
    if occurred is not None:
        values["occurred_at"] = None
        text = occurred
        occurred = _form_time(text, hours)
        if occurred is None:
            text = text.strip()
            try:
                occurred = _utc_text(_utc_naive(text)) if text else None
            except (ValueError, OverflowError):
                return None
    return values, occurred


def _form_time(text: str, hours: dict[str, str | None]) -> str | None:
    """A datetime-local value ('YYYY-MM-DDTHH:MM', Helsinki time) as UTC text, through the UTC hour of its local
    hour (Helsinki's offset changes only on the hour; hours: local hour -> UTC hour, kept for a batch); None
    for any other form of time."""
    minutes = text[14:]
    if len(text) != 16 or text[13] != ":" or not (minutes.isascii() and minutes.isdigit()) or minutes > "59":
        return None
    hour = text[:13]
    utc_hour = hours.get(hour, "")
    if utc_hour == "":
        try:
            utc = _utc_naive(hour + ":00")
            utc_hour = utc.isoformat(timespec="hours") if utc.minute == 0 else None
        except (ValueError, OverflowError):
            utc_hour = None
        hours[hour] = utc_hour
    return None if utc_hour is None else f"{utc_hour}:{minutes}:00.000Z"


def _given_time(value: str | datetime) -> str:
    """A time given other than as form text (JSON, a stored record) as UTC text; one without a UTC equivalent
    (year 1 with a zone) as the earliest time, which is refused as too old."""
    try:
        return _utc_text(parse(value).replace(tzinfo=None))
    except (ValueError, OverflowError):
        return _utc_text(datetime.min)


def _utc_text(utc: datetime) -> str:
    """Naive UTC as stored: milliseconds and a Z (as clock.iso)."""
    return utc.isoformat(timespec="milliseconds") + "Z"


def _utc_naive(text: str) -> datetime:
    """A form's time as naive UTC: datetime-local sends no seconds and no zone (Helsinki time)."""
    if text[-1:] == "Z":
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    offset = parsed.utcoffset()
    if offset is None:
        return parsed - HELSINKI.utcoffset(parsed)
    return parsed.replace(tzinfo=None) - offset


def validate(db, kind_name: str, raw: dict, deployment: dict, *, now: datetime | None = None,
             stored_time: str | None = None, cache: BatchCache | None = None, stored: dict | None = None) -> dict:
    """Check raw values (form strings or JSON) and return the row values; raises ValidationFailed.

    stored_time: an edit may keep a record's time even when it is older than the 7 days new records allow.
    cache: category codes shared by the records of one batch.
    stored: the record an edit changes: codes it holds stay valid for it even after they were retired.
    """
    kind = KINDS[kind_name]
    cache = cache or BatchCache(db)
    errors: dict[str, str] = {}
    codes = cache.all_codes()
    if stored is not None:
        codes = _with_stored_codes(kind, codes, stored)
    quick = _quick_read(kind, raw, codes, cache.hours) if codes is cache.all_codes() else None
    if quick is not None:
        values, occurred = quick
    else:
        given, occurred = _read_form(kind, raw, codes, errors)
        try:  # the whole struct at once; only a failure is checked field by field, for the messages
            values = msgspec.structs.asdict(msgspec.convert(given, kind.struct, strict=False))
        except msgspec.ValidationError:
            values = _convert_fields(kind, given, errors)
    for name in kind.required:
        if values.get(name) is None and name not in errors:
            errors[name] = _("This field is required.")
    if occurred is None and values.get("occurred_at") is not None and "occurred_at" not in errors:
        occurred = _given_time(values["occurred_at"])  # a datetime given as such (not form text)
    earliest, latest, now_text = cache.clock(now or utcnow())
    if occurred is not None:  # UTC text throughout: compared as text, stored as it is
        if stored_time and occurred[:16] == _given_time(stored_time)[:16]:
            occurred = _given_time(stored_time)  # an edit: the form shows minutes, an unchanged time keeps its seconds
        elif occurred < earliest:
            errors["occurred_at"] = _("The time is more than 7 days in the past.")
        elif occurred > latest:
            errors["occurred_at"] = _("The time is in the future.")
    lat, lon = values["lat"], values["lon"]
    if (lat is not None or lon is not None) and "lat" not in errors and "lon" not in errors:
        if lat is None or lon is None:
            errors["lat" if lat is None else "lon"] = _("Give both latitude and longitude, or neither.")
        elif not in_finland(lat, lon):
            errors["lat"] = _("The location is outside Finland.")
    for text_field in ("notes", "place_name"):
        text = values[text_field]
        if text and text_field not in errors:
            text = values[text_field] = clean(text)  # both readings end here: they store the same text
            if find_identity_codes(text):
                errors[text_field] = _("Remove the personal identity code: these records must not identify people.")
    if kind_name == "intervention":
        _check_links(db, values, deployment, errors)
    if errors:
        raise ValidationFailed(errors)
    # Defaults: the time is now, the place the deployment's.
    values["occurred_at"] = occurred or now_text
    if lat is None:
        values["lat"], values["lon"] = deployment["lat"], deployment["lon"]
    if not values["place_name"]:
        values["place_name"] = deployment["place_name"]
    return values


def _with_stored_codes(kind: RecordKind, codes: dict[str, frozenset[str]], stored: dict) -> dict:
    """The valid codes plus the retired ones a stored record holds (an edit need not drop them); the same
    mapping when it holds none."""
    extra: dict[str, set[str]] = {}
    for field, list_name in kind.categories.items():
        value = stored.get(field)
        if isinstance(value, str) and field in kind.multi:
            value = json.loads(value or "[]")
        for code in (value if isinstance(value, list) else [value]):
            if code is not None and str(code) not in codes.get(list_name, _NO_CODES):
                extra.setdefault(list_name, set()).add(str(code))
    if not extra:
        return codes
    return {**codes, **{name: codes.get(name, _NO_CODES) | found for name, found in extra.items()}}


def _convert_fields(kind: RecordKind, given: dict, errors: dict) -> dict:
    values: dict = {}
    for field in FIELDS[kind.name]:
        if field.name not in given:
            if field.default is not msgspec.NODEFAULT:
                values[field.name] = field.default
            elif field.default_factory is not msgspec.NODEFAULT:
                values[field.name] = field.default_factory()
            continue
        try:
            values[field.name] = msgspec.convert(given[field.name], field.type, strict=False)
        except msgspec.ValidationError:
            errors[field.name] = _type_error(kind, field.name)
            values[field.name] = None
    return values


def _check_links(db, values: dict, deployment: dict, errors: dict) -> None:
    for field, table in (("tension_id", "tensions"), ("contact_id", "contacts")):
        linked = values.get(field)
        if not linked:
            values[field] = None
            continue
        row = one(db, f"SELECT deployment_id FROM {table} WHERE id = ? AND deleted_at IS NULL", [linked]) \
            if is_valid_id(linked) else None
        if row is None or row["deployment_id"] != deployment["id"]:
            errors[field] = _("Choose a record of the same deployment.")
    partner_id = values.get("referral_partner_id")
    if partner_id:  # an active partner of the deployment's unit
        row = one(db, "SELECT 1 FROM partners WHERE id = ? AND unit_id = ? AND active = 1",
                  [partner_id, deployment["unit_id"]]) if is_valid_id(partner_id) else None
        if row is None:
            errors["referral_partner_id"] = _("Choose a partner of the directory.")
    else:
        values["referral_partner_id"] = None


# ---------------------------------------------------------------- stored rows


def content(kind_name: str, row: dict) -> dict:
    """A record's content (its fields) from validated values, a stored row or a history snapshot, in one
    form: a resend with the same id and the same content is a duplicate."""
    kind = KINDS[kind_name]
    result = {}
    for name in FIELD_NAMES[kind_name]:
        value = row.get(name)
        if name in kind.booleans:
            value = bool(value)
        elif name in kind.multi and isinstance(value, str):
            value = json.loads(value or "[]")
        elif name in kind.multi and value is None:
            value = []  # a snapshot from before the field existed (motives: m014)
        result[name] = value
    return result


def decode(kind_name: str, row: dict | None) -> dict | None:
    """A stored row with its JSON lists turned back into lists."""
    if row is None:
        return None
    kind = KINDS[kind_name]
    out = dict(row)
    for name in kind.multi:
        out[name] = json.loads(out[name] or "[]")
    out["record_type"] = kind_name
    return out
