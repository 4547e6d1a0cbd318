/* fieldapp presence: check-in and check-out go through the outbox like records (kind "presence", an id per
 * tap, the time tapped), so a tap offline is kept and sent exactly once; the button turns over and the line
 * below it says where the tap is: on this device, or saved on the server. Separate because it is the one way
 * a presence tap enters the outbox.
 */
(function (root) {
  "use strict";

  var Client = root.FieldappClient;
  var Outbox = root.FieldappOutbox;
  var page = Client.page;
  var ONLINE_WAIT_MS = 10000;  // online, the button turns once the server has the tap (or after this long)

  function say(section, name, ms) {
    var template = section.getAttribute("data-text-" + name) || "";
    return template.replace("{time}", page.showTime(ms, false));
  }

  /* Show a section as checked in or out, and where the tap that made it so is. */
  function show(section, checkedIn, where, ms, id) {
    section.setAttribute("data-checked-in", checkedIn ? "1" : "0");
    if (id) { section.setAttribute("data-tap-id", id); section.setAttribute("data-tap-at", String(ms)); }
    section.setAttribute("data-tap", where || "");
    section.classList.toggle("checked-in", checkedIn);
    var outForm = section.querySelector('[data-presence-action="check_out"]');
    var inForm = section.querySelector('[data-presence-action="check_in"]');
    if (outForm) outForm.hidden = !checkedIn;
    if (inForm) inForm.hidden = checkedIn;
    var state = section.querySelector("[data-presence-state]");
    if (state && where) {
      state.textContent = "";
      if (checkedIn && where === "server") {
        var strong = document.createElement("strong");
        strong.textContent = say(section, "since", ms);
        state.appendChild(strong);
      }
    }
    var note = section.querySelector("[data-presence-note]");
    if (note && where) note.textContent = say(section, (checkedIn ? "in-" : "out-") + where, ms);
  }

  function tap(form) {
    var section = form.closest("[data-presence]");
    if (!section || section.dataset.tapping === "1") return;
    section.dataset.tapping = "1";
    var action = form.getAttribute("data-presence-action");
    var at = Date.now();
    var entry = { id: Outbox.newId(), kind: "presence", deployment_id: section.getAttribute("data-presence"),
                  values: { action: action, at: new Date(at).toISOString() }, user: page.me() };
    var before = section.getAttribute("data-checked-in") === "1";
    var checkedIn = action === "check_in";
    Outbox.save(entry).then(function () {
      Client.strip.render();
      Client.schedule.registerBackgroundSync();
      if (!navigator.onLine) { show(section, checkedIn, "device", at, entry.id); return null; }
      var waited = new Promise(function (resolve) { setTimeout(resolve, ONLINE_WAIT_MS); });
      return Promise.race([Client.schedule.now("presence"), waited]).then(function () {
        return Promise.all([Outbox.wasSent(entry.id), Outbox.get(entry.id)]);
      }).then(function (found) {
        if (found[0]) show(section, checkedIn, "server", at, entry.id);
        else if (found[1] && found[1].state === "rejected") {
          show(section, before, null, at);
          section.querySelector("[data-presence-note]").textContent = section.getAttribute("data-text-refused");
        } else show(section, checkedIn, "device", at, entry.id);
      });
    }, function (err) {
      // The device cannot keep the tap: send it the plain way (the form's own post).
      if (window.console) console.error("fieldapp outbox:", err);
      form.submit();
    }).then(function () { delete section.dataset.tapping; });
  }

  // A page from before the tap (the device's copy offline): the taps still on this device say what is true.
  function initPresence() {
    var sections = document.querySelectorAll("[data-presence]");
    if (!sections.length || !page.me()) return Promise.resolve();
    return Outbox.list().then(function (entries) {
      sections.forEach(function (section) {
        var latest = null;
        entries.forEach(function (e) {
          if (e.kind === "presence" && e.state === "waiting" && e.user === page.me() &&
              e.deployment_id === section.getAttribute("data-presence")) latest = e;
        });
        if (latest) show(section, latest.values.action === "check_in", "device", Date.parse(latest.values.at), latest.id);
      });
    }).catch(function () { /* the server's picture stays */ });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.matches && form.matches("[data-presence] form[data-presence-action]") && page.me()) {
      event.preventDefault();
      event.stopPropagation();
      tap(form);
    }
  }, true);

  // A round finished (here, in another tab or in the worker): a tap it sent is on the server now.
  root.FieldappSync.onMessage(function (message) {
    if (!message || message.type !== "sync-done") return;
    document.querySelectorAll('[data-presence][data-tap="device"]').forEach(function (section) {
      var id = section.getAttribute("data-tap-id");
      Outbox.wasSent(id).then(function (receipt) {
        if (receipt && section.getAttribute("data-tap-id") === id) {
          show(section, section.getAttribute("data-checked-in") === "1", "server",
               parseInt(section.getAttribute("data-tap-at"), 10));
        }
      }).catch(function () { /* the note stays until the next round */ });
    });
  });

  Client.presence = { init: initPresence };
})(self);
