"""The three field records (contact, tension observation, intervention): validation, saving, history.

No web imports: routes and the sync protocol both call save() with the same raw values.
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Annotated

import msgspec
from sqlite_utils.db import jsonify_if_needed

from fieldapp import audit, categories, projections
from fieldapp import deployments as deployments_domain
from fieldapp.accounts import User
from fieldapp.clock import HELSINKI, iso, parse, utcnow
from fieldapp.db import one, write
from fieldapp.i18n import gettext as _
from fieldapp.ids import UUID_RE, is_valid_id, new_id  # noqa: F401 (new_id is used by demo data too)
from fieldapp.personal_ids import find_identity_codes
from fieldapp.offline import changes as offline_changes

# Finland's bounding box, generous at the edges (Åland to the eastern border).
LAT_RANGE = (59.4, 70.2)
LON_RANGE = (19.0, 31.7)
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


class TensionInput(_Common, kw_only=True):
    kind: Code | None = None
    groups: list[Code] = []
    severity: Annotated[int, msgspec.Meta(ge=1, le=6)] | None = None
    trend: Code = "stable"
    basis: Code = "observed"
    people_estimate: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] | None = None


class InterventionInput(_Common, kw_only=True):
    kind: Code | None = None
    outcome: Outcome | None = None
    referral_target: Code | None = None
    tension_id: str | None = None
    contact_id: str | None = None


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
         "language": "language", "topics": "topic", "referral_target": "referral_target"},
        multi=("topics",), booleans=("feedback_promised", "feedback_given", "follow_up")),
    "tension": RecordKind(
        "tension", "tensions", TensionInput,
        {"kind": "tension_kind", "groups": "group_category", "trend": "trend", "basis": "basis"},
        multi=("groups",), required=("kind", "severity")),
    "intervention": RecordKind(
        "intervention", "interventions", InterventionInput,
        {"kind": "intervention_kind", "outcome": "outcome", "referral_target": "referral_target"},
        required=("kind",)),
}

# msgspec.structs.fields() re-evaluates the annotations on every call: computed once per kind.
FIELDS = {name: msgspec.structs.fields(kind.struct) for name, kind in KINDS.items()}
FIELD_NAMES = {name: [f.name for f in fields] for name, fields in FIELDS.items()}
FIELD_TUPLES = {name: tuple(names) for name, names in FIELD_NAMES.items()}


class BatchCache:
    """What stays the same within one batch of writes: category codes, and deployment access per id."""

    def __init__(self, db, user: User | None = None):
        self.db, self.user = db, user
        self._codes: dict[str, frozenset[str]] = {}
        self._access: dict[str, tuple] = {}
        self._now: tuple | None = None
        self.hours: dict[str, str | None] = {}  # form times: local hour -> UTC hour (_form_time)

    def clock(self, now: datetime) -> tuple[datetime, datetime, str, str, str]:
        """The earliest and latest time a new record may have (naive UTC, whole milliseconds), the same as
        text, and now as text; once per batch (every record of a batch is received at the same time)."""
        if self._now is None or self._now[0] is not now and self._now[0] != now:
            utc = now.astimezone(timezone.utc).replace(tzinfo=None)
            earliest, latest = (_whole_ms(utc - MAX_PAST), _whole_ms(utc + MAX_FUTURE))
            self._now = (now, (earliest, latest, _utc_text(earliest), _utc_text(latest), iso(now)))
        return self._now[1]

    def all_codes(self) -> dict[str, frozenset[str]]:
        """list name -> valid codes, every list read at once (a batch needs most of them)."""
        if not self._codes:
            self._codes = categories.all_codes(self.db)
        return self._codes

    def recordable(self, deployment_id: str) -> dict:
        """The deployment if the user may add records to it; NotFound / Forbidden otherwise (as create())."""
        if deployment_id not in self._access:
            try:
                deployment = deployments_domain.visible(self.db, self.user, deployment_id)
                if not deployments_domain.can_record(self.db, self.user, deployment):
                    raise deployments_domain.Forbidden(deployment_id)
                self._access[deployment_id] = (deployment, None)
            except (deployments_domain.NotFound, deployments_domain.Forbidden) as exc:
                self._access[deployment_id] = (None, (type(exc), exc.args))
        deployment, error = self._access[deployment_id]
        if error is not None:
            raise error[0](*error[1])
        return deployment


class ValidationFailed(ValueError):
    """Field errors, already translated into the current language."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(errors)
        self.errors = errors


