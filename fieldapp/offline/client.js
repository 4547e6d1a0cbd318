/* fieldapp offline client (pages only): installs the service worker, keeps the status strip up to date,
 * saves capture forms into the outbox first, sends on every trigger, and draws the pending list.
 * All outbox access goes through FieldappOutbox (outbox.js); sending through FieldappSync.
 */
(function () {
  "use strict";

  var Outbox = self.FieldappOutbox;
  var Sync = self.FieldappSync;
  var Retry = self.FieldappRetry;
  var PERIODIC_MS = 60 * 1000;
  var BACKOFF_MIN_MS = 1000;
  var BACKOFF_MAX_MS = 5 * 60 * 1000;
  var FOLLOW_UP_MS = 15000;   // an acknowledgement this soon after saving online leads on, like a plain form post
  var FLASH_KEY = "fieldapp-flash";

  var attempt = 0;
  var timer = null;
  var running = null;
  var again = false;
  var unreachable = false;
  var reloading = false;
  var lastMessage = "";

  function me() { return (document.body && document.body.dataset.user) || ""; }
  function strip() { return document.querySelector("[data-sync-status]"); }
  function text(name) {
    var places = [strip(), document.querySelector("[data-pending]")];
    for (var i = 0; i < places.length; i++) {
      if (places[i] && places[i].hasAttribute("data-text-" + name)) return places[i].getAttribute("data-text-" + name);
    }
    return "";
  }
  function locale() { return document.documentElement.lang || "fi"; }
  function mark(name, value) { document.documentElement.setAttribute("data-" + name, value); }

  // ---------------------------------------------------------------- time

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

  // ---------------------------------------------------------------- status strip

  function setMessage(message) {
    lastMessage = message || "";
    var box = document.querySelector("[data-sync-message]");
    if (box) box.textContent = lastMessage;
  }

  function render() {
    var box = strip();
    if (!box) return Promise.resolve();
    box.hidden = false;
    return Promise.all([Outbox.counts(me()), Outbox.getMeta("last_sync"), Outbox.getMeta("login_needed")])
      .then(function (values) {
        var counts = values[0];
        var offline = !navigator.onLine || unreachable;
        box.querySelector('[data-net="online"]').hidden = offline;
        box.querySelector('[data-net="offline"]').hidden = !offline;
        box.classList.toggle("is-offline", offline);
        box.querySelector("[data-waiting-count]").textContent = String(counts.waiting);
        box.querySelector("[data-attention-count]").textContent = String(counts.attention);
        box.querySelector("[data-attention]").hidden = counts.attention === 0;
        box.querySelector("[data-last-sync]").textContent = values[1] ? showTime(values[1], true) : text("never");
        if (values[1]) box.querySelector("[data-last-sync]").setAttribute("datetime", new Date(values[1]).toISOString());
        box.querySelector("[data-login]").hidden = !values[2];
        box.dataset.waiting = String(counts.waiting);
        box.dataset.attention = String(counts.attention);
        var message = box.querySelector("[data-sync-message]");
        if (message.textContent !== lastMessage) message.textContent = lastMessage;
      }).catch(function (err) {
        setMessage(text("storage-failed"));
        if (window.console) console.error("fieldapp outbox:", err);
      });
  }

  // ---------------------------------------------------------------- sending

  function schedule(delay) {
    clearTimeout(timer);
    timer = setTimeout(function () { syncNow("timer"); }, delay);
  }

  /* One sync round (send, pull, refresh); a call while one runs makes it run once more after. */
  function syncNow(reason) {
    if (!me()) return Promise.resolve(null);
    if (running) { again = true; return running; }
    if (!navigator.onLine) { unreachable = true; render(); return Promise.resolve(null); }
    clearTimeout(timer);
    running = Sync.run({ reason: reason }).then(function (result) {
      running = null;
      unreachable = !result.ok && !result.login && /network/.test(result.error || "");
      if (result.ok) {
        attempt = 0;
        schedule(PERIODIC_MS);
      } else if (!result.login) {
        attempt += 1;
        schedule(Retry.delay(attempt, BACKOFF_MIN_MS, BACKOFF_MAX_MS));
      }
      if (reason === "manual") {
        if (result.ok) setMessage(result.attention ? text("attention") : text("synced"));
        else if (!result.login) setMessage(text("sync-failed"));
        else setMessage("");
      }
      mark("last-sync-result", result.ok ? "ok" : (result.login ? "login" : "failed"));
      return render().then(function () {
        refreshPending();
        if (again) { again = false; return syncNow("again"); }
        return result;
      });
    });
    return running;
  }

  function registerBackgroundSync() {
    if (!navigator.serviceWorker) return;
    navigator.serviceWorker.ready.then(function (registration) {
      if (registration.sync && registration.sync.register) return registration.sync.register("fieldapp-outbox");
      return null;
    }).catch(function () { /* the timer and the online event still send */ });
  }

  // ---------------------------------------------------------------- capture forms

  function formValues(form) {
    var values = {};
    var checkboxNames = {};
    form.querySelectorAll("input[type=checkbox][name]").forEach(function (box) {
      checkboxNames[box.name] = (checkboxNames[box.name] || 0) + 1;
    });
    new FormData(form).forEach(function (value, name) {
      if (typeof value !== "string" || name === "_csrf" || name === "id" || name === "device_time" || name === "version") return;
      if (name.slice(-2) === "[]") name = name.slice(0, -2);
      if (checkboxNames[name] > 1) values[name] = (values[name] || []).concat([value]);
      else if (name in values) values[name] = [].concat(values[name], [value]);
      else values[name] = value;
    });
    Object.keys(checkboxNames).forEach(function (name) {
      if (checkboxNames[name] > 1 && !(name in values)) values[name] = [];
    });
    if (!values.occurred_at) values.occurred_at = helsinkiInput(new Date());  // the time of saving, not of syncing
    return values;
  }

  function fillForm(form, values) {
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || !(el.name in values) || el.name === "_csrf") return;
      var value = values[el.name];
      if (el.type === "checkbox" || el.type === "radio") {
        el.checked = Array.isArray(value) ? value.indexOf(el.value) >= 0 : String(value) === el.value;
      } else if (el.type !== "hidden" && el.type !== "submit" && el.type !== "button") {
        el.value = value == null ? "" : String(value);
      }
    });
  }

  function editing(form) { return form.hasAttribute("data-base-version"); }

  // The closed "Time and place" section shows the time the form now holds, not the one of a cached page.
  function showFormTime(form) {
    var box = form.querySelector("[data-time-summary]");
    if (!box) return;
    var old = box.textContent;
    var cut = old.indexOf(" · ");
    box.textContent = showTime(Date.now(), true) + (cut >= 0 ? old.slice(cut) : "");
  }

  function freshForm(form) {
    var id = Outbox.newId();
    form.dataset.clientId = id;
    var idInput = form.querySelector("input[name=id]");
    if (idInput) idInput.value = id;
    var time = form.querySelector("input[name=occurred_at]");
    if (time) { time.value = helsinkiInput(new Date()); showFormTime(form); }
    var deviceTime = form.querySelector("input[name=device_time]");
    if (deviceTime) deviceTime.value = new Date().toISOString();
    delete form.dataset.replace;
    delete form.dataset.dirty;
  }

  function formNotice(form, message, kind, links) {
    var notice = form.parentNode.querySelector("[data-outbox-notice]");
    if (!notice) {
      notice = document.createElement("div");
      notice.setAttribute("data-outbox-notice", "");
      notice.tabIndex = -1;
      form.parentNode.insertBefore(notice, form);
    }
    notice.setAttribute("role", kind === "error" ? "alert" : "status");
    notice.className = "notice outbox-notice " + kind;
    notice.setAttribute("data-state", kind);
    notice.textContent = "";
    var p = document.createElement("p");
    p.textContent = message;
    notice.appendChild(p);
    if (links) {
      var row = document.createElement("p");
      row.className = "actions";
      links.forEach(function (link) {
        var a = document.createElement("a");
        a.href = link[0];
        a.textContent = link[1];
        a.className = "button";
        row.appendChild(a);
      });
      notice.appendChild(row);
    }
    return notice;
  }

  function saveForm(form) {
    if (form.dataset.saving === "1") return;
    form.dataset.saving = "1";
    var tapped = performance.now();
    var deploymentId = form.dataset.deployment;
    var edit = editing(form);
    var baseVersion = edit ? parseInt(form.dataset.baseVersion, 10) : null;
    if (edit && isNaN(baseVersion)) baseVersion = -1;  // never null: an edit must not become a new record
    var idInput = form.querySelector("input[name=id]");
    var entry = {
      id: edit && idInput && idInput.value ? idInput.value : (form.dataset.replace || form.dataset.clientId || Outbox.newId()),
      kind: form.dataset.outbox, deployment_id: deploymentId, values: formValues(form),
      base_version: baseVersion, device_time: new Date().toISOString(), user: me()
    };
    var back = [["/deployments/" + deploymentId, text("back")], ["/pending", text("pending")]];
    var after = edit && form.dataset.recordUrl ? form.dataset.recordUrl : "/deployments/" + deploymentId;
    Outbox.save(entry).then(function () {
      var notice = formNotice(form, text("saved"), "saved", back);
      mark("last-save-ms", (performance.now() - tapped).toFixed(1));
      notice.setAttribute("data-record-id", entry.id);
      if (edit) {
        delete form.dataset.dirty;  // an edit stays on its form: saving again replaces the waiting edit
      } else {
        freshForm(form);
        form.reset();
        freshForm(form);
      }
      delete form.dataset.saving;
      render();
      registerBackgroundSync();
      if (!navigator.onLine) return null;
      return syncNow("save").then(function () {
        return Promise.all([Outbox.wasSent(entry.id), Outbox.get(entry.id)]);
      }).then(function (found) {
        var receipt = found[0];
        var setAside = found[1];
        if (!document.contains(notice)) return;
        if (setAside && setAside.state === "rejected" && !form.dataset.dirty) {
          // Online the answer comes at once: show it on the form, with what was typed, like a plain post.
          showRejection(form, setAside, back);
          return;
        }
        if (!receipt || (edit && !(receipt.version > baseVersion))) return;  // (an older receipt of the same id)
        formNotice(form, text("saved-server"), "server", back).setAttribute("data-record-id", entry.id);
        if (edit && receipt.version) {  // a further save edits the version just stored
          form.dataset.baseVersion = String(receipt.version);
          var versionInput = form.querySelector("input[name=version]");
          if (versionInput) versionInput.value = String(receipt.version);
        }
        if (!form.dataset.dirty && performance.now() - tapped < FOLLOW_UP_MS) {
          try { sessionStorage.setItem(FLASH_KEY, text("saved-server")); } catch (e) { /* no flash then */ }
          location.assign(after);
        }
      });
    }, function (err) {
      // Never a silent loss: say so, keep the form as it is, and try the server directly.
      delete form.dataset.saving;
      formNotice(form, text("storage-failed"), "error").focus();
      if (window.console) console.error("fieldapp outbox:", err);
      if (!navigator.onLine) return null;
      return Sync.sendNow(entry).then(function (result) {
        if (result && (result.status === "accepted" || result.status === "duplicate")) {
          formNotice(form, text("sent-direct"), "server", back);
          if (edit) return;
          form.reset();
          freshForm(form);
        }
      }, function () { /* the message above stands; what was typed is still in the form */ });
    });
  }

  function fieldLabel(form, name) {
    var label = form.querySelector('label[for="f-' + name + '"]') || form.querySelector("#f-" + name + " legend");
    return label ? label.textContent.replace(/\s*\(.*\)\s*$/, "").trim() : name;
  }

  function showRejection(form, entry, back) {
    fillForm(form, entry.values);
    form.dataset.replace = entry.id;
    var result = entry.result || {};
    var notice = formNotice(form, result.message || text("attention"), "error", back);
    notice.setAttribute("data-record-id", entry.id);
    var list = document.createElement("ul");
    Object.keys(result.errors || {}).forEach(function (name) {
      var item = document.createElement("li");
      item.textContent = fieldLabel(form, name) + ": " + result.errors[name];
      list.appendChild(item);
    });
    notice.insertBefore(list, notice.childNodes[1] || null);
    notice.focus();
  }

  function addDeviceLinks(form) {
    // An intervention may point to a tension observation or contact still waiting on this device.
    var selects = { tension_id: "tension", contact_id: "contact" };
    Object.keys(selects).forEach(function (name) {
      var select = form.querySelector("select[name=" + name + "]");
      if (!select) return;
      Outbox.list().then(function (entries) {
        entries.forEach(function (e) {
          if (e.kind !== selects[name] || e.deployment_id !== form.dataset.deployment || e.user !== me()) return;
          if (select.querySelector('option[value="' + e.id + '"]')) return;
          var option = document.createElement("option");
          option.value = e.id;
          option.textContent = "• " + (e.values.occurred_at || "").slice(11, 16) + " · " + text("saved");
          select.appendChild(option);
        });
      }).catch(function () { /* the server's choices are still there */ });
    });
  }

  function initForms() {
    var deviceCopy = document.documentElement.getAttribute("data-device-copy") === "1";
    var params = new URLSearchParams(location.search);
    document.querySelectorAll("form[data-outbox]").forEach(function (form) {
      if (form.dataset.outboxReady) return;
      form.dataset.outboxReady = "1";
      if (editing(form)) form.dataset.clientId = form.querySelector("input[name=id]").value;  // the record's own id
      else if (deviceCopy || !form.querySelector("input[name=id]")) freshForm(form);
      else form.dataset.clientId = form.querySelector("input[name=id]").value || Outbox.newId();
      form.addEventListener("input", function () { form.dataset.dirty = "1"; });
      addDeviceLinks(form);
      var fix = params.get("outbox");
      if (fix) {
        Outbox.get(fix).then(function (entry) {
          if (!entry || entry.kind !== form.dataset.outbox) return;
          if (entry.state === "rejected") showRejection(form, entry, null);
          else { fillForm(form, entry.values); form.dataset.replace = entry.id; }
        });
      }
    });
  }

  // ---------------------------------------------------------------- pending list

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
    trend: "trend", basis: "basis", outcome: "outcome", severity: "severity"
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
      if (result.message) li.appendChild(el("p", "error", result.message));
      if (result.errors && Object.keys(result.errors).length) {
        var errors = el("ul", "pending-errors");
        Object.keys(result.errors).forEach(function (field) {
          errors.appendChild(el("li", null, (fields[field] || field) + ": " + result.errors[field]));
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
    if (state === "rejected") {
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
    }).then(function () { render(); refreshPending(); });
  }

  // ---------------------------------------------------------------- service worker and updates

  function showUpdate(worker) {
    var button = document.querySelector("[data-update]");
    if (!button) return;
    button.hidden = false;
    button.onclick = function () {
      reloading = true;
      worker.postMessage({ type: "skip-waiting" });
    };
  }

  function installWorker() {
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

  // ---------------------------------------------------------------- page set-up

  function initPage(event) {
    if (event && event.detail && event.detail.boosted) setMessage("");  // a new page: old news go
    initForms();
    render();
    refreshPending();
    if (document.documentElement.getAttribute("data-device-copy") === "1") setMessage(text("device-copy"));
    var flash;
    try { flash = sessionStorage.getItem(FLASH_KEY); sessionStorage.removeItem(FLASH_KEY); } catch (e) { flash = null; }
    if (flash) setMessage(flash);
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.matches && form.matches("form[data-outbox]")) {
      // Outbox first, on every network: htmx and the browser never see this submit.
      event.preventDefault();
      event.stopPropagation();
      saveForm(form);
    } else if (form.matches && form.matches('form[action="/logout"]')) {
      // The next person on this phone must not see this user's copies; the outbox itself stays.
      event.preventDefault();
      event.stopPropagation();
      var forget = [Outbox.forgetCopies().catch(function () { return null; })];
      if (self.caches) forget.push(caches.delete(Sync.PAGES_CACHE).catch(function () { return null; }));
      Promise.all(forget).then(function () { form.submit(); });
    }
  }, true);

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-sync-now]")) {
      attempt = 0;
      setMessage(text("syncing"));
      syncNow("manual");
    } else {
      onPendingAction(event);
    }
  });

  // A boosted link that fails offline: load the page normally, so the worker can give its copy.
  document.addEventListener("htmx:sendError", function (event) {
    var detail = event.detail || {};
    if (detail.boosted && detail.requestConfig && detail.requestConfig.verb === "get" && detail.pathInfo) {
      location.assign(detail.pathInfo.requestPath);
    }
  });
  document.addEventListener("htmx:afterSettle", initPage);

  window.addEventListener("online", function () { unreachable = false; attempt = 0; render(); syncNow("online"); });
  window.addEventListener("offline", function () { render(); });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") syncNow("visible");
  });
  if (Sync.onMessage) {
    Sync.onMessage(function (message) {
      if (message && message.type === "sync-done") { render(); refreshPending(); }
    });
  }

  function start() {
    initPage();
    if (!me()) { installWorker(); return; }
    Outbox.persist();
    Promise.all([installWorker(), controlled()]).then(function () {
      return syncNow("start");
    }).then(function () {
      mark("offline-ready", "1");
    });
  }

  window.FieldappClient = { syncNow: syncNow, render: render, refreshPending: refreshPending };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
