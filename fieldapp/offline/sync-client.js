/* fieldapp sync client: sends the outbox and pulls colleagues' records. No DOM: pages and the
 * service worker both run it. One sender at a time per device (Web Lock); the server's idempotency
 * by record id makes a second sender harmless anyway. Records leave the outbox only when the
 * server acknowledged them.
 */
(function (root) {
  "use strict";

  var Outbox = root.FieldappOutbox;
  var LOCK = "fieldapp-sync";
  var PAGES_CACHE = "fieldapp-pages";
  var BOOTSTRAP_EVERY_MS = 5 * 60 * 1000;
  var REQUEST_TIMEOUT_MS = 30000;
  var DEFAULT_BATCH = 100;
  var channel = root.BroadcastChannel ? new root.BroadcastChannel("fieldapp-sync") : null;
  var listeners = [];

  function announce(message) {
    if (channel) channel.postMessage(message);
    listeners.forEach(function (fn) { try { fn(message); } catch (ignored) { /* a listener's own problem */ } });
  }
  if (channel) {
    channel.onmessage = function (event) {
      listeners.forEach(function (fn) { try { fn(event.data); } catch (ignored) { /* ignore */ } });
    };
  }

  function SyncError(kind, status, detail, retryAfterMs) {
    this.name = "SyncError";
    this.kind = kind;        // "network", "server", "login"
    this.status = status || 0;
    this.retryAfterMs = retryAfterMs || 0;  // the server asked to wait this long (429/503 with Retry-After)
    this.message = kind + (status ? " " + status : "") + (detail ? ": " + detail : "");
  }
  SyncError.prototype = Object.create(Error.prototype);

  function request(url, options) {
    options = options || {};
    var controller = root.AbortController ? new root.AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, REQUEST_TIMEOUT_MS) : null;
    var init = {
      method: options.method || "GET", credentials: "same-origin", cache: "no-store", redirect: "manual",
      headers: Object.assign({ Accept: "application/json" }, options.headers || {}),
      body: options.body, signal: controller ? controller.signal : undefined
    };
    return root.fetch(url, init).then(function (response) {
      if (timer) clearTimeout(timer);
      return response;
    }, function (err) {
      if (timer) clearTimeout(timer);
      throw new SyncError("network", 0, err && err.message);
    });
  }

  function withLock(fn) {
    var locks = root.navigator && root.navigator.locks;
    if (locks && locks.request) return locks.request(LOCK, fn);
    return fn();
  }

  function session() {
    return request("/api/session").then(function (response) {
      if (response.status === 401 || response.type === "opaqueredirect") throw new SyncError("login", 401);
      if (!response.ok) throw new SyncError("server", response.status);
      return response.json();
    });
  }

  // A blank form value means "not given" to the server (the field's default applies): it is left out of
  // what is sent, which keeps bodies small and lets the server read a record in one step.
  function givenValues(values) {
    var out = {};
    Object.keys(values || {}).forEach(function (name) { if (values[name] !== "") out[name] = values[name]; });
    return out;
  }

  function sendBatch(entries, csrf) {
    var body = JSON.stringify({
      sent_at: new Date().toISOString(),
      records: entries.map(function (e) {
        var item = { id: e.id, kind: e.kind, deployment_id: e.deployment_id, base_version: e.base_version,
                     device_time: e.device_time };
        if (e.sealed) item.sealed = e.sealed;  // only the server opens it
        else item.values = givenValues(e.values);
        if (e.resolves != null) item.resolves = e.resolves;
        return item;
      })
    });
    return request("/api/sync", {
      method: "POST", body: body, headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }
    });
  }

  // Send every waiting record of this user, in batches, oldest first. A batch the server refuses as a
  // whole is split until the record that causes it is found; that record is set aside (400, 413) or
  // skipped until the next round (5xx), so one bad record never blocks the others.
  function push(me, csrf, counts) {
    return Outbox.getMeta("batch_max").then(function (max) {
      var fullBatch = Math.max(1, Math.min(max || DEFAULT_BATCH, DEFAULT_BATCH));
      var batchMax = fullBatch;
      var retriedCsrf = false;
      var skipped = {};
      var serverTrouble = null;
      var lastSingleFailed = false;
      function next() {
        var skipCount = Object.keys(skipped).length;
        return Outbox.waiting(me, batchMax + skipCount).then(function (entries) {
          return entries.filter(function (e) { return !skipped[e.id]; }).slice(0, batchMax);
        });
      }
      function refuse(entry, response) {
        return response.json().catch(function () { return {}; }).then(function (body) {
          var result = { id: entry.id, status: "rejected", errors: {}, message: (body && body.error) || "" };
          counts.attention += 1;
          counts.results.push(result);
          batchMax = fullBatch;
          return Outbox.applyResults([result]);
        });
      }
      function round() {
        return next().then(function (entries) {
          if (!entries.length) {
            if (serverTrouble) throw serverTrouble;
            return counts;
          }
          return sendBatch(entries, csrf).then(function (response) {
            if (response.status === 401) throw new SyncError("login", 401);
            if (response.status === 403 && !retriedCsrf) {
              retriedCsrf = true;  // the token changed (new login in another tab): fetch it again
              return session().then(function (info) { csrf = info.csrf; return round(); });
            }
            var wait = (response.status === 429 || response.status === 503) &&
              self.FieldappRetry.afterHeader(response.headers.get("retry-after"));
            // Busy or unable to write: the whole round stops and waits as asked (halving the batch and trying
            // again at once would only add to a crowd at the server).
            if (wait) throw new SyncError("server", response.status, "retry after", wait);
            var whole = response.status === 400 || response.status === 413 || response.status >= 500;
            if (whole && entries.length > 1) {
              batchMax = Math.ceil(entries.length / 2);  // halve and go on, nothing is dropped
              return round();
            }
            if (whole && response.status < 500) return refuse(entries[0], response).then(round);
            if (whole) {
              serverTrouble = new SyncError("server", response.status);
              // Two single records failing in a row: the server is in trouble, not a record. Back off.
              if (lastSingleFailed) throw serverTrouble;
              lastSingleFailed = true;
              skipped[entries[0].id] = true;  // try it again next round, after the others
              batchMax = fullBatch;
              return round();
            }
            if (!response.ok) throw new SyncError("server", response.status);
            lastSingleFailed = false;
            return response.json().then(function (body) {
              var results = (body && body.results) || [];
              if (results.length !== entries.length) throw new SyncError("server", response.status, "incomplete answer");
              results.forEach(function (r) {
                if (r.status === "accepted" || r.status === "duplicate") counts.acknowledged += 1;
                else counts.attention += 1;
              });
              counts.results = counts.results.concat(results);
              return Outbox.applyResults(results).then(round);
            });
          });
        });
      }
      return round();
    });
  }

  // Side records, each kind to its own address after the records, oldest first, each acknowledged once (the
  // server answers a resend like the first time). `field` names the list in the body; `toItem` shapes an entry.
  function pushKind(kind, url, field, toItem, me, csrf, counts) {
    return Outbox.waiting(me, DEFAULT_BATCH, kind).then(function (entries) {
      if (!entries.length) return counts;
      var payload = {};
      payload[field] = entries.map(toItem);
      var body = JSON.stringify(payload);
      return request(url, {
        method: "POST", body: body, headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }
      }).then(function (response) {
        if (response.status === 401) throw new SyncError("login", 401);
        var busy = refused(response);  // a crowd: come back when told, as for records
        if (busy) throw busy;
        if (!response.ok) throw new SyncError("server", response.status);
        return response.json();
      }).then(function (answer) {
        var results = (answer && answer.results) || [];
        if (results.length !== entries.length) throw new SyncError("server", 200, "incomplete answer");
        results.forEach(function (r) {
          if (r.status === "accepted" || r.status === "duplicate") counts.acknowledged += 1;
          else counts.attention += 1;
        });
        counts.results = counts.results.concat(results);
        return Outbox.applyResults(results).then(function () {
          return pushKind(kind, url, field, toItem, me, csrf, counts);
        });
      });
    });
  }

  // Check-in and check-out taps kept on this device.
  function presenceTap(t) {
    return { id: t.id, deployment_id: t.deployment_id, action: t.values.action, at: t.values.at };
  }

  // Feedback given on follow-ups, marked on this device (offline at a community visit, say).
  function feedbackAction(e) {
    // Sealed in the outbox (outbox.js): the server opens the values; the header keeps the follow-up's id.
    if (e.sealed) return { id: e.id, followup_id: e.ref || "", sealed: e.sealed };
    // reopenings: left out (undefined) by an action an older version of this script kept.
    return { id: e.id, followup_id: e.values.followup_id, given_how: e.values.given_how,
             given_at: e.values.given_at, note: e.values.note || "", reopenings: e.values.reopenings };
  }

  function pushPresence(me, csrf, counts) {
    return pushKind("presence", "/api/sync/presence", "taps", presenceTap, me, csrf, counts);
  }

  function pushFeedback(me, csrf, counts) {
    return pushKind("feedback", "/api/sync/followups", "actions", feedbackAction, me, csrf, counts);
  }

  // Busy (429/503 with Retry-After): the round stops and the schedule waits as asked, plus a random part.
  function refused(response) {
    var wait = (response.status === 429 || response.status === 503) &&
      root.FieldappRetry.afterHeader(response.headers.get("retry-after"));
    return wait ? new SyncError("server", response.status, "retry after", wait) : null;
  }

  // Changes since the last cursor: the server sends what this device needs (its deployments' newest records,
  // edits and deletions, its own records with their versions) and names in `changed` every deployment with any
  // change. Those are noted (before the cursor moves on); their offline pages are refreshed after the bootstrap
  // (refreshStale), and a refresh cut short (page closed) is done on the next round. The last answer's ETag goes back with the same cursor: 304 means
  // nothing changed since (no body to read).
  function pull(me, counts) {
    var received = 0;
    function note(body) {
      var ids = (body.changed || []).concat(body.records.map(function (r) { return r.deployment_id; }));
      if (!ids.length) return Promise.resolve();
      return Outbox.getMeta("stale_deployments").then(function (stale) {
        var set = {};
        (stale || []).forEach(function (id) { set[id] = true; });
        ids.forEach(function (id) { set[id] = true; });
        return Outbox.setMeta("stale_deployments", Object.keys(set));
      });
    }
    function page(cursor) {
      return Outbox.getMeta("pull_etag").then(function (last) {
        var same = last && last.user === me && last.cursor === cursor;
        return request("/api/sync/pull?cursor=" + encodeURIComponent(cursor),
                       same ? { headers: { "If-None-Match": last.etag } } : {}).then(function (response) {
          if (response.status === 401) throw new SyncError("login", 401);
          if (response.status === 304 && same) {
            if (counts && last.categories_version != null) counts.categoriesVersion = last.categories_version;
            return null;
          }
          var busy = refused(response);
          if (busy) throw busy;
          if (!response.ok) throw new SyncError("server", response.status);
          return response.json().then(function (body) {
            received += body.records.length;
            if (counts && body.categories_version != null) counts.categoriesVersion = body.categories_version;
            var etag = response.headers.get("ETag");
            return Outbox.putCopies(body.records)
              .then(function () { return note(body); })
              .then(function () { return Outbox.setMeta("cursor", { user: me, value: body.cursor }); })
              .then(function () {
                // Kept for the next ask from the same cursor (an answer that moved it cannot come again).
                return Outbox.setMeta("pull_etag", etag && body.cursor === cursor && !body.more ?
                  { user: me, cursor: cursor, etag: etag, categories_version: body.categories_version } : null);
              })
              .then(function () { return body.more ? page(body.cursor) : null; });
          });
        });
      });
    }
    return Outbox.getMeta("cursor").then(function (stored) {
      var cursor = stored && stored.user === me ? stored.value : 0;
      return page(cursor);
    }).then(function () { return received; });
  }

  // The kept pages of the deployments a pull named as changed, fetched again, except those the bootstrap of the
  // same round has just fetched (`fresh`: their URLs): a phone back after an outage fetched them twice before.
  function refreshStale(fresh) {
    return Outbox.getMeta("stale_deployments").then(function (stale) {
      if (!stale || !stale.length) return null;
      var done = {};
      (fresh || []).forEach(function (url) { done[url] = true; });
      var urls = [];
      stale.forEach(function (id) {
        ["/deployments/" + id, "/deployments/" + id + "/interventions/new"].forEach(function (url) {
          if (!done[url]) urls.push(url);
        });
      });
      return refreshPages(urls, true).then(function (outcome) {
        var left = stale.filter(function (id) { return outcome.failed.indexOf("/deployments/" + id) >= 0; });
        return Outbox.setMeta("stale_deployments", left);
      });
    });
  }

  // Keep fresh copies of the pages an officer needs offline (only real pages of a logged-in user).
  // Resolves with {saved, done: [urls kept anew], failed: [urls the network did not give]}.
  function refreshPages(urls, onlyCached) {
    var outcome = { saved: 0, done: [], failed: [] };
    if (!root.caches) return Promise.resolve(outcome);
    return root.caches.open(PAGES_CACHE).then(function (cache) {
      return Promise.all(urls.map(function (url) {
        var known = onlyCached ? cache.match(url, { ignoreVary: true }) : Promise.resolve(true);
        return known.then(function (hit) {
          if (!hit) return null;
          return root.fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "text/html" } })
            .then(function (response) {
              if (!Sync.cacheablePage(response)) return null;
              return cache.put(url, response).then(function () { outcome.saved += 1; outcome.done.push(url); });
            }, function () { outcome.failed.push(url); });
        });
      }));
    }).then(function () { return outcome; });
  }

  // Pages kept because they were visited: the newest EXTRA_PAGES_KEPT besides the offline set.
  var EXTRA_PAGES_KEPT = 60;
  function prunePages(keep) {
    if (!root.caches) return Promise.resolve();
    var wanted = {};
    keep.forEach(function (path) { wanted[path] = true; });
    return root.caches.open(PAGES_CACHE).then(function (cache) {
      return cache.keys().then(function (requests) {
        var extra = requests.filter(function (r) { return !wanted[new URL(r.url).pathname]; });
        return Promise.all(extra.slice(0, Math.max(0, extra.length - EXTRA_PAGES_KEPT)).map(function (r) {
          return cache.delete(r);
        }));
      });
    });
  }

  // Deployments, category lists, recent records and the offline pages: refreshed when stale, and at once
  // when the category lists changed on the server (categoriesVersion: the count the last pull named).
  // `counts.pages`: the URLs of the pages it kept anew (refreshStale leaves them alone).
  function bootstrap(me, locale, force, categoriesVersion, counts) {
    function refreshed(outcome) {
      if (counts) counts.pages = outcome.done;
    }
    return Outbox.getMeta("bootstrap").then(function (previous) {
      var fresh = previous && previous.user === me && previous.locale === locale &&
        Date.now() - previous.fetched_at < BOOTSTRAP_EVERY_MS &&
        (categoriesVersion == null || previous.categories_version === categoriesVersion);
      if (fresh && !force) return previous;
      var known = null;  // the previous answer, when the server says it is unchanged (304 on its ETag)
      return Outbox.getMeta("cursor").then(function (cursor) {
        // A device that already pulls changes does not need the recent records again.
        var pulling = cursor && cursor.user === me;
        var same = pulling && previous && previous.user === me && previous.etag;
        if (same) known = previous;
        return request("/api/offline/bootstrap" + (pulling ? "?records=false" : ""),
                       same ? { headers: { "If-None-Match": previous.etag } } : {});
      }).then(function (response) {
        if (response.status === 401) throw new SyncError("login", 401);
        if (response.status === 304 && known) {
          return { locale: known.locale, deployments: known.deployments, categories: known.categories,
                   categories_version: known.categories_version, pages: known.pages, records: [],
                   etag: known.etag, unchanged: true };
        }
        var busy = refused(response);
        if (busy) throw busy;
        if (!response.ok) throw new SyncError("server", response.status);
        var etag = response.headers.get("ETag");
        return response.json().then(function (data) { data.etag = etag; return data; });
      }).then(function (data) {
        var keep = { user: me, locale: data.locale, fetched_at: Date.now(), deployments: data.deployments,
                     categories: data.categories, categories_version: data.categories_version, pages: data.pages,
                     etag: data.etag || null };
        if (data.unchanged) {  // the seal key, batch size and cursor are those kept from the first answer
          return refreshPages(data.pages, false).then(refreshed)
            .then(function () { return prunePages(data.pages); })
            .then(function () { return Outbox.setMeta("bootstrap", keep); })
            .then(function () { return keep; });
        }
        return Outbox.putCopies(data.records)
          .then(function () { return Outbox.setSealKey(data.seal_key); })  // a rotated key is used from now on
          .then(function () { return Outbox.setMeta("batch_max", data.batch_max); })
          .then(function () { return Outbox.getMeta("cursor"); })
          .then(function (cursor) {
            if (cursor && cursor.user === me) return null;
            return Outbox.setMeta("cursor", { user: me, value: data.cursor });
          })
          .then(function () { return refreshPages(data.pages, false).then(refreshed); })
          .then(function () { return prunePages(data.pages); })
          .then(function () { return Outbox.setMeta("bootstrap", keep); })
          .then(function () { return keep; });
      });
    });
  }

  // The server's outbox key, fetched once when this device has none; then anything saved before is sealed.
  function sealKey() {
    return Outbox.getMeta("seal_key").then(function (known) {
      if (known) return null;
      return request("/api/offline/seal-key").then(function (response) {
        if (response.status === 401) throw new SyncError("login", 401);
        if (!response.ok) return null;  // sent unsealed this time (over TLS); sealed once the key comes
        return response.json().then(function (published) { return Outbox.setSealKey(published); });
      });
    }).then(function () { return Outbox.sealWaiting(); });
  }

  var Sync = {
    SyncError: SyncError,
    PAGES_CACHE: PAGES_CACHE,

    /* One full round: who am I, send my waiting records, pull changes, refresh offline data.
       Resolves with {ok, acknowledged, attention, pulled, login, error}. Never rejects. */
    run: function (options) {
      options = options || {};
      var counts = { acknowledged: 0, attention: 0, pulled: 0, results: [] };
      announce({ type: "sync-start", reason: options.reason || "" });
      return withLock(function () {
        return session().then(function (info) {
          var me = info.user.username;
          return Outbox.setMeta("session", { user: me, locale: info.locale })
            .then(function () { return sealKey(); })
            .then(function () { return push(me, info.csrf, counts); })
            .then(function () { return pushPresence(me, info.csrf, counts); })
            .then(function () { return pushFeedback(me, info.csrf, counts); })
            .then(function () { return Outbox.getMeta("cursor"); })
            .then(function (cursor) {
              // A new device (or user) starts from the recent records, not from the whole history.
              if (!cursor || cursor.user !== me) return bootstrap(me, info.locale, true);
              return null;
            })
            .then(function () { return pull(me, counts); })
            .then(function (pulled) { counts.pulled = pulled; })
            .then(function () {
              return bootstrap(me, info.locale, options.bootstrap, counts.categoriesVersion, counts);
            })
            .then(function () { return refreshStale(counts.pages); })
            .then(function () { return Outbox.setMeta("last_sync", Date.now()); })
            .then(function () { return Outbox.setMeta("login_needed", false); });
        });
      }).then(function () {
        var result = { ok: true, acknowledged: counts.acknowledged, attention: counts.attention,
                       pulled: counts.pulled, results: counts.results };
        announce({ type: "sync-done", result: result });
        return result;
      }, function (err) {
        var login = err && err.kind === "login";
        var done = login ? Outbox.setMeta("login_needed", true) : Promise.resolve();
        return done.catch(function () { return null; }).then(function () {
          var storage = err instanceof Outbox.StorageFailed;
          var result = { ok: false, login: login, error: String((err && err.message) || err), storage: storage,
                         failure: storage ? "storage" : (err && err.kind) || "server", status: (err && err.status) || 0,
                         retryAfterMs: (err && err.retryAfterMs) || 0,
                         acknowledged: counts.acknowledged,
                         attention: counts.attention, results: counts.results };
          announce({ type: "sync-done", result: result });
          return result;
        });
      });
    },

    /* Send one record straight to the server (used when this device cannot store it). */
    sendNow: function (entry) {
      return session().then(function (info) {
        return sendBatch([entry], info.csrf).then(function (response) {
          if (!response.ok) throw new SyncError("server", response.status);
          return response.json();
        });
      }).then(function (body) { return body.results[0]; });
    },

    /* The values of a record this user sealed here, opened by the server for the officer to see again (a form to
       fix, a conflict): kept in memory only, never stored. Rejects offline or when it cannot be opened. */
    open: function (entry) {
      if (!entry || !entry.sealed) return Promise.resolve((entry && entry.values) || {});
      return session().then(function (info) {
        return request("/api/sync/open", {
          method: "POST", body: JSON.stringify({ sealed: entry.sealed }),
          headers: { "Content-Type": "application/json", "X-CSRF-Token": info.csrf }
        });
      }).then(function (response) {
        if (!response.ok) throw new SyncError(response.status === 401 ? "login" : "server", response.status);
        return response.json();
      }).then(function (body) { return body.values || {}; });
    },

    /* A response worth keeping as an offline page: a full HTML page, not a redirect to the login. */
    cacheablePage: function (response) {
      if (!response || response.status !== 200 || response.redirected || response.type !== "basic") return false;
      var type = response.headers.get("Content-Type") || "";
      return type.indexOf("text/html") === 0 && new URL(response.url).pathname !== "/login";
    },

    refreshPages: refreshPages,
    onMessage: function (fn) { listeners.push(fn); },
    announce: announce
  };

  root.FieldappSync = Sync;
})(self);