class IdConflict(Exception):
    """A record with this id exists with different content: nothing is overwritten."""

    def __init__(self, existing: dict, kind_name: str):
        super().__init__(existing["id"])
        self.existing = existing
        self.kind_name = kind_name


class StaleVersion(Exception):
    """An edit based on an older version than the stored one."""

    def __init__(self, current: dict):
        super().__init__(current["id"])
        self.current = current


def _type_error(kind: RecordKind, field: str) -> str:
    if field in kind.categories:
        return _("Choose a value from the list.")
    messages = {
        "tension_id": _("Choose a record of the same deployment."),
        "contact_id": _("Choose a record of the same deployment."),
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


def _read_form(kind: RecordKind, raw: dict, codes: dict[str, set[str]], errors: dict) -> tuple[dict, datetime | None]:
    """The raw values as msgspec should see them, and the time given as text (naive UTC).

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
                        occurred = _utc_naive(value)
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
# values: tests/test_records_domain.py checks that with Hypothesis.
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
        elif field.name in ("tension_id", "contact_id"):
            type_ = Annotated[str, msgspec.Meta(pattern=UUID_RE.pattern)]
        default = field.default if field.default is not msgspec.NODEFAULT else \
            msgspec.field(default_factory=field.default_factory)
        fields.append((field.name, type_, default))
    return msgspec.defstruct(f"Quick{kind.struct.__name__}", fields, kw_only=True)


def _quick_read(kind: RecordKind, raw: dict, codes: dict[str, frozenset[str]], hours: dict[str, str | None]
                ) -> tuple[dict, datetime | str | None] | None:
    """What _read_form() and the struct's conversion give, for values in the usual form; None otherwise.
    The time comes as UTC text when it has the form's usual shape (see _form_time)."""
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
                occurred = _utc_naive(text) if text else None
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


def _utc_text(utc: datetime) -> str:
    """Naive UTC as stored: milliseconds and a Z (as clock.iso)."""
    return utc.isoformat(timespec="milliseconds") + "Z"


def _whole_ms(utc: datetime) -> datetime:
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


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
             stored_time: str | None = None, cache: BatchCache | None = None) -> dict:
    """Check raw values (form strings or JSON) and return the row values; raises ValidationFailed.

    stored_time: an edit may keep a record's time even when it is older than the 7 days new records allow.
    cache: category codes shared by the records of one batch.
    """
    kind = KINDS[kind_name]
    cache = cache or BatchCache(db)
    errors: dict[str, str] = {}
    codes = cache.all_codes()
    quick = _quick_read(kind, raw, codes, cache.hours)
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
        try:  # a datetime given as such (not form text)
            occurred = parse(values["occurred_at"]).replace(tzinfo=None)
        except (ValueError, OverflowError):  # e.g. year 1 with a time zone: no UTC equivalent
            occurred = datetime.min
    earliest, latest, earliest_text, latest_text, now_text = cache.clock(now or utcnow())
    if type(occurred) is str and stored_time is None:  # the form's time as UTC text (quick reading)
        if occurred < earliest_text:
            errors["occurred_at"] = _("The time is more than 7 days in the past.")
        elif occurred > latest_text:
            errors["occurred_at"] = _("The time is in the future.")
    elif occurred is not None:
        if type(occurred) is str:
            occurred = datetime.fromisoformat(occurred[:-1])
        stored = parse(stored_time).replace(tzinfo=None) if stored_time else None
        if stored and occurred.replace(second=0, microsecond=0) == stored.replace(second=0, microsecond=0):
            occurred = stored  # the form shows minutes only: an unchanged time keeps its seconds
        elif occurred < earliest:
            errors["occurred_at"] = _("The time is more than 7 days in the past.")
        elif occurred > latest:
            errors["occurred_at"] = _("The time is in the future.")
    lat, lon = values["lat"], values["lon"]
    if (lat is not None or lon is not None) and "lat" not in errors and "lon" not in errors:
        if lat is None or lon is None:
            errors["lat" if lat is None else "lon"] = _("Give both latitude and longitude, or neither.")
        elif not (LAT_RANGE[0] <= lat <= LAT_RANGE[1] and LON_RANGE[0] <= lon <= LON_RANGE[1]):
            errors["lat"] = _("The location is outside Finland.")
    for text_field in ("notes", "place_name"):
        text = values[text_field]
        if text and find_identity_codes(text) and text_field not in errors:
            errors[text_field] = _("Remove the personal identity code: these records must not identify people.")
    if kind_name == "intervention":
        _check_links(db, values, deployment, errors)
    if errors:
        raise ValidationFailed(errors)
    # Defaults: the time is now, the place the deployment's.
    values["occurred_at"] = occurred if type(occurred) is str else _utc_text(occurred) if occurred else now_text
    if lat is None:
        values["lat"], values["lon"] = deployment["lat"], deployment["lon"]
    if not values["place_name"]:
        values["place_name"] = deployment["place_name"]
    return values


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
        result[name] = value
    return result


