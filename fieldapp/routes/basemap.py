"""The offline basemap plan the service worker asks for after each sync round (fieldapp.basemap has the rules)."""

from __future__ import annotations

from litestar import Controller, get

from fieldapp import basemap, web


class BasemapController(Controller):
    """GET /api/offline/basemap: which deployment areas' tiles this device keeps, and the byte cap."""

    path = "/api/offline/basemap"
    guards = [web.roles(*web.FIELD_ROLES)]
    dependencies = web.DEPENDENCIES

    @get("/", summary="Map tiles a device keeps offline",
         description="The tile URL template, zoom levels, radius and byte cap, and the deployment areas (not ended) "
                     "whose tiles the service worker caches; an area missing here has its cached tiles deleted.")
    async def basemap_plan(self, db: web.DB, user: web.CurrentUser, settings: web.AppSettings) -> dict:
        return basemap.plan(db, user, settings.tile_url, settings.tile_radius_m, settings.tile_cache_mb)


ROUTES = [BasemapController]
