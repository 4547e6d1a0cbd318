"""POR problems in Chromium at 390 px: a lead opens a problem from the hotspot list; the list then says so."""

from tests.browser.conftest import axe_violations, log_in


def test_lead_opens_a_problem_from_the_hotspot_list_on_a_phone(page, live_server):
    log_in(page, live_server.url, "lead1")
    page.goto(f"{live_server.url}/picture/hotspots?window=7d&res=8")
    # The highest hotspot without a problem yet (the demo data opened one from the top one).
    first = page.locator("table.hotspots tbody tr.hotspot:has(a.hotspot-open-problem)").first
    cell = first.get_attribute("data-cell")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    first.locator("a.hotspot-open-problem").click()
    page.wait_for_url("**/problems/new?**")
    assert f"cell={cell}" in page.url
    assert "records of the time window are linked" in page.inner_text("#problem-form")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.fill("#title", "Evenings on the square")
    page.fill("#place_name", "Senaatintori")
    page.click("#problem-form button[type=submit].primary")
    page.wait_for_url("**/problems/0*")
    assert page.inner_text("h1") == "Evenings on the square"
    # The area is named by the nearest deployment place (never the cell id), linking to the cell on the map.
    assert page.locator(f"#problem a[href^='/picture/cells/{cell}']").count() == 1
    assert cell not in page.inner_text("#problem")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert axe_violations(page) == []

    with live_server.db() as conn:
        problem_id, = conn.execute("SELECT id FROM problems WHERE title = 'Evenings on the square'").fetchone()
        linked = conn.execute("SELECT count(*) FROM problem_records WHERE problem_id = ?", [problem_id]).fetchone()[0]
        cells = [r[0] for r in conn.execute("SELECT cell FROM problem_cells WHERE problem_id = ?", [problem_id])]
        actions = [r[0] for r in conn.execute("SELECT action FROM audit_log WHERE record_type = 'problem' "
                                              "AND record_id = ? ORDER BY id", [problem_id])]
    assert linked > 0 and cells == [cell] and actions[0] == "create"

    page.goto(f"{live_server.url}/picture/hotspots?window=7d&res=8")
    row = page.locator(f"table.hotspots tbody tr.hotspot[data-cell='{cell}']")
    assert "Has a problem: Evenings on the square" in row.inner_text()
    assert row.locator("a.hotspot-open-problem").count() == 0
    assert "Evenings on the square" in page.inner_text(".open-problems")

    # The tension map outlines the open problems' areas (dashed, above the cells) and says so in its legend.
    page.goto(f"{live_server.url}/picture?window=7d")
    page.wait_for_selector("#picture-map[data-problem-areas]", timeout=15000)
    with live_server.db() as conn:
        open_cells = conn.execute("SELECT COUNT(*) FROM problem_cells c JOIN problems p ON p.id = c.problem_id "
                                  "WHERE p.state = 'open'").fetchone()[0]
    assert page.locator("path.problem-area").count() == open_cells >= 2  # the demo's problem and this one
    assert page.locator(f"path.problem-area[data-problem='{problem_id}']").count() == 1
    page.wait_for_selector(".legend-problems")
    assert "open problem" in page.inner_text(".legend-problems")
