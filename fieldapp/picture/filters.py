"""What the picture is asked: the time window and filters (from query parameters) and whose data it covers."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

import h3

from fieldapp import access, categories
from fieldapp import deployments as deployments_domain
from fieldapp.clock import HELSINKI, iso, parse, utcnow
from fieldapp.errors import Forbidden
from fieldapp.i18n import gettext as _
from fieldapp.i18n import lazy
from fieldapp.ids import is_valid_id
from fieldapp.picture.cells import RESOLUTIONS, SEVERITIES

MAX_WINDOW = timedelta(days=366)
# A custom window lies between these (and a year from now): no field data is older, and the window before it
# (PictureFilter.previous) and the times shown stay far from the ends of the calendar (year 1, year 9999).
EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)
LATEST_AHEAD = timedelta(days=366)
WINDOWS = {
    "hour": lazy("Last hour"),
    "today": lazy("Today"),
    "7d": lazy("Last 7 days"),
    "30d": lazy("Last 30 days"),
    "custom": lazy("Custom"),
}
DEFAULT_WINDOW = "7d"


class FilterInvalid(ValueError):
    """Filter values that cannot be used; errors are field -> translated message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(errors)
        self.errors = errors


class NoDeployment(LookupError):
    """An officer has no current deployment and chose none: there is no picture to show."""


def parse_cell(text: str) -> int:
    """A served cell from its h3 text; FilterInvalid if it is not one (or finer than resolution 9)."""
    try:
        if h3.is_valid_cell(text) and h3.get_resolution(text) in RESOLUTIONS:
            return h3.str_to_int(text)
    except (ValueError, TypeError, OverflowError):  # OverflowError: a number beyond 64 bits, or below 0
        pass
    raise FilterInvalid({"cell": _("This map cell is not valid.")})


@dataclass(frozen=True)
class PictureFilter:
    """One question to the picture: a time window and what to count. Everything else follows from it."""

    start: datetime
    end: datetime
    window: str = DEFAULT_WINDOW
    deployment_id: str | None = None
    kinds: tuple[str, ...] = ()
    severities: tuple[int, ...] = ()
    group: str = ""
    motive: str = ""  # a perceived motive of hatred (tension observations: motives)
    live: bool = True  # the window ends now, so the picture keeps refreshing

    @property
    def tension_filtered(self) -> bool:
        return bool(self.kinds or self.severities or self.group or self.motive)

    def previous(self) -> "PictureFilter":
        """The same question for the window of equal length just before this one."""
        length = self.end - self.start
        return replace(self, start=self.start - length, end=self.start, live=False)

    def query(self) -> dict[str, str]:
        """The filter as query parameters (links and exports keep the same question)."""
        values = {"window": self.window}
        if self.window == "custom":
            values["from"] = self.start.astimezone(HELSINKI).strftime("%Y-%m-%dT%H:%M")
            values["to"] = self.end.astimezone(HELSINKI).strftime("%Y-%m-%dT%H:%M")
        if self.deployment_id:
            values["deployment"] = self.deployment_id
        if self.kinds:
            values["kind"] = self.kinds[0]
        if self.severities:
            values["severity"] = str(min(self.severities))
        if self.group:
            values["group"] = self.group
        if self.motive:
            values["motive"] = self.motive
        return values


def _first(raw: dict, name: str) -> str:
    value = raw.get(name)
    if isinstance(value, list):
        value = value[-1] if value else ""
    return str(value).strip() if value is not None else ""


