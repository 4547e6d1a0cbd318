"""The offline basemap: which map tiles a device keeps, for which deployments, within which byte cap.

The service worker (fieldapp/offline/sw_tiles.js) asks for this plan after each sync round and keeps one cache
per deployment area; a deployment that has ended, or that the device no longer keeps offline, drops out of the
plan, and the worker deletes its cache. The tile list itself is computed in the worker from the centre and the
radius (a few hundred tiles per area: not worth sending).
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

from fieldapp.accounts import User
from fieldapp.offline import sync

MIN_ZOOM, MAX_ZOOM = 10, 17  # the whole town around the place down to street level (issue 11: up to 17)
SUBDOMAINS = "abc"  # Leaflet's default for {s}
MAX_RADIUS_M = 5000  # some 4,000 tiles at zoom 17: a larger radius would only list tiles the byte cap never keeps


def tile_origins(tile_url: str) -> list[str]:
    """The origins the browser fetches tiles from ({s} filled with each subdomain), for the CSP."""
    if not tile_url:
        return []
    urls = [tile_url.replace("{s}", s) for s in SUBDOMAINS] if "{s}" in tile_url else [tile_url]
    origins = []
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.netloc:
            origins.append(f"{parts.scheme}://{parts.netloc}")
    return list(dict.fromkeys(origins))


def plan(db, user: User, tile_url: str, radius_m: int, cap_mb: int) -> dict:
    """What the worker caches: the tile template, zooms, radius and byte cap, and the areas (deployments not
    ended that the device keeps offline, current first). `key` changes with the template and the radius, so
    tiles cached under other settings are dropped."""
    if not tile_url:
        return {"template": "", "key": "", "areas": [], "cap_bytes": 0, "radius_m": 0,
                "min_zoom": MIN_ZOOM, "max_zoom": MAX_ZOOM, "subdomains": SUBDOMAINS}
    radius_m = min(max(0, radius_m), MAX_RADIUS_M)
    key = hashlib.sha256(f"{tile_url}|{radius_m}".encode()).hexdigest()[:8]
    areas = [{"id": d["id"], "lat": d["lat"], "lon": d["lon"]}
             for d in sync.offline_deployments(db, user)
             if d["status"] != "past" and d["lat"] is not None and d["lon"] is not None]
    return {"template": tile_url, "key": key, "areas": areas, "cap_bytes": max(0, cap_mb) * 1024 * 1024,
            "radius_m": radius_m, "min_zoom": MIN_ZOOM, "max_zoom": MAX_ZOOM, "subdomains": SUBDOMAINS}
