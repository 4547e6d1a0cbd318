/* fieldapp device copies: the server's pages and records kept for offline work. A page link that fails
 * offline falls back to the worker's copy; logging out forgets the copies for the next person on this
 * phone. Separate because it is about the server's data on the device, not the records saved on it.
 */
(function (root) {
  "use strict";

  var Outbox = root.FieldappOutbox;
  var Sync = root.FieldappSync;

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.matches && form.matches('form[action="/logout"]')) {
      // The next person on this phone must not see this user's copies; the outbox itself stays.
      event.preventDefault();
      event.stopPropagation();
      var forget = [Outbox.forgetCopies().catch(function () { return null; })];
      if (self.caches) forget.push(caches.delete(Sync.PAGES_CACHE).catch(function () { return null; }));
      Promise.all(forget).then(function () { form.submit(); });
    }
  }, true);

  // A boosted link that fails offline: load the page normally, so the worker can give its copy.
  document.addEventListener("htmx:sendError", function (event) {
    var detail = event.detail || {};
    if (detail.boosted && detail.requestConfig && detail.requestConfig.verb === "get" && detail.pathInfo) {
      location.assign(detail.pathInfo.requestPath);
    }
  });
})(self);
