"""The strategy's yearly report: all preventive work of a unit (or every unit of a department and their sum) in
one calendar year, each figure beside the previous year and the unit's target.

No web imports. The figures are a declared list, INDICATORS: a name and how it is counted in fi, sv and en, the
section it belongs to, the measure it counts and optionally the category list it is broken down by. Next year's
action plan adds a line there; a new measure is one function in MEASURES. Targets are set per unit, year and
indicator (its total) by the department role (access.may_set_targets).

Hours of preventive work come from presence at deployments and from activities together: the intervals of one
officer are merged, so time spent on both at once counts once; an overlapping stretch is credited to the work that
began first (presence before an activity when both began together), so hours by kind add up to the total.
The year is the Helsinki calendar year.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Callable

from fieldapp import audit, categories, followups
from fieldapp import access
from fieldapp import deployments as deployments_domain
from fieldapp.accounts import User
from fieldapp.clock import HELSINKI, iso, parse, utcnow
from fieldapp.db import write
from fieldapp.errors import Forbidden, NotFound, ValidationFailed
from fieldapp.i18n import get_locale
from fieldapp.i18n import gettext as _

YEAR_RANGE = (2000, 2100)
SECTIONS = ("hours", "tasks", "reach", "hate")
NOT_RECORDED = "-"   # the category code of figures where the field was left empty
ALL = "all"   # the department's sum, as a scope
CSV_COLUMNS = ("scope", "section", "indicator", "category", "label", "year", "previous_year", "target")


@dataclass(frozen=True)
class Indicator:
    """One figure of the report, as the action plan names it."""

    key: str
    section: str                       # one of SECTIONS
    measure: str                       # a key of MEASURES
    name: dict[str, str]               # fi, sv, en
    how: dict[str, str]                # how it is counted: fi, sv, en
    by: str | None = None              # a category list the figure is broken down by
    unit: str = "count"                # count | hours


INDICATORS: list[Indicator] = [
    Indicator("hours", "hours", "hours",
              {"fi": "Ennalta estävän työn tunnit", "sv": "Timmar förebyggande arbete", "en": "Hours of preventive work"},
              {"fi": "Läsnäolo keikoilla ja kirjatut toiminnot yhteensä; saman poliisin päällekkäinen aika kerran.",
               "sv": "Närvaro vid insatser och loggade aktiviteter sammanlagt; samma polis överlappande tid en gång.",
               "en": "Presence at deployments and logged activities together; one officer's overlapping time once."},
              by="work_kind", unit="hours"),
    Indicator("deployments", "tasks", "deployments",
              {"fi": "Keikat", "sv": "Insatser", "en": "Deployments"},
              {"fi": "Vuonna alkaneet keikat lajeittain.", "sv": "Insatser som började under året, per typ.",
               "en": "Deployments that started in the year, by kind."}, by="deployment_kind"),
    Indicator("activities", "tasks", "activities",
              {"fi": "Ennalta estävät toiminnot", "sv": "Förebyggande aktiviteter", "en": "Preventive activities"},
              {"fi": "Kirjatut toiminnot lajeittain.", "sv": "Loggade aktiviteter per typ.",
               "en": "Logged activities, by kind."}, by="activity_kinds"),
    Indicator("contacts", "tasks", "contacts",
              {"fi": "Kohtaamiset", "sv": "Kontakter", "en": "Contacts"},
              {"fi": "Kirjatut kohtaamiset kanavan mukaan (kasvokkain, verkossa).",
               "sv": "Registrerade kontakter per kanal (ansikte mot ansikte, på nätet).",
               "en": "Contacts recorded, by channel (in person, online)."}, by="channel"),
    Indicator("tensions", "tasks", "tensions",
              {"fi": "Jännitehavainnot", "sv": "Spänningsobservationer", "en": "Tension observations"},
              {"fi": "Kirjatut jännitehavainnot.", "sv": "Registrerade spänningsobservationer.",
               "en": "Tension observations recorded."}),
    Indicator("interventions", "tasks", "interventions",
              {"fi": "Matalan kynnyksen toimenpiteet", "sv": "Lågtröskelåtgärder", "en": "Low-threshold interventions"},
              {"fi": "Kirjatut toimenpiteet lajeittain.", "sv": "Registrerade åtgärder per typ.",
               "en": "Interventions recorded, by kind."}, by="intervention_kind"),
    Indicator("referrals", "tasks", "referrals",
              {"fi": "Ohjaukset", "sv": "Hänvisningar", "en": "Referrals"},
              {"fi": "Ohjaukset kohtaamisista ja toimenpiteistä kohteittain (sama ohjaus kerran).",
               "sv": "Hänvisningar från kontakter och åtgärder per instans (samma hänvisning en gång).",
               "en": "Referrals from contacts and interventions, by target (the same referral once)."},
              by="referral_target"),
    Indicator("followups_on_time", "tasks", "followups_on_time",
              {"fi": "Ajallaan annetut palautteet", "sv": "Återkopplingar i tid", "en": "Follow-ups given on time"},
              {"fi": "Luvatut palautteet, jotka annettiin määräajassa.", "sv": "Utlovade återkopplingar som gavs i tid.",
               "en": "Promised follow-ups given by their due date."}),
    Indicator("people_reached", "reach", "people_reached",
              {"fi": "Tavoitetut ihmiset (arvio)", "sv": "Nådda personer (uppskattning)",
               "en": "People reached (estimate)"},
              {"fi": "Toimintojen tavoittamien ihmisten arviot yhteensä.",
               "sv": "Summan av aktiviteternas uppskattningar av nådda personer.",
               "en": "The sum of the activities' estimates of people reached."}),
    Indicator("languages", "reach", "languages",
              {"fi": "Käytetyt kielet", "sv": "Använda språk", "en": "Languages used"},
              {"fi": "Kohtaamiset ja toiminnot, joissa kieltä käytettiin.",
               "sv": "Kontakter och aktiviteter där språket användes.",
               "en": "Contacts and activities in which the language was used."}, by="language"),
    Indicator("hate_contacts", "hate", "hate_contacts",
              {"fi": "Kohtaamiset, joissa koettu vihateko", "sv": "Kontakter med upplevt hatdåd",
               "en": "Contacts where an act of hatred was experienced"},
              {"fi": "Kohtaamiset, joiden aiheena koettu viharikos tai vihateko, koetun motiivin mukaan.",
               "sv": "Kontakter med ämnet upplevt hatbrott eller hatdåd, per upplevt motiv.",
               "en": "Contacts with the topic 'experienced act of hatred', by perceived motive."}, by="motive"),
    Indicator("advised_to_report", "hate", "advised_to_report",
              {"fi": "Neuvottu ilmoittamaan", "sv": "Rådgivna om att anmäla", "en": "Advised on how to report"},
              {"fi": "Kohtaamiset ja jännitehavainnot, joissa neuvottiin rikosilmoituksen tekemisessä.",
               "sv": "Kontakter och spänningsobservationer där man gav råd om att anmäla.",
               "en": "Contacts and tension observations where people were advised on how to report."}),
    Indicator("offence_reported", "hate", "offence_reported",
              {"fi": "Rikosilmoitus tehty", "sv": "Brottsanmälan gjord", "en": "Report of an offence made"},
              {"fi": "Kohtaamiset ja jännitehavainnot, joista tehtiin rikosilmoitus.",
               "sv": "Kontakter och spänningsobservationer där en brottsanmälan gjordes.",
               "en": "Contacts and tension observations where a report of an offence was made."}),
]
BY_KEY = {indicator.key: indicator for indicator in INDICATORS}

SECTION_TITLES = {
    "hours": {"fi": "Työtunnit", "sv": "Arbetstimmar", "en": "Working hours"},
    "tasks": {"fi": "Tehdyt tehtävät", "sv": "Utförda uppgifter", "en": "Tasks carried out"},
    "reach": {"fi": "Tavoittavuus", "sv": "Räckvidd", "en": "Reach"},
    "hate": {"fi": "Viharikokset ja vihateot", "sv": "Hatbrott och hatdåd", "en": "Acts of hatred"},
}


# --- The year --------------------------------------------------------------------------------------------------

def year_bounds(year: int) -> tuple[str, str]:
    """The Helsinki calendar year as UTC ISO limits [start, end)."""
    return (iso(datetime.combine(date(year, 1, 1), time(0), tzinfo=HELSINKI)),
            iso(datetime.combine(date(year + 1, 1, 1), time(0), tzinfo=HELSINKI)))


def this_year() -> int:
    return utcnow().astimezone(HELSINKI).year


# --- Measures: (db, unit_id, start, end) -> {category code or '' for a figure without breakdown: value} ------------

def _counts(db, sql: str, params: list) -> dict[str, float]:
    return {str(code) if code is not None else NOT_RECORDED: float(n) for code, n in db.execute(sql, params)}


def _record_where(table: str) -> str:
    return (f"FROM {table} r JOIN deployments d ON d.id = r.deployment_id WHERE d.unit_id = ? AND "
            "r.deleted_at IS NULL AND d.deleted_at IS NULL AND r.occurred_at >= ? AND r.occurred_at < ?")


def work_intervals(db, unit_id: str, start: str, end: str) -> dict[str, list[tuple[datetime, datetime, int, str]]]:
    """Per officer, the intervals of preventive work within [start, end): (begin, end, 0 for presence and 1 for an
    activity, kind of work 'd.<deployment kind>' or 'a.<activity kind>')."""
    until = deployments_domain.PRESENCE_END_SQL.replace(":now", "?")
    now = iso(utcnow())
    found: dict[str, list] = defaultdict(list)
    for user_id, began, ended, kind in db.execute(
            f"SELECT p.user_id, MAX(p.checked_in_at, ?), MIN({until}, ?), d.kind FROM presence p "
            "JOIN deployments d ON d.id = p.deployment_id WHERE d.unit_id = ? AND d.deleted_at IS NULL "
            f"AND p.checked_in_at < ? AND {until} > ?", [start, now, end, unit_id, end, now, start]):
        found[user_id].append((parse(began), parse(ended), 0, f"d.{kind}"))
    for user_id, began, ended, kind in db.execute(
            "SELECT user_id, MAX(starts_at, ?), MIN(ends_at, ?), kind FROM activities WHERE unit_id = ? AND "
            "deleted_at IS NULL AND starts_at < ? AND ends_at > ?", [start, end, unit_id, end, start]):
        found[user_id].append((parse(began), parse(ended), 1, f"a.{kind}"))
    return found


def merged_hours(intervals: list[tuple[datetime, datetime, int, str]]) -> dict[str, float]:
    """One officer's hours by kind of work with overlaps counted once: each stretch of time goes to the interval
    covering it that began first (presence first on a tie)."""
    points = sorted({t for began, ended, _o, _k in intervals if ended > began for t in (began, ended)})
    ordered = sorted((i for i in intervals if i[1] > i[0]), key=lambda i: (i[0], i[2]))
    hours: dict[str, float] = defaultdict(float)
    for left, right in zip(points, points[1:]):
        owner = next((i for i in ordered if i[0] <= left and i[1] >= right), None)
        if owner is not None:
            hours[owner[3]] += (right - left).total_seconds() / 3600
    return dict(hours)


def _hours(db, unit_id: str, start: str, end: str) -> dict[str, float]:
    total: dict[str, float] = defaultdict(float)
    for intervals in work_intervals(db, unit_id, start, end).values():
        for kind, value in merged_hours(intervals).items():
            total[kind] += value
    return dict(total)


def _deployments(db, unit_id, start, end):
    return _counts(db, "SELECT kind, COUNT(*) FROM deployments WHERE unit_id = ? AND deleted_at IS NULL AND "
                       "starts_at >= ? AND starts_at < ? GROUP BY kind", [unit_id, start, end])


def _activities(db, unit_id, start, end):
    return _counts(db, "SELECT kind, COUNT(*) FROM activities WHERE unit_id = ? AND deleted_at IS NULL AND "
                       "starts_at >= ? AND starts_at < ? GROUP BY kind", [unit_id, start, end])


def _records(table: str, column: str | None = None) -> Callable:
    def measure(db, unit_id, start, end):
        code = f"r.{column}" if column else "''"
        return _counts(db, f"SELECT {code}, COUNT(*) {_record_where(table)} GROUP BY 1", [unit_id, start, end])
    return measure


def _referrals(db, unit_id, start, end):
    # An intervention's referral to the same target as its linked contact's is the same referral.
    return _counts(db, f"""SELECT code, COUNT(*) FROM (
        SELECT r.referral_target AS code {_record_where('contacts')} AND r.referral_target IS NOT NULL
        UNION ALL
        SELECT r.referral_target AS code {_record_where('interventions')} AND r.referral_target IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM contacts c WHERE c.id = r.contact_id AND c.deleted_at IS NULL
                          AND c.referral_target = r.referral_target)) GROUP BY code""",
                   [unit_id, start, end, unit_id, start, end])


def followups_on_time(db, unit_id: str, start: str, end: str) -> dict[str, float]:
    """Follow-ups of the unit given (done) in the period by their due day (both days in Helsinki time). A reopened
    follow-up is open, so it counts nowhere until given again; then once, in the period of its latest feedback,
    against the due day it got when reopened (followups.reopen)."""
    on_time = 0
    for given_at, due_on in db.execute("SELECT given_at, due_on FROM followups WHERE unit_id = ? AND state = 'done' "
                                       "AND given_at >= ? AND given_at < ?", [unit_id, start, end]):
        on_time += followups.local_day(given_at).isoformat() <= due_on
    return {"": float(on_time)}


def _people_reached(db, unit_id, start, end):
    return _counts(db, "SELECT '', COALESCE(SUM(people_reached), 0) FROM activities WHERE unit_id = ? AND "
                       "deleted_at IS NULL AND starts_at >= ? AND starts_at < ?", [unit_id, start, end])


def _languages(db, unit_id, start, end):
    counted: dict[str, float] = defaultdict(float)
    for code, n in db.execute(f"SELECT r.language, COUNT(*) {_record_where('contacts')} AND r.language IS NOT NULL "
                              "GROUP BY 1", [unit_id, start, end]):
        counted[code] += n
    for code, n in db.execute("SELECT j.value, COUNT(*) FROM activities a, json_each(a.languages) j WHERE "
                              "a.unit_id = ? AND a.deleted_at IS NULL AND a.starts_at >= ? AND a.starts_at < ? "
                              "GROUP BY 1", [unit_id, start, end]):
        counted[code] += n
    return dict(counted)


# --- Hate-related figures: the fields of the hate-crime motive work (issue 15), read through one function -------

def _columns(db, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


HATE_TOPIC = "hate_act"   # the contact topic "experienced act of hatred"


def hate_figures(db, unit_id: str, start: str, end: str) -> dict[str, dict[str, float]]:
    """Contacts where an act of hatred was experienced (topic 'hate_act', or a perceived motive given) by perceived
    motive (contacts.motives, a list of 'motive' codes: a contact with two motives counts under each, once in the
    total; none: not recorded), and contacts and tension observations advised on how to report
    (advised_to_report) or with a report of an offence made (offence_reported), where the table has the field."""
    contact_columns, tension_columns = _columns(db, "contacts"), _columns(db, "tensions")
    hate_where = (f"{_record_where('contacts')} AND (EXISTS (SELECT 1 FROM json_each(r.topics) t WHERE t.value = ?) "
                  "OR r.motives != '[]')")
    params = [unit_id, start, end, HATE_TOPIC]
    hate = _counts(db, f"SELECT CASE WHEN r.motives = '[]' THEN NULL ELSE m.value END, COUNT(DISTINCT r.id) "
                       f"FROM (SELECT r.id, r.motives {hate_where}) r "
                       "LEFT JOIN json_each(CASE WHEN r.motives = '[]' THEN '[null]' ELSE r.motives END) m GROUP BY 1",
                   params)
    hate[""] = float(db.execute(f"SELECT COUNT(*) {hate_where}", params).fetchone()[0])
    out = {"hate_contacts": hate}
    for flag in ("advised_to_report", "offence_reported"):
        total = 0.0
        for table, columns in (("contacts", contact_columns), ("tensions", tension_columns)):
            if flag in columns:
                total += db.execute(f"SELECT COUNT(*) {_record_where(table)} AND r.{flag} = 1",
                                    [unit_id, start, end]).fetchone()[0]
        out[flag] = {"": total}
    return out


def _hate(key: str) -> Callable:
    return lambda db, unit_id, start, end: hate_figures(db, unit_id, start, end)[key]


MEASURES: dict[str, Callable[..., dict[str, float]]] = {
    "hours": _hours,
    "deployments": _deployments,
    "activities": _activities,
    "contacts": _records("contacts", "channel"),
    "tensions": _records("tensions"),
    "interventions": _records("interventions", "kind"),
    "referrals": _referrals,
    "followups_on_time": followups_on_time,
    "people_reached": _people_reached,
    "languages": _languages,
    "hate_contacts": _hate("hate_contacts"),
    "advised_to_report": _hate("advised_to_report"),
    "offence_reported": _hate("offence_reported"),
}


def unit_figures(db, unit_id: str, year: int) -> dict[str, dict[str, float]]:
    """Every indicator of one unit in one year: indicator key -> {category code: value}, '' the total."""
    start, end = year_bounds(year)
    out = {}
    for indicator in INDICATORS:
        counted = {code: value for code, value in MEASURES[indicator.measure](db, unit_id, start, end).items()
                   if value or code == ""}
        if indicator.by is not None and "" not in counted:  # a measure may give its own total (a record in two codes)
            counted[""] = sum(v for code, v in counted.items() if code != "")
        out[indicator.key] = {code: round(v, 2) for code, v in counted.items()} or {"": 0.0}
        out[indicator.key].setdefault("", 0.0)
    return out


def add_figures(many: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """The sum of several units' figures."""
    total: dict[str, dict[str, float]] = {indicator.key: {"": 0.0} for indicator in INDICATORS}
    for figures in many:
        for key, counted in figures.items():
            for code, value in counted.items():
                total[key][code] = round(total[key].get(code, 0.0) + value, 2)
    return total


