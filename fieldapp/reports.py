"""The period report of a unit or an area: what the unit did in a month, quarter, year or custom period.

Counts come straight from the field records (deleted ones left out) of the lead's own unit; a
record belongs to the period by its occurred_at. Period limits are Helsinki midnights. No web imports.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from babel import dates as babel_dates

from fieldapp import audit, categories, followups
from fieldapp import deployments as deployments_domain
from fieldapp.accounts import User
from fieldapp.clock import HELSINKI, iso, utcnow
from fieldapp.db import write
from fieldapp.errors import Forbidden
from fieldapp.i18n import format_date, get_locale, lazy
from fieldapp.i18n import gettext as _

PERIODS = ("month", "quarter", "year", "custom")
YEAR_RANGE = (2000, 2100)
MAX_CUSTOM_DAYS = 3660
CSV_COLUMNS = ("section", "category", "label", "count")
NOT_RECORDED = ""   # the category code of records where the field was left empty

# (key, title, record table, column, category list); titles are translated when the report is built.
CATEGORY_SECTIONS = [
    ("contacts_age_band", lazy("Contacts by age band"), "contacts", "r.age_band", "age_band"),
    ("contacts_group_category", lazy("Contacts by group category"), "contacts", "r.group_category", "group_category"),
    ("contacts_language", lazy("Contacts by language"), "contacts", "r.language", "language"),
    ("contacts_topic", lazy("Contacts by topic"), "contacts", "topic.value", "topic"),
    ("interventions_kind", lazy("Interventions by kind"), "interventions", "r.kind", "intervention_kind"),
    ("interventions_outcome", lazy("Interventions by outcome"), "interventions", "r.outcome", "outcome"),
    ("tensions_kind", lazy("Tension observations by kind"), "tensions", "r.kind", "tension_kind"),
    ("tensions_severity", lazy("Tension observations by severity"), "tensions", "CAST(r.severity AS TEXT)", "severity"),
]


class InvalidQuery(ValueError):
    """Report choices that cannot be used; errors are field -> message in the user's language."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(errors)
        self.errors = errors


