/* The settings page: the browser's own time zone among the likely ones (settings.html). */
(function () {
  "use strict";
  var own = window.Intl && Intl.DateTimeFormat().resolvedOptions().timeZone;
  var likely = document.querySelector("#timezone optgroup");
  Array.prototype.forEach.call(document.querySelectorAll("#timezone optgroup + optgroup option"), function (option) {
    if (option.value === own) { likely.appendChild(option); }
  });
})();