# --- Targets ----------------------------------------------------------------------------------------------------

def targets(db, unit_ids: list[str], year: int) -> dict[str, dict[str, float]]:
    """unit id -> {indicator key: target} for the year."""
    out: dict[str, dict[str, float]] = {unit_id: {} for unit_id in unit_ids}
    if not unit_ids:
        return out
    marks = ",".join("?" * len(unit_ids))
    for unit_id, key, value in db.execute(f"SELECT unit_id, indicator, value FROM targets WHERE year = ? AND unit_id "
                                          f"IN ({marks})", [year, *unit_ids]):
        out[unit_id][key] = value
    return out


def set_targets(db, user: User, unit_id: str, year: int, raw: dict[str, str]) -> dict[str, float | None]:
    """Set (a number) or clear (empty) the unit's targets for the year; department role, own department only.
    ValidationFailed names every field that is not a number of 0 or more."""
    if not access.may_set_targets(user):
        raise Forbidden("targets")
    if unit_id not in visible_unit_ids(db, user):
        raise NotFound(unit_id)
    check_year(year)
    errors, wanted = {}, {}
    for indicator in INDICATORS:
        text = str(raw.get(indicator.key) or "").strip().replace("\u00a0", "").replace(" ", "").replace(",", ".")
        if not text:
            wanted[indicator.key] = None
            continue
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not 0 <= value <= 10_000_000 or value != value:
            errors[indicator.key] = _("Enter a number of 0 or more, or leave it empty.")
        wanted[indicator.key] = value
    if errors:
        raise ValidationFailed(errors)
    now = iso(utcnow())
    with write(db):
        for key, value in wanted.items():
            if value is None:
                db.execute("DELETE FROM targets WHERE unit_id = ? AND year = ? AND indicator = ?", [unit_id, year, key])
            else:
                db.execute("INSERT INTO targets (unit_id, year, indicator, value, set_by, set_at) VALUES (?, ?, ?, ?, "
                           "?, ?) ON CONFLICT (unit_id, year, indicator) DO UPDATE SET value = excluded.value, "
                           "set_by = excluded.set_by, set_at = excluded.set_at", [unit_id, year, key, value, user.id, now])
        audit.record(db, user.id, "targets_set", "unit", unit_id,
                     json.dumps({"year": year, **{k: v for k, v in wanted.items() if v is not None}}, sort_keys=True))
    return wanted


