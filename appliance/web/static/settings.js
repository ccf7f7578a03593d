// Settings page: a desktop notification needs the browser's own permission, which may only be
// asked for after a click, so it is asked when the box is ticked.
"use strict";
(function notificationPermission() {
  const box = document.getElementById("notify-box");
  const note = document.getElementById("notify-permission");
  if (!box || !note) return;
  function explain() {
    if (!("Notification" in window)) {
      note.textContent = "This browser cannot show desktop notifications.";
    } else if (Notification.permission === "denied") {
      note.textContent = "This browser blocks notifications from this page; allow them in the site settings.";
    } else {
      note.hidden = true;
      return;
    }
    note.hidden = false;
  }
  box.addEventListener("change", function () {
    if (box.checked && "Notification" in window && Notification.permission === "default") {
      Notification.requestPermission().then(explain);
    } else {
      explain();
    }
  });
  if (box.checked) explain();
})();