def _to_row(kind: RecordKind, values: dict) -> dict:
    row = values.copy()
    for name in kind.multi:
        if name in row:
            row[name] = _JSON.encode(row[name] or []).decode()
    for name in kind.booleans:
        if name in row:
            row[name] = int(bool(row[name]))
    return row


_JSON = msgspec.json.Encoder()


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


def get(db, kind_name: str, record_id: str) -> dict | None:
    kind = KINDS[kind_name]
    return decode(kind_name, one(db, f"SELECT * FROM {kind.table} WHERE id = ? AND deleted_at IS NULL", [record_id]))


def _version_data(record: dict) -> str:
    return json.dumps({k: v for k, v in record.items() if k not in ("record_type", "duplicate", "seq")},
                      sort_keys=True)


def _snapshot(db, kind_name: str, record: dict) -> None:
    """Keep a version that is about to be replaced (edit) or deleted: record_versions holds the previous
    versions only; the current one is the record's row itself (see history())."""
    db.execute("INSERT OR REPLACE INTO record_versions (record_type, record_id, version, data, changed_by, changed_at) "
               "VALUES (?, ?, ?, ?, ?, ?)", [kind_name, record["id"], record["version"], _version_data(record),
                                             record["updated_by"], record["updated_at"]])


@dataclass(slots=True)
class NewRecord:
    """One record to create: what create() takes, as one item of create_many()."""

    kind: str
    deployment_id: str
    raw: dict
    record_id: str | None = None
    device_time: str | None = None
    clock_off: bool | None = None  # the device's clock is far off (None: judged from device_time)
    submission_hash: str | None = None  # the device's submission (sync): a resend of it is a duplicate at once


def create(db, user: User, kind_name: str, deployment_id: str, raw: dict, *,
           record_id: str | None = None, device_time: str | None = None) -> dict:
    """Validate and store a new record in a deployment the user may record in (projected at once)."""
    outer = not db.conn.in_transaction
    [outcome] = create_many(db, user, [NewRecord(kind_name, deployment_id, raw, record_id, device_time)])
    if isinstance(outcome, Exception):
        raise outcome
    if outer:
        projections.catch_up(db)
    return outcome


