/* Offline basemap (pages): after every good sync round, ask the service worker to bring the deployment areas'
 * map tiles up to date (fieldapp/offline/sw_tiles.js does the work; a message keeps the worker alive for it).
 */
(function (root) {
  "use strict";

  var Sync = root.FieldappSync;

  function askWorker() {
    var workers = root.navigator && root.navigator.serviceWorker;
    if (workers && workers.controller) workers.controller.postMessage({ type: "basemap" });
  }

  Sync.onMessage(function (message) {
    if (message && message.type === "sync-done" && message.result && message.result.ok) askWorker();
  });

  (root.FieldappClient = root.FieldappClient || {}).basemap = { refresh: askWorker };
})(self);
