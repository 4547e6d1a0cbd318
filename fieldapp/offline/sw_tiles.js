/* The offline basemap in the service worker (/sw.js joins this after sw.js).
 *
 * After each sync round a page asks for {type: "basemap"}: the worker reads the plan (/api/offline/basemap,
 * fieldapp/basemap.py) and keeps the map tiles around each deployment it names, zoom 10-17 within the
 * radius, in one cache per deployment ("fieldapp-tiles-<key>-<deployment id>"), lowest zooms and the tiles
 * nearest the place first, until the byte cap of all tile caches together. A deployment missing from the plan
 * (ended, or no longer kept on this device) has its cache deleted. Map tiles are then served cache-first: the
 * map works offline in the deployment's area; elsewhere a missing tile is simply left out (map.js says so).
 */
(function () {
  "use strict";

  var PREFIX = "fieldapp-tiles-";
  var PLAN_URL = "/api/offline/basemap";
  var BYTES_HEADER = "X-Fieldapp-Tile-Bytes";
  var PARALLEL = 4;
  var EARTH_M_PER_DEGREE = 111320;
  var running = null;
  var generation = 0;  // forget() moves it on: a fill still running then stores nothing more

  function cacheName(plan, area) {
    return PREFIX + plan.key + "-" + area.id;
  }

  // The URL Leaflet asks for (L.TileLayer.getTileUrl): {s} from x + y, {-y} for TMS servers, {r} never retina.
  function tileUrl(plan, z, x, y) {
    var subdomains = plan.subdomains || "abc";
    var values = { z: z, x: x, y: y, "-y": (1 << z) - 1 - y, r: "",
                   s: subdomains[Math.abs(x + y) % subdomains.length] };
    var url = plan.template.replace(/\{ *([\w_ -]+) *\}/g, function (all, name) {
      return values[name] === undefined ? all : String(values[name]);
    });
    return new URL(url, self.location.origin).href;
  }

  function tileX(lon, n) { return Math.floor((lon + 180) / 360 * n); }
  function tileY(lat, n) {
    var rad = lat * Math.PI / 180;
    return Math.floor((1 - Math.log(Math.tan(rad) + 1 / Math.cos(rad)) / Math.PI) / 2 * n);
  }

  // Every tile of every area, lowest zoom first, then nearest the area's place (so a cap cuts the far, fine ones);
  // a tile two areas share is kept once, by the first area (the plan lists current deployments first).
  function tilesOf(plan) {
    var seen = {};
    var out = [];
    for (var z = plan.min_zoom; z <= plan.max_zoom; z++) {
      var n = 1 << z;  // tiles across at this zoom
      var level = [];
      plan.areas.forEach(function (area, index) {
        var dLat = plan.radius_m / EARTH_M_PER_DEGREE;
        var dLon = plan.radius_m / (EARTH_M_PER_DEGREE * Math.cos(area.lat * Math.PI / 180));
        var x0 = tileX(area.lon - dLon, n), x1 = tileX(area.lon + dLon, n);
        var y0 = tileY(area.lat + dLat, n), y1 = tileY(area.lat - dLat, n);
        var cx = tileX(area.lon, n), cy = tileY(area.lat, n);
        for (var x = x0; x <= x1; x++) {
          for (var y = y0; y <= y1; y++) {
            var url = tileUrl(plan, z, x, y);
            if (seen[url]) continue;
            seen[url] = true;
            level.push({ url: url, cache: cacheName(plan, area), order: index, distance: Math.max(Math.abs(x - cx), Math.abs(y - cy)) });
          }
        }
      });
      level.sort(function (a, b) { return a.distance - b.distance || a.order - b.order; });
      out = out.concat(level);
    }
    return out;
  }

  function tileCacheNames() {
    return caches.keys().then(function (names) {
      return names.filter(function (name) { return name.indexOf(PREFIX) === 0; });
    });
  }

  // Bytes held by these caches, from the size written beside each tile when it was stored.
  function bytesIn(names) {
    return Promise.all(names.map(function (name) {
      return caches.open(name).then(function (cache) { return cache.matchAll(); }).then(function (responses) {
        return responses.reduce(function (sum, r) { return sum + (parseInt(r.headers.get(BYTES_HEADER), 10) || 0); }, 0);
      });
    })).then(function (sizes) { return sizes.reduce(function (a, b) { return a + b; }, 0); });
  }

  function fill(plan, used) {
    var queue = tilesOf(plan);
    var state = { used: used, stored: 0, full: false, failed: 0 };
    var mine = generation;
    function next() {
      if (state.full || !queue.length || mine !== generation) return Promise.resolve();
      var tile = queue.shift();
      return caches.open(tile.cache).then(function (cache) {
        return cache.match(tile.url).then(function (hit) {
          if (hit) return null;
          return fetch(tile.url, { mode: "cors", credentials: "omit" }).then(function (response) {
            if (!response.ok) { state.failed += 1; return null; }
            var type = response.headers.get("Content-Type") || "image/png";
            return response.blob().then(function (blob) {
              if (mine !== generation) return null;
              if (state.used + blob.size > plan.cap_bytes) { state.full = true; return null; }
              state.used += blob.size;  // counted before the put: the other fetches in flight see it at once
              state.stored += 1;
              var headers = { "Content-Type": type };
              headers[BYTES_HEADER] = String(blob.size);
              return cache.put(tile.url, new Response(blob, { status: 200, headers: headers }));
            });
          });
        });
      }).catch(function () { state.failed += 1; }).then(next);
    }
    var workers = [];
    for (var i = 0; i < PARALLEL; i++) workers.push(next());
    return Promise.all(workers).then(function () { return state; });
  }

  function apply(plan) {
    var wanted = {};
    if (plan.template) plan.areas.forEach(function (area) { wanted[cacheName(plan, area)] = true; });
    return tileCacheNames().then(function (names) {
      return Promise.all(names.filter(function (name) { return !wanted[name]; })
        .map(function (name) { return caches.delete(name); }));
    }).then(function () {
      if (!plan.template || !plan.areas.length) return null;
      return bytesIn(Object.keys(wanted)).then(function (used) { return fill(plan, used); });
    });
  }

  // One refresh at a time; one asked for meanwhile runs after it (with a plan read after the ask). Offline or
  // logged out, the tiles kept stay as they are.
  var again = false;
  function refresh() {
    if (running) {
      again = true;
      return running;
    }
    running = fetch(PLAN_URL, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (plan) { return plan ? apply(plan) : null; })
      .catch(function () { return null; })
      .then(function (result) {
        running = null;
        if (!again) return result;
        again = false;
        return refresh();
      });
    return running;
  }

  function forget() {
    generation += 1;
    return tileCacheNames().then(function (names) {
      return Promise.all(names.map(function (name) { return caches.delete(name); }));
    });
  }

  self.addEventListener("message", function (event) {
    var type = (event.data || {}).type;
    if (type === "basemap") event.waitUntil(refresh());
    else if (type === "forget-tiles" || type === "forget-pages") event.waitUntil(forget());  // logged out, wiped
  });

  // Images only (tiles are <img>); the pages' own requests are sw.js's.
  self.addEventListener("fetch", function (event) {
    var request = event.request;
    if (request.method !== "GET" || request.destination !== "image") return;
    var url = new URL(request.url);
    if (url.origin === self.location.origin && url.pathname.indexOf("/static/") === 0) return;
    event.respondWith(caches.match(request.url, { ignoreVary: true }).then(function (hit) {
      return hit || fetch(request);
    }));
  });

  self.FieldappTiles = { refresh: refresh, tilesOf: tilesOf, tileUrl: tileUrl };
})();
