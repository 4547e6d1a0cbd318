/* fieldapp device page (issue 12): the page side of FieldappDeviceWipe (device-wipe.js).
 * - The page a revoked device is answered with (data-device-revoked) wipes what the browser has not already
 *   cleared, and no service worker is installed again from it.
 * - An htmx request answered "revoked" wipes too, then shows /device/revoked.
 * - After each sync the device tells the server how many records its outbox holds (shown to whoever revokes it)
 *   and learns how long it may keep colleagues' records; its copies are bounded to what the server still sends.
 * - Every minute, and at start, copies are forgotten after too long without the server; a device copy of a page
 *   that showed records is then reloaded (the worker gives the offline page instead).
 * Loaded before client.js, which installs the worker.
 */
(function (root) {
  "use strict";

  var Client = root.FieldappClient;
  var Outbox = root.FieldappOutbox;
  var Sync = root.FieldappSync;
  var Wipe = root.FieldappDeviceWipe;
  var REPORT_EVERY_MS = 5 * 60 * 1000;
  var CHECK_EVERY_MS = 60 * 1000;
  var reported = { count: -1, at: 0 };

  function revokedPage() { return !!document.querySelector("[data-device-revoked]"); }
  function infoPage() { return !!document.getElementById("device-revoked"); }

  function wipeHere() {
    return Wipe.wipe().then(function () { Client.page.mark("device-wiped", "1"); });
  }

  // Neither the revoked page nor the page that explains it installs the worker again.
  var install = Client.appUpdate.install;
  Client.appUpdate.install = function () {
    return infoPage() ? Promise.resolve(null) : install();
  };

  function csrf() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || ""; }
    catch (e) { return ""; }
  }

  function report(force) {
    if (!Client.page.me() || Wipe.wiped()) return Promise.resolve(null);
    return Outbox.list().then(function (entries) {
      var count = entries.length;  // waiting, set aside, or another user's: all go if the device is revoked
      if (!force && count === reported.count && Date.now() - reported.at < REPORT_EVERY_MS) return null;
      return root.fetch("/api/device/report", {
        method: "POST", credentials: "same-origin", cache: "no-store",
        headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf() },
        body: JSON.stringify({ waiting: count })
      }).then(function (response) {
        if (!response.ok) return null;
        reported = { count: count, at: Date.now() };
        return response.json().then(Wipe.setPolicy);
      });
    }).catch(function () { return null; });
  }

  function shownFromCopy() {
    return document.documentElement.getAttribute("data-device-copy") === "1";
  }

  function check() {
    if (Wipe.wiped()) return Promise.resolve(false);
    return Wipe.checkStale().then(function (forgot) {
      if (!forgot) return false;
      Client.page.mark("copies-forgotten", "1");
      var path = location.pathname;
      if (shownFromCopy() && !(path === "/pending" || path === "/offline" || /\/new$/.test(path))) location.reload();
      return true;
    });
  }

  Sync.onMessage(function (message) {
    if (!message) return;
    if (message.type === "device-wiped") {
      Client.page.mark("device-wiped", "1");
      if (!infoPage()) location.replace("/device/revoked");
    } else if (message.type === "sync-done" && message.result && message.result.ok) {
      Wipe.bound().then(function () { return report(false); });
    }
  });

  // htmx uses XMLHttpRequest, which the fetch wrapper does not see.
  document.addEventListener("htmx:afterRequest", function (event) {
    var xhr = event.detail && event.detail.xhr;
    if (xhr && xhr.status === 401 && xhr.getResponseHeader("X-Fieldapp-Device") === "revoked") Wipe.wipe();
  });

  function start() {
    if (revokedPage()) { wipeHere(); return; }
    if (infoPage()) return;
    check();
    setInterval(check, CHECK_EVERY_MS);
  }

  Client.device = { report: report, check: check };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})(self);
