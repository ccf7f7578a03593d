"""Calls: the list (newest first, filtered by outcome and day) and one call's transcript and timeline.

The list masks caller numbers (the last four digits are enough to tell calls apart); the detail
page shows the whole number, because a call-back needs it. Recordings are not kept yet, so the
detail says so instead of offering a player.
"""

from __future__ import annotations

import re

from flask import Blueprint, render_template, request

from appliance.errors import NotFound
from appliance.store import appointments, call_history, patients
from appliance.store.call_history import OUTCOMES
from appliance.web import web_context
from appliance.web.access import audit_read, require_role
from appliance.web.views import common

bp = Blueprint("calls", __name__)
bp.record_once(lambda state: common.register_filters(state.app))

CALL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
RECOGNITION = {"recognized": "recognized", "household": "household phone", "new-caller": "new caller",
               "withheld": "number withheld", "unreadable": "unreadable number", "unknown": "—"}
# what each timeline event adds in words; payload values shown are ids and codes, never free text
EVENT_WORDS = {
    "call-ringing": "Ringing", "call-answered": "Answered by the box", "call-transferred": "Transferred",
    "call-ended": "Call ended", "escalation-opened": "Escalated to the front desk",
    "appointment-booked": "Appointment booked", "appointment-rescheduled": "Appointment moved",
    "appointment-cancelled": "Appointment cancelled", "error": "Error",
}
EVENT_FIELDS = ("outcome", "to", "kind", "reason", "appointment_id", "code", "number_status")


@bp.get("/calls")
@require_role(*common.STAFF)
def index():
    """`?outcome=` one of OUTCOMES, `?day=YYYY-MM-DD` (clinic-local), `?page=N`."""
    outcome = request.args.get("outcome") or None
    if outcome and outcome not in OUTCOMES:
        common.refuse(400, f"outcome must be one of {', '.join(OUTCOMES)}, got {common.echo(outcome)}.")
    day = common.parse_day(request.args.get("day"))
    number = common.page_number(request.args.get("page"))
    since, until = common.utc_span(day, day) if day else (None, None)
    store = web_context().store()
    with store.read():
        found, total = call_history.page(store, outcome=outcome, since=since, until=until,
                                         limit=common.PAGE_SIZE, offset=(number - 1) * common.PAGE_SIZE)
        pager = common.Pager(number, total)
        ids = sorted({c.patient_id for c in found if c.patient_id})
        people = {p.patient_id: p for p in patients.get_many(store, ids)}
    if ids:
        audit_read("calls-listed", ids)
    return render_template("calls.html", calls=found, people=people, pager=pager, outcome=outcome, day=day,
                           outcomes=OUTCOMES, recognition=RECOGNITION)


@bp.get("/calls/<call_id>")
@require_role(*common.STAFF)
def detail(call_id: str):
    """The whole transcript, what happened when, the escalation it raised and what it booked."""
    store = web_context().store()
    try:
        if not CALL_ID.fullmatch(call_id):
            raise NotFound(call_id)
        with store.read():
            call = call_history.get(store, call_id)
            turns = call_history.transcript(store, call_id)
            timeline = call_history.timeline(store, call)
            raised = call_history.escalations_of(store, call_id)
            booked = [appointments.get(store, i) for i in call_history.booked_by(store, call_id)]
            ids = list(dict.fromkeys([*([call.patient_id] if call.patient_id else []), *call.candidates]))
            people = {p.patient_id: p for p in patients.get_many(store, ids)}
    except NotFound:
        common.refuse(404, f"There is no call with id {common.echo(call_id)}.")
    audit_read("call-viewed", ids or None, call_id=call_id)
    events = [(at, EVENT_WORDS.get(kind, kind), {k: payload[k] for k in EVENT_FIELDS if payload.get(k)})
              for at, kind, payload in timeline]
    return render_template("call.html", call=call, turns=turns, events=events, raised=raised, booked=booked,
                           people=people, recognition=RECOGNITION)
