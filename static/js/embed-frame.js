// Inside the embedded signup form's frame (templates/public/embed_base.html): tell the page
// embedding it how tall the content is, on load and whenever it changes (a narrower window,
// a message shown), so static/js/embed.js sizes the frame to it and no scrollbar appears.
// Only a height is said, to whichever page frames us: it is nothing secret, and which sites
// may frame the form at all is the response's Content-Security-Policy (frame-ancestors).
(function () {
  "use strict";
  if (window.parent === window) {
    return; // opened on its own, not in a frame
  }
  var last = 0;
  function tell() {
    var height = Math.ceil(document.documentElement.getBoundingClientRect().height);
    if (height !== last) {
      last = height;
      window.parent.postMessage({ partyline: "height", height: height }, "*");
    }
  }
  window.addEventListener("load", tell);
  window.addEventListener("resize", tell);
  if (window.ResizeObserver) {
    new ResizeObserver(tell).observe(document.documentElement);
  }
  tell();
})();
