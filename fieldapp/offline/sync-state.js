/* fieldapp sync state: what the status strip says, as a pure function of events. No DOM and no clock of its
 * own (every event carries its time), so that each transition can be tested alone and no message outlives
 * the state it describes: the strip's text is always view(state), never something set and forgotten.
 *
 * Events (type: fields):
 *   stored:    waiting, attention, lastSync, login   (read from the outbox)
 *   online, offline                                   (the browser's network events)
 *   sync-now                                          (the officer tapped "Sync now")
 *   sync-start: at                                    (the sync client began a round, here or elsewhere)
 *   sync-done:  at, result {ok, login, failure, status}
 *   retry:      at                                    (when the next try is scheduled after a failure)
 *   tick:       at                                    (time passes: a round nobody finished is forgotten)
 */
(function (root) {
  "use strict";

  var STALE_ROUND_MS = 2 * 60 * 1000;  // a round announced by a tab or worker that vanished

  function initial(online, deviceCopy) {
    return { online: online !== false, reachable: true, activity: "idle", since: null, failure: null,
             login: false, waiting: 0, attention: 0, lastSync: null, asked: false, deviceCopy: !!deviceCopy };
  }

  function copy(state, changes) {
    var out = {};
    Object.keys(state).forEach(function (key) { out[key] = state[key]; });
    Object.keys(changes).forEach(function (key) { out[key] = changes[key]; });
    return out;
  }

  /* The state after one event (the old state is left as it was). */
  function next(state, event) {
    switch (event.type) {
      case "stored":
        return copy(state, { waiting: event.waiting || 0, attention: event.attention || 0,
                             lastSync: event.lastSync || null, login: !!event.login });
      case "online":
        // What made the last round fail was the missing network: that news is over.
        return copy(state, { online: true, reachable: true, asked: false, failure: null,
                             activity: state.activity === "failed" ? "idle" : state.activity });
      case "offline":
        return copy(state, { online: false, activity: state.activity === "syncing" ? "idle" : state.activity });
      case "sync-now":
        return state.online ? state : copy(state, { asked: true });
      case "sync-start":
        return copy(state, { activity: "syncing", since: event.at });
      case "sync-done": {
        var result = event.result || {};
        if (result.ok) {
          return copy(state, { activity: "idle", since: null, failure: null, reachable: true, login: false,
                               lastSync: event.at, asked: false });
        }
        if (result.login) return copy(state, { activity: "idle", since: null, failure: null, login: true });
        var reason = result.failure === "server" || result.failure === "storage" ? result.failure : "network";
        return copy(state, { activity: "failed", since: null, reachable: reason !== "network",
                             failure: { reason: reason, status: result.status || 0, retryAt: null } });
      }
      case "retry":
        if (state.activity !== "failed" || !state.failure) return state;
        return copy(state, { failure: copy(state.failure, { retryAt: event.at }) });
      case "tick":
        if (state.activity === "syncing" && state.since != null && event.at - state.since > STALE_ROUND_MS) {
          return copy(state, { activity: "idle", since: null });
        }
        return state;
      default:
        return state;
    }
  }

  /* What the strip shows for a state: the network word, and the message as text keys with their values
     ({net, tone, parts: [[key, {name: value}]], login}). Times are milliseconds; the page formats them. */
  function view(state) {
    var offline = !state.online || (!state.reachable && state.activity !== "syncing");
    var parts = [];
    var tone = "info";
    if (!state.online) {
      tone = "offline";
      if (state.asked || state.waiting > 0) parts.push(["offline-will-send", {}]);
      else if (state.deviceCopy) parts.push(["device-copy", {}]);
      else parts.push(["offline-idle", {}]);
    } else if (state.activity === "syncing") {
      parts.push(["syncing", {}]);
    } else if (state.login) {
      tone = "warning";
      parts.push(["login-needed", {}]);
    } else if (state.activity === "failed") {
      tone = "warning";
      parts.push(["reason-" + state.failure.reason, { status: state.failure.status }]);
      if (state.failure.retryAt) parts.push(["retry-at", { time: state.failure.retryAt }]);
      else parts.push(["retry-soon", {}]);
    } else if (state.attention > 0) {
      tone = "warning";
      parts.push(["attention", {}]);
    } else if (state.waiting > 0) {
      parts.push(["waiting-send", {}]);
    } else if (state.lastSync) {
      tone = "done";
      parts.push(["all-saved", { time: state.lastSync }]);
    }
    return { net: offline ? "offline" : "online", tone: tone, parts: parts, login: state.login };
  }

  root.FieldappSyncState = { initial: initial, next: next, view: view, STALE_ROUND_MS: STALE_ROUND_MS };
})(self);