# --- Scope and the report -----------------------------------------------------------------------------------------

def visible_units(db, user: User) -> list[dict]:
    """The units whose yearly report this user may see, by name (access.report_units_sql)."""
    where, params = access.report_units_sql(user)
    return list(db.query(f"SELECT un.id, un.name, un.department_id FROM units un WHERE {where} ORDER BY un.name, "
                         "un.id", params))


def visible_unit_ids(db, user: User) -> list[str]:
    return [unit["id"] for unit in visible_units(db, user)]


def check_year(year: int) -> None:
    if not YEAR_RANGE[0] <= year <= YEAR_RANGE[1]:
        raise ValidationFailed({"year": _("Enter a year between %(low)s and %(high)s.", low=YEAR_RANGE[0],
                                          high=YEAR_RANGE[1])})


@dataclass
class Line:
    indicator: str
    code: str                  # '' for the indicator's total
    label: str
    value: float
    previous: float
    target: float | None
    unit: str


@dataclass
class Block:
    """The report of one scope: a unit, or the department's sum (key ALL)."""

    key: str
    name: str
    sections: dict[str, list[Line]] = field(default_factory=dict)


@dataclass
class YearlyReport:
    year: int
    blocks: list[Block]
    units: list[dict]


def _label(db, indicator: Indicator, code: str, locale: str) -> str:
    if code == "":
        return indicator.name.get(locale, indicator.name["en"])
    if code == NOT_RECORDED or code is None:
        return _("Not recorded")
    if indicator.by == "work_kind":
        prefix, kind = code.split(".", 1)
        list_name = "deployment_kind" if prefix == "d" else "activity_kinds"
        where = _("Presence") if prefix == "d" else _("Activity")
        return f"{where}: {categories.label(db, list_name, kind, locale)}"
    return categories.label(db, indicator.by, code, locale)


