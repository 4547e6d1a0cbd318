/* fieldapp device wipe (issue 12): what a lost phone keeps, and how it forgets it. No DOM: pages and the
 * service worker both run it (shell.WORKER_SHARED and CLIENT_SCRIPTS).
 *
 * Revoked: the server answers a revoked device 401 with Clear-Site-Data and X-Fieldapp-Device: revoked. Any
 *   fetch of this page or worker that gets that answer deletes every IndexedDB database (the outbox too: the
 *   admin was shown how many records it last reported waiting), every cache, and the service worker.
 * Bounded: copies of colleagues' records are kept for the current and next deployment and the last 24 hours
 *   only; after FIELDAPP_DEVICE_FORGET_HOURS (default 12) without reaching the server they are deleted, with
 *   the cached pages that show records. The officer's own outbox stays, and the capture forms too: recording
 *   keeps working.
 */
(function (root) {
  "use strict";

  var Outbox = root.FieldappOutbox;
  var Sync = root.FieldappSync;
  var HOUR_MS = 3600 * 1000;
  var DEFAULTS = { forget_after_hours: 12, keep_hours: 24 };
  var CONTACT_EVERY_MS = 60 * 1000;  // "reached the server" is written at most this often
  var lastContact = 0;
  var wiping = null;

  function isRevoked(response) {
    return !!response && response.status === 401 && response.headers &&
      response.headers.get("X-Fieldapp-Device") === "revoked";
  }

  // Pages that show no one's records and that capture needs offline: kept when the copies are forgotten.
  function keptWhenForgetting(path) {
    return path === "/pending" || path === "/offline" || /\/new$/.test(path);
  }

  function deploymentOf(path) {
    var match = /^\/deployments\/([^/]+)/.exec(path);
    return match ? match[1] : null;
  }

  // Delete the cached pages for which keep(path, storedAtMs) is false; resolves with how many went.
  function prunePages(keep) {
    if (!root.caches) return Promise.resolve(0);
    return root.caches.has(Sync.PAGES_CACHE).then(function (exists) {
      if (!exists) return 0;
      return root.caches.open(Sync.PAGES_CACHE).then(function (cache) {
        return cache.keys().then(function (requests) {
          return Promise.all(requests.map(function (request) {
            return cache.match(request, { ignoreVary: true }).then(function (response) {
              var stored = Date.parse((response && response.headers.get("Date")) || "") || 0;
              if (keep(new URL(request.url).pathname, stored)) return 0;
              return cache.delete(request).then(function () { return 1; });
            });
          }));
        }).then(function (gone) { return gone.reduce(function (a, b) { return a + b; }, 0); });
      });
    });
  }

  var Wipe = {
    isRevoked: isRevoked,

    /* Everything fieldapp keeps on this device: IndexedDB, caches, the service worker. Once per page/worker. */
    wipe: function () {
      if (wiping) return wiping;
      var steps = [Outbox.wipeDevice().catch(function () { return null; })];
      if (root.caches) {
        steps.push(root.caches.keys().then(function (names) {
          return Promise.all(names.map(function (name) { return root.caches.delete(name); }));
        }).catch(function () { return null; }));
      }
      if (root.registration && root.registration.unregister) {  // in the worker
        steps.push(root.registration.unregister().catch(function () { return null; }));
      } else if (root.navigator && root.navigator.serviceWorker && root.navigator.serviceWorker.getRegistrations) {
        steps.push(root.navigator.serviceWorker.getRegistrations().then(function (registrations) {
          return Promise.all(registrations.map(function (r) { return r.unregister(); }));
        }).catch(function () { return null; }));
      }
      wiping = Promise.all(steps).then(function () {
        if (Sync.announce) Sync.announce({ type: "device-wiped" });
        return true;
      });
      return wiping;
    },

    wiped: function () { return !!wiping; },

    /* The server answered (an /api/ address is never served from a cache): note it, at most once a minute. */
    contact: function (now) {
      now = now || Date.now();
      if (now - lastContact < CONTACT_EVERY_MS) return Promise.resolve();
      lastContact = now;
      return Outbox.setMeta("server_contact", now).catch(function () { return null; });
    },

    policy: function () {
      return Outbox.getMeta("device_policy").then(function (stored) {
        return Object.assign({}, DEFAULTS, stored || {});
      }, function () { return Object.assign({}, DEFAULTS); });
    },

    setPolicy: function (answer) {
      if (!answer || typeof answer.forget_after_hours !== "number") return Promise.resolve();
      return Outbox.setMeta("device_policy", { forget_after_hours: answer.forget_after_hours,
                                                keep_hours: answer.keep_hours || DEFAULTS.keep_hours });
    },

    /* When this device last reached the server (ms), or 0 when never. */
    lastContact: function () {
      return Promise.all([Outbox.getMeta("server_contact"), Outbox.getMeta("last_sync")]).then(function (values) {
        return Math.max(values[0] || 0, values[1] || 0);
      });
    },

    /* Forget colleagues' records and the cached pages that show records (not the outbox, not the forms). */
    forgetOthers: function () {
      return Promise.all([Outbox.pruneCopies([], null), prunePages(keptWhenForgetting)]).then(function (counts) {
        return Outbox.setMeta("copies_forgotten_at", Date.now()).then(function () {
          return { copies: counts[0], pages: counts[1] };
        });
      });
    },

    /* Forget them if the server has not been reached for the configured time. Resolves with true if it did. */
    checkStale: function (now) {
      if (wiping) return Promise.resolve(false);
      now = now || Date.now();
      return Promise.all([Wipe.lastContact(), Wipe.policy(), Outbox.getMeta("copies_forgotten_at")])
        .then(function (values) {
          var last = values[0], policy = values[1], forgotten = values[2] || 0;
          if (!last || now - last <= policy.forget_after_hours * HOUR_MS || forgotten > last) return false;
          return Wipe.forgetOthers().then(function () { return true; });
        }).catch(function () { return false; });
    },

    /* After a sync: keep only the copies of the deployments the server still sends (current and next) and of
       records of the last keep_hours; of the cached pages, those the server names for offline work (refreshed
       by each sync) and others younger than keep_hours that are not of a deployment no longer sent. */
    bound: function (now) {
      now = now || Date.now();
      return Promise.all([Outbox.getMeta("bootstrap"), Wipe.policy()]).then(function (values) {
        var bootstrap = values[0], policy = values[1];
        if (!bootstrap || !bootstrap.deployments) return null;
        var keep = bootstrap.deployments.map(function (d) { return d.id; });
        var oldest = now - policy.keep_hours * HOUR_MS;
        var named = bootstrap.pages || [];
        return Promise.all([Outbox.pruneCopies(keep, new Date(oldest).toISOString()), prunePages(function (path, stored) {
          var deployment = deploymentOf(path);
          if (deployment && keep.indexOf(deployment) < 0) return false;
          return named.indexOf(path) >= 0 || stored >= oldest;
        })]);
      }).catch(function () { return null; });
    }
  };

  // Every answer this page or worker gets passes here: a revoked device wipes itself at its first contact.
  var realFetch = root.fetch;
  if (realFetch) {
    root.fetch = function (input) {
      return realFetch.apply(root, arguments).then(function (response) {
        if (isRevoked(response)) {
          Wipe.wipe();
        } else if (response && response.type === "basic" && response.status < 500) {
          var path = new URL(response.url || String((input && input.url) || input), root.location.href).pathname;
          if (path.indexOf("/api/") === 0) Wipe.contact();
        }
        return response;
      });
    };
  }

  root.FieldappDeviceWipe = Wipe;
})(self);
