// The live party page: while it is open, new signups, the counts by state and the sync's
// status refresh without a reload. <div id="party-live" data-live-url=...> says where to
// poll; every element marked [data-live-part] with an id is replaced by the element of the
// same id in the fragment the server sends back (parties.views.party_live). The page decides
// what is live: a filtered or later page of attendees leaves its table unmarked.
// Polls every 3 s while anything is in flight (data-live-in-flight="1"), every 15 s when
// nothing is, and not at all while the tab is hidden. The server answers 304 (If-None-Match)
// when nothing changed. A static file: the Content-Security-Policy allows no inline script.
(function () {
  "use strict";
  var FAST = 3000;
  var SLOW = 15000;
  var config = document.getElementById("party-live");
  if (!config || !window.fetch || !window.DOMParser) {
    return;
  }
  var url = config.getAttribute("data-live-url");
  var etag = config.getAttribute("data-live-etag") || "";
  var inFlight = config.getAttribute("data-live-in-flight") === "1";
  var timer = null;
  var busy = false;

  function schedule(delay) {
    clearTimeout(timer);
    timer = null;
    if (!document.hidden) {
      timer = setTimeout(poll, delay === undefined ? (inFlight ? FAST : SLOW) : delay);
    }
  }

  // Swap one live part, keeping keyboard focus on the same control (matched by id) if it was
  // inside. A part holding focus on a control without an id waits (returns false).
  function swap(target, source) {
    if (target.innerHTML === source.innerHTML) {
      return true;
    }
    var active = document.activeElement;
    var hadFocus = active && active !== document.body && target.contains(active);
    if (hadFocus && !active.id) {
      return false;
    }
    target.innerHTML = source.innerHTML;
    if (hadFocus) {
      var again = document.getElementById(active.id);
      if (again) {
        again.focus();
      }
    }
    return true;
  }

  function apply(html) {
    var fragment = new DOMParser().parseFromString(html, "text/html");
    var root = fragment.getElementById("party-live");
    if (root) {
      inFlight = root.getAttribute("data-live-in-flight") === "1";
    }
    fragment.querySelectorAll("[data-live-part][id]").forEach(function (source) {
      var target = document.getElementById(source.id);
      if (target && target.hasAttribute("data-live-part") && !swap(target, source)) {
        etag = ""; // ask for the whole fragment again next time
      }
    });
  }

  function poll() {
    if (busy || document.hidden) {
      return;
    }
    busy = true;
    var headers = { "X-Requested-With": "fetch" };
    if (etag) {
      headers["If-None-Match"] = etag;
    }
    // no-store: the browser's cache stays out of it, so a 304 reaches this code as a 304.
    fetch(url, { headers: headers, credentials: "same-origin", cache: "no-store", redirect: "error" })
      .then(function (response) {
        if (response.status === 304) {
          return null;
        }
        if (!response.ok) {
          throw new Error("party-live: HTTP " + response.status);
        }
        etag = response.headers.get("ETag") || "";
        return response.text();
      })
      .then(function (html) {
        if (html !== null) {
          apply(html);
        }
        busy = false;
        schedule();
      })
      .catch(function () {
        // Logged out, offline or a server error: try again, slowly.
        busy = false;
        schedule(SLOW);
      });
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      clearTimeout(timer);
      timer = null;
    } else {
      poll();
    }
  });
  schedule();
})();
