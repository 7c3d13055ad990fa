// After logging out, the door's copy of each party's guest list (names and email addresses,
// static/js/door.js) leaves this device: a phone handed back at the end of the evening keeps
// nobody's details. The queues stay: they hold only ids, and a check-in made offline is sent
// by the next person to open that party's door page.
(function () {
  "use strict";
  try {
    for (var i = localStorage.length - 1; i >= 0; i--) {
      var key = localStorage.key(i);
      if (key && key.indexOf("partyline-door-guests-") === 0) {
        localStorage.removeItem(key);
      }
    }
  } catch (error) {
    // Storage switched off: nothing was kept.
  }
})();