def create_many(db, user: User, items: list[NewRecord], *, cache: BatchCache | None = None,
                now: datetime | None = None, audit_each: bool = True, answers_only: bool = False
                ) -> list[dict | Exception]:
    """create() for many records at once: one outcome per item, in order, each the stored record (with
    "duplicate": True for a resend of the same record) or the exception create() would raise for it.

    Existing ids are looked up with one query per table (a resend of the very submission that created a
    record is answered without validating it again); every other item is validated; the new records are
    written with one statement per table, in the caller's transaction (or one of their own). The caller runs
    projections.catch_up() after its commit (the situation picture, alerts, POR feed).
    audit_each=False: the caller audits the whole batch with one row (sync: audit.SYNC_BATCH).
    answers_only=True: a new record's outcome holds only id, version, received_at and time_flagged (sync).
    An item that depends on an earlier one (the same id, or an intervention linking to a record of the
    batch) starts a new round, so it sees that record stored, as create() would.
    """
    cache = cache or BatchCache(db, user)
    outcomes: list = []
    start, seen = 0, set()
    for index, item in enumerate(items):
        if item.record_id in seen or (item.kind == "intervention" and seen.intersection(
                (item.raw.get("tension_id"), item.raw.get("contact_id")))):
            outcomes += _create_round(db, user, items[start:index], cache, now, audit_each, answers_only)
            start, seen = index, set()
        if item.record_id is not None:
            seen.add(item.record_id)
    outcomes += _create_round(db, user, items[start:], cache, now, audit_each, answers_only)
    return outcomes


def _create_round(db, user: User, items: list[NewRecord], cache: BatchCache, now: datetime | None,
                  audit_each: bool, answers_only: bool) -> list:
    """create_many() for items of which none depends on another."""
    if not items:
        return []
    now = now or utcnow()
    outcomes: list = [None] * len(items)
    existing = _existing_with_ids(db, [item.record_id for item in items if item.record_id is not None])
    new_at: list[int] = []
    new: list[tuple] = []
    deployment_id = deployment = None
    for index, item in enumerate(items):
        found = existing.get(item.record_id) if existing else None
        if found is not None and item.submission_hash and found[0] == item.kind \
                and found[1].get("submission_hash") == item.submission_hash:
            # The very submission that created the record, again (lost acknowledgement): no need to validate.
            outcomes[index] = {**found[1], "duplicate": True, "duplicate_of_version": 1}
            continue
        try:
            if item.deployment_id != deployment_id:  # a batch is mostly of one deployment
                deployment = cache.recordable(item.deployment_id)
                deployment_id = item.deployment_id
            if item.record_id is not None and not is_valid_id(item.record_id):
                raise ValidationFailed({"id": _("The record id is not valid. Reload the form and try again.")})
            values = validate(db, item.kind, item.raw, deployment, now=now, cache=cache)
        except (deployments_domain.NotFound, deployments_domain.Forbidden, ValidationFailed) as exc:
            outcomes[index] = exc
            continue
        if found is None:
            new_at.append(index)
            new.append((item.kind, item.deployment_id, values, item.record_id, _clean_device_time(item.device_time),
                        item.clock_off, item.submission_hash))
            continue
        # A resend of the same record (double tap, lost acknowledgement) is the same success, once: the
        # same content as the first version (answered as version 1) or as the current one.
        existing_kind, existing_row = found
        first = _first_version(db, existing_kind, existing_row)
        if existing_kind == item.kind and _same_content(item, values, first):
            outcomes[index] = {**existing_row, "duplicate": True, "duplicate_of_version": 1}
        elif existing_kind == item.kind and _same_content(item, values, existing_row):
            outcomes[index] = {**existing_row, "duplicate": True, "duplicate_of_version": existing_row["version"]}
        else:
            outcomes[index] = IdConflict(existing_row, existing_kind)
    for index, record in zip(new_at, _store(db, user, new, now, audit_each=audit_each, answers_only=answers_only)):
        outcomes[index] = record
    return outcomes


