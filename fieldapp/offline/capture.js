/* fieldapp capture: a capture form (form[data-outbox]) goes into the outbox first, on every network,
 * then is sent; the form tells where the record is and gets ready for the next one. Separate because it
 * is the one way a record enters the outbox from a page.
 */
(function (root) {
  "use strict";

  var Client = root.FieldappClient;
  var Outbox = root.FieldappOutbox;
  var Sync = root.FieldappSync;
  var page = Client.page;
  var strip = Client.strip;
  var schedule = Client.schedule;
  var me = page.me;
  var text = page.text;
  var mark = page.mark;
  var helsinkiInput = page.helsinkiInput;
  var showTime = page.showTime;
  var FOLLOW_UP_MS = 15000;   // an acknowledgement this soon after saving online leads on, like a plain form post

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

  // What the toast after a save names and offers: the kind of record, a new one of the same kind, the deployment.
  function formNotice(form, message, kind, links) {
    return Client.toast.show({ title: form.dataset.kindLabel || "", message: message, state: kind, links: links });
  }

  function nextSteps(form, edit) {
    var links = [[form.dataset.after || "/deployments/" + form.dataset.deployment, text("back")]];  // data-after: a form outside a deployment
    if (!edit && form.dataset.newLabel) links.unshift([location.pathname, form.dataset.newLabel, "data-new-record"]);
    return links;
  }

  // The fields the server requires (marked "required" in the form), checked before anything enters the outbox,
  // with the server's own message in the language of this screen.
  function missingRequired(form, values) {
    var errors = {};
    form.querySelectorAll("fieldset").forEach(function (fieldset) {
      if (!fieldset.querySelector("legend .required")) return;
      var input = fieldset.querySelector("input[name]");
      if (!input) return;
      var name = input.name.replace(/\[\]$/, "");
      var value = values[name];
      if (value == null || value === "" || (Array.isArray(value) && !value.length)) {
        errors[name] = text("required");  // in the screen's language, from the status strip
      }
    });
    return errors;
  }

  function showFieldErrors(form, errors, intro, links) {
    var notice = formNotice(form, intro, "error", links);
    var list = document.createElement("ul");
    Object.keys(errors).forEach(function (name) {
      var item = document.createElement("li");
      item.textContent = fieldLabel(form, name) + ": " + errors[name];
      list.appendChild(item);
      var field = form.querySelector("#f-" + name);
      if (!field) return;
      field.classList.add("invalid");
      field.setAttribute("data-device-invalid", "");
      var control = field.querySelector("fieldset") || field;
      control.setAttribute("aria-invalid", "true");
    });
    notice.insertBefore(list, notice.childNodes[1] || null);
    return notice;
  }

  function clearFieldErrors(form) {
    form.querySelectorAll("[data-device-invalid]").forEach(function (field) {
      field.classList.remove("invalid");
      field.removeAttribute("data-device-invalid");
      (field.querySelector("fieldset") || field).removeAttribute("aria-invalid");
    });
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
    var back = nextSteps(form, edit);
    clearFieldErrors(form);
    var missing = missingRequired(form, entry.values);
    if (Object.keys(missing).length) {
      delete form.dataset.saving;
      showFieldErrors(form, missing, form.dataset.textCheck || text("attention"), null);
      var first = form.querySelector("#f-" + Object.keys(missing)[0] + " input, #f-" + Object.keys(missing)[0]);
      if (first) first.focus();
      mark("last-save-ms", (performance.now() - tapped).toFixed(1));
      return;
    }
    var after = edit && form.dataset.recordUrl ? form.dataset.recordUrl : (form.dataset.after || "/deployments/" + deploymentId);
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
      strip.render();
      schedule.registerBackgroundSync();
      if (!navigator.onLine) return null;
      return schedule.now("save").then(function () {
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
          Client.toast.flashNextPage({ title: form.dataset.kindLabel || "", message: text("saved-server"),
                                       state: "server", links: edit ? [] : [[location.pathname, form.dataset.newLabel]] });
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

  // What a record waiting here holds: sealed values are opened by the server (online only) and kept in memory.
  function fillFromOutbox(form, entry) {
    form.dataset.replace = entry.id;
    if (!entry.sealed) { fillForm(form, entry.values); return Promise.resolve(); }
    return Sync.open(entry).then(function (values) {
      if (!form.dataset.dirty) fillForm(form, values);
    }, function (err) { if (window.console) console.warn("fieldapp: the sealed record cannot be opened now", err); });
  }

  // The form filled again with what was typed (opened first if sealed), then the server's reasons on it.
  function showRejection(form, entry, back) {
    return fillFromOutbox(form, entry).then(function () { showReasons(form, entry, back); });
  }

  function showReasons(form, entry, back) {
    var result = entry.result || {};
    // The server's codes are shown in the language of this screen (the text as sent is the fallback).
    var errors = {};
    Object.keys(result.errors || {}).forEach(function (name) {
      errors[name] = page.refusal((result.codes || {})[name], result.errors[name]);
    });
    var notice = showFieldErrors(form, errors, page.refusal(result.message_code, result.message) || text("attention"),
                                 back);
    notice.setAttribute("data-record-id", entry.id);
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
          // (a sealed record's own time is not readable here: the time it was saved is)
          var at = e.values.occurred_at ? e.values.occurred_at.slice(11, 16) : page.showTime(e.saved_at).slice(-5);
          option.textContent = "• " + at + " · " + text("saved");
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
      // The officer goes on with the next record: the toast about the last one has said its piece.
      form.addEventListener("change", function () {
        var toast = document.querySelector("[data-outbox-notice]:not([data-state=error])");
        if (toast && !form.dataset.saving) Client.toast.hide();
      });
      addDeviceLinks(form);
      var fix = params.get("outbox");
      if (fix) {
        Outbox.get(fix).then(function (entry) {
          if (!entry || entry.kind !== form.dataset.outbox) return;
          if (entry.state === "rejected") showRejection(form, entry, null);
          else fillFromOutbox(form, entry);
        });
      }
    });
  }

  // Save in reach: once the page is scrolled into a form, its action bar sticks to the bottom (capture.css).
  function markScrolled() {
    var scrolled = window.scrollY > 80;
    document.querySelectorAll("form[data-outbox]").forEach(function (form) {
      form.classList.toggle("in-form", scrolled);
    });
  }
  window.addEventListener("scroll", markScrolled, { passive: true });

  // "New contact" right after a save: the form is already empty and ready; go to its top.
  document.addEventListener("click", function (event) {
    var link = event.target.closest("[data-new-record]");
    var form = document.querySelector("form[data-outbox]");
    if (!link || !form || editing(form) || form.dataset.dirty) return;
    event.preventDefault();
    Client.toast.hide();
    form.scrollIntoView({ block: "start" });
    var first = form.querySelector("input:not([type=hidden]), select, textarea");
    if (first) first.focus({ preventScroll: true });
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.matches && form.matches("form[data-outbox]")) {
      // Outbox first, on every network: htmx and the browser never see this submit.
      event.preventDefault();
      event.stopPropagation();
      saveForm(form);
    }
  }, true);

  Client.capture = { initForms: initForms };
})(self);
