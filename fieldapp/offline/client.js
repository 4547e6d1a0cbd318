/* fieldapp offline client (pages only): wires the page scripts (shell.CLIENT_SCRIPTS) together at start
 * and after every htmx page change. Separate so that what happens on a new page, and in which order, is
 * in one place. Outbox access goes through FieldappOutbox (outbox.js), sending through FieldappSync.
 */
(function (root) {
  "use strict";

  var Client = root.FieldappClient;
  var Outbox = root.FieldappOutbox;
  var Sync = root.FieldappSync;
  var page = Client.page;
  var strip = Client.strip;
  var pending = Client.pending;
  var schedule = Client.schedule;
  var appUpdate = Client.appUpdate;

  function initPage() {
    Client.capture.initForms();
    Client.presence.init();
    Client.feedback.init();
    strip.newPage();
    pending.refresh();
    Client.toast.showFlash();
  }

  document.addEventListener("htmx:afterSettle", initPage);
  // A round here, in another tab or in the worker finished: the pending list shows what it changed (the strip
  // follows the sync client's events itself).
  Sync.onMessage(function (message) {
    if (message && message.type === "sync-done") pending.refresh();
  });

  function start() {
    initPage();
    if (!page.me()) { appUpdate.install(); return; }
    Outbox.persist();
    Promise.all([appUpdate.install(), appUpdate.controlled()]).then(function () {
      return schedule.now("start");
    }).then(function () {
      page.mark("offline-ready", "1");
    });
  }

  // What tests and other scripts call: one sync round, and redrawing the strip and the pending list.
  Client.syncNow = schedule.now;
  Client.render = strip.render;
  Client.refreshPending = pending.refresh;
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})(self);
