/* fieldapp page: what the page scripts read from the page (who is logged in, the texts in the user's
 * language from data-text-* attributes, marks for tests) and Helsinki time. Separate because every page
 * script needs them; it starts the namespace they share, self.FieldappClient.
 */
(function (root) {
  "use strict";

  var Client = root.FieldappClient = root.FieldappClient || {};

  function me() { return (document.body && document.body.dataset.user) || ""; }
  function strip() { return document.querySelector("[data-sync-status]"); }
  // The catalog lives on the status strip and the pending list, both rendered in the user's language.
  function text(name) {
    var places = [strip(), document.querySelector("[data-pending]")];
    for (var i = 0; i < places.length; i++) {
      if (places[i] && places[i].hasAttribute("data-text-" + name)) return places[i].getAttribute("data-text-" + name);
    }
    return "";
  }
  // The server's refusals by code (the English message id), in the language of this screen; the pages that
  // show them (the record form, the pending list) carry the catalog. Unknown codes show the text as it came.
  function refusal(code, fallback) {
    var box = document.querySelector("[data-refusal-messages]");
    var catalog = {};
    try { catalog = JSON.parse((box && box.getAttribute("data-refusal-messages")) || "{}"); } catch (e) { catalog = {}; }
    if (code && catalog[code]) return catalog[code];
    return fallback != null ? fallback : (code || "");
  }
  function locale() { return document.documentElement.lang || "fi"; }
  function mark(name, value) { document.documentElement.setAttribute("data-" + name, value); }

  function helsinkiInput(date) {
    var parts = {};
    new Intl.DateTimeFormat("en-GB", {
      timeZone: "Europe/Helsinki", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23"
    }).formatToParts(date).forEach(function (p) { parts[p.type] = p.value; });
    return parts.year + "-" + parts.month + "-" + parts.day + "T" + parts.hour + ":" + parts.minute;
  }

  function showTime(ms, withDate) {
    if (!ms) return "";
    var options = { timeZone: "Europe/Helsinki", hour: "2-digit", minute: "2-digit" };
    if (withDate) { options.day = "numeric"; options.month = "numeric"; }
    try { return new Date(ms).toLocaleString(locale() === "en" ? "en-GB" : locale(), options); } catch (e) { return new Date(ms).toISOString(); }
  }

  Client.page = { me: me, strip: strip, text: text, refusal: refusal, mark: mark, helsinkiInput: helsinkiInput, showTime: showTime };
})(self);
