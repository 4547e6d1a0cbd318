/* fieldapp app update: registers the service worker that keeps the app on this device, and offers
 * its new version ("update available") instead of switching under the officer's hands. Separate
 * because it deals with the worker's life cycle only, never with records.
 */
(function (root) {
  "use strict";

  var Client = root.FieldappClient;
  var reloading = false;

  function showUpdate(worker) {
    var button = document.querySelector("[data-update]");
    if (!button) return;
    button.hidden = false;
    button.onclick = function () {
      reloading = true;
      worker.postMessage({ type: "skip-waiting" });
    };
  }

  function install() {
    if (!navigator.serviceWorker) return Promise.resolve(null);
    navigator.serviceWorker.addEventListener("controllerchange", function () {
      if (reloading) location.reload();
    });
    return navigator.serviceWorker.register("/sw.js", { scope: "/" }).then(function (registration) {
      if (registration.waiting && navigator.serviceWorker.controller) showUpdate(registration.waiting);
      registration.addEventListener("updatefound", function () {
        var worker = registration.installing;
        if (!worker) return;
        worker.addEventListener("statechange", function () {
          if (worker.state === "installed" && navigator.serviceWorker.controller) showUpdate(worker);
        });
      });
      return registration;
    }).catch(function (err) {
      if (window.console) console.error("fieldapp service worker:", err);
      return null;
    });
  }

  function controlled() {
    if (!navigator.serviceWorker) return Promise.resolve(false);
    if (navigator.serviceWorker.controller) return Promise.resolve(true);
    return new Promise(function (resolve) {
      navigator.serviceWorker.addEventListener("controllerchange", function () { resolve(true); });
      setTimeout(function () { resolve(!!navigator.serviceWorker.controller); }, 10000);
    });
  }

  Client.appUpdate = { install: install, controlled: controlled };
})(self);
