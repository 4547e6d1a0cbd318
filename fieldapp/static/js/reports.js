// The report's Print button (hidden without JavaScript: the browser's own print command does the same).
(function () {
  "use strict";
  function reveal() {
    document.querySelectorAll("[data-print][hidden]").forEach(function (button) { button.hidden = false; });
  }
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-print]")) window.print();
  });
  document.addEventListener("DOMContentLoaded", reveal);
  document.addEventListener("htmx:afterSettle", reveal);
})();
