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

  function refresh() { tell("basemap"); }

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
