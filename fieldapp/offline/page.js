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
  // The server's refusals by code (the English message id), in the language of this screen. The pending list
  // carries the catalog and leaves a copy for the tab's other pages (sessionStorage, per language), so a form
  // opened from it to fix a record shows the reasons in the same language; forms do not carry it (it would be a
  // tenth of what a form loads first). Unknown codes, or no catalog at all, show the text as it came.
  function catalog() {
    var key = "fieldapp.refusals." + locale();
    var box = document.querySelector("[data-refusal-messages]");
    try {
      if (!box) return JSON.parse(root.sessionStorage.getItem(key) || "{}");
      var inline = box.getAttribute("data-refusal-messages") || "{}";
      try { root.sessionStorage.setItem(key, inline); } catch (e) { /* storage off: this page still has it */ }
      return JSON.parse(inline);
    } catch (e) { return {}; }
  }
  function refusal(code, fallback) {
    var known = catalog();
    if (code && known[code]) return known[code];
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

  // The one date format of the language, from the server (babel's CLDR patterns in a <meta>), as in pages.
  function showTime(ms, withDate) {
    if (!ms) return "";
    var f;
    try { f = JSON.parse(document.querySelector("meta[name=fieldapp-date-patterns]").content); } catch (e) { f = null; }
    if (!f) return new Date(ms).toISOString();
    var parts = {};
    new Intl.DateTimeFormat("en-GB", {
      timeZone: "Europe/Helsinki", year: "numeric", month: "numeric", day: "numeric",
      hour: "numeric", minute: "2-digit", hourCycle: "h23"
    }).formatToParts(new Date(ms)).forEach(function (p) { parts[p.type] = p.value; });
    var nowYear = new Intl.DateTimeFormat("en-GB", { timeZone: "Europe/Helsinki", year: "numeric" }).format(new Date());
    function two(n) { return (n < 10 ? "0" : "") + n; }
    var v = { y: +parts.year, M: +parts.month, d: +parts.day, H: +parts.hour % 24, m: +parts.minute };
    function fill(pattern) {
      return pattern.replace(/'([^']*)'|y+|M+|d+|H+|m+/g, function (token, quoted) {
        if (quoted !== undefined) return quoted;
        var c = token.charAt(0), n = token.length;
        if (c === "M" && n >= 3) return f.months[v.M - 1];
        if (c === "y") return String(v.y);
        return n >= 2 ? two(v[c]) : String(v[c]);
      });
    }
    var time = fill(f.time);
    if (!withDate) return time;
    var day = fill(String(v.y) === nowYear ? f.date : f.date_year);
    return f.datetime.replace("{1}", day).replace("{0}", time);
  }

  Client.page = { me: me, strip: strip, text: text, refusal: refusal, mark: mark, helsinkiInput: helsinkiInput, showTime: showTime };
})(self);
