/* fieldapp settling: what the buttons of the pending list do with a record set aside: discard a
 * rejected one, keep the server's version of a conflict, or save mine (over the server's version, or
 * as a new record). Separate from pending.js, which only draws, because this changes the outbox.
 */
(function (root) {
  "use strict";

  var Client = root.FieldappClient;
  var Outbox = root.FieldappOutbox;
  var text = Client.page.text;
  var syncNow = Client.schedule.now;

  function resolveOnServer(conflictId, resolution, recordId) {
    if (!conflictId || !navigator.onLine) return Promise.resolve();
    return fetch("/api/session", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (info) {
        return fetch("/api/sync/conflicts/" + conflictId + "/resolve", {
          method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": info.csrf, Accept: "application/json" },
          body: JSON.stringify({ resolution: resolution, record_id: recordId || null })
        });
      }).catch(function () { /* the choice on this device stands */ });
  }

  function onPendingAction(event) {
    var button = event.target.closest("[data-pending] [data-action]");
    if (!button) return;
    var item = button.closest("[data-id]");
    var id = item.getAttribute("data-id");
    var action = button.getAttribute("data-action");
    Outbox.get(id).then(function (entry) {
      if (!entry) return null;
      var conflictId = entry.result && entry.result.conflict_id;
      if (action === "discard") {
        if (!window.confirm(text("confirm-discard"))) return null;
        return Outbox.discard(id);
      }
      if (action === "keep-server") {
        return Outbox.discard(id).then(function () { return resolveOnServer(conflictId, "kept_server", null); });
      }
      if (action === "save-mine" && entry.base_version != null && entry.result && entry.result.version != null) {
        return Outbox.requeue(id, { base_version: entry.result.version, resolves: conflictId || null })
          .then(function () { return syncNow("resolve"); });
      }
      if (action === "save-mine") {
        return Outbox.saveAsNew(id, { resolves: conflictId || null }).then(function () {
          return syncNow("resolve");
        });
      }
      return null;
    }).then(function () { Client.strip.render(); Client.pending.refresh(); });
  }

  document.addEventListener("click", onPendingAction);
})(self);
