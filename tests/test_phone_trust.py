"""What the phone shows is the same everywhere: one date format per language, and static files that a
browser may keep for a year because their addresses change with their content."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from fieldapp import i18n

MOMENT = datetime(2026, 3, 5, 7, 9, tzinfo=timezone.utc)  # 09:09 in Helsinki (UTC+2 in March)


@pytest.mark.parametrize("locale, this_year, other_year, time", [
    ("fi", "5.3. 9.09", "5.3.2026 9.09", "9.09"),
    ("sv", "5 mars 09.09", "5 mars 2026 09.09", "09.09"),
    ("en", "5 Mar, 9.09", "5 Mar 2026, 9.09", "9.09"),
])
def test_one_moment_is_written_one_way_per_language_with_the_year_only_when_not_this_year(
        locale, this_year, other_year, time):
    token = i18n.set_locale(locale)
    try:
        assert i18n.format_datetime(MOMENT, this_year=2026) == this_year
        assert i18n.format_datetime(MOMENT, this_year=2027) == other_year
        assert i18n.format_time(MOMENT) == time
        assert i18n.format_date(MOMENT, this_year=2027) == other_year.rsplit(" ", 1)[0].rstrip(",")
    finally:
        i18n._current.reset(token)


def test_english_is_day_first_with_a_24_hour_clock():
    token = i18n.set_locale("en")
    try:
        text = i18n.format_datetime(datetime(2026, 12, 2, 20, 34, tzinfo=timezone.utc), this_year=2026)
    finally:
        i18n._current.reset(token)
    assert text == "2 Dec, 22.34"  # not 12/2/26, 10:34 PM


def test_pages_carry_the_date_patterns_the_strip_uses(client):
    page = client.get("/login").text
    assert re.search(r'<meta name="fieldapp-date-patterns" content="[^"]*d\.M\.y', page)


def test_static_files_have_content_hashed_addresses_cached_for_a_year(client):
    page = client.get("/login").text
    css = re.search(r'href="(/static/css/app\.css\?v=[0-9a-f]{12})"', page)
    assert css, "the stylesheet is addressed with its content hash"
    versioned = client.get(css.group(1))
    assert versioned.status_code == 200
    assert "immutable" in versioned.headers["cache-control"]
    assert "max-age=31536000" in versioned.headers["cache-control"]
    # Without a hash (the service worker's precache asks this way, bypassing the cache) it stays short.
    plain = client.get("/static/css/app.css")
    assert "immutable" not in plain.headers["cache-control"]