def parse_filter(db, raw: dict, *, now: datetime | None = None) -> PictureFilter:
    """The filter from query parameters (window, from, to, deployment, kind, severity, group, motive).

    Raises FilterInvalid with a translated message per field; blank values mean "all".
    """
    now = now or utcnow()
    errors: dict[str, str] = {}
    window = _first(raw, "window") or DEFAULT_WINDOW
    start = end = None
    if window not in WINDOWS:
        errors["window"] = _("Choose a time window from the list.")
        window = DEFAULT_WINDOW
    if window == "hour":
        start, end = now - timedelta(hours=1), now
    elif window == "today":
        local = now.astimezone(HELSINKI)
        start, end = local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(timezone.utc), now
    elif window == "7d":
        start, end = now - timedelta(days=7), now
    elif window == "30d":
        start, end = now - timedelta(days=30), now
    else:
        for name in ("from", "to"):
            text = _first(raw, name)
            try:
                value = parse(text) if text else None
            except (ValueError, OverflowError):
                value = None
            if value is None:
                errors[name] = _("Enter a date and time.")
            elif not EARLIEST <= value <= now + LATEST_AHEAD:
                errors[name] = _("Enter a time between the year 2000 and a year from now.")
            elif name == "from":
                start = value
            else:
                end = value
        if start and end:
            if end <= start:
                errors["to"] = _("The end must be after the start.")
            elif end - start > MAX_WINDOW:
                errors["to"] = _("The time window can be at most 366 days.")
    deployment_id = _first(raw, "deployment") or None
    if deployment_id and not is_valid_id(deployment_id):
        errors["deployment"] = _("Choose a deployment from the list.")
    kinds = raw.get("kind") or []
    kinds = tuple(sorted({k.strip() for k in (kinds if isinstance(kinds, list) else [kinds]) if k and k.strip()}))
    if kinds and not set(kinds) <= categories.codes(db, "tension_kind"):
        errors["kind"] = _("Choose a value from the list.")
    severities: tuple[int, ...] = ()
    severity = _first(raw, "severity")
    if severity:
        if severity.isascii() and severity.isdigit() and 1 <= int(severity) <= 6:
            severities = tuple(s for s in SEVERITIES if s >= int(severity)) if int(severity) > 1 else ()
        else:
            errors["severity"] = _("Choose a severity from 1 to 6.")
    group = _first(raw, "group")
    if group and group not in categories.codes(db, "group_category"):
        errors["group"] = _("Choose a value from the list.")
    motive = _first(raw, "motive")
    if motive and motive not in categories.known_codes(db, "motive"):  # a retired motive still counts old records
        errors["motive"] = _("Choose a value from the list.")
    if errors:
        raise FilterInvalid(errors)
    return PictureFilter(start=start, end=end, window=window, deployment_id=deployment_id, kinds=kinds,
                         severities=severities, group=group, motive=motive, live=window != "custom")


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    """west,south,east,north in degrees, or None; FilterInvalid if it cannot be one."""
    if not text:
        return None
    try:
        west, south, east, north = (float(part) for part in text.split(","))
    except ValueError:
        raise FilterInvalid({"bbox": _("The map area is not valid.")}) from None
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise FilterInvalid({"bbox": _("The map area is not valid.")})
    return west, south, east, north


def parse_res(text: str | None, default: int = 8) -> int:
    """A served resolution (5..9); anything else is FilterInvalid."""
    if text in (None, ""):
        return default
    if text.isascii() and text.isdigit() and int(text) in RESOLUTIONS:
        return int(text)
    raise FilterInvalid({"res": _("Choose a cell size from the list.")})


@dataclass(frozen=True)
class Scope:
    """Whose picture: a lead's whole unit, or one deployment (officers always see exactly one)."""

    unit_id: str
    deployment: dict | None = None
    points_allowed: bool = False

    @property
    def deployment_id(self) -> str | None:
        return self.deployment["id"] if self.deployment else None


def resolve_scope(db, user, deployment_id: str | None) -> Scope:
    """What this user may see: leads their unit, others one deployment they can view (their current one).

    Raises NotFound / Forbidden for a deployment they may not see, NoDeployment when an
    officer has no current deployment and chose none.
    """
    if user.role == "admin" or not user.unit_id:
        raise Forbidden("admins see no field data")
    if deployment_id:
        deployment = access.visible(db, user, deployment_id)
    elif user.role == "lead":
        return Scope(user.unit_id)
    else:
        deployment = deployments_domain.current_for_user(db, user)
        if deployment is None:
            raise NoDeployment(user.id)
    live = deployments_domain.status(deployment) == "current"
    assigned = access.is_assigned(db, user, deployment["id"])
    return Scope(deployment["unit_id"], deployment, points_allowed=live and (user.role == "lead" or assigned))


def map_centre(db, scope: Scope) -> tuple[float, float] | None:
    """Where the map opens: the deployment's place, or the middle of the unit's deployments."""
    if scope.deployment and scope.deployment.get("lat") is not None:
        return scope.deployment["lat"], scope.deployment["lon"]
    row = db.execute("SELECT avg(lat), avg(lon) FROM deployments WHERE unit_id = ? AND deleted_at IS NULL "
                     "AND lat IS NOT NULL", [scope.unit_id]).fetchone()
    return (row[0], row[1]) if row and row[0] is not None else None


def map_deployments(db, scope: Scope, flt: PictureFilter, limit: int = 200) -> list[dict]:
    """The deployments marked on the map: the one in scope, or the unit's deployments within the window."""
    if scope.deployment:
        rows = [scope.deployment]
    else:
        rows = db.query(
            "SELECT * FROM deployments WHERE unit_id = ? AND deleted_at IS NULL AND starts_at < ? AND ends_at >= ? "
            "ORDER BY starts_at DESC LIMIT ?", [scope.unit_id, iso(flt.end), iso(flt.start), limit])
    return [r for r in rows if r.get("lat") is not None]
