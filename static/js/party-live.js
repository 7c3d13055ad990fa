// The live party page: while it is open, new signups, the counts by state, the Details and
// the sync's status refresh without a reload. <div id="party-live" data-live-url=...> says
// where to poll; every element marked [data-live-part] with an id is replaced by the element
// of the same id in the fragment the server sends back (parties.views.party_live, read in one
// database snapshot so the parts agree). The page decides what is live: a filtered or later
// page of attendees leaves its table unmarked.
// Polls every 3 s while the tab is visible, whatever is happening (a signup can come at any
// moment, and the page promises to show it within 5 s), and not at all while it is hidden;
// a visible tab polls at once. The server answers 304 (If-None-Match) when nothing changed,
// at a constant cost. After an error (logged out, offline), it tries again every 15 s.
// A static file: the Content-Security-Policy allows no inline script.
(function () {
  "use strict";
  var EVERY = 3000;
  var AFTER_ERROR = 15000;
  var config = document.getElementById("party-live");
  if (!config || !window.fetch || !window.DOMParser) {
    return;
  }
  var url = config.getAttribute("data-live-url");
  var etag = config.getAttribute("data-live-etag") || "";
  var timer = null;
  var busy = false;

  function schedule(delay) {
    clearTimeout(timer);
    timer = null;
    if (!document.hidden) {
      timer = setTimeout(poll, delay === undefined ? EVERY : delay);
    }
  }

  // Swap one live part, keeping keyboard focus on the same control (matched by id) if it was
  // inside, and each disclosure the person opened (a <details> with an id) open. A part
  // holding focus on a control without an id waits (returns false).
  function swap(target, source) {
    if (target.innerHTML === source.innerHTML) {
      return true;
    }
    var active = document.activeElement;
    var hadFocus = active && active !== document.body && target.contains(active);
    if (hadFocus && !active.id) {
      return false;
    }
    var opened = [];
    target.querySelectorAll("details[open][id]").forEach(function (details) {
      opened.push(details.id);
    });
    target.innerHTML = source.innerHTML;
    opened.forEach(function (id) {
      var details = document.getElementById(id);
      if (details) {
        details.open = true;
      }
    });
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
        schedule(AFTER_ERROR);
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
