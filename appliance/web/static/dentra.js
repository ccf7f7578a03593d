// Dentra front desk: small helpers, no dependencies, no inline script (the page's CSP forbids it).
"use strict";

// When the server's idle timeout has passed, leave the page so no patient data stays on an
// unattended screen. The server has already ended the session; this only clears the screen.
(function idleSignOut() {
  const body = document.body;
  const seconds = Number(body.dataset.idleSeconds || 0);
  const target = body.dataset.signedOutUrl;
  if (!seconds || !target) return;
  let deadline = Date.now() + seconds * 1000;
  // any request this page makes (forms, fetch) renews the server session; pages call this then
  window.dentraActivity = function () { deadline = Date.now() + seconds * 1000; };
  setInterval(function () {
    if (Date.now() > deadline) window.location.assign(target);
  }, 5000);
})();
