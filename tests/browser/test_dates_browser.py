"""The status strip writes a moment exactly as the pages do, in each language (one format, from babel)."""

from __future__ import annotations

from datetime import datetime, timezone

from fieldapp import i18n
from tests.browser.conftest import log_in


def test_the_strip_and_the_pages_write_the_same_moment_the_same_way(page, shared_server):
    year = datetime.now(timezone.utc).year
    moments = [datetime(year, 3, 5, 7, 9, tzinfo=timezone.utc), datetime(year - 1, 11, 28, 21, 30, tzinfo=timezone.utc)]
    log_in(page, shared_server.url, "officer1")
    for locale in ("fi", "sv", "en"):
        page.click(f"footer button[name=locale][value={locale}]")
        page.wait_for_function(f"document.documentElement.lang === '{locale}'")
        token = i18n.set_locale(locale)
        try:
            for moment in moments:
                ms = int(moment.timestamp() * 1000)
                strip = page.evaluate(f"FieldappClient.page.showTime({ms}, true)")
                assert strip == i18n.format_datetime(moment), (locale, moment)
                assert page.evaluate(f"FieldappClient.page.showTime({ms}, false)") == i18n.format_time(moment)
        finally:
            i18n._current.reset(token)
    # English the Finnish way: day first, 24-hour clock, the year only for another year.
    assert strip == f"28 Nov {year - 1}, 23.30"
