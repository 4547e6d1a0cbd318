/* fieldapp sync schedule: when this page asks the sync client for a round: at start, when the network
 * comes back, when the page is shown again, after a save, on "Sync now", and on a timer that backs off
 * while the server cannot be reached. Separate so that one place decides when to send; how to send is
 * sync-client.js, and the wait after a failure is retry.js.
 */
(function (root) {
  "use strict";

  var Client = root.FieldappClient;
  var Sync = root.FieldappSync;
  var Retry = root.FieldappRetry;
  var page = Client.page;
  var strip = Client.strip;
  var PERIODIC_MS = 60 * 1000;
  var BACKOFF_MIN_MS = 1000;
  var BACKOFF_MAX_MS = 5 * 60 * 1000;

  var attempt = 0;
  var timer = null;
  var running = null;
  var again = false;

  function schedule(delay) {
    clearTimeout(timer);
    timer = setTimeout(function () { syncNow("timer"); }, delay);
    return Date.now() + delay;
  }

  /* One sync round (send, pull, refresh); a call while one runs makes it run once more after. */
  function syncNow(reason) {
    if (!page.me()) return Promise.resolve(null);
    if (running) { again = true; return running; }
    if (!navigator.onLine) { strip.render(); return Promise.resolve(null); }  // the online event sends
    clearTimeout(timer);
    running = Sync.run({ reason: reason }).then(function (result) {
      running = null;
      if (result.ok) {
        attempt = 0;
        schedule(PERIODIC_MS);
      } else if (!result.login) {
        attempt += 1;
        // The strip says when the next try is (the sync client already told it why this one failed).
        // At least what the server asked for (Retry-After), with a random part so a crowd does not return at once.
        var wait = Math.max(Retry.delay(attempt, BACKOFF_MIN_MS, BACKOFF_MAX_MS),
                            result.retryAfterMs ? result.retryAfterMs + Math.round(Math.random() * 1000) : 0);
        strip.dispatch({ type: "retry", at: schedule(wait) });
      }
      page.mark("last-sync-result", result.ok ? "ok" : (result.login ? "login" : "failed"));
      return strip.render().then(function () {
        Client.pending.refresh();
        if (again) { again = false; return syncNow("again"); }
        return result;
      });
    });
    return running;
  }

  function registerBackgroundSync() {
    if (!navigator.serviceWorker) return;
    navigator.serviceWorker.ready.then(function (registration) {
      if (registration.sync && registration.sync.register) return registration.sync.register("fieldapp-outbox");
      return null;
    }).catch(function () { /* the timer and the online event still send */ });
  }

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-sync-now]")) {
      attempt = 0;
      strip.dispatch({ type: "sync-now" });
      syncNow("manual");
    }
  });
  // status-strip.js, loaded first, has already taken the online event and drawn the strip.
  window.addEventListener("online", function () { attempt = 0; syncNow("online"); });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") syncNow("visible");
  });

  Client.schedule = { now: syncNow, registerBackgroundSync: registerBackgroundSync };
})(self);
