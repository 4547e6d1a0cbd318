"""Where fieldapp's places may be: Finland's bounding box (deployments, field records, the picture)."""

from __future__ import annotations

LAT_RANGE = (59.4, 70.2)
LON_RANGE = (19.0, 31.7)


def in_finland(lat: float, lon: float) -> bool:
    """Inside the box (a typing slip such as swapped or mistyped coordinates lands outside)."""
    return LAT_RANGE[0] <= lat <= LAT_RANGE[1] and LON_RANGE[0] <= lon <= LON_RANGE[1]