def _block(db, key: str, name: str, figures: dict, previous: dict, goal: dict, locale: str) -> Block:
    block = Block(key, name, {section: [] for section in SECTIONS})
    for indicator in INDICATORS:
        now, before = figures[indicator.key], previous[indicator.key]
        block.sections[indicator.section].append(
            Line(indicator.key, "", _label(db, indicator, "", locale), now.get("", 0.0), before.get("", 0.0),
                 goal.get(indicator.key), indicator.unit))
        for code in sorted((set(now) | set(before)) - {""}, key=lambda c: (c == NOT_RECORDED, c)):
            block.sections[indicator.section].append(
                Line(indicator.key, code, _label(db, indicator, code, locale), now.get(code, 0.0),
                     before.get(code, 0.0), None, indicator.unit))
    return block


def build(db, user: User, year: int, scope: str = "", *, action: str = "yearly_report_view") -> YearlyReport:
    """The report for one of the user's units (scope = its id) or, for the department role, every unit and their
    sum (scope '' or 'all'). Forbidden without any unit; NotFound for a unit the user does not see. Audited."""
    check_year(year)
    units = visible_units(db, user)
    if not units:
        raise Forbidden("yearly report")
    if scope and scope != ALL:
        units = [u for u in units if u["id"] == scope]
        if not units:
            raise NotFound(scope)
    locale = get_locale()
    goals = targets(db, [u["id"] for u in units], year)
    figures = {u["id"]: unit_figures(db, u["id"], year) for u in units}
    previous = {u["id"]: unit_figures(db, u["id"], year - 1) for u in units}
    blocks = [_block(db, u["id"], u["name"], figures[u["id"]], previous[u["id"]], goals[u["id"]], locale)
              for u in units]
    if len(units) > 1:
        summed_goals: dict[str, float] = {}
        for unit_goals in goals.values():
            for key, value in unit_goals.items():
                summed_goals[key] = summed_goals.get(key, 0.0) + value
        blocks.insert(0, _block(db, ALL, _("All units"), add_figures(list(figures.values())),
                                add_figures(list(previous.values())), summed_goals, locale))
    audit.read(db, user.id, action, "unit", scope or ALL if len(units) > 1 else units[0]["id"], year=year)
    return YearlyReport(year, blocks, units)


