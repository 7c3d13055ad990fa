// The door's check-in page (door.views.door_page), for a phone held in one hand on a bad
// connection.
//
// The party's guest list (door.views.guest_list: compact JSON, gzip-compressed) is kept in
// localStorage and refreshed every 15 s while online, with its ETag (a 304 costs nothing), so
// the search runs on the phone over the whole list and answers as the staff member types,
// online or not. A check-in or an undo is applied to the local list at once and queued with
// an id made here (crypto.randomUUID), then POSTed (JSON, the CSRF token in X-CSRFToken) when
// online; the server applies each id once, so a request sent twice, or sent again after its
// answer was lost, changes nothing more. The queue is kept in localStorage too: a page closed
// offline sends its check-ins when it is opened again online. The status line says plainly
// whether the phone is online and what waits to be sent (the `online` and `offline` events,
// and every failed request, keep it true).
//
// Searching folds words as parties/search.py does ("Zoë" is "zoe"): each word typed must
// start a word of the guest's first name, last name or email.
//
// The QR scanner (static/js/door-scan.js, window.PartylineDoorScan) is offered when it is on
// the page and a camera is there; a code found is the guest with that `checkin_code`,
// looked up in the local list (offline too) and checked in.
// A static file: the Content-Security-Policy allows no inline script.
(function () {
  "use strict";
  var REFRESH_EVERY = 15000;
  var RETRY_EVERY = 5000;
  var SHOWN = 20;
  var SAME_CODE_MS = 4000;
  var LATE_MS = 10000;
  var LETTERS = { "ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i", "ħ": "h" };
  var PLACES = { r: "Registered", w: "On the waitlist", o: "Offered a place", c: "Cancelled" };

  var root = document.getElementById("door");
  if (!root || !window.fetch || !window.localStorage || !window.JSON) {
    return;
  }
  var party = root.getAttribute("data-party");
  var urls = {
    guests: root.getAttribute("data-guests-url"),
    search: root.getAttribute("data-search-url"),
    check_in: root.getAttribute("data-check-in-url"),
    undo: root.getAttribute("data-undo-url")
  };
  var staffName = root.getAttribute("data-staff-name") || "you";
  var csrf = root.querySelector("[name=csrfmiddlewaretoken]").value;
  var LIST_KEY = "partyline-door-guests-" + party;
  var QUEUE_KEY = "partyline-door-queue-" + party;

  var el = {
    checkedIn: document.getElementById("door-checked-in"),
    registered: document.getElementById("door-registered"),
    status: document.getElementById("door-status"),
    input: document.getElementById("door-search-input"),
    message: document.getElementById("door-message"),
    results: document.getElementById("door-results"),
    walkIn: document.getElementById("door-walk-in"),
    walkInOffline: document.getElementById("door-walk-in-offline"),
    scan: document.getElementById("door-scan"),
    scanner: document.getElementById("door-scanner"),
    video: document.getElementById("door-video"),
    scanStop: document.getElementById("door-scan-stop")
  };

  var clock = (function () {
    var options = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
    try {
      return new Intl.DateTimeFormat("en-GB", Object.assign({ timeZone: root.getAttribute("data-time-zone") }, options));
    } catch (error) {
      return new Intl.DateTimeFormat("en-GB", options); // a zone this browser does not know
    }
  })();

  // --- State: the guest list (by id), its version, and the queue of actions not sent yet. ---
  var guests = new Map();
  var etag = "";
  var listLoaded = false;
  var queue = [];
  var sending = null; // the action whose request is on its way
  var online = navigator.onLine !== false;
  var trouble = ""; // why sending stopped, other than being offline
  var notes = new Map(); // guest id -> the server's last word on them ("Already checked in...")
  var refreshTimer = null;
  var retryTimer = null;
  var searchTimer = null;
  var serverResults = null; // ids found by the server search while the list is not loaded

  function fold(text) {
    return String(text || "")
      .normalize("NFKD")
      .replace(/\p{M}/gu, "")
      .toLowerCase()
      .replace(/[ßæœøłđðþıħ]/g, function (letter) { return LETTERS[letter]; });
  }

  function words(text) {
    return fold(text).split(/[^\p{L}\p{N}]+/u).filter(Boolean);
  }

  function uuid() {
    if (window.crypto && crypto.randomUUID) {
      return crypto.randomUUID();
    }
    var bytes = crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return (b + 0x100).toString(16).slice(1); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
  }

  function guestFrom(fields, row) {
    var guest = {};
    fields.forEach(function (name, index) { guest[name] = row[index]; });
    return withWords(guest);
  }

  function withWords(guest) {
    guest.words = words(guest.first + " " + guest.last + " " + guest.email);
    return guest;
  }

  function save(key, value) {
    try {
      localStorage.setItem(key, JSON.stringify(value));
    } catch (error) {
      // Storage full or refused: the page still works while it stays open.
    }
  }

  function load(key) {
    try {
      return JSON.parse(localStorage.getItem(key) || "null");
    } catch (error) {
      return null;
    }
  }

  function forgetOtherLists() {
    // One party's list at a time (they can be large); queues are never dropped.
    for (var i = localStorage.length - 1; i >= 0; i--) {
      var key = localStorage.key(i);
      if (key && key.indexOf("partyline-door-guests-") === 0 && key !== LIST_KEY) {
        localStorage.removeItem(key);
      }
    }
  }

  // Take a list (stored or fresh) as the truth, then put this phone's unsent actions on top.
  function takeList(list) {
    guests = new Map();
    list.guests.forEach(function (row) {
      var guest = guestFrom(list.fields, row);
      guests.set(guest.id, guest);
    });
    etag = list.etag || "";
    listLoaded = true;
    queue.forEach(applyLocally);
  }

  function applyLocally(action) {
    var guest = guests.get(action.guest);
    if (!guest) {
      return;
    }
    if (action.kind === "check_in") {
      guest.in = Math.floor(action.at / 1000);
      guest.by = staffName;
      guest.check_in = action.body.client_id;
    } else {
      guest.in = null;
      guest.by = "";
      guest.check_in = null;
    }
  }

  // A guest as the server says they stand now (an answer to a check-in or undo).
  function takeGuest(data) {
    if (!data) {
      return;
    }
    var guest = withWords(Object.assign({}, data));
    guests.set(guest.id, guest);
    queue.forEach(function (action) {
      if (action.guest === guest.id) {
        applyLocally(action);
      }
    });
  }

  function pending(guestId) {
    return queue.some(function (action) { return action.guest === guestId; });
  }

  // --- What the page shows. ---
  function showCounts() {
    if (!listLoaded) {
      return;
    }
    var registered = 0;
    var checkedIn = 0;
    guests.forEach(function (guest) {
      if (guest.place === "r") {
        registered += 1;
      }
      if (guest.in) {
        checkedIn += 1;
      }
    });
    el.checkedIn.textContent = String(checkedIn);
    el.registered.textContent = String(registered);
  }

  function plural(count, word) {
    return count + " " + word + (count === 1 ? "" : "s");
  }

  function showStatus() {
    var checkIns = queue.filter(function (a) { return a.kind === "check_in"; }).length;
    var undos = queue.length - checkIns;
    var waiting = [];
    if (checkIns) {
      waiting.push(plural(checkIns, "check-in"));
    }
    if (undos) {
      waiting.push(plural(undos, "undo"));
    }
    var what = waiting.join(" and ");
    var text;
    if (!online) {
      text = "Offline — " + (what ? what + " waiting to be sent" : "nothing waiting to be sent");
    } else if (trouble) {
      text = trouble + (what ? " " + what + " waiting to be sent." : "");
    } else if (what) {
      text = "Online — sending " + what + "…";
    } else {
      text = listLoaded ? "Online" : "Online — loading the guest list…";
    }
    el.status.textContent = text;
    el.status.className = "door-status" + (online && !trouble ? "" : " door-status-offline");
    el.walkIn.hidden = !online;
    el.walkInOffline.hidden = online;
  }

  // A word from the server or the scanner. `quiet`: the guest's own line already shows it, so
  // it is only read out (screen readers), not shown twice.
  function say(text, quiet) {
    el.message.textContent = text || "";
    el.message.hidden = !text;
    el.message.classList.toggle("visually-hidden", Boolean(quiet));
  }

  function stateText(guest) {
    if (guest.in) {
      var when = clock.format(new Date(guest.in * 1000));
      return "Checked in at " + when + " by " + (guest.by || "someone") + (pending(guest.id) ? " (waiting to be sent)" : "");
    }
    return PLACES[guest.place] || guest.place;
  }

  function guestItem(guest) {
    var name = (guest.first + " " + guest.last).trim() || guest.email;
    var item = document.createElement("li");
    item.className = "door-guest" + (guest.in ? " door-guest-in" : "");
    var who = document.createElement("div");
    who.className = "door-guest-who";
    var strong = document.createElement("strong");
    strong.textContent = name;
    var email = document.createElement("span");
    email.className = "muted small door-guest-email";
    email.textContent = guest.email;
    who.appendChild(strong);
    who.appendChild(email);
    var state = document.createElement("p");
    state.className = "door-guest-state";
    state.textContent = stateText(guest);
    who.appendChild(state);
    if (notes.has(guest.id)) {
      var note = document.createElement("p");
      note.className = "door-guest-note";
      note.textContent = notes.get(guest.id);
      who.appendChild(note);
    }
    item.appendChild(who);
    var button = document.createElement("button");
    button.type = "button";
    if (guest.in) {
      button.className = "button button-secondary door-button";
      button.textContent = "Undo";
      button.setAttribute("aria-label", "Undo the check-in of " + name);
      button.addEventListener("click", function () { act("undo", guest.id); });
    } else if (guest.place === "r") {
      button.className = "button door-button";
      button.textContent = "Check in";
      button.setAttribute("aria-label", "Check in " + name);
      button.addEventListener("click", function () { act("check_in", guest.id); });
    } else {
      button = null; // not registered: their state says why
    }
    if (button) {
      item.appendChild(button);
    }
    return item;
  }

  function matches(guest, terms) {
    return terms.every(function (term) {
      return guest.words.some(function (word) { return word.indexOf(term) === 0; });
    });
  }

  function found() {
    var terms = words(el.input.value).slice(0, 5);
    if (!terms.length) {
      return [];
    }
    if (!listLoaded) {
      return (serverResults || []).map(function (id) { return guests.get(id); }).filter(Boolean);
    }
    var hits = [];
    guests.forEach(function (guest) {
      if (matches(guest, terms)) {
        hits.push(guest);
      }
    });
    hits.sort(function (a, b) {
      return (a.first + " " + a.last).localeCompare(b.first + " " + b.last) || a.id - b.id;
    });
    return hits.slice(0, SHOWN);
  }

  function showResults() {
    var focusedId = document.activeElement && document.activeElement.closest && document.activeElement.closest(".door-guest")
      ? document.activeElement.closest(".door-guest").getAttribute("data-guest") : null;
    var hits = found();
    el.results.textContent = "";
    hits.forEach(function (guest) {
      var item = guestItem(guest);
      item.setAttribute("data-guest", String(guest.id));
      el.results.appendChild(item);
    });
    if (!hits.length && words(el.input.value).length && (listLoaded || serverResults)) {
      var none = document.createElement("li");
      none.className = "door-none muted";
      none.textContent = "No guest found. Someone not registered can be added as a walk-in.";
      el.results.appendChild(none);
    }
    if (focusedId) {
      var again = el.results.querySelector('[data-guest="' + focusedId + '"] button');
      if (again) {
        again.focus();
      }
    }
  }

  function show() {
    showCounts();
    showStatus();
    showResults();
  }

  // --- Acting on a guest: at once here, sent when possible. ---
  function act(kind, guestId) {
    var guest = guests.get(guestId);
    if (!guest) {
      return;
    }
    notes.delete(guestId);
    say("");
    if (kind === "undo") {
      // A check-in this phone has not sent yet is simply taken back.
      var unsent = queue.findIndex(function (a) { return a.guest === guestId && a.kind === "check_in" && a !== sending; });
      if (unsent !== -1) {
        queue.splice(unsent, 1);
        save(QUEUE_KEY, queue);
        guest.in = null;
        guest.by = "";
        guest.check_in = null;
        show();
        return;
      }
    }
    var action = { kind: kind, guest: guestId, at: Date.now(), body: { client_id: uuid(), attendee: guestId } };
    if (kind === "undo" && guest.check_in) {
      action.body.check_in = guest.check_in;
    }
    queue.push(action);
    save(QUEUE_KEY, queue);
    applyLocally(action);
    show();
    send();
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, "X-Requested-With": "fetch" },
      body: JSON.stringify(body)
    });
  }

  function wentOffline() {
    online = false;
    showStatus();
    clearTimeout(retryTimer);
    retryTimer = setTimeout(send, RETRY_EVERY);
  }

  // Send the queue in order, one request at a time; stop at the first that cannot go.
  function send() {
    if (sending || !queue.length) {
      showStatus();
      return;
    }
    if (navigator.onLine === false) {
      online = false;
      showStatus();
      return;
    }
    var action = queue[0];
    sending = action;
    if (action.kind === "check_in" && Date.now() - action.at > LATE_MS) {
      // Sent late (it waited offline): the guest came in when the phone says, not now.
      action.body.device_time = action.at;
    }
    post(urls[action.kind], action.body)
      .then(function (response) {
        var json = (response.headers.get("Content-Type") || "").indexOf("application/json") === 0;
        if (response.redirected || !json) {
          // Logged out, or the CSRF token went stale: keep everything, say what to do.
          throw { kind: "session", status: response.status };
        }
        return response.json().then(function (answer) { return { status: response.status, answer: answer }; });
      })
      .then(function (result) {
        sending = null;
        online = true;
        trouble = "";
        queue.shift();
        save(QUEUE_KEY, queue);
        var answer = result.answer;
        var shown = answer.guest && el.results.querySelector('[data-guest="' + answer.guest.id + '"]');
        if (answer.guest) {
          takeGuest(answer.guest);
          if (!answer.ok) {
            notes.set(answer.guest.id, answer.message);
          }
        }
        if (!answer.ok) {
          say(answer.message, Boolean(shown));
        }
        show();
        send();
      })
      .catch(function (error) {
        sending = null;
        if (error && error.kind === "session") {
          trouble = "Not sent: this page's session ended. Log in again in this browser (nothing is lost), then reload.";
          showStatus();
          clearTimeout(retryTimer);
          retryTimer = setTimeout(send, REFRESH_EVERY);
          return;
        }
        wentOffline(); // the request never got an answer
      });
  }

  // --- The list: fetched when online, kept for offline. ---
  function refresh() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refresh, REFRESH_EVERY);
    if (document.hidden || navigator.onLine === false) {
      return;
    }
    var headers = { "X-Requested-With": "fetch" };
    if (etag) {
      headers["If-None-Match"] = etag;
    }
    fetch(urls.guests, { credentials: "same-origin", cache: "no-store", headers: headers })
      .then(function (response) {
        online = true;
        send(); // the network is back: whatever waits goes now
        if (response.status === 304) {
          showStatus();
          return;
        }
        var json = (response.headers.get("Content-Type") || "").indexOf("application/json") === 0;
        if (!response.ok || response.redirected || !json) {
          throw { kind: "session" };
        }
        var version = response.headers.get("ETag") || "";
        return response.json().then(function (list) {
          if (sending) {
            return; // an answer on its way would be overwritten: take the next list
          }
          list.etag = version;
          forgetOtherLists();
          save(LIST_KEY, list);
          takeList(list);
          show();
        });
      })
      .catch(function (error) {
        if (error && error.kind === "session") {
          trouble = "The guest list could not be read: log in again in this browser, then reload.";
          showStatus();
          return;
        }
        wentOffline();
      });
  }

  // Before the list is here (a first visit), the server searches.
  function serverSearch() {
    clearTimeout(searchTimer);
    if (listLoaded || !words(el.input.value).length) {
      return;
    }
    searchTimer = setTimeout(function () {
      var query = el.input.value;
      fetch(urls.search + "?q=" + encodeURIComponent(query), { credentials: "same-origin", cache: "no-store" })
        .then(function (response) { return response.json(); })
        .then(function (answer) {
          if (listLoaded || query !== el.input.value) {
            return;
          }
          answer.guests.forEach(takeGuest);
          serverResults = answer.guests.map(function (guest) { return guest.id; });
          showResults();
        })
        .catch(function () { /* the list or the next keystroke will do */ });
    }, 150);
  }

  // --- The QR scanner (door-scan.js), when it is on the page. ---
  var stopScanner = null;
  var lastCode = { text: "", at: 0 };

  function onCode(text) {
    var now = Date.now();
    if (text === lastCode.text && now - lastCode.at < SAME_CODE_MS) {
      return; // the same code still in front of the camera
    }
    lastCode = { text: text, at: now };
    var guest = null;
    guests.forEach(function (candidate) {
      if (candidate.code === text) {
        guest = candidate;
      }
    });
    if (!guest) {
      if (!listLoaded && online) {
        // Not loaded yet: the server knows the code.
        var body = { client_id: uuid(), code: text };
        post(urls.check_in, body)
          .then(function (response) { return response.json(); })
          .then(function (answer) {
            takeGuest(answer.guest);
            say(answer.message);
            el.input.value = answer.guest ? answer.guest.first + " " + answer.guest.last : "";
            serverResults = answer.guest ? [answer.guest.id] : [];
            show();
          })
          .catch(function () { say("This code could not be checked: try again."); });
        return;
      }
      say("No guest of this party has this code.");
      return;
    }
    el.input.value = (guest.first + " " + guest.last).trim() || guest.email;
    if (guest.in) {
      say((guest.first || guest.email) + " is already checked in: " + stateText(guest) + ".");
      show();
    } else if (guest.place !== "r") {
      say((guest.first || guest.email) + ": " + PLACES[guest.place] + ". Not registered, so not checked in.");
      show();
    } else {
      act("check_in", guest.id);
      say((guest.first || guest.email) + " checked in.");
    }
  }

  function startScanner() {
    el.scanner.hidden = false;
    el.scan.hidden = true;
    window.PartylineDoorScan.start(el.video, onCode).then(function (stop) {
      stopScanner = stop;
    }).catch(function () {
      el.scanner.hidden = true;
      el.scan.hidden = false;
      say("The camera could not be started: allow it for this site, or search by name.");
    });
  }

  function endScanner() {
    if (stopScanner) {
      stopScanner();
      stopScanner = null;
    }
    el.scanner.hidden = true;
    el.scan.hidden = false;
    el.scan.focus();
  }

  if (window.PartylineDoorScan && window.PartylineDoorScan.supported()) {
    el.scan.hidden = false;
    el.scan.addEventListener("click", startScanner);
    el.scanStop.addEventListener("click", endScanner);
  }

  // --- Start: the stored list and queue at once, then the network. ---
  queue = load(QUEUE_KEY) || [];
  var stored = load(LIST_KEY);
  if (stored && stored.guests && stored.fields) {
    takeList(stored);
  }
  el.input.addEventListener("input", function () {
    notes.clear();
    say("");
    if (!listLoaded) {
      serverSearch();
    }
    showResults();
  });
  window.addEventListener("online", function () {
    online = true;
    send();
    refresh();
  });
  window.addEventListener("offline", function () {
    online = false;
    showStatus();
  });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      send();
      refresh();
    }
  });
  online = navigator.onLine !== false;
  show();
  send();
  refresh();
})();
