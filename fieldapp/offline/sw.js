/* fieldapp service worker. /sw.js joins: its configuration (version, shell files), outbox.js,
 * sync-client.js, this file, then every fieldapp/offline/sw_*.js (push and other areas).
 *
 * Shell (CSS, scripts, icons, vendored files): precached per version, served cache-first.
 * Pages: network first, the last good copy when the network fails (marked as the device's copy).
 * An update waits until the officer taps "update available"; it never touches the outbox.
 */
(function () {
  "use strict";

  var CONFIG = self.FIELDAPP_SW;
  var SHELL_PREFIX = "fieldapp-shell-";
  var SHELL_CACHE = SHELL_PREFIX + CONFIG.version;
  var PAGES_CACHE = self.FieldappSync.PAGES_CACHE;
  var SHELL = {};
  CONFIG.shell.forEach(function (url) { SHELL[url] = true; });
  var PAGE_TIMEOUT_MS = 8000;

  self.addEventListener("install", function (event) {
    event.waitUntil(caches.open(SHELL_CACHE).then(function (cache) {
      return cache.addAll(CONFIG.shell.map(function (url) { return new Request(url, { cache: "reload" }); }));
    }));
    // No skipWaiting here: a new version waits for the officer's tap (or for every tab to close).
  });

  self.addEventListener("activate", function (event) {
    event.waitUntil(caches.keys().then(function (names) {
      return Promise.all(names.filter(function (name) {
        return name.indexOf(SHELL_PREFIX) === 0 && name !== SHELL_CACHE;
      }).map(function (name) { return caches.delete(name); }));
    }).then(function () { return self.clients.claim(); }));
  });

  self.addEventListener("message", function (event) {
    var data = event.data || {};
    if (data.type === "skip-waiting") {
      self.skipWaiting();
    } else if (data.type === "forget-pages") {
      event.waitUntil(caches.delete(PAGES_CACHE));
    }
  });

  // Background Sync: the browser wakes the worker when the connection is back.
  self.addEventListener("sync", function (event) {
    if (event.tag === "fieldapp-outbox") {
      event.waitUntil(self.FieldappSync.run({ reason: "background-sync" }).then(function (result) {
        // A network failure makes the browser retry the sync event later with its own backoff.
        if (!result.ok && !result.login && !result.storage) throw new Error(result.error);
      }));
    }
  });

  function timeout(ms) {
    return new Promise(function (resolve, reject) { setTimeout(function () { reject(new Error("timeout")); }, ms); });
  }

  // The stored copy of a page, marked so that the page script knows it is the device's copy.
  function deviceCopy(request) {
    // Issue 12 (device-wipe.js): after too long without the server, colleagues' records go before any copy is shown.
    return self.FieldappDeviceWipe.checkStale().then(function () {
      return caches.open(PAGES_CACHE);
    }).then(function (cache) {
      return cache.match(request.url, { ignoreVary: true }).then(function (hit) {
        return hit || cache.match(request.url, { ignoreVary: true, ignoreSearch: true });
      }).then(function (hit) {
        return hit || cache.match("/offline", { ignoreVary: true });
      });
    }).then(function (hit) {
      if (!hit) return null;
      return hit.text().then(function (html) {
        var marked = html.replace("<html ", '<html data-device-copy="1" ');
        var headers = new Headers(hit.headers);
        headers.delete("Content-Length");
        headers.delete("Content-Encoding");
        return new Response(marked, { status: 200, headers: headers });
      });
    });
  }

  function offlineResponse() {
    return new Response("<!doctype html><meta charset=utf-8><title>fieldapp</title><h1>fieldapp: offline</h1>",
      { status: 503, headers: { "Content-Type": "text/html; charset=utf-8" } });
  }

  function networkFirstPage(event) {
    var request = event.request;
    var network = fetch(request).then(function (response) {
      if (self.FieldappSync.cacheablePage(response)) {
        var copy = response.clone();
        event.waitUntil(caches.open(PAGES_CACHE).then(function (cache) { return cache.put(request.url, copy); }));
      }
      return response;
    });
    return Promise.race([network, timeout(PAGE_TIMEOUT_MS)]).catch(function () {
      return deviceCopy(request).then(function (copy) {
        // Nothing stored: wait for the network after all (a slow answer beats none).
        return copy || network.catch(function () { return offlineResponse(); });
      });
    });
  }

  function shellFirst(request, path) {
    return caches.open(SHELL_CACHE).then(function (cache) {
      return cache.match(path, { ignoreVary: true }).then(function (hit) {
        return hit || fetch(request);
      });
    });
  }

  self.addEventListener("fetch", function (event) {
    var request = event.request;
    if (request.method !== "GET") return;
    var url = new URL(request.url);
    if (url.origin !== self.location.origin) return;
    if (url.pathname.indexOf("/api/") === 0 || url.pathname === "/sw.js") return;
    if (url.pathname.indexOf("/shared/") === 0) return;  // a partner's public link: never kept on a device
    if (SHELL[url.pathname]) {
      event.respondWith(shellFirst(request, url.pathname));
      return;
    }
    if (request.mode === "navigate") {
      event.respondWith(networkFirstPage(event));
      return;
    }
    // htmx: a boosted link loads a full page, so it may be kept like one; partials never are.
    if (request.headers.get("HX-Request") === "true" && request.headers.get("HX-Boosted") === "true") {
      event.respondWith(fetch(request).then(function (response) {
        if (self.FieldappSync.cacheablePage(response)) {
          var copy = response.clone();
          event.waitUntil(caches.open(PAGES_CACHE).then(function (cache) { return cache.put(request.url, copy); }));
        }
        return response;
      }));
    }
  });
})();
