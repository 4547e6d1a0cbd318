/* fieldapp feedback: "feedback given" on a follow-up goes through the outbox (kind "feedback", an id made here),
 * so an officer at a community visit without network marks it and it is sent exactly once when the device is
 * back online (POST /api/sync/followups, like a presence tap). The form then says where the mark is: on this
 * device, or saved on the server (then the page is loaded again to show the follow-up closed). Without
 * JavaScript, or when the device cannot keep it, the form posts the plain way. Separate because it is the one
 * way feedback enters the outbox.
 */
(function (root) {
  "use strict";

  var Client = root.FieldappClient;
  var Outbox = root.FieldappOutbox;
  var page = Client.page;
  var ONLINE_WAIT_MS = 10000;

  function say(form, name) { return form.getAttribute("data-text-" + name) || ""; }

  function show(form, where, id) {
    var note = form.querySelector("[data-feedback-note]");
    form.setAttribute("data-feedback", where);
    if (id) form.setAttribute("data-feedback-id", id);
    if (note) note.textContent = say(form, where);
    var button = form.querySelector("button[type=submit]");
    if (button) button.disabled = where === "device" || where === "server";
  }

  function valuesOf(form) {
    var data = new FormData(form);
    var typed = String(data.get("given_at") || "");
    var values = {
      followup_id: form.getAttribute("data-feedback-form"),
      given_how: String(data.get("given_how") || ""),
      // The form's time is Helsinki time as typed (the server reads it so); blank: the moment marked, not the sync.
      given_at: typed || new Date().toISOString(),
      note: String(data.get("note") || "")
    };
    // The reopenings this page showed: the server refuses the mark if the follow-up was reopened since (no clock).
    var seen = String(data.get("reopenings") || "");
    if (/^[0-9]{1,6}$/.test(seen)) values.reopenings = Number(seen);
    return values;
  }

  function mark(form) {
    if (form.dataset.marking === "1") return;
    form.dataset.marking = "1";
    var entry = { id: Outbox.newId(), kind: "feedback", deployment_id: form.getAttribute("data-deployment") || "",
                  values: valuesOf(form), user: page.me(), ref: form.getAttribute("data-feedback-form") };
    Outbox.save(entry).then(function () {
      Client.strip.render();
      Client.schedule.registerBackgroundSync();
      show(form, "device", entry.id);
      if (!navigator.onLine) return null;
      var waited = new Promise(function (resolve) { setTimeout(resolve, ONLINE_WAIT_MS); });
      return Promise.race([Client.schedule.now("feedback"), waited]).then(function () {
        return Promise.all([Outbox.wasSent(entry.id), Outbox.get(entry.id)]);
      }).then(function (found) {
        if (found[0]) { show(form, "server"); root.location.reload(); }
        else if (found[1] && found[1].state === "rejected") show(form, "refused");
      });
    }, function (err) {
      // The device cannot keep it: send it the plain way (the form's own post).
      if (root.console) console.error("fieldapp outbox:", err);
      form.submit();
    }).then(function () { delete form.dataset.marking; });
  }

  // A page from before the mark (the device's copy offline): a mark still on this device says so.
  function initFeedback() {
    var forms = document.querySelectorAll("form[data-feedback-form]");
    if (!forms.length || !page.me()) return Promise.resolve();
    return Outbox.list().then(function (entries) {
      forms.forEach(function (form) {
        entries.forEach(function (e) {
          if (e.kind === "feedback" && e.state === "waiting" && e.user === page.me() &&
              (e.ref || e.values.followup_id) === form.getAttribute("data-feedback-form")) show(form, "device", e.id);
        });
      });
    }).catch(function () { /* the server's picture stays */ });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-feedback-form]") || !page.me()) return;
    if (!form.querySelector("input[name=given_how]:checked")) return;  // the server's page says what is missing
    event.preventDefault();
    event.stopPropagation();
    mark(form);
  }, true);

  // A round finished (here, in another tab or in the worker): a mark it sent is on the server now.
  root.FieldappSync.onMessage(function (message) {
    if (!message || message.type !== "sync-done") return;
    document.querySelectorAll('form[data-feedback-form][data-feedback="device"]').forEach(function (form) {
      var id = form.getAttribute("data-feedback-id");
      Outbox.wasSent(id).then(function (receipt) {
        if (receipt && form.getAttribute("data-feedback-id") === id) show(form, "server");
      }).catch(function () { /* the note stays until the next round */ });
    });
  });

  Client.feedback = { init: initFeedback };
})(self);