def _first_version(db, kind_name: str, record: dict) -> dict:
    """The record as first stored: its row while at version 1, else the version 1 kept in the history."""
    if record["version"] == 1:
        return record
    row = one(db, "SELECT data FROM record_versions WHERE record_type = ? AND record_id = ? AND version = 1",
              [kind_name, record["id"]])
    return json.loads(row["data"]) if row else record


def _same_content(item: NewRecord, values: dict, stored: dict) -> bool:
    """Whether validated values are the content of a stored version (row or history snapshot)."""
    if not item.raw.get("occurred_at"):  # "now" of a resend is not a change of content
        values = {**values, "occurred_at": stored["occurred_at"]}
    return stored.get("deployment_id") == item.deployment_id and content(item.kind, stored) == content(item.kind, values)


def _existing_with_id(db, record_id: str) -> tuple[str, dict] | None:
    """(kind, record) of any stored record with this id, deleted ones included."""
    return _existing_with_ids(db, [record_id]).get(record_id)


def _existing_with_ids(db, record_ids: list[str]) -> dict[str, tuple[str, dict]]:
    """id -> (kind, record) of the stored records with these ids, deleted ones included (one query per table)."""
    found: dict[str, tuple[str, dict]] = {}
    if not record_ids:
        return found
    # Which ids exist at all: one statement over the three tables (usually none, for new records).
    hits = db.conn.execute(_ANY_WITH_IDS, [json.dumps(record_ids)]).fetchall()
    for kind_name, record_id in hits:
        if record_id not in found:
            cursor = db.conn.execute(f"SELECT * FROM {KINDS[kind_name].table} WHERE id = ?", [record_id])
            columns = [d[0] for d in cursor.description]
            found[record_id] = (kind_name, decode(kind_name, dict(zip(columns, cursor.fetchone()))))
    return found


_ANY_WITH_IDS = "WITH given(id) AS (SELECT value FROM json_each(?1)) " + " UNION ALL ".join(
    f"SELECT '{name}', {kind.table}.id FROM given JOIN {kind.table} ON {kind.table}.id = given.id"
    for name, kind in KINDS.items())


def store_new(db, user: User, kind_name: str, deployment_id: str, values: dict, *,
              record_id: str | None = None, device_time: str | None = None, received_at: datetime | None = None) -> dict:
    """Insert already validated values (demo data, imports); projected at once unless in a caller's transaction."""
    outer = not db.conn.in_transaction
    [record] = _store(db, user, [(kind_name, deployment_id, values, record_id, device_time, None, None)],
                      received_at or utcnow(), loose=True)
    if outer:
        projections.catch_up(db)
    return record


_STORED_COLUMNS = ("id", "deployment_id", "device_time", "received_at", "time_flagged", "version",
                   "created_at", "updated_at", "created_by", "updated_by", "seq", "submission_hash")


