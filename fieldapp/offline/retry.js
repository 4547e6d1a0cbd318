/* fieldapp retry: the one rule for how long the browser waits before trying the server again.
 * Separate so that every place that backs off waits the same way; no DOM, so the worker may share it.
 */
(function (root) {
  "use strict";

  /* The wait before try number attempt + 1: doubling from base up to max, with jitter. */
  function delay(attempt, base, max) {
    var ceiling = Math.min(max, base * Math.pow(2, attempt));
    // A random part of the wait comes off, so devices that failed together do not come back together.
    return Math.max(base, Math.round(ceiling * (0.5 + Math.random() * 0.5)));
  }

  /* A Retry-After header (delta-seconds or an HTTP date) as milliseconds from now; 0 when absent or unreadable,
     at most an hour (a broken header must not stop a device for days). */
  function afterHeader(value, now) {
    if (!value) return 0;
    var text = String(value).trim();
    var ms = /^\d+$/.test(text) ? Number(text) * 1000 : Date.parse(text) - (now == null ? Date.now() : now);
    return isFinite(ms) && ms > 0 ? Math.min(ms, 3600 * 1000) : 0;
  }

  root.FieldappRetry = { delay: delay, afterHeader: afterHeader };
})(self);
