"""The one backoff rule (fieldapp/offline/retry.js) in Chromium: doubling from the base, capped, with jitter."""

from __future__ import annotations

BASE, MAX = 1000, 5 * 60 * 1000


def test_backoff_doubles_up_to_the_cap_with_jitter(page, shared_server):
    page.goto(shared_server.url + "/login")
    delays = page.evaluate(
        "([base, max]) => Array.from({length: 20}, (_, attempt) =>"
        " Array.from({length: 50}, () => self.FieldappRetry.delay(attempt, base, max)))", [BASE, MAX])
    for attempt, waits in enumerate(delays):
        ceiling = min(MAX, BASE * 2 ** attempt)
        assert all(max(BASE, ceiling // 2) <= wait <= ceiling for wait in waits), (attempt, waits)
        if ceiling >= 4 * BASE:
            assert len(set(waits)) > 1, f"no jitter at attempt {attempt}"  # devices must not retry together
    assert max(delays[-1]) <= MAX and min(delays[-1]) >= MAX // 2
