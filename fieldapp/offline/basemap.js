/* Offline basemap (pages): after every good sync round, ask the service worker to bring the deployment areas'
 * map tiles up to date (fieldapp/offline/sw_tiles.js does the work; a message keeps the worker alive for it).
 */
(function (root) {
  "use strict";

  var Sync = root.FieldappSync;

  function tell(type) {
    var workers = root.navigator && root.navigator.serviceWorker;
    if (workers && workers.controller) workers.controller.postMessage({ type: type });
  }

  // The first round after a login may end before the worker controls the page (client.js waits for it at most
  // 10 s): the ask is then made when it does, not left for the next round minutes later.
  var waiting = false;
  function refresh() {
    var workers = root.navigator && root.navigator.serviceWorker;
    if (!workers || workers.controller) return tell("basemap");
    if (waiting) return;
    waiting = true;
    workers.addEventListener("controllerchange", function () {
      waiting = false;
      tell("basemap");
    }, {once: true});
  }

  Sync.onMessage(function (message) {
    if (message && message.type === "sync-done" && message.result && message.result.ok) refresh();
  });

  // Logging out: the deployments' areas are not left for the next person on this phone (the worker finishes the
  // deletion even when the page has gone on to the login page).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.matches && form.matches('form[action="/logout"]')) tell("forget-tiles");
  }, true);

  (root.FieldappClient = root.FieldappClient || {}).basemap = { refresh: refresh };
})(self);
