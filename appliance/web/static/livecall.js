// Live call view: appends what is said as it happens and follows the call's status and flow.
// Messages come from screenpop.js's /live socket (a "dentra:live" event per message); events the
// server already rendered (ids up to data-through) are skipped. Text goes in with textContent only.
"use strict";
(function liveCall() {
  const view = document.getElementById("live-call");
  if (!view) return;
  const callId = view.dataset.callId;
  const through = Number(view.dataset.through || 0);
  const transcript = document.getElementById("transcript");
  const empty = document.getElementById("transcript-empty");
  const status = document.getElementById("live-status");
  const flow = document.getElementById("live-flow");
  const expects = document.getElementById("live-expects");
  const command = document.getElementById("live-command");
  const STATUS = { answered: "The AI is answering", transferred: "Transferred", ended: "Ended" };

  function addLine(id, line) {
    if (transcript.querySelector('[data-event-id="' + id + '"]')) return;
    const item = document.createElement("li");
    item.className = "said " + (line.who === "caller" ? "caller" : "box");
    item.dataset.eventId = String(id);
    const who = document.createElement("span");
    who.className = "said-who";
    who.textContent = line.who === "caller" ? "Caller" : "Box";
    const text = document.createElement("span");
    text.className = "said-text";
    text.textContent = line.text;
    item.append(who, text);
    transcript.append(item);
    empty.hidden = true;
    item.scrollIntoView({ block: "nearest" });
  }

  function setStatus(name, words) {
    status.dataset.status = name;
    status.textContent = words;
    if (name === "ended" || name === "transferred") {
      view.querySelectorAll(".live-actions button").forEach(function (b) { b.disabled = true; });
    }
  }

  document.addEventListener("dentra:live", function (e) {
    const msg = e.detail;
    if (msg.call_id !== callId || !(msg.id > through)) return;
    const card = msg.card || {};
    if (msg.type === "caller-said" || msg.type === "box-said") {
      if (card.line) addLine(msg.id, card.line);
      if (card.flow) flow.textContent = card.flow;
      if (card.expects) expects.textContent = String(card.expects).replace(/_/g, " ");
    } else if (msg.type === "call-answered") {
      setStatus("answered", STATUS.answered);
    } else if (msg.type === "call-transferred") {
      setStatus("transferred", STATUS.transferred + (card.to ? " to " + card.to : ""));
      if (card.by) command.textContent = "Put through to ext " + card.to + " by " + card.by + ".";
    } else if (msg.type === "call-ended") {
      if (status.dataset.status !== "transferred") setStatus("ended", STATUS.ended + (card.outcome ? " (" + card.outcome + ")" : ""));
    } else if (msg.type === "call-command-done" && msg.payload && msg.payload.result !== "transferred") {
      if (status.dataset.status === "answered" || status.dataset.status === "ringing") {
        view.querySelectorAll(".live-actions button").forEach(function (b) { b.disabled = b.dataset.usable !== "1"; });
      }
      command.textContent = "Could not put the caller through (" + String(msg.payload.result).replace(/-/g, " ") +
        "); the AI carries on.";
    }
  });
})();
