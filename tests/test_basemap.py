"""The offline basemap, server side: the plan the service worker follows (which deployment areas, which cap),
the content security policy that lets the tile server in only when one is set, and the map's note without one.
The worker itself is tested in Chromium (tests/browser/test_basemap_browser.py)."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient

import html
import json
import re
from datetime import timedelta

from fieldapp import accounts, basemap, web
from fieldapp.clock import iso, utcnow
from fieldapp.app import create_app
from fieldapp.settings import Settings
from tests.conftest import Session

TILES = "https://tiles.example.invalid/basemap/{z}/{x}/{y}.png"


@pytest.fixture
def tile_url():
    return TILES


@pytest.fixture
def settings(db_path, tile_url):
    """The app's settings with a tile server (a test parametrizes tile_url to go without)."""
    return Settings(db_path=db_path, tile_url=tile_url, tile_radius_m=600, tile_cache_mb=7)


def _csp_sources(settings, directive: str) -> list[str]:
    for part in web.content_security_policy(settings).split(";"):
        words = part.split()
        if words and words[0] == directive:
            return words[1:]
    raise AssertionError(f"no {directive}")


def test_the_tile_server_is_allowed_for_images_and_the_workers_fetches_only_when_set():
    with_tiles = Settings(tile_url=TILES)
    assert "https://tiles.example.invalid" in _csp_sources(with_tiles, "img-src")
    assert "https://tiles.example.invalid" in _csp_sources(with_tiles, "connect-src")
    without = Settings(tile_url="")
    assert _csp_sources(without, "img-src") == ["'self'", "data:"]
    assert _csp_sources(without, "connect-src") == ["'self'"]


def test_a_template_with_subdomains_allows_exactly_those_hosts():
    sources = _csp_sources(Settings(tile_url="https://{s}.tiles.example.invalid/{z}/{x}/{y}.png"), "img-src")
    assert [s for s in sources if "tiles" in s] == [f"https://{s}.tiles.example.invalid" for s in "abc"]


def test_the_plan_names_the_officers_deployments_not_ended_current_first(login):
    plan = login("officer1").get("/api/offline/basemap").json()
    assert plan["template"] == TILES
    assert plan["cap_bytes"] == 7 * 1024 * 1024 and plan["radius_m"] == 600
    assert (plan["min_zoom"], plan["max_zoom"]) == (10, 17)
    names = [a["id"] for a in plan["areas"]]
    assert len(names) == 2  # the demo's current deployment and the upcoming one; three have ended
    assert all(set(a) == {"id", "lat", "lon"} for a in plan["areas"])


def test_an_ended_deployment_leaves_the_plan(login, db):
    officer = login("officer1")
    first = officer.get("/api/offline/basemap").json()["areas"][0]["id"]
    db.execute("UPDATE deployments SET ends_at = ? WHERE id = ?", [iso(utcnow() - timedelta(minutes=1)), first])
    db.conn.commit()
    assert first not in [a["id"] for a in officer.get("/api/offline/basemap").json()["areas"]]


def test_the_cache_key_changes_with_the_tile_server_and_the_radius(db):
    officer = accounts.by_username(db, "officer1")
    key = basemap.plan(db, officer, TILES, 600, 7)["key"]
    assert basemap.plan(db, officer, TILES, 900, 7)["key"] != key
    assert basemap.plan(db, officer, TILES.replace("basemap", "ortho"), 600, 7)["key"] != key
    assert basemap.plan(db, officer, TILES, 600, 7)["key"] == key
    assert basemap.plan(db, officer, TILES, 50_000, 7)["radius_m"] == basemap.MAX_RADIUS_M


@pytest.mark.parametrize("tile_url", [""])
def test_without_a_tile_server_the_plan_is_empty_and_the_map_says_so(login):
    officer = login("officer1")
    assert officer.get("/api/offline/basemap").json()["areas"] == []
    page = officer.get("/picture").text
    assert 'id="map-no-tiles"' in page and "Ei taustakarttaa" in page  # the demo users read Finnish


def test_with_a_tile_server_the_map_has_no_such_note(login):
    page = login("officer1").get("/picture").text
    assert 'id="picture-map"' in page and 'id="map-no-tiles"' not in page


def test_the_plan_needs_a_login(client):
    assert client.get("/api/offline/basemap").status_code == 401


def test_the_tile_servers_credit_line_reaches_the_map_as_text(db_path):
    settings = Settings(db_path=db_path, tile_url=TILES, tile_attribution="© Maanmittauslaitos <b>")
    with TestClient(app=create_app(settings), base_url="http://127.0.0.1") as client:
        page = Session(client, "officer1").get("/picture").text
    data_map = json.loads(html.unescape(re.search(r'data-map="([^"]+)"', page).group(1)))
    assert data_map["tile_attribution"] == "© Maanmittauslaitos &lt;b&gt;"  # Leaflet writes it as HTML: escaped