def _store(db, user: User, entries: list[tuple], now: datetime, *, loose: bool = False,
           audit_each: bool = True, answers_only: bool = False) -> list[dict]:
    """Insert validated (kind, deployment_id, values, record_id, device_time, clock_off, submission_hash) entries: one
    statement per table, positions in the change sequence, and the audit rows, all for the whole list at once.

    loose: values not from validate() (demo data, imports): any subset of the fields, with values turned
    into SQLite types as sqlite-utils does; the stored rows are read back. Otherwise every column is known
    and the records are returned as stored without reading them back (answers_only: only id, version,
    received_at and time_flagged).
    """
    if not entries:
        return []
    stamp = iso(now)
    rows: dict[tuple, list[tuple]] = {}
    written: list[tuple[str, dict]] = []
    with write(db, savepoint=False):  # nothing here is caught and carried on from: no savepoint needed
        seq = offline_changes.claim(db, len(entries))
        for offset, (kind_name, deployment_id, values, record_id, device_time, clock_off, submitted) in enumerate(entries):
            kind = KINDS[kind_name]
            stored = _to_row(kind, values)
            if loose:
                stored = {name: jsonify_if_needed(value) for name, value in stored.items()}
            flagged = int(_clock_off(device_time, now) if clock_off is None else clock_off)
            row = (record_id or new_id(), deployment_id, device_time, stamp, flagged, 1, stamp, stamp, user.id,
                   user.id, seq + offset, submitted, *stored.values())
            # validate() gives every field in the struct's order: one statement per kind; loose values per set of names
            names = tuple(stored) if loose else FIELD_TUPLES[kind_name]
            rows.setdefault((kind_name, names), []).append(row)
            if answers_only:
                written.append((kind_name, {"id": row[0], "version": 1, "received_at": stamp, "time_flagged": flagged}))
                continue
            record = dict(zip(_STORED_COLUMNS + names, row))
            for name in kind.multi:
                if name in values:
                    record[name] = list(values[name] or [])
            record["deleted_at"] = None
            record["record_type"] = kind_name
            written.append((kind_name, record))
        for (kind_name, names), kind_rows in rows.items():
            columns = (*_STORED_COLUMNS, *names)
            db.conn.executemany(f"INSERT INTO {KINDS[kind_name].table} ({', '.join(columns)}) "
                                f"VALUES ({', '.join('?' * len(columns))})", kind_rows)
        if loose:
            written = [(kind_name, get(db, kind_name, record["id"])) for kind_name, record in written]
        if audit_each:  # the same rows as audit.record(), one statement for all
            db.conn.executemany("INSERT INTO audit_log (at, user_id, action, record_type, record_id, detail) "
                                "VALUES (?, ?, 'create', ?, ?, '')", [(stamp, user.id, k, r["id"]) for k, r in written])
    return [record for _, record in written]


def _clean_device_time(device_time) -> str | None:
    """The device's clock as UTC text; unreadable values are kept short (and get the record flagged)."""
    if device_time in (None, ""):
        return None
    if isinstance(device_time, str) and len(device_time) == 24 and device_time[19] == "." \
            and device_time[23] == "Z":  # already as iso() writes it (what the outbox sends): check it only
        try:
            datetime.fromisoformat(device_time[:23])
            return device_time
        except ValueError:
            pass
    try:
        return iso(parse(str(device_time)))
    except (ValueError, OverflowError):
        return str(device_time)[:40]


def _clock_off(device_time: str | None, now: datetime) -> bool:
    if not device_time:
        return False
    try:
        return abs(parse(device_time) - now) > DEVICE_CLOCK_TOLERANCE
    except (ValueError, OverflowError):
        return True


def can_edit(db, user: User, record: dict) -> bool:
    """The creator (still allowed to record there) or a lead of the unit."""
    deployment = deployments_domain.get(db, record["deployment_id"])
    if deployment is None or not deployments_domain.can_record(db, user, deployment):
        return False
    return user.role == "lead" or record["created_by"] == user.id


def visible_record(db, user: User, kind_name: str, record_id: str) -> dict:
    """The record if the user may see its deployment; NotFound / Forbidden otherwise."""
    record = get(db, kind_name, record_id)
    if record is None:
        raise deployments_domain.NotFound(record_id)
    deployments_domain.visible(db, user, record["deployment_id"])
    return record


