/* fieldapp status strip: draws the always-visible strip (online or not, waiting and attention counts,
 * last sync, "log in again", the latest message) from the outbox. Separate so that every part of the
 * page that changes the officer's picture of the device just asks the strip to draw itself again.
 */
(function (root) {
  "use strict";

  var Client = root.FieldappClient;
  var Outbox = root.FieldappOutbox;
  var page = Client.page;
  var FLASH_KEY = "fieldapp-flash";

  var unreachable = false;
  var lastMessage = "";

  function setMessage(message) {
    lastMessage = message || "";
    var box = document.querySelector("[data-sync-message]");
    if (box) box.textContent = lastMessage;
  }

  // The browser may think it is online while the server cannot be reached: the strip says offline then.
  function setReachable(reachable) { unreachable = !reachable; }

  function render() {
    var box = page.strip();
    if (!box) return Promise.resolve();
    box.hidden = false;
    return Promise.all([Outbox.counts(page.me()), Outbox.getMeta("last_sync"), Outbox.getMeta("login_needed")])
      .then(function (values) {
        var counts = values[0];
        var offline = !navigator.onLine || unreachable;
        box.querySelector('[data-net="online"]').hidden = offline;
        box.querySelector('[data-net="offline"]').hidden = !offline;
        box.classList.toggle("is-offline", offline);
        box.querySelector("[data-waiting-count]").textContent = String(counts.waiting);
        box.querySelector("[data-attention-count]").textContent = String(counts.attention);
        box.querySelector("[data-attention]").hidden = counts.attention === 0;
        box.querySelector("[data-last-sync]").textContent = values[1] ? page.showTime(values[1], true) : page.text("never");
        if (values[1]) box.querySelector("[data-last-sync]").setAttribute("datetime", new Date(values[1]).toISOString());
        box.querySelector("[data-login]").hidden = !values[2];
        box.dataset.waiting = String(counts.waiting);
        box.dataset.attention = String(counts.attention);
        var message = box.querySelector("[data-sync-message]");
        if (message.textContent !== lastMessage) message.textContent = lastMessage;
      }).catch(function (err) {
        setMessage(page.text("storage-failed"));
        if (window.console) console.error("fieldapp outbox:", err);
      });
  }

  // A message for the page the officer is sent to next (the strip of this page goes with it).
  function flashNextPage(message) {
    try { sessionStorage.setItem(FLASH_KEY, message); } catch (e) { /* no flash then */ }
  }

  function showFlash() {
    var flash;
    try { flash = sessionStorage.getItem(FLASH_KEY); sessionStorage.removeItem(FLASH_KEY); } catch (e) { flash = null; }
    if (flash) setMessage(flash);
  }

  window.addEventListener("online", function () { unreachable = false; render(); });
  window.addEventListener("offline", function () { render(); });

  Client.strip = { render: render, setMessage: setMessage, setReachable: setReachable,
                   flashNextPage: flashNextPage, showFlash: showFlash };
})(self);
