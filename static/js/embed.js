// Partyline's embedded signup form, for an organizer's own site:
//
//   <script src="https://PARTYLINE/static/js/embed.js" data-party="SLUG" async></script>
//
// puts a frame of the party's signup form where the script tag is, and sizes it to the form:
// the page in the frame (static/js/embed-frame.js) says how tall it is. Only messages from
// Partyline's origin (where this script comes from) and from this script's own frame count.
// The frame's address tells Partyline where the signup comes from: the utm_* parameters of
// this page's address and this site's host.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.getAttribute("data-party")) {
    return;
  }
  var origin = new URL(script.src).origin;
  var src = new URL(origin + "/p/" + encodeURIComponent(script.getAttribute("data-party")) + "/embed/");
  var here = new URLSearchParams(window.location.search);
  ["utm_source", "utm_medium", "utm_campaign"].forEach(function (name) {
    if (here.get(name)) {
      src.searchParams.set(name, here.get(name));
    }
  });
  if (window.location.hostname) {
    src.searchParams.set("ref", window.location.hostname);
  }

  var frame = document.createElement("iframe");
  frame.src = src.href;
  frame.title = "Sign up";
  frame.className = "partyline-signup";
  // Styles set here, not in a style attribute: the embedding site's own policy may forbid those.
  frame.style.width = "100%";
  frame.style.border = "0";
  frame.style.display = "block";
  frame.style.height = "40rem";
  script.parentNode.insertBefore(frame, script.nextSibling);

  window.addEventListener("message", function (event) {
    if (event.origin !== origin || event.source !== frame.contentWindow) {
      return;
    }
    var data = event.data;
    if (data && data.partyline === "height" && typeof data.height === "number" && data.height > 0) {
      frame.style.height = Math.min(Math.ceil(data.height), 20000) + "px";
    }
  });
})();
