"""The live call view: the transcript as it happens, the brain's flow, and taking the call from the AI.

The page is rendered from the call's events (the same outbox the screen pop follows) and then kept
current by static/livecall.js from the /live channel, which skips events up to `through`. The two
buttons write a command (store/call_commands.py) that the voice side carries out as a transfer:
"Take the call" to the signed-in receptionist's own extension, "End AI handling" to the front desk.
"""

from __future__ import annotations

import re

from flask import Blueprint, abort, g, redirect, render_template, request, url_for

from appliance import events
from appliance.errors import NotFound
from appliance.phones import readable
from appliance.store import call_commands, patients
from appliance.store.call_commands import CallNotLive
from appliance.web import security, web_context
from appliance.web.access import audit_read, client_address
from appliance.web.cards import SPEAKERS, caller_number

bp = Blueprint("live_call", __name__)

CALL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
STATUS_WORDS = {"ringing": "Ringing", "answered": "The AI is answering", "transferred": "Transferred",
                "ended": "Ended"}


def _refuse(status: int, message: str):
    abort(security.error_response(status, message))


def _call(store, call_id: str):
    row = None
    if CALL_ID.fullmatch(call_id):
        row = store.conn.execute("SELECT call_id, patient_id, started_at, ended_at, outcome FROM calls "
                                 "WHERE call_id = ?", (call_id,)).fetchone()
    if row is None:
        _refuse(404, "There is no such call.")
    return row


def call_state(store, call_id: str) -> dict:
    """What the live view shows of a call, read in one snapshot; `patient_ids` are those shown."""
    with store.read():
        call = _call(store, call_id)
        found = events.for_call(store, call_id)
        through = store.conn.execute("SELECT COALESCE(MAX(event_id), 0) FROM events").fetchone()[0]
        ringing = next((e for e in found if e.type == "call-ringing"), None)
        ids = list(ringing.payload.get("candidates") or []) if ringing else []
        people = patients.get_many(store, ids)
        number = caller_number(store, call_id)
        command = call_commands.latest(store, call_id)
    lines, flow, expects, status, transferred_to = [], None, None, "ringing", None
    for event in found:
        if event.type in SPEAKERS:
            lines.append({"id": event.event_id, "who": SPEAKERS[event.type], "text": event.payload.get("text", ""),
                          "at": event.at})
            flow, expects = event.payload.get("flow") or flow, event.payload.get("expects") or expects
        elif event.type == "call-answered":
            status = "answered"
        elif event.type == "call-transferred":
            status, transferred_to = "transferred", event.payload.get("to")
    if call["ended_at"]:
        status = "ended" if status != "transferred" else status
    return {"call": call, "lines": lines, "flow": flow, "expects": expects, "status": status,
            "status_words": STATUS_WORDS[status], "transferred_to": transferred_to, "people": people,
            "number": number, "number_display": readable(number) if number else None, "through": through,
            "command": command, "live": call["ended_at"] is None,
            "patient_ids": [p.patient_id for p in people]}


@bp.get("/calls/<call_id>/live")
def view(call_id: str):
    """The call as it happens; the caller's words are PHI of the recognized patient(s), so the view is audited."""
    ctx = web_context()
    state = call_state(ctx.store(), call_id)
    audit_read("call-live-viewed", state["patient_ids"] or None, call_id=call_id)
    return render_template("live_call.html", **state, extension=g.user.extension,
                           front_desk=ctx.config.escalation.transfer_to, asked=request.args.get("asked"))


@bp.post("/calls/<call_id>/take")
def take(call_id: str):
    """Transfer the caller to the signed-in receptionist's own desk phone."""
    if not g.user.extension:
        _refuse(409, "Your account has no desk extension, so the call cannot be put through to you. "
                     "Ask IT to run `dentra users set-extension` for you.")
    return _command(call_id, "take", g.user.extension)


@bp.post("/calls/<call_id>/end-ai")
def end_ai(call_id: str):
    """Stop the AI and hand the caller to the front desk line."""
    front_desk = web_context().config.escalation.transfer_to
    if not front_desk:
        _refuse(409, "No front desk extension is configured ([escalation] transfer_to), so the AI keeps the call.")
    return _command(call_id, "end-ai", front_desk)


def _command(call_id: str, command: str, extension: str):
    store = web_context().store()
    if not CALL_ID.fullmatch(call_id):
        _refuse(404, "There is no such call.")
    try:
        call_commands.request(store, call_id, command, extension, g.user.username, client_address())
    except NotFound:
        _refuse(404, "There is no such call.")
    except CallNotLive:
        _refuse(409, "This call has already ended.")
    return redirect(url_for("live_call.view", call_id=call_id, asked=command))
