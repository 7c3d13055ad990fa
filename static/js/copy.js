// Copy buttons: <button data-copy="input-id" hidden>. The link is a readonly input anyway, so
// without JavaScript (or without the Clipboard API) the button stays hidden and people copy
// the text by hand; an <input data-select-on-focus> selects its text when focused to help.
// (A static file, not inline handlers: the Content-Security-Policy allows no inline script.)
(function () {
  "use strict";
  document.querySelectorAll("[data-select-on-focus]").forEach(function (input) {
    input.addEventListener("focus", function () { input.select(); });
  });
  if (!navigator.clipboard || !window.isSecureContext) {
    return;
  }
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var input = document.getElementById(button.getAttribute("data-copy"));
    if (!input) {
      return;
    }
    var label = button.textContent;
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(input.value).then(
        function () {
          button.textContent = "Copied";
          setTimeout(function () { button.textContent = label; }, 2000);
        },
        function () {
          input.select();
        }
      );
    });
  });
})();