@dataclass(frozen=True)
class ReportQuery:
    """What the lead asked for: the period and the area (all filters empty = the whole unit)."""

    period: str = "month"
    year: int = 2000
    month: int = 1
    quarter: int = 1
    start: date | None = None       # custom period, first day
    end: date | None = None         # custom period, last day (inclusive)
    deployment_kind: str = ""
    place: str = ""
    deployment_id: str = ""

    def params(self) -> dict[str, str]:
        """The query as URL parameters (for the CSV link and the audit row); only what matters."""
        out = {"period": self.period}
        if self.period == "custom":
            out.update(start=self.start.isoformat(), end=self.end.isoformat())
        else:
            out["year"] = str(self.year)
            if self.period == "month":
                out["month"] = str(self.month)
            elif self.period == "quarter":
                out["quarter"] = str(self.quarter)
        for name in ("deployment_kind", "place", "deployment_id"):
            if getattr(self, name):
                out[name] = getattr(self, name)
        return out

    def query_string(self) -> str:
        return urlencode(self.params())

    def first_day(self) -> date:
        if self.period == "custom":
            return self.start
        if self.period == "month":
            return date(self.year, self.month, 1)
        if self.period == "quarter":
            return date(self.year, 3 * (self.quarter - 1) + 1, 1)
        return date(self.year, 1, 1)

    def day_after(self) -> date:
        """The first day after the period (the period ends at its Helsinki midnight)."""
        if self.period == "custom":
            return self.end + timedelta(days=1)
        if self.period == "month":
            return date(self.year + self.month // 12, self.month % 12 + 1, 1)
        if self.period == "quarter":
            last_month = 3 * self.quarter
            return date(self.year + last_month // 12, last_month % 12 + 1, 1)
        return date(self.year + 1, 1, 1)


def _helsinki_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=HELSINKI)


def today() -> date:
    return utcnow().astimezone(HELSINKI).date()


def default_query(now_day: date | None = None) -> ReportQuery:
    """This month, the whole unit."""
    day = now_day or today()
    return ReportQuery("month", day.year, day.month, (day.month - 1) // 3 + 1)


def _int(raw: dict, name: str, low: int, high: int, default: int, errors: dict, message: str) -> int:
    value = str(raw.get(name) or "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        errors[name] = message
        return default
    return number


def _date(raw: dict, name: str, errors: dict) -> date | None:
    value = str(raw.get(name) or "").strip()
    if not value:
        errors[name] = _("Enter a date.")
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        errors[name] = _("Enter the date as YYYY-MM-DD.")
        return None
    if not YEAR_RANGE[0] <= day.year <= YEAR_RANGE[1]:
        errors[name] = _("Enter a date between the years %(low)s and %(high)s.", low=YEAR_RANGE[0], high=YEAR_RANGE[1])
        return None
    return day


def parse_query(db, user: User, raw: dict, now_day: date | None = None) -> ReportQuery:
    """Turn form values (all strings, any missing) into a ReportQuery; raises InvalidQuery."""
    base = default_query(now_day)
    errors: dict[str, str] = {}
    period = str(raw.get("period") or base.period).strip()
    if period not in PERIODS:
        errors["period"] = _("Choose a period from the list.")
        period = base.period
    year = _int(raw, "year", *YEAR_RANGE, base.year, errors,
                _("Enter a year between %(low)s and %(high)s.", low=YEAR_RANGE[0], high=YEAR_RANGE[1]))
    month = _int(raw, "month", 1, 12, base.month, errors, _("Choose a month from the list."))
    quarter = _int(raw, "quarter", 1, 4, base.quarter, errors, _("Choose a quarter from the list."))
    start = end = None
    if period == "custom":
        start, end = _date(raw, "start", errors), _date(raw, "end", errors)
        if start and end and end < start:
            errors["end"] = _("The end date is before the start date.")
        elif start and end and (end - start).days > MAX_CUSTOM_DAYS:
            errors["end"] = _("Choose a period of at most ten years.")
    scope = scope_options(db, user)
    kind = str(raw.get("deployment_kind") or "").strip()
    if kind and kind not in dict(scope["kinds"]):
        errors["deployment_kind"] = _("Choose a value from the list.")
    place = str(raw.get("place") or "").strip()
    if place and place not in scope["places"]:
        errors["place"] = _("Choose a place from the list.")
    deployment_id = str(raw.get("deployment_id") or "").strip()
    if deployment_id and deployment_id not in {d["id"] for d in scope["deployments"]}:
        errors["deployment_id"] = _("Choose a deployment from the list.")
    if errors:
        raise InvalidQuery(errors)
    return ReportQuery(period, year, month, quarter, start, end, kind, place, deployment_id)


def scope_options(db, user: User) -> dict:
    """What the area filters offer: deployment kinds, the unit's places and its deployments (newest first)."""
    return {
        "kinds": categories.options(db, "deployment_kind", get_locale()),
        "places": [r["place_name"] for r in db.query(
            "SELECT DISTINCT place_name FROM deployments WHERE unit_id = ? AND deleted_at IS NULL AND place_name != '' "
            "ORDER BY place_name", [user.unit_id])],
        "deployments": list(db.query(
            "SELECT id, name, kind, starts_at FROM deployments WHERE unit_id = ? AND deleted_at IS NULL "
            "ORDER BY starts_at DESC", [user.unit_id])),
    }


@dataclass
class Row:
    code: str
    label: str
    value: float


@dataclass
class Section:
    key: str
    title: str
    rows: list[Row]
    unit: str = "count"      # count | hours
    note: str = ""

    @property
    def total(self) -> float:
        return sum(r.value for r in self.rows)


@dataclass
class Report:
    query: ReportQuery
    title: str
    first_day: date
    last_day: date
    starts_at: str           # UTC ISO, inclusive
    ends_at: str             # UTC ISO, exclusive
    scope_label: str
    generated_at: str
    sections: list[Section] = field(default_factory=list)

    def section(self, key: str) -> Section:
        return next(s for s in self.sections if s.key == key)

    def counts(self, key: str) -> dict[str, float]:
        """code -> value of one section (handy for tests and for the CSV)."""
        return {r.code: r.value for r in self.section(key).rows}


def period_title(query: ReportQuery) -> str:
    """The period in the user's language: 'marraskuu 2026', '4:e kvartalet 2026', '2026', '1.3.2026 – 9.4.2026'."""
    locale = get_locale()
    if query.period == "month":
        return babel_dates.format_skeleton("yMMMM", query.first_day(), locale=locale)
    if query.period == "quarter":
        return babel_dates.format_skeleton("yQQQQ", query.first_day(), locale=locale)
    if query.period == "year":
        return str(query.year)
    return f"{format_date(_helsinki_midnight(query.start))} – {format_date(_helsinki_midnight(query.end))}"


class _Scope:
    """The SQL that keeps a report inside the lead's unit and the chosen area."""

    def __init__(self, user: User, query: ReportQuery):
        self.where = ["d.unit_id = ?", "d.deleted_at IS NULL"]
        self.params: list = [user.unit_id]
        for column, value in (("d.kind", query.deployment_kind), ("d.place_name", query.place),
                              ("d.id", query.deployment_id)):
            if value:
                self.where.append(f"{column} = ?")
                self.params.append(value)

    def records(self, table: str, start: str, end: str, extra_from: str = "") -> tuple[str, list]:
        sql = (f"FROM {table} r JOIN deployments d ON d.id = r.deployment_id{extra_from} WHERE "
               + " AND ".join(self.where) + " AND r.deleted_at IS NULL AND r.occurred_at >= ? AND r.occurred_at < ?")
        return sql, [*self.params, start, end]


def _category_rows(db, list_name: str, counted: dict[str | None, float], locale: str) -> list[Row]:
    """Every active category in list order (zeros included), then unknown codes, then 'not recorded'."""
    rows = [Row(code, label, counted.pop(code, 0)) for code, label in categories.options(db, list_name, locale)]
    missing = counted.pop(None, 0) + counted.pop(NOT_RECORDED, 0)
    for code, value in sorted(counted.items()):
        rows.append(Row(code, categories.label(db, list_name, code, locale), value))
    if missing:
        rows.append(Row(NOT_RECORDED, _("Not recorded"), missing))
    return rows


def build(db, user: User, query: ReportQuery, *, action: str = "report_view") -> Report:
    """Compute the report for a lead's own unit and write the audit row of this view or export."""
    if user.role != "lead" or not user.unit_id:
        raise Forbidden("reports are for unit leads")
    locale = get_locale()
    first_day, day_after = query.first_day(), query.day_after()
    start, end = iso(_helsinki_midnight(first_day)), iso(_helsinki_midnight(day_after))
    scope = _Scope(user, query)
    with write(db):
        audit.record(db, user.id, action, "report", None, query.query_string())
    report = Report(query, period_title(query), first_day, day_after - timedelta(days=1), start, end,
                    _scope_label(db, user, query, locale), iso(utcnow()))
    report.sections.append(_totals(db, scope, start, end))
    for key, title, table, column, list_name in CATEGORY_SECTIONS:
        extra = ", json_each(r.topics) AS topic" if column.startswith("topic.") else ""
        sql, params = scope.records(table, start, end, extra)
        counted = {row["code"]: row["n"] for row in db.query(
            f"SELECT {column} AS code, COUNT(DISTINCT r.id) AS n {sql} GROUP BY 1", params)}
        note = _("A contact can have several topics.") if list_name == "topic" else ""
        report.sections.append(Section(key, _(title), _category_rows(db, list_name, counted, locale), note=note))
        if key == "contacts_topic":
            report.sections.append(_feedback(db, scope, start, end))
            report.sections.append(_followups(db, scope, start, end))
        if key == "interventions_outcome":
            report.sections.append(_referrals(db, scope, start, end, locale))
    report.sections.append(_presence(db, scope, start, end, locale))
    return report


def _scope_label(db, user: User, query: ReportQuery, locale: str) -> str:
    parts = []
    if query.deployment_id:
        deployment = deployments_domain.get(db, query.deployment_id)
        parts.append(deployment["name"] if deployment else query.deployment_id)
    if query.deployment_kind:
        parts.append(categories.label(db, "deployment_kind", query.deployment_kind, locale))
    if query.place:
        parts.append(query.place)
    if parts:
        return " · ".join(parts)
    unit = db.execute("SELECT name FROM units WHERE id = ?", [user.unit_id]).fetchone()
    return unit[0] if unit else ""


def _count(db, scope: _Scope, table: str, start: str, end: str) -> int:
    sql, params = scope.records(table, start, end)
    return db.execute(f"SELECT COUNT(*) {sql}", params).fetchone()[0]


def _totals(db, scope: _Scope, start: str, end: str) -> Section:
    deployments = db.execute(
        "SELECT COUNT(*) FROM deployments d WHERE " + " AND ".join(scope.where) + " AND d.starts_at < ? AND d.ends_at > ?",
        [*scope.params, end, start]).fetchone()[0]
    return Section("totals", _("Summary"), [
        Row("deployments", _("Deployments in the period"), deployments),
        Row("contacts", _("Contacts"), _count(db, scope, "contacts", start, end)),
        Row("tensions", _("Tension observations"), _count(db, scope, "tensions", start, end)),
        Row("interventions", _("Interventions"), _count(db, scope, "interventions", start, end)),
    ])


def _feedback(db, scope: _Scope, start: str, end: str) -> Section:
    sql, params = scope.records("contacts", start, end)
    row = db.execute(
        "SELECT COALESCE(SUM(r.feedback_promised), 0), COALESCE(SUM(r.feedback_given), 0), "
        f"COALESCE(SUM(r.feedback_promised AND NOT r.feedback_given), 0) {sql}", params).fetchone()
    return Section("feedback", _("Feedback to contacts"), [
        Row("promised", _("Feedback promised"), row[0]),
        Row("given", _("Feedback given"), row[1]),
        Row("promised_not_given", _("Promised, not yet given"), row[2]),
    ])


def followup_numbers(db, scope: _Scope, start: str, end: str, now: datetime | None = None) -> dict[str, int]:
    """The follow-ups of the period's contacts and interventions (fieldapp/followups.py): how many there are, given
    on or before the due day, given late, cannot be done, open past the day, open; and the share closed (given or
    cannot be done, per cent, rounded)."""
    on = followups.today(now).isoformat()
    numbers = dict.fromkeys(("promised", "given_on_time", "given_late", "cannot", "open_overdue", "open"), 0)
    for table, kind_name in (("contacts", "contact"), ("interventions", "intervention")):
        sql, params = scope.records(table, start, end, " JOIN followups f ON f.record_type = ? AND f.record_id = r.id")
        for state, due_on, given_at in db.execute(f"SELECT f.state, f.due_on, f.given_at {sql}",
                                                  [kind_name, *params]).fetchall():
            numbers["promised"] += 1
            if state == "done":
                late = given_at is not None and followups.local_day(given_at).isoformat() > due_on
                numbers["given_late" if late else "given_on_time"] += 1
            elif state == "cannot":
                numbers["cannot"] += 1
            else:
                numbers["open_overdue" if due_on < on else "open"] += 1
    closed = numbers["given_on_time"] + numbers["given_late"] + numbers["cannot"]
    numbers["share_closed"] = round(closed * 100 / numbers["promised"]) if numbers["promised"] else 0
    return numbers


def _followups(db, scope: _Scope, start: str, end: str) -> Section:
    numbers = followup_numbers(db, scope, start, end)
    return Section("followups", _("Follow-ups: no black hole"), [
        Row("promised", _("Feedback promised or follow-up needed"), numbers["promised"]),
        Row("given_on_time", _("Given on time"), numbers["given_on_time"]),
        Row("given_late", _("Given late"), numbers["given_late"]),
        Row("cannot", _("Cannot be done"), numbers["cannot"]),
        Row("open_overdue", _("Open, overdue"), numbers["open_overdue"]),
        Row("open", _("Open, not yet due"), numbers["open"]),
        Row("share_closed", _("Share closed (%)"), numbers["share_closed"]),
    ], note=_("Follow-ups of the period's contacts and interventions; closed means given or cannot be done."))


def _referrals(db, scope: _Scope, start: str, end: str, locale: str) -> Section:
    """Referrals from contacts and from interventions; an intervention repeating its linked contact's
    referral to the same service is the same referral and is counted once."""
    contact_sql, contact_params = scope.records("contacts", start, end)
    intervention_sql, intervention_params = scope.records("interventions", start, end)
    counted = {row["code"]: row["n"] for row in db.query(
        f"""SELECT code, COUNT(*) AS n FROM (
                SELECT r.referral_target AS code {contact_sql} AND r.referral_target IS NOT NULL
                UNION ALL
                SELECT r.referral_target AS code {intervention_sql} AND r.referral_target IS NOT NULL
                  AND NOT EXISTS (SELECT 1 FROM contacts c WHERE c.id = r.contact_id AND c.deleted_at IS NULL
                                  AND c.referral_target = r.referral_target)
            ) GROUP BY code""", [*contact_params, *intervention_params])}
    return Section("referrals_target", _("Referrals by target"), _category_rows(db, "referral_target", counted, locale),
                   note=_("Referrals recorded with contacts and with interventions."))


def _presence(db, scope: _Scope, start: str, end: str, locale: str) -> Section:
    """Hours of presence by deployment kind, clipped to the period; a forgotten check-out ends as on the
    deployment page (deployments.PRESENCE_END_SQL: the planned end, or now if that is earlier)."""
    until = deployments_domain.PRESENCE_END_SQL.replace(":now", "?")
    now = iso(utcnow())
    counted = {row["code"]: round(row["hours"], 1) for row in db.query(
        f"SELECT d.kind AS code, SUM(MAX(0, julianday(MIN({until}, ?)) "
        "  - julianday(MAX(p.checked_in_at, ?))) * 24) AS hours "
        "FROM presence p JOIN deployments d ON d.id = p.deployment_id WHERE " + " AND ".join(scope.where)
        + f" AND p.checked_in_at < ? AND {until} > ? GROUP BY d.kind",
        [now, end, start, *scope.params, end, now, start])}
    return Section("presence_hours", _("Hours of presence by deployment kind"),
                   _category_rows(db, "deployment_kind", counted, locale), unit="hours")


def to_csv(report: Report) -> str:
    """One table per section: section, category, label, count (hours with one decimal, a dot)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for section in report.sections:
        for row in section.rows:
            value = f"{row.value:.1f}" if section.unit == "hours" else str(int(row.value))
            writer.writerow([section.key, row.code, row.label, value])
    return buffer.getvalue()


def csv_filename(report: Report) -> str:
    return f"fieldapp-report-{report.first_day.isoformat()}-{report.last_day.isoformat()}.csv"


def month_names() -> list[tuple[int, str]]:
    """(1..12, month name) in the user's language, for the form."""
    names = babel_dates.get_month_names("wide", context="stand-alone", locale=get_locale())
    return [(number, names[number]) for number in range(1, 13)]
