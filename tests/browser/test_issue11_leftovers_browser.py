"""Leftovers of issue 11 in Chromium: the summary's top hotspots follow the map's cell size after a zoom; the
status strip is one row of controls at 320 px in Finnish; the toast never hides the last field or Save."""

from __future__ import annotations

import h3

from tests.browser.conftest import log_in
from tests.browser.test_offline_sync import start

HEX = ".leaflet-overlay-pane path.picture-hex"


def _live_id(server) -> str:
    with server.db() as conn:
        return conn.execute("SELECT id FROM deployments WHERE name = 'Mielenosoitus Senaatintorilla'").fetchone()[0]


def _top_hotspot_resolutions(page) -> set[int]:
    cells = page.eval_on_selector_all("#picture-live tr.hotspot", "rows => rows.map(r => r.dataset.cell)")
    assert cells
    return {h3.get_resolution(cell) for cell in cells}


def test_top_hotspots_follow_the_maps_cell_size_after_a_zoom(page, shared_server):
    log_in(page, shared_server.url, "lead1")
    page.goto(f"{shared_server.url}/picture?deployment={_live_id(shared_server)}&window=7d")
    page.wait_for_selector(HEX)
    first = int(page.get_attribute("#picture-map", "data-res"))
    assert page.get_attribute("#picture-live", "data-res") == str(first)
    assert _top_hotspot_resolutions(page) == {first}

    for _ in range(2):  # zoom 15 -> 13: the map's cells grow one resolution
        page.click(".leaflet-control-zoom-out")
        page.wait_for_timeout(400)
    page.wait_for_function(f"() => document.querySelector('#picture-map').dataset.res !== '{first}'")
    now = int(page.get_attribute("#picture-map", "data-res"))
    page.wait_for_selector(f"#picture-live[data-res='{now}']")
    assert _top_hotspot_resolutions(page) == {now}
    assert page.get_attribute("#picture-live a[href^='/picture/hotspots']", "href").count(f"res={now}") == 1


def _box(page, selector) -> dict:
    return page.locator(selector).first.bounding_box()


def test_status_strip_is_one_row_of_controls_at_320_px_in_finnish(browser, shared_server):
    context = browser.new_context(viewport={"width": 320, "height": 640}, locale="fi-FI", service_workers="allow")
    try:
        page = context.new_page()
        start(page, shared_server)
        if page.get_attribute("html", "lang") != "fi":  # officer1's saved language (another test on this server)
            page.click("button[name=locale][value=fi]")
            page.wait_for_selector("html[lang=fi]")
        page.goto(shared_server.url + "/")
        page.wait_for_selector("html[data-offline-ready='1']", timeout=30000)
        assert page.get_attribute("html", "lang") == "fi"
        for offline in (False, True):
            context.set_offline(offline)
            page.wait_for_selector(f"[data-sync-status]{'.is-offline' if offline else ':not(.is-offline)'}")
            page.wait_for_timeout(300)
            strip, button = _box(page, "[data-sync-status]"), _box(page, "[data-sync-now]")
            net = _box(page, ".sync-net:not([hidden])")
            waiting = _box(page, ".sync-waiting")
            # State, count and Sync now side by side in one 44 px row; the texts below it across the width.
            assert abs(net["y"] - button["y"]) < 30 and abs(waiting["y"] - button["y"]) < 30
            assert waiting["x"] + waiting["width"] <= button["x"]
            assert button["height"] >= 44 and button["x"] + button["width"] <= 320
            assert strip["height"] <= (140 if offline else 110), strip  # were 225 and 127 px
            assert page.evaluate("document.documentElement.scrollWidth") <= 320
    finally:
        context.set_offline(False)
        context.close()


def test_the_toast_does_not_hide_the_last_field_or_save_at_the_end_of_the_form(context, shared_server):
    page = context.new_page()
    deployment_id = start(page, shared_server)
    page.goto(f"{shared_server.url}/deployments/{deployment_id}/tensions/new")
    context.set_offline(True)
    try:
        page.check("form[data-outbox] input[name='kind'][value='provocation']")
        page.check("form[data-outbox] input[name='severity'][value='2']")
        page.fill("form[data-outbox] textarea[name=notes]", "toast at the end")
        page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
        page.click("form[data-outbox] button[type=submit]")
        toast = page.locator("[data-outbox-notice][data-state='saved']")
        toast.wait_for()
        # Scrolled to the end, what the officer needs next is not under the toast.
        page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
        page.wait_for_timeout(200)
        covered = page.evaluate("""() => {
            const t = document.querySelector('[data-outbox-notice]').getBoundingClientRect();
            return [...document.querySelectorAll('main a, main button, main input, main textarea, footer button')]
              .filter(el => { const r = el.getBoundingClientRect();
                              return r.width && r.bottom > t.top && r.top < t.bottom && r.right > t.left && r.left < t.right; })
              .map(el => el.outerHTML.slice(0, 80));
        }""")
        assert covered == []
        for selector in ("form[data-outbox] button[type=submit]", "#f-notes"):  # Save and the last field: reachable
            # Scrolled to the middle of the screen, as an officer would bring it up (the strip and the toast stay put).
            page.evaluate("(sel) => document.querySelector(sel).scrollIntoView({block: 'center'})", selector)
            assert page.evaluate("""(sel) => { const el = document.querySelector(sel), r = el.getBoundingClientRect();
                const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
                return !!hit && (hit === el || el.contains(hit)); }""", selector), selector
        t = toast.bounding_box()
        assert 0 <= t["y"] and t["y"] + t["height"] <= 844  # and the toast itself is in view
        # In the middle of the form it stays in view above Save, as before.
        page.evaluate("window.scrollTo(0, 300)")
        page.wait_for_timeout(200)
        t = toast.bounding_box()
        assert 0 <= t["y"] and t["y"] + t["height"] <= 844
    finally:
        context.set_offline(False)
