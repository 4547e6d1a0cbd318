"""Cells and scores: which h3 cell a place is in, ancestors by integer arithmetic, sizes, severity weights."""

from __future__ import annotations

import math
from functools import lru_cache

import h3
from h3.api import basic_int

RESOLUTIONS = (5, 6, 7, 8, 9)
FINEST = 9
# The ancestor that leads each roll-up key: a map view is narrowed to the ancestors it overlaps.
PARENT_RES = {5: 3, 6: 4, 7: 5, 8: 6, 9: 7}
SEVERITIES = (1, 2, 3, 4, 5, 6)
WEIGHTS = {s: 2 ** (s - 1) for s in SEVERITIES}
RISING, EASING = "rising", "easing"
COLOURS = ("#ffe08a", "#fdae61", "#f46d43", "#c7251a", "#7a0b0b")


def cell_int(lat: float, lon: float, res: int = FINEST) -> int:
    return basic_int.latlng_to_cell(lat, lon, res)


def parent_masks(res: int) -> tuple[int, int]:
    """(and_mask, or_bits) turning a finer cell integer into its ancestor at res: (c & and) | or.

    An h3 index keeps its resolution in bits 52-55 and one 3-bit digit per finer resolution below;
    unused digits are 7. The same arithmetic runs in SQL, so ancestors need no lookup table.
    """
    return ~(15 << 52), (res << 52) | ((1 << (3 * (15 - res))) - 1)


def parent_of(cell: int, res: int) -> int:
    and_mask, or_bits = parent_masks(res)
    return (cell & and_mask) | or_bits


def descendant_range(cell: int, res: int = FINEST) -> tuple[int, int]:
    """Lowest and highest integer of the cell's descendants at res: they lie in between, contiguously."""
    low = h3.str_to_int(h3.cell_to_center_child(h3.int_to_str(cell), res))
    high = (cell & ~(15 << 52)) | (res << 52) | ((1 << (3 * (15 - res))) - 1)
    for digit in range(h3.get_resolution(h3.int_to_str(cell)) + 1, res + 1):
        shift = 3 * (15 - digit)
        high = (high & ~(7 << shift)) | (6 << shift)
    return low, high


@lru_cache(maxsize=100_000)
def cell_ring(cell: int) -> tuple[tuple[float, float], ...]:
    """The cell's outline as GeoJSON [lon, lat] pairs, closed."""
    points = [(round(lng, 6), round(lat, 6)) for lat, lng in h3.cell_to_boundary(h3.int_to_str(cell))]
    return tuple(points + points[:1])


def cell_size_m(res: int) -> int:
    """A cell's width across its flat sides, in metres (for labels)."""
    return int(round(h3.average_hexagon_edge_length(res, "m") * math.sqrt(3), -1))


def res_for_zoom(zoom: int) -> int:
    """The resolution whose cells appear some 40-120 px wide at this web map zoom level."""
    if zoom <= 7:
        return 5
    if zoom <= 9:
        return 6
    if zoom <= 11:
        return 7
    if zoom <= 13:
        return 8
    return 9
