/* fieldapp status strip: draws the always-visible strip (online or not, waiting and attention counts, last
 * sync, "log in again", what is happening now) from one state (sync-state.js), changed only by events: the
 * outbox's counts, the sync client's rounds (this page's, another tab's or the worker's), the browser's
 * network events and the "Sync now" tap. Separate so that every part of the page that changes the officer's
 * picture of the device just asks the strip to read the outbox again; nobody writes its text directly.
 */
(function (root) {
  "use strict";

  var Client = root.FieldappClient;
  var Outbox = root.FieldappOutbox;
  var Sync = root.FieldappSync;
  var SyncState = root.FieldappSyncState;
  var page = Client.page;
  var TICK_MS = 15000;

  var state = SyncState.initial(navigator.onLine,
                                document.documentElement.getAttribute("data-device-copy") === "1");
  var storageFailed = false;

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (whole, name) {
      if (!(name in values)) return whole;
      return name === "time" ? page.showTime(values.time, !sameDay(values.time)) : String(values[name]);
    });
  }

  function sameDay(ms) { return new Date(ms).toDateString() === new Date().toDateString(); }

  function draw() {
    var box = page.strip();
    if (!box) return;
    box.hidden = false;
    var shown = SyncState.view(state);
    var offline = shown.net === "offline";
    box.querySelector('[data-net="online"]').hidden = offline;
    box.querySelector('[data-net="offline"]').hidden = !offline;
    box.classList.toggle("is-offline", offline);
    box.dataset.connection = shown.net;
    box.dataset.activity = state.activity;
    box.dataset.tone = shown.tone;
    // Until the outbox has been read the strip does not know how many records wait: it must not say 0.
    box.querySelector("[data-waiting-count]").textContent = counted ? String(state.waiting) : "…";
    box.querySelector("[data-attention-count]").textContent = String(state.attention);
    box.querySelector("[data-attention]").hidden = state.attention === 0;
    var last = box.querySelector("[data-last-sync]");
    last.textContent = state.lastSync ? page.showTime(state.lastSync, true) : page.text("never");
    if (state.lastSync) last.setAttribute("datetime", new Date(state.lastSync).toISOString());
    box.querySelector("[data-login]").hidden = !shown.login;
    if (counted) box.dataset.waiting = String(state.waiting);
    else delete box.dataset.waiting;
    box.dataset.attention = String(state.attention);
    var text = storageFailed ? page.text("storage-failed") : shown.parts.map(function (part) {
      return fill(page.text(part[0]), part[1]);
    }).join(" ");
    // "All saved on the server (time)" names the last sync itself: the line would only repeat it.
    box.querySelector(".sync-last").hidden = !storageFailed && shown.parts.some(function (p) { return p[0] === "all-saved"; });
    var message = box.querySelector("[data-sync-message]");
    message.dataset.keys = storageFailed ? "storage-failed" : shown.parts.map(function (p) { return p[0]; }).join(" ");
    if (message.textContent !== text) message.textContent = text;
  }

  /* Apply one event and draw the result; events without a time get the present. */
  var counted = false;  // the outbox has been read on this page

  function dispatch(event) {
    if (event.at == null) event.at = Date.now();
    state = SyncState.next(state, event);
    draw();
  }

  /* Read the counts, the last sync and "log in again" from the outbox, and draw. */
  function render() {
    if (!page.strip()) return Promise.resolve();
    return Promise.all([Outbox.counts(page.me()), Outbox.getMeta("last_sync"), Outbox.getMeta("login_needed")])
      .then(function (values) {
        storageFailed = false;
        counted = true;
        dispatch({ type: "stored", waiting: values[0].waiting, attention: values[0].attention,
                   lastSync: values[1] || null, login: !!values[2] });
      }).catch(function (err) {
        storageFailed = true;
        draw();
        if (window.console) console.error("fieldapp outbox:", err);
      });
  }

  // A new page (htmx swapped the body) may or may not be the device's copy.
  function newPage() {
    state.deviceCopy = document.documentElement.getAttribute("data-device-copy") === "1";
    return render();
  }

  window.addEventListener("online", function () { dispatch({ type: "online" }); render(); });
  window.addEventListener("offline", function () { dispatch({ type: "offline" }); render(); });
  Sync.onMessage(function (message) {
    if (!message) return;
    if (message.type === "sync-start") dispatch({ type: "sync-start" });
    else if (message.type === "sync-done") { dispatch({ type: "sync-done", result: message.result }); render(); }
  });
  setInterval(function () { dispatch({ type: "tick" }); }, TICK_MS);

  Client.strip = { render: render, dispatch: dispatch, newPage: newPage,
                   state: function () { return state; } };
})(self);
