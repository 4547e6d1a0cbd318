// Alerts (Web Push) in the service worker: /sw.js is the offline worker followed by every sw_*.js.
// The push payload is content-free: {alert_id, level, title, body}. The alert itself is read in
// the app after login, so nothing sensitive passes through the browser vendor's push service.
(function () {
  "use strict";
  var LEVELS = ["info", "warning", "urgent"];
  var ID = /^[0-9a-fA-F-]{36}$/;

  function alertUrl(alertId) {
    return ID.test(alertId || "") ? "/alerts/" + alertId : "/alerts";
  }

  function readPayload(event) {
    try {
      return (event.data && event.data.json()) || {};
    } catch (e) {
      return {};
    }
  }

  function showAlert(data) {
    var alertId = ID.test(String(data.alert_id || "")) ? String(data.alert_id) : "";
    var level = LEVELS.indexOf(data.level) >= 0 ? data.level : "info";
    var title = typeof data.title === "string" && data.title ? data.title.slice(0, 120) : "fieldapp";
    var body = typeof data.body === "string" ? data.body.slice(0, 200) : "";
    return self.registration.showNotification(title, {
      body: body,
      tag: "alert-" + (alertId || "latest"),      // a resend of the same alert replaces, never adds
      renotify: level !== "info",
      requireInteraction: level === "urgent",
      icon: "/static/icons/icon-192.png",
      badge: "/static/icons/icon-192.png",
      data: { url: alertUrl(alertId), alert_id: alertId, level: level }
    });
  }

  // Same-origin path only: a notification never opens another site.
  function targetUrl(notification) {
    var path = notification && notification.data && notification.data.url;
    var url = new URL(typeof path === "string" ? path : "/alerts", self.location.origin);
    if (url.origin !== self.location.origin || url.pathname.indexOf("/alerts") !== 0) {
      url = new URL("/alerts", self.location.origin);
    }
    return url.href;
  }

  // Focus a window of the app that is already open and show the alert there; else open one.
  function openAlert(notification) {
    var url = targetUrl(notification);
    notification.close();
    return self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (windows) {
      var same = windows.filter(function (w) { return new URL(w.url).origin === self.location.origin; });
      var exact = same.filter(function (w) { return w.url === url; })[0];
      if (exact) return exact.focus();
      var client = same[0];
      if (!client) return self.clients.openWindow(url);
      return Promise.resolve(client.focus ? client.focus() : client).catch(function () { return client; })
        .then(function () { return client.navigate(url); })
        .catch(function () { return self.clients.openWindow(url); });
    });
  }

  // The browser replaced the subscription (keys rotated or expired): tell the server the new one.
  // Not logged in: nothing to do; the device list then shows alerts as off until they are turned on again.
  function resubscribe(event) {
    var options = event.oldSubscription && event.oldSubscription.options;
    var next = event.newSubscription ? Promise.resolve(event.newSubscription)
      : options ? self.registration.pushManager.subscribe(options) : Promise.reject(new Error("no subscription"));
    return next.then(function (subscription) {
      return fetch("/api/session", { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) {
          if (!response.ok) throw new Error("not logged in");
          return response.json();
        }).then(function (session) {
          var json = subscription.toJSON();
          return fetch("/api/push/subscriptions", {
            method: "POST", credentials: "same-origin",
            headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": session.csrf },
            body: JSON.stringify({ endpoint: json.endpoint, keys: json.keys })
          });
        });
    }).catch(function () { return null; });
  }

  self.addEventListener("pushsubscriptionchange", function (event) {
    event.waitUntil(resubscribe(event));
  });

  self.addEventListener("push", function (event) {
    event.waitUntil(showAlert(readPayload(event)));
  });

  self.addEventListener("notificationclick", function (event) {
    var done = openAlert(event.notification);
    try {
      event.waitUntil(done);
    } catch (e) {
      // A click dispatched by a test is untrusted and cannot extend the event; the handler still ran.
    }
  });
})();
