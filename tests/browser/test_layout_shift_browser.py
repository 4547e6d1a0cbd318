"""Nothing moves under the thumb: cumulative layout shift on the start page, each form and the picture stays at
or below 0.1 (Google's "good"), also when the session check answers 401 and the strip asks to log in again."""

from __future__ import annotations

import time

import pytest

from tests.browser.conftest import log_in

# Registered before any of the page's own scripts: sums layout shifts not caused by input (the CLS definition
# without session windows, so never less than Lighthouse's figure).
OBSERVE = """
self.__cls = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) if (!entry.hadRecentInput) self.__cls += entry.value;
}).observe({ type: "layout-shift", buffered: true });
"""


def _live_id(server) -> str:
    with server.db() as conn:
        return conn.execute("SELECT id FROM deployments WHERE name = 'Mielenosoitus Senaatintorilla'").fetchone()[0]


@pytest.mark.parametrize("session_answer", [200, 401])
def test_pages_do_not_move_while_they_load(browser, shared_server, session_answer):
    base, live = shared_server.url, _live_id(shared_server)
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                  locale="fi-FI", service_workers="block")
    page = context.new_page()
    log_in(page, base, "lead1")
    if session_answer == 401:  # the strip then grows a "Log in again to sync" button
        page.route("**/api/session", lambda route: route.fulfill(status=401, json={"error": "login"}))
    # A slow phone: the page paints before its scripts run (as Lighthouse's throttled first visit saw it).
    def late(route):
        time.sleep(0.6)
        route.continue_()
    page.route("**/offline/pages.js", late)
    page.route("**/static/js/*.js*", late)
    page.add_init_script(OBSERVE)
    shifts = {}
    for path in ("/", f"/deployments/{live}/contacts/new", f"/deployments/{live}/tensions/new",
                 f"/deployments/{live}/interventions/new", f"/picture?deployment={live}"):
        page.goto(base + path)
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(1200)
        if session_answer == 401:  # what status-strip.js does once the sync client reports "login"
            page.evaluate("document.querySelector('[data-login]').hidden = false")
            page.wait_for_timeout(300)
        shifts[path] = round(page.evaluate("self.__cls"), 3)
    context.close()
    assert all(value <= 0.1 for value in shifts.values()), shifts
