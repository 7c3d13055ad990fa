// A new organization's time zone: the browser's. Fills <input type="hidden"
// data-browser-time-zone> with the zone Intl reports, and names it in the "Automatic" choice of
// <select data-time-zone-select>. Without JavaScript the select is how people choose, and
// "Automatic" means UTC. (A static file: the Content-Security-Policy allows no inline script.)
(function () {
  "use strict";
  var zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (error) {
    return;
  }
  if (!zone) {
    return;
  }
  document.querySelectorAll("input[data-browser-time-zone]").forEach(function (input) {
    input.value = zone;
  });
  document.querySelectorAll("select[data-time-zone-select]").forEach(function (select) {
    var known = Array.prototype.some.call(select.options, function (option) {
      return option.value === zone;
    });
    var automatic = select.querySelector('option[value=""]');
    if (known && automatic) {
      automatic.textContent = "Automatic: " + zone + " (this browser's time zone)";
    }
  });
})();
