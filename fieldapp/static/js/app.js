// Small progressive enhancements; every page also works without this file.
(function () {
  "use strict";
  // "Use my location": fills the coordinates of the nearest form from the device.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-locate]");
    if (!button || !navigator.geolocation) return;
    event.preventDefault();
    var form = button.closest("form");
    var status = form.querySelector("[data-locate-status]");
    if (status) status.textContent = button.dataset.locating || "";
    navigator.geolocation.getCurrentPosition(function (pos) {
      form.querySelector("[name=lat]").value = pos.coords.latitude.toFixed(5);
      form.querySelector("[name=lon]").value = pos.coords.longitude.toFixed(5);
      if (status) status.textContent = button.dataset.located || "";
    }, function () {
      if (status) status.textContent = button.dataset.failed || "";
    }, { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 });
  });
})();
