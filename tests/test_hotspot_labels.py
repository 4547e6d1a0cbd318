"""The hotspot list tells the truth: the map's cell size, places instead of cell ids, and "new" only when new."""

from __future__ import annotations

import re
from datetime import timedelta

from fieldapp import i18n, picture, templating
from fieldapp.picture.aggregation import PlaceNear, place_near
from tests.test_picture_domain import KALLIO, SENAATINTORI, tension, unit, window  # noqa: F401 (fixture)

KONTULA = (60.2360, 25.0820)


def test_a_cell_quiet_in_the_previous_window_but_busy_before_is_not_new(unit):  # noqa: F811
    u = unit
    tension(u, u["now"] - timedelta(minutes=20), KALLIO)
    tension(u, u["now"] - timedelta(days=3), KALLIO, deployment="past")  # before the previous hour
    tension(u, u["now"] - timedelta(minutes=20), SENAATINTORI)
    rows = {h.place: h for h in picture.hotspots(u["db"], picture.Scope(u["unit_id"]), window(u, 1), 9)}
    assert rows["Kallion kirjasto"].change == "back" and rows["Kallion kirjasto"].previous_score == 0
    assert rows["Senaatintori"].change == "new"


def test_a_cell_is_named_by_the_nearest_place_with_distance_and_direction():
    places = [(KONTULA[0], KONTULA[1], "Kontula"), (KALLIO[0], KALLIO[1], "Kallion kirjasto")]
    near = place_near(places, KONTULA[0] + 0.0126, KONTULA[1], 3.0)  # 1.4 km north of Kontula
    assert (near.name, near.direction) == ("Kontula", "north") and 1350 < near.metres < 1450
    assert place_near(places, 61.5, 23.8, 3.0) is None  # Tampere: nothing of the unit's within reach


def test_the_offset_reads_naturally_in_each_language():
    near = PlaceNear("Kontula", 1420, "north-east")
    texts = {}
    for locale in ("fi", "sv", "en"):
        token = i18n.set_locale(locale)
        texts[locale] = templating._place_offset(near)
        i18n._current.reset(token)
    assert texts == {"fi": "Kontula, 1,4\u00a0km koilliseen", "sv": "1,4\u00a0km nordost om Kontula",
                     "en": "1.4\u00a0km north-east of Kontula"}


def _size(text: str) -> str:
    return re.search(r"cells of about ([\d,\s\u00a0]+) m", text, re.I).group(1)


def test_the_hotspot_list_uses_the_cells_of_the_map_for_the_same_view(login, db):
    lead = login("lead1")
    lead.post("/language", data={"locale": "en", "next": "/"})
    live = db.execute("SELECT id FROM deployments WHERE name = 'Mielenosoitus Senaatintorilla'").fetchone()[0]
    for query in (f"deployment={live}", "window=7d"):
        on_map = lead.get(f"/picture?{query}").text
        listed = lead.get(f"/picture/hotspots?{query}").text
        assert _size(on_map) == _size(listed)
        labels = re.findall(r'<th scope="row" class="area"><a [^>]*>([^<]*)</a>', listed)
        assert labels and not any(re.fullmatch(r"8[0-9a-f]{14}", label.strip()) for label in labels)
        assert "just before this window" in listed
