/* fieldapp toast: the answer to a tap, where the eye is (fixed above the thumb, not at the top of a long
 * form): what was saved and where it is, with the next steps. role=status, so screen readers say it too.
 * Separate because saving (capture.js), checking in (presence.js) and the next page after a save all answer
 * this way; a toast lives on its page only (htmx swaps the body, and it goes with it).
 */
(function (root) {
  "use strict";

  var Client = root.FieldappClient;
  var page = Client.page;
  var FLASH_KEY = "fieldapp-flash";

  /* Show (or replace) the one toast: {title, message, state: saved|server|error, links: [[href, label, attr]]}.
     Returns its element; extra content (a list of errors) may be added to it. */
  function show(options) {
    var toast = document.querySelector("[data-outbox-notice]");
    if (!toast) {
      toast = document.createElement("div");
      toast.setAttribute("data-outbox-notice", "");
      toast.tabIndex = -1;
      document.body.appendChild(toast);
    }
    var state = options.state || "saved";
    toast.setAttribute("role", state === "error" ? "alert" : "status");
    toast.className = "notice outbox-notice toast " + state;
    toast.setAttribute("data-state", state);
    toast.hidden = false;
    toast.textContent = "";
    var p = document.createElement("p");
    if (options.title) {
      var strong = document.createElement("strong");
      strong.textContent = options.title;
      p.appendChild(strong);
      p.appendChild(document.createTextNode(" · "));
    }
    p.appendChild(document.createTextNode(options.message));
    toast.appendChild(p);
    var row = document.createElement("p");
    row.className = "actions";
    (options.links || []).forEach(function (link) {
      var a = document.createElement("a");
      a.href = link[0];
      a.textContent = link[1];
      a.className = "button";
      if (link[2]) a.setAttribute(link[2], "");
      row.appendChild(a);
    });
    var close = document.createElement("button");
    close.type = "button";
    close.className = "toast-close";
    close.setAttribute("data-toast-close", "");
    close.setAttribute("aria-label", page.text("close") || "Close");
    close.textContent = "×";
    toast.appendChild(row);
    toast.appendChild(close);
    return toast;
  }

  function hide() {
    var toast = document.querySelector("[data-outbox-notice]");
    if (toast) toast.hidden = true;
  }

  // A message for the page the officer is sent to next.
  function flashNextPage(options) {
    try { sessionStorage.setItem(FLASH_KEY, JSON.stringify(options)); } catch (e) { /* no flash then */ }
  }

  function showFlash() {
    var flash = null;
    try {
      flash = JSON.parse(sessionStorage.getItem(FLASH_KEY) || "null");
      sessionStorage.removeItem(FLASH_KEY);
    } catch (e) { flash = null; }
    if (flash && flash.message) show(flash).classList.add("flash");
  }

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-toast-close]")) hide();
  });

  Client.toast = { show: show, hide: hide, flashNextPage: flashNextPage, showFlash: showFlash };
})(self);
