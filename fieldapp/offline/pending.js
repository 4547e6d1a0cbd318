/* fieldapp pending list: draws /pending from the outbox, the receipts and the bootstrap data: what
 * needs attention (with the server's reasons and, for two versions, both side by side), what waits,
 * what is safe on the server. Separate because it only draws; what its buttons do is in settle.js.
 */
(function (root) {
  "use strict";

  var Client = root.FieldappClient;
  var Outbox = root.FieldappOutbox;
  var page = Client.page;
  var me = page.me;
  var text = page.text;
  var mark = page.mark;
  var showTime = page.showTime;

  function jsonAttr(el, name) {
    try { return JSON.parse(el.getAttribute(name) || "{}"); } catch (e) { return {}; }
  }

  function el(tag, className, content) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (content != null) node.textContent = content;
    return node;
  }

  function labelOf(categories, list, code) {
    var options = (categories && categories[list]) || [];
    for (var i = 0; i < options.length; i++) if (options[i][0] === String(code)) return options[i][1];
    return code == null ? "" : String(code);
  }

  var FIELD_LISTS = {
    kind: null, age_band: "age_band", group_size: "group_size", group_category: "group_category",
    language: "language", topics: "topic", referral_target: "referral_target", groups: "group_category",
    trend: "trend", basis: "basis", outcome: "outcome", severity: "severity", motives: "motive"
  };
  var KIND_LISTS = { tension: "tension_kind", intervention: "intervention_kind" };

  function showValue(categories, kind, field, value) {
    var list = field === "kind" ? KIND_LISTS[kind] : FIELD_LISTS[field];
    if (Array.isArray(value)) return value.map(function (v) { return list ? labelOf(categories, list, v) : v; }).join(", ");
    if (value === true || value === "1") return text("yes");
    if (value === false || value == null) return value === false ? text("no") : "";
    return list ? labelOf(categories, list, value) : String(value);
  }

  function summary(categories, entry) {
    var v = entry.values || {};
    if (entry.kind === "tension") {
      return [labelOf(categories, "tension_kind", v.kind), v.severity ? labelOf(categories, "severity", v.severity) : ""]
        .filter(Boolean).join(" · ");
    }
    if (entry.kind === "intervention") return labelOf(categories, "intervention_kind", v.kind);
    if (entry.kind === "presence") return text(v.action === "check_in" ? "check-in" : "check-out");
    if (entry.kind === "feedback") return "";
    if (entry.kind === "activity") return labelOf(categories, "activity_kinds", v.kind);
    var topics = [].concat(v.topics || []);
    return topics.map(function (t) { return labelOf(categories, "topic", t); }).join(", ");
  }

  function pendingItem(box, boot, entry, state) {
    var kinds = jsonAttr(box, "data-kind-labels");
    var fields = jsonAttr(box, "data-field-labels");
    var slugs = jsonAttr(box, "data-kind-slugs");
    var categories = boot ? boot.categories : null;
    var deployments = {};
    ((boot && boot.deployments) || []).forEach(function (d) { deployments[d.id] = d.name; });
    var li = el("li", "card pending-item " + state);
    li.setAttribute("data-id", entry.id);
    li.setAttribute("data-state", state);
    var head = el("p", "pending-head");
    head.appendChild(el("strong", null, kinds[entry.kind] || entry.kind));
    if (entry.base_version != null) head.appendChild(el("span", "badge", text("edit")));
    var what = summary(categories, entry);
    if (what) head.appendChild(el("span", null, " · " + what));
    li.appendChild(head);
    var stateText = { waiting: text("waiting"), sent: text("sent"), rejected: text("rejected"),
                      conflict: text("conflict"), other: text("other-user") }[state];
    li.appendChild(el("span", "badge state-" + state, stateText));
    var meta = [text("saved-at") + " " + showTime(entry.saved_at, true)];
    if (deployments[entry.deployment_id]) meta.push(deployments[entry.deployment_id]);
    if (state === "other") meta.push(entry.user);
    li.appendChild(el("p", "muted", meta.join(" · ")));
    var result = entry.result || {};
    if (state === "rejected" || state === "conflict") {
      // Codes are shown in the language of this screen; the text as the server sent it is the fallback.
      if (result.message) li.appendChild(el("p", "error", page.refusal(result.message_code, result.message)));
      if (result.errors && Object.keys(result.errors).length) {
        var errors = el("ul", "pending-errors");
        Object.keys(result.errors).forEach(function (field) {
          var said = page.refusal((result.codes || {})[field], result.errors[field]);
          errors.appendChild(el("li", null, (fields[field] || field) + ": " + said));
        });
        li.appendChild(errors);
      }
    }
    if (state === "conflict" && result.server) {
      var table = el("table", "pending-compare");
      var headRow = el("tr");
      headRow.appendChild(el("th", null, ""));
      headRow.appendChild(el("th", null, text("mine")));
      headRow.appendChild(el("th", null, text("server")));
      table.appendChild(headRow);
      var mine = entry.values || {};
      var theirs = result.server.values || {};
      Object.keys(fields).forEach(function (field) {
        if (!(field in mine) && !(field in theirs)) return;
        var a = showValue(categories, entry.kind, field, mine[field]);
        var b = showValue(categories, result.server.kind || entry.kind, field, theirs[field]);
        if (field === "occurred_at" && theirs[field]) b = showTime(Date.parse(theirs[field]), true);
        if (field === "occurred_at" && mine[field]) a = mine[field].replace("T", " ");
        if (a === b) return;
        var row = el("tr", "differs");
        row.appendChild(el("th", null, fields[field] || field));
        row.appendChild(el("td", null, a));
        row.appendChild(el("td", null, b));
        table.appendChild(row);
      });
      li.appendChild(table);
    }
    var actions = el("p", "actions");
    // A sealed record the server could not open cannot be opened for a form either: it can only be discarded.
    // (Those refusals are the server's only messages that speak of sealing: fieldapp/offline/sync.py seal_refusal.)
    var unopenable = entry.sealed && /seal/i.test(result.message_code || "");
    if (state === "rejected" && slugs[entry.kind] && !unopenable) {
      var fixLink = el("a", "button", text("fix"));
      fixLink.href = entry.base_version != null
        ? "/records/" + entry.kind + "/" + entry.id + "/edit?outbox=" + entry.id
        : "/deployments/" + entry.deployment_id + "/" + (slugs[entry.kind] || "") + "/new?outbox=" + entry.id;
      actions.appendChild(fixLink);
    }
    if (state === "conflict") {
      var keep = el("button", null, text("keep-server"));
      keep.type = "button";
      keep.setAttribute("data-action", "keep-server");
      actions.appendChild(keep);
      // A stale edit is settled by saving it over the server's version (which stays in the history); a
      // different record under the same id by saving it under a new id.
      var mineButton = el("button", null, text(entry.base_version != null ? "use-mine" : "save-mine"));
      mineButton.type = "button";
      mineButton.setAttribute("data-action", "save-mine");
      actions.appendChild(mineButton);
    }
    if (state === "rejected") {
      var drop = el("button", "danger", text("discard"));
      drop.type = "button";
      drop.setAttribute("data-action", "discard");
      actions.appendChild(drop);
    }
    if (actions.childNodes.length) li.appendChild(actions);
    return li;
  }

  function refreshPending() {
    var box = document.querySelector("[data-pending]");
    if (!box) return Promise.resolve();
    return Promise.all([Outbox.list(), Outbox.sent(50), Outbox.getMeta("bootstrap")]).then(function (values) {
      // A conflict shows the officer's version beside the server's: sealed here, it is opened by the server for this
      // screen only (offline, the server's version is shown alone).
      var conflicts = values[0].filter(function (e) { return e.state === "conflict" && e.sealed && e.user === me(); });
      return Promise.all(conflicts.map(function (e) {
        return root.FieldappSync.open(e).then(function (opened) { e.values = opened; }, function () { return null; });
      })).then(function () { return values; });
    }).then(function (values) {
      var entries = values[0];
      var boot = values[2];
      var lists = { attention: [], waiting: [], sent: [] };
      entries.forEach(function (e) {
        if (e.user !== me()) lists.waiting.push(pendingItem(box, boot, e, "other"));
        else if (e.state === "waiting") lists.waiting.push(pendingItem(box, boot, e, "waiting"));
        else lists.attention.push(pendingItem(box, boot, e, e.state));
      });
      values[1].forEach(function (receipt) {
        if (receipt.user === me()) lists.sent.push(pendingItem(box, boot, receipt, "sent"));
      });
      Object.keys(lists).forEach(function (name) {
        var ul = box.querySelector('[data-list="' + name + '"]');
        ul.textContent = "";
        lists[name].forEach(function (li) { ul.appendChild(li); });
        var empty = box.querySelector('[data-empty="' + name + '"]');
        if (empty) empty.hidden = lists[name].length > 0;
      });
      box.querySelector('[data-section="attention"]').hidden = lists.attention.length === 0;
      mark("pending-rendered", String(Date.now()));
    }).catch(function (err) {
      if (window.console) console.error("fieldapp pending list:", err);
    });
  }

  Client.pending = { refresh: refreshPending };
})(self);
