"""Leftovers of issue 11 in Chromium: the summary's top hotspots follow the map's cell size after a zoom."""

from __future__ import annotations

import h3

from tests.browser.conftest import log_in

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