def section_title(section: str, locale: str | None = None) -> str:
    titles = SECTION_TITLES[section]
    return titles.get(locale or get_locale(), titles["en"])


def indicator_name(key: str, locale: str | None = None) -> str:
    names = BY_KEY[key].name
    return names.get(locale or get_locale(), names["en"])


def indicator_how(key: str, locale: str | None = None) -> str:
    how = BY_KEY[key].how
    return how.get(locale or get_locale(), how["en"])


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    return f"{value:.1f}" if unit == "hours" else (str(int(value)) if float(value).is_integer() else f"{value:.2f}")


def rows(report: YearlyReport):
    """(scope key, scope name, section, line) for every line of the report, in order."""
    for block in report.blocks:
        for section in SECTIONS:
            for line in block.sections[section]:
                yield block, section, line


def to_csv(report: YearlyReport) -> str:
    """One row per figure: scope, section, indicator, category, label, year, previous year, target (hours with
    one decimal, a dot)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for block, section, line in rows(report):
        writer.writerow([block.key, section, line.indicator, line.code, _csv_safe(line.label),
                         _number(line.value, line.unit), _number(line.previous, line.unit),
                         _number(line.target, line.unit)])
    return buffer.getvalue()


def _csv_safe(text: str) -> str:
    """A label a spreadsheet would run as a formula starts with an apostrophe."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def filename(report: YearlyReport, scope: str, extension: str) -> str:
    return f"fieldapp-yearly-{report.year}-{scope or ALL}.{extension}"
