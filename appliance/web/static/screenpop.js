// Screen pop: every signed-in page listens on /live and shows a card for each ringing call.
// No dependencies and no inline script (the CSP forbids it); every text from the server goes in
// with textContent, never innerHTML, so a patient named "<script>" is shown, not run.
// Each message is also re-dispatched as a "dentra:live" event for the page (livecall.js).
"use strict";
(function screenPop() {
  const body = document.body;
  if (!body.dataset.liveUrl) return;
  const prefs = { sound: body.dataset.popSound === "1", notify: body.dataset.popNotify === "1" };
  const patientUrl = body.dataset.patientUrl || "/patients/";
  const STORE = "dentra.live";  // sessionStorage: ids only (last event, live calls, dismissed), no PHI
  const ENDED_CARD_MS = 20000;  // an ended call's card stays a moment so the outcome can be read
  const state = load();
  const cards = new Map();  // call_id -> card element
  let backoff = 500;
  let replaying = false;  // true while the server replays what this tab saw before

  const stack = el("section", "pops");
  stack.setAttribute("aria-label", "Incoming calls");
  stack.setAttribute("aria-live", "assertive");
  body.append(stack);

  function load() {
    try {
      const s = JSON.parse(sessionStorage.getItem(STORE) || "{}");
      return { last: s.last || null, calls: s.calls || {}, dismissed: s.dismissed || [] };
    } catch (err) {
      return { last: null, calls: {}, dismissed: [] };
    }
  }
  function save() { sessionStorage.setItem(STORE, JSON.stringify(state)); }

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function row(card, label, value, cls) {
    if (value === null || value === undefined || value === "") return;
    const line = el("p", "pop-row" + (cls ? " " + cls : ""));
    line.append(el("span", "pop-label", label), el("span", "pop-value", value));
    card.append(line);
  }
  function hue(id) {
    let h = 0;
    for (const c of String(id)) h = (h * 31 + c.charCodeAt(0)) % 360;
    return h;
  }
  function when(appt) {
    if (!appt) return null;
    const start = String(appt.start).replace("T", " ");
    return start + " · " + appt.service + " with " + appt.provider + " (" + appt.location + ")";
  }

  function patientBlock(p) {
    const block = el("article", "pop-patient");
    const head = el("div", "pop-patient-head");
    const avatar = el("span", "avatar", p.initials);
    avatar.setAttribute("aria-hidden", "true");
    avatar.dataset.hue = String(hue(p.patient_id) % 12);
    const who = el("div", "pop-who");
    const name = el("a", "pop-name", p.name + (p.preferred_name ? " (" + p.preferred_name + ")" : ""));
    name.href = patientUrl + encodeURIComponent(p.patient_id);
    who.append(name, el("span", "pop-sub", [p.age !== null ? p.age + " y" : null, p.date_of_birth,
      p.calling_from ? "calling from " + p.calling_from : null].filter(Boolean).join(" · ")));
    head.append(avatar, who);
    block.append(head);
    if (p.allergy_alert) row(block, "Allergies", p.allergies, "pop-allergy");
    row(block, "Last visit", p.last_visit || "none on record");
    row(block, "Next", when(p.next_appointment) || "nothing booked");
    row(block, "Balance", (p.balance_cents / 100).toFixed(2), p.balance_cents > 0 ? "pop-owed" : "");
    row(block, "Insurance", p.insurance || "none on record");
    row(block, "Notes", p.notes);
    return block;
  }

  function ringing(msg) {
    const c = msg.card;
    if (!c || c.unavailable || state.dismissed.includes(msg.call_id)) return;
    const following = document.getElementById("live-call");  // the live view shows this call already
    if (following && following.dataset.callId === msg.call_id) return;
    const old = cards.get(msg.call_id);
    if (old) old.remove();
    const card = el("section", "pop" + (c.new_caller ? " pop-new" : "") + (c.household ? " pop-household" : ""));
    card.dataset.callId = msg.call_id;
    card.dataset.eventId = String(msg.id);
    const top = el("header", "pop-top");
    top.append(el("span", "pop-status", "Ringing"),
      el("span", "pop-number", c.number_display || c.number || "Number withheld"));
    const close = el("button", "pop-close", "×");
    close.type = "button";
    close.setAttribute("aria-label", "Dismiss");
    close.addEventListener("click", function () { dismiss(msg.call_id); });
    top.append(close);
    card.append(top);
    if (c.new_caller) {
      card.append(el("p", "pop-title", "New caller"));
      card.append(el("p", "pop-sub", c.number_status === "valid" ? "This number is not on any patient's file."
        : "The number could not be read (" + c.number_status + ")."));
    } else if (c.household) {
      card.append(el("p", "pop-title", "Household phone: " + c.patients.length + " patients"));
    }
    c.patients.forEach(function (p) { card.append(patientBlock(p)); });
    card.append(el("p", "pop-line"));
    const follow = el("a", "pop-follow", "Follow the call live");
    follow.href = "/calls/" + encodeURIComponent(msg.call_id) + "/live";
    card.append(follow);
    stack.prepend(card);
    cards.set(msg.call_id, card);
    body.classList.add("has-pops");
    card.dataset.shownAt = String(performance.timeOrigin + performance.now());
    requestAnimationFrame(function () { card.dataset.paintedAt = String(performance.timeOrigin + performance.now()); });
    if (replaying) return;  // no chime for calls that rang before this page opened
    if (prefs.sound) chime();
    if (prefs.notify) notify(c, msg.call_id);
  }

  function update(msg) {
    const card = cards.get(msg.call_id);
    const c = msg.card || {};
    if (!card) return;
    const status = card.querySelector(".pop-status");
    if (msg.type === "call-answered") status.textContent = "AI answering";
    if (msg.type === "caller-said" || msg.type === "box-said") {
      card.querySelector(".pop-line").textContent = (c.line.who === "caller" ? "Caller: " : "Box: ") + c.line.text;
    }
    if (msg.type === "call-transferred") status.textContent = "Transferred to " + c.to + (c.by ? " (" + c.by + ")" : "");
    if (msg.type === "call-ended") {
      if (!status.textContent.startsWith("Transferred")) status.textContent = "Ended" + (c.outcome ? ": " + c.outcome : "");
      card.classList.add("pop-ended");
      delete state.calls[msg.call_id];
      setTimeout(function () { forget(msg.call_id); }, replaying ? 0 : ENDED_CARD_MS);
    }
  }

  function forget(callId) {
    const card = cards.get(callId);
    if (card) card.remove();
    cards.delete(callId);
    if (!cards.size) body.classList.remove("has-pops");
  }
  function dismiss(callId) {
    forget(callId);
    state.dismissed = state.dismissed.concat([callId]).slice(-50);
    delete state.calls[callId];
    save();
  }

  let audio = null;
  function chime() {
    // two short tones made with WebAudio: nothing to download, nothing to decode
    try {
      audio = audio || new AudioContext();
      [[880, 0], [660, 0.18]].forEach(function (tone) {
        const osc = audio.createOscillator(), gain = audio.createGain(), at = audio.currentTime + tone[1];
        osc.frequency.value = tone[0];
        gain.gain.setValueAtTime(0.0001, at);
        gain.gain.exponentialRampToValueAtTime(0.25, at + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.16);
        osc.connect(gain).connect(audio.destination);
        osc.start(at);
        osc.stop(at + 0.17);
      });
    } catch (err) { /* no audio device: the card is still there */ }
  }
  document.addEventListener("pointerdown", function () { if (audio) audio.resume(); }, { once: true });

  function notify(c, callId) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    // as little PHI as will do on a desktop that others may see: first name and initial, last digits
    const p = c.patients.length === 1 ? c.patients[0] : null;
    const who = p ? p.name.split(" ")[0] + " " + (p.name.split(" ").slice(-1)[0] || "").charAt(0) + "."
      : c.household ? "a household phone" : "a new caller";
    const n = new Notification("Incoming call from " + who, { body: c.number_masked || "", tag: callId });
    n.onclick = function () { window.focus(); n.close(); };
  }

  function handle(msg) {
    if (typeof msg.id === "number" && msg.id > (state.last || 0)) state.last = msg.id;
    if (msg.type === "ready") {
      replaying = false;
      body.dataset.live = "ready";  // the page is current from here on
    }
    if (msg.type === "resync") state.calls = {};  // too much was missed: start afresh
    if (msg.type === "call-ringing") {
      state.calls[msg.call_id] = msg.id;
      ringing(msg);
    } else if (msg.call_id) {
      update(msg);
    }
    if (msg.type === "dropped" && msg.reason === "signed-out") window.location.reload();
    save();
    document.dispatchEvent(new CustomEvent("dentra:live", { detail: msg }));
  }

  function connect() {
    const url = new URL(body.dataset.liveUrl, window.location.href);
    url.protocol = url.protocol === "http:" ? "ws:" : "wss:";
    // calls still live when the last page closed are replayed from their first event, so their
    // cards come back on the new page; otherwise resume right after the last event seen
    const live = Object.values(state.calls);
    const from = live.length ? Math.min.apply(null, live) - 1 : state.last;
    if (from !== null) url.searchParams.set("last_event_id", String(from));
    replaying = from !== null && from < (state.last || 0);
    const socket = new WebSocket(url.href);
    socket.onopen = function () { backoff = 500; };
    socket.onmessage = function (m) { handle(JSON.parse(m.data)); };
    socket.onclose = function () {
      body.dataset.live = "reconnecting";
      setTimeout(connect, backoff + Math.random() * backoff / 2);
      backoff = Math.min(backoff * 2, 30000);
    };
  }
  connect();
})();