def update(db, user: User, kind_name: str, record_id: str, raw: dict, *, base_version: int) -> dict:
    """Store an edit; the previous version stays in the history. StaleVersion if base_version is old."""
    record = visible_record(db, user, kind_name, record_id)
    if not can_edit(db, user, record):
        raise deployments_domain.Forbidden(record_id)
    deployment = deployments_domain.get(db, record["deployment_id"])
    if not raw.get("occurred_at"):  # an edit without a time keeps the record's time, not "now"
        raw = {**raw, "occurred_at": record["occurred_at"]}
    values = validate(db, kind_name, raw, deployment, stored_time=record["occurred_at"])
    kind = KINDS[kind_name]
    outer = not db.conn.in_transaction
    with write(db):
        current = get(db, kind_name, record_id)
        if current["version"] != base_version:
            raise StaleVersion(current)
        _snapshot(db, kind_name, current)
        changes = {**_to_row(kind, values), "version": current["version"] + 1, "updated_at": iso(utcnow()),
                   "updated_by": user.id, "seq": offline_changes.claim(db)}
        db[kind.table].update(record_id, changes)
        record = get(db, kind_name, record_id)
        audit.record(db, user.id, "update", kind_name, record_id, f"version={record['version']}")
    if outer:
        projections.catch_up(db)
    return record


def delete(db, user: User, kind_name: str, record_id: str) -> None:
    """Soft-delete a record (it stays in the history and the audit log)."""
    record = visible_record(db, user, kind_name, record_id)
    if not can_edit(db, user, record):
        raise deployments_domain.Forbidden(record_id)
    kind = KINDS[kind_name]
    now = iso(utcnow())
    outer = not db.conn.in_transaction
    with write(db):
        _snapshot(db, kind_name, record)  # a deleted record's history ends with its last version
        db.execute(f"UPDATE {kind.table} SET deleted_at = ?, updated_at = ?, updated_by = ?, version = version + 1, "
                   "seq = ? WHERE id = ?", [now, now, user.id, offline_changes.claim(db), record_id])
        audit.record(db, user.id, "delete", kind_name, record_id)
    if outer:
        projections.catch_up(db)


def history(db, kind_name: str, record_id: str) -> list[dict]:
    """Every stored version of a record, newest first, with who made it: the current row (unless the
    record is deleted) and the previous versions kept in record_versions."""
    kind = KINDS[kind_name]
    current = one(db, f"SELECT * FROM {kind.table} WHERE id = ?", [record_id])
    out = []
    if current is not None and current["deleted_at"] is None:
        author = one(db, "SELECT username, display_name FROM users WHERE id = ?", [current["updated_by"]]) or {}
        out.append({"version": current["version"], "data": json.loads(_version_data(decode(kind_name, current))),
                    "changed_at": current["updated_at"], "username": author.get("username"),
                    "display_name": author.get("display_name")})
    rows = db.query(
        "SELECT v.version, v.data, v.changed_at, u.username, u.display_name FROM record_versions v "
        "LEFT JOIN users u ON u.id = v.changed_by WHERE v.record_type = ? AND v.record_id = ? AND v.version < ? "
        "ORDER BY v.version DESC", [kind_name, record_id, out[0]["version"] if out else 1 << 62])
    return out + [{**row, "data": json.loads(row["data"])} for row in rows]


def changed_fields(kind_name: str, older: dict, newer: dict) -> list[str]:
    """Names of the record fields whose value differs between two versions (for the history).

    Lists of codes are compared as sets: the order in which chips were tapped is not a change.
    """
    multi = KINDS[kind_name].multi

    def same(name):
        a, b = older.get(name), newer.get(name)
        if name in multi and isinstance(a, list) and isinstance(b, list):
            return sorted(map(str, a)) == sorted(map(str, b))
        return a == b
    return [name for name in FIELD_NAMES[kind_name] if not same(name)]


def for_deployment(db, kind_name: str, deployment_id: str, limit: int = 200) -> list[dict]:
    """A deployment's records of one kind, newest first."""
    kind = KINDS[kind_name]
    rows = db.query(
        f"SELECT r.*, u.display_name AS author FROM {kind.table} r LEFT JOIN users u ON u.id = r.created_by "
        "WHERE r.deployment_id = ? AND r.deleted_at IS NULL ORDER BY r.occurred_at DESC, r.id DESC LIMIT ?",
        [deployment_id, limit])
    return [decode(kind_name, row) for row in rows]
