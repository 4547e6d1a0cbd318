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

  root.FieldappRetry = { delay: delay };
})(self);
