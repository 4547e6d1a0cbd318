"""When to try again: backoff with jitter and Retry-After, shared by the POR feed and the push queue."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from fieldapp import por, retry
from fieldapp.alerts import deliveries

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def test_retry_after_in_seconds_is_read_as_seconds():
    assert retry.retry_after_seconds("120") == 120.0
    assert retry.retry_after_seconds(" 7 ") == 7.0
    assert retry.retry_after_seconds("0") == 0.0


def test_retry_after_as_an_http_date_is_the_time_until_then():
    assert retry.retry_after_seconds(format_datetime(NOW + timedelta(seconds=30), usegmt=True), NOW) == 30.0
    assert retry.retry_after_seconds("Sun, 01 Mar 2026 12:01:30 GMT", NOW) == 90.0
    # '-0000' (no zone given) is still GMT, whatever the server's own zone.
    assert retry.retry_after_seconds("Sun, 01 Mar 2026 12:00:10 -0000", NOW) == 10.0


def test_retry_after_without_now_counts_from_the_current_time():
    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=90), usegmt=True)
    assert 85 <= retry.retry_after_seconds(when) <= 91


def test_retry_after_in_the_past_means_at_once():
    assert retry.retry_after_seconds(format_datetime(NOW - timedelta(hours=1), usegmt=True), NOW) == 0.0


@pytest.mark.parametrize("value", [None, "", "   ", "soon", "1.5", "2 minutes", "²", "Mon, 99 Foo 99999 99:99:99 GMT"])
def test_an_absent_or_unreadable_retry_after_is_none(value):
    assert retry.retry_after_seconds(value, NOW) is None


@pytest.mark.parametrize("value", ["-5", "-0", "+5"])
def test_a_signed_retry_after_is_unreadable_not_a_wait(value):
    assert retry.retry_after_seconds(value, NOW) is None


def test_backoff_doubles_per_attempt_within_the_jitter_spread():
    rng = random.Random(1)
    for attempts, full in ((0, 2.0), (1, 2.0), (2, 4.0), (3, 8.0), (4, 16.0)):
        delays = [retry.backoff(attempts, 2.0, 600.0, rng) for _ in range(50)]
        assert all(full / 2 <= d <= full for d in delays)  # equal jitter by default
        assert len(set(delays)) > 1
        assert all(full * 0.8 <= retry.backoff(attempts, 2.0, 600.0, rng, spread=(0.8, 1.2)) <= full * 1.2
                   for _ in range(50))


def test_backoff_stops_growing_at_the_cap():
    rng = random.Random(2)
    assert all(300.0 <= retry.backoff(12, 2.0, 600.0, rng) <= 600.0 for _ in range(50))
    assert all(240.0 <= retry.backoff(9, 2.0, 300.0, rng, spread=(0.8, 1.2)) <= 360.0 for _ in range(50))


def test_backoff_after_thousands_of_failures_is_the_cap_not_an_overflow():
    # The POR feed never gives up: a week-long outage means well over a thousand attempts.
    assert 300.0 <= retry.backoff(5000, 2.0, 600.0, random.Random(3)) <= 600.0


def test_backoff_draws_one_number_from_the_given_random_source():
    assert retry.backoff(3, 2.0, 600.0, random.Random(7)) == pytest.approx(4.0 + random.Random(7).uniform(0, 4.0))


def test_the_por_feed_and_the_push_queue_keep_their_own_numbers():
    assert (por.DEFAULT_BACKOFF_BASE, por.DEFAULT_BACKOFF_MAX, por.RETRY_AFTER_MAX) == (2.0, 600.0, 3600.0)
    assert (deliveries.BACKOFF_BASE, deliveries.BACKOFF_MAX, deliveries.BACKOFF_SPREAD) == (2.0, 300.0, (0.8, 1.2))
