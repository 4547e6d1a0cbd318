"""The situation picture in Chromium: hex cells drawn, filters applied, a cell's observations, hotspots, axe."""

from tests.browser.conftest import axe_violations, cut_selects, log_in

HEX = ".leaflet-overlay-pane path.picture-hex"


def _live_id(server) -> str:
    with server.db() as conn:
        return conn.execute("SELECT id FROM deployments WHERE name = 'Mielenosoitus Senaatintorilla'").fetchone()[0]


def _cells(page) -> dict:
    page.wait_for_selector(HEX)
    return page.eval_on_selector_all(HEX, "els => Object.fromEntries(els.map(e => [e.dataset.cell, e.dataset.score]))")


def test_lead_follows_the_live_deployment_on_the_map(page, shared_server):
    page.set_viewport_size({"width": 1280, "height": 900})  # a lead's desktop: room for the popup
    log_in(page, shared_server.url, "lead1")
    page.goto(f"{shared_server.url}/picture?deployment={_live_id(shared_server)}")
    week = _cells(page)
    assert len(week) >= 3
    top = page.get_attribute(f"{HEX}[data-rank='1']", "data-cell")

    # Another time window: the page reloads with the same deployment and fewer observations per cell.
    with page.expect_navigation():
        page.select_option("#f-window", "hour")
    assert "window=hour" in page.url
    hour = _cells(page)
    assert hour != week and sum(map(int, hour.values())) < sum(map(int, week.values()))

    # Selecting a cell lists its observations below the map (an htmx partial).
    cell = page.get_attribute(f"{HEX}[data-rank='1']", "data-cell")
    page.locator(f"{HEX}[data-cell='{cell}']").dispatch_event("click")
    page.wait_for_selector("#cell-detail tr.cell-tension")
    assert cell in page.inner_text("#cell-detail")
    assert page.locator("#cell-detail tr.cell-tension").count() >= 1
    page.wait_for_selector(".leaflet-popup-content li")  # counts by tension kind, fetched for the cell
    assert "Score" in page.inner_text(".leaflet-popup-content")

    # Back to seven days: the hotspot list (same view) starts with the map's top cell.
    with page.expect_navigation():
        page.select_option("#f-window", "7d")
    assert page.get_attribute(f"{HEX}[data-rank='1']", "data-cell") == top
    with page.expect_navigation():
        page.click("nav.tabs a[href^='/picture/hotspots']")
    assert page.get_attribute("table.hotspots tbody tr.hotspot >> nth=0", "data-cell") == top


def test_map_and_hotspot_pages_have_no_accessibility_violations(page, shared_server):
    log_in(page, shared_server.url, "lead1")
    page.goto(f"{shared_server.url}/picture?deployment={_live_id(shared_server)}")
    _cells(page)
    assert axe_violations(page) == []
    page.goto(f"{shared_server.url}/picture/hotspots?window=30d")
    page.wait_for_selector("table.hotspots")
    assert axe_violations(page) == []


PROBLEM_AREA = "#picture-map path.problem-area"


def test_the_problem_areas_switch_hides_and_shows_the_outlines_by_keyboard_and_is_kept_for_the_session(
        browser, shared_server):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="fi-FI", service_workers="block")
    page = context.new_page()
    log_in(page, shared_server.url, "lead1")
    page.goto(f"{shared_server.url}/picture?window=7d")
    page.wait_for_selector("#picture-map[data-problem-areas-shown='1']", timeout=15000)
    page.wait_for_selector(HEX)
    outlines = page.locator(PROBLEM_AREA).count()
    assert outlines >= 1 and page.locator(f"{PROBLEM_AREA}[data-problem]").count() == outlines
    switch = page.locator("#toggle-problem-areas")
    assert switch.is_checked()
    # Its name in the screen's language, from the label around it.
    assert page.locator("label.legend-problems").inner_text().strip() == "Näytä avointen ongelmien alueet (POR)"
    box = page.locator("label.legend-problems").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["height"] >= 24

    # Keyboard: focus it and press Space.
    switch.focus()
    page.keyboard.press("Space")
    page.wait_for_selector("#picture-map[data-problem-areas-shown='0']")
    assert page.locator(PROBLEM_AREA).count() == 0 and not switch.is_checked()
    assert page.evaluate("document.activeElement.id") == "toggle-problem-areas"
    # The cells refresh (zoom in: new cells, a new legend): the switch keeps its state and the outlines stay away.
    page.locator(".leaflet-control-zoom-in").click()
    page.wait_for_timeout(800)
    page.wait_for_selector(HEX)
    assert not page.locator("#toggle-problem-areas").is_checked() and page.locator(PROBLEM_AREA).count() == 0

    # Kept for the session: a reload shows the map without them.
    page.reload()
    page.wait_for_selector("#picture-map[data-problem-areas-shown='0']", timeout=15000)
    assert page.locator(PROBLEM_AREA).count() == 0 and not page.locator("#toggle-problem-areas").is_checked()
    # Clicking the words shows them again, named as before.
    page.locator("label.legend-problems").click()
    page.wait_for_selector("#picture-map[data-problem-areas-shown='1']")
    assert page.locator(PROBLEM_AREA).count() == outlines
    assert page.locator(f"{PROBLEM_AREA}[data-problem]").count() == outlines
    assert page.locator(f"{PROBLEM_AREA} title").count() == outlines
    page.locator("#toggle-problem-areas").uncheck()
    page.wait_for_selector("#picture-map[data-problem-areas-shown='0']")
    context.close()

    # Another session starts with them shown.
    fresh = browser.new_context(viewport={"width": 1366, "height": 900}, locale="sv-SE", service_workers="block")
    page = fresh.new_page()
    log_in(page, shared_server.url, "lead1")
    page.goto(f"{shared_server.url}/picture?window=7d")
    page.wait_for_selector("#picture-map[data-problem-areas-shown='1']", timeout=15000)
    assert page.locator("#toggle-problem-areas").is_checked() and page.locator(PROBLEM_AREA).count() == outlines
    fresh.close()



def test_selects_show_their_whole_choice_in_every_language_on_a_phone_and_a_desktop(browser, shared_server):
    """The lead's filters (map, hotspots, period report) show the text of their chosen option whole, not cut off by
    the select, in Finnish, Swedish and English, at 390 px and 1366 px. Before, four map filters shared a row at
    1366 px ("Kaikki, motiivin kanssa tai ilman" cut after "kanssa") and the report's quarter was cut on a phone
    ("4. vuosineljän")."""
    cut = []
    for language in ("fi", "sv", "en"):
        for width in (390, 1366):
            context = browser.new_context(viewport={"width": width, "height": 900}, service_workers="block",
                                          extra_http_headers={"Accept-Language": language})
            page = context.new_page()
            log_in(page, shared_server.url, "lead1")
            for path in ("/picture", "/picture/hotspots", "/reports"):
                page.goto(f"{shared_server.url}{path}")
                cut += [(language, width, path, *select) for select in cut_selects(page)]
            context.close()
    assert cut == []
