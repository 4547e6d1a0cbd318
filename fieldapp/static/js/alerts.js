// Alerts on this device: turn Web Push on or off. The browser's permission prompt appears only
// after the user taps "Turn on"; without this script every alert is still in the in-app inbox.
(function () {
  "use strict";

  function supported() {
    return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
  }

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || "";
    } catch (e) {
      return "";
    }
  }

  function keyBytes(base64url) {
    var text = base64url.replace(/-/g, "+").replace(/_/g, "/");
    text += "===".slice((text.length + 3) % 4);
    var raw = atob(text);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  function sameKey(buffer, base64url) {
    if (!buffer) return false;
    var a = new Uint8Array(buffer), b = keyBytes(base64url);
    if (a.length !== b.length) return false;
    for (var i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  // The service worker comes from /sw.js (the offline app shell); register it if the page has not yet.
  function registration() {
    return navigator.serviceWorker.getRegistration("/").then(function (reg) {
      return reg || navigator.serviceWorker.register("/sw.js", { scope: "/" });
    }).then(function () {
      return navigator.serviceWorker.ready;
    });
  }

  function fingerprint(endpoint) {
    if (!window.crypto || !crypto.subtle) return Promise.resolve("");
    return crypto.subtle.digest("SHA-256", new TextEncoder().encode(endpoint)).then(function (hash) {
      return Array.prototype.map.call(new Uint8Array(hash), function (b) {
        return ("0" + b.toString(16)).slice(-2);
      }).join("").slice(0, 16);
    });
  }

  function show(root, state, message) {
    root.querySelector("[data-push-status]").textContent = message;
    root.querySelector("[data-push-subscribe]").hidden = state !== "off";
    root.querySelector("[data-push-unsubscribe]").hidden = state !== "on";
    root.dataset.pushState = state;
  }

  function markThisDevice(endpoint) {
    var items = document.querySelectorAll("[data-device-key]");
    if (!items.length) return;
    (endpoint ? fingerprint(endpoint) : Promise.resolve("")).then(function (key) {
      items.forEach(function (item) {
        var badge = item.querySelector(".this-device");
        if (badge) badge.hidden = !key || item.dataset.deviceKey !== key;
      });
    });
  }

  function refreshDevices() {
    if (window.htmx && document.getElementById("device-list")) {
      return window.htmx.ajax("GET", "/alerts/devices", { target: "#device-list", swap: "outerHTML" });
    }
    return Promise.resolve();
  }

  function currentSubscription() {
    return navigator.serviceWorker.getRegistration("/").then(function (reg) {
      return reg ? reg.pushManager.getSubscription() : null;
    });
  }

  function refresh(root) {
    if (!supported()) {
      show(root, "unsupported", root.dataset.msgUnsupported);
      return;
    }
    show(root, "checking", root.dataset.msgChecking);
    currentSubscription().then(function (sub) {
      if (!sub || Notification.permission !== "granted") return [sub, ""];
      return fingerprint(sub.endpoint).then(function (key) { return [sub, key]; });
    }).then(function (found) {
      var sub = found[0], key = found[1];
      // "On" only when the server also has this device (it may have been turned off in the list below).
      var listed = !document.getElementById("device-list") ||
        (key && document.querySelector('[data-device-key="' + key + '"]'));
      if (sub && Notification.permission === "granted" && listed) {
        show(root, "on", root.dataset.msgOn);
        markThisDevice(sub.endpoint);
      } else {
        show(root, "off", Notification.permission === "denied" ? root.dataset.msgDenied : root.dataset.msgOff);
        markThisDevice("");
      }
    }).catch(function () {
      show(root, "off", root.dataset.msgOff);
    });
  }

  function turnOn(root) {
    show(root, "working", root.dataset.msgAsking);
    // The permission prompt: only here, right after the tap.
    Notification.requestPermission().then(function (permission) {
      if (permission !== "granted") {
        show(root, "off", root.dataset.msgDenied);
        return null;
      }
      show(root, "working", root.dataset.msgWorking);
      return Promise.all([registration(), fetch("/api/push/key", {
        credentials: "same-origin", headers: { "Accept": "application/json" }
      }).then(function (response) {
        if (!response.ok) throw new Error("key " + response.status);
        return response.json();
      })]).then(function (both) {
        var reg = both[0], key = both[1].public_key;
        return reg.pushManager.getSubscription().then(function (sub) {
          if (sub && !sameKey(sub.options && sub.options.applicationServerKey, key)) {
            return sub.unsubscribe().then(function () { return null; });
          }
          return sub;
        }).then(function (sub) {
          return sub || reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
        });
      }).then(function (sub) {
        var json = sub.toJSON();
        return fetch("/api/push/subscriptions", {
          method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrfToken() },
          body: JSON.stringify({ endpoint: json.endpoint, keys: json.keys })
        }).then(function (response) {
          return response.json().catch(function () { return {}; }).then(function (body) {
            if (!response.ok) throw new Error(body.error || String(response.status));
            show(root, "on", root.dataset.msgOn);
            return refreshDevices().then(function () { markThisDevice(json.endpoint); });
          });
        });
      });
    }).catch(function (error) {
      show(root, "off", root.dataset.msgFailed + (error && error.message ? " (" + error.message + ")" : ""));
    });
  }

  function turnOff(root) {
    show(root, "working", root.dataset.msgWorking);
    currentSubscription().then(function (sub) {
      if (!sub) return null;
      var endpoint = sub.endpoint;
      return sub.unsubscribe().then(function () {
        return fetch("/api/push/subscriptions", {
          method: "DELETE", credentials: "same-origin",
          headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrfToken() },
          body: JSON.stringify({ endpoint: endpoint })
        });
      });
    }).then(refreshDevices).then(function () {
      refresh(root);
    }).catch(function () {
      refresh(root);
    });
  }

  document.addEventListener("click", function (event) {
    var root = event.target.closest("[data-push-controls]");
    if (!root) return;
    if (event.target.closest("[data-push-subscribe]")) {
      event.preventDefault();
      turnOn(root);
    } else if (event.target.closest("[data-push-unsubscribe]")) {
      event.preventDefault();
      turnOff(root);
    }
  });

  function init() {
    var root = document.querySelector("[data-push-controls]");
    if (root && root.dataset.pushReady !== "1") {
      root.dataset.pushReady = "1";
      refresh(root);
    }
  }

  document.addEventListener("DOMContentLoaded", init);
  // hx-boost swaps the page body without reloading scripts.
  document.addEventListener("htmx:load", init);
  document.addEventListener("htmx:afterSettle", function (event) {
    var root = document.querySelector("[data-push-controls]");
    if (root && event.target && event.target.id === "device-list" && root.dataset.pushState !== "working") refresh(root);
  });
})();
