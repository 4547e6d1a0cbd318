"""Time in one place: UTC ISO strings in the database, Europe/Helsinki for people."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

HELSINKI = ZoneInfo("Europe/Helsinki")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(dt: datetime) -> str:
    """UTC ISO 8601 with milliseconds and a Z, sortable as text."""
    return dt.astimezone(timezone.utc).isoformat(timespec="milliseconds")[:-6] + "Z"


def now_iso() -> str:
    return iso(utcnow())


def parse(value: str | datetime) -> datetime:
    """Parse an ISO time; a naive value is taken as Helsinki local time (what a form sends)."""
    if isinstance(value, datetime):
        dt = value
    else:
        text = value.strip().replace("Z", "+00:00")
        dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=HELSINKI)
    return dt.astimezone(timezone.utc)


def local_input_value(value: str | datetime | None) -> str:
    """Value for an <input type=datetime-local> in Helsinki time."""
    if not value:
        return ""
    return parse(value).astimezone(HELSINKI).strftime("%Y-%m-%dT%H:%M")
