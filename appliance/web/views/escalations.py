"""Escalations: calls handed to the front desk, as open / acknowledged / resolved lists with actions.

Acknowledging says "someone is on it"; resolving closes it. Who did it and when are written to the
escalation (handled_by, updated_at) and, with the earlier steps, to the audit log. The list shows
the caller's whole number: a call-back is the job it lists.
"""

from __future__ import annotations

import re

from flask import Blueprint, g, redirect, render_template, request, url_for

from appliance.errors import AppError, NotFound
from appliance.store import audit, call_history, escalations, patients
from appliance.store.escalations import STATUSES
from appliance.web import web_context
from appliance.web.access import actor, audit_read, client_address, require_role
from appliance.web.views import common

bp = Blueprint("escalations", __name__)
bp.record_once(lambda state: common.register_filters(state.app))

ESCALATION_ID = re.compile(r"E[0-9a-f]{1,32}")


@bp.get("/escalations")
@require_role(*common.STAFF)
def index():
    """`?status=open|acknowledged|resolved` (default open), `?page=N`."""
    status = request.args.get("status") or "open"
    if status not in STATUSES:
        common.refuse(400, f"status must be one of {', '.join(STATUSES)}, got {common.echo(status)}.")
    number = common.page_number(request.args.get("page"))
    store = web_context().store()
    with store.read():
        counts = escalations.counts(store)
        pager = common.Pager(number, counts[status])
        rows = escalations.page(store, status, pager.size, pager.offset)
        callers = {e["call_id"]: _caller(store, e["call_id"]) for e in rows if e["call_id"]}
        # a caller recognized by number but never verified: show who it probably is
        ids = sorted({e["patient_id"] or (callers.get(e["call_id"]) or {}).get("patient_id") for e in rows} - {None})
        people = {p.patient_id: p for p in patients.get_many(store, ids)}
    if rows:  # caller numbers are shown even when no patient was recognized
        audit_read("escalations-listed", ids or None, status=status)
    return render_template("escalations.html", rows=rows, status=status, counts=counts, pager=pager,
                           people=people, callers=callers, statuses=STATUSES)


def _caller(store, call_id: str) -> dict | None:
    """The call's number and recognized patient."""
    try:
        call = call_history.get(store, call_id)
    except NotFound:
        return None
    return {"number": call.number, "patient_id": call.patient_id}


def _move(escalation_id: str, to: str, action: str):
    if not ESCALATION_ID.fullmatch(escalation_id):
        common.refuse(404, f"There is no escalation with id {common.echo(escalation_id)}.")
    store = web_context().store()
    try:
        with store.write():
            before = escalations.move(store, escalation_id, to, g.user.username)
            audit.record(store, actor(g.user), action, before["patient_id"], escalation_id,
                         address=client_address(), role=g.user.role, call_id=before["call_id"])
    except NotFound:
        common.refuse(404, f"There is no escalation with id {common.echo(escalation_id)}.")
    except AppError as err:
        common.refuse(409, f"Nothing was changed: {err.message}.")
    back = request.form.get("from") if request.form.get("from") in STATUSES else "open"
    return redirect(url_for("escalations.index", status=back))


@bp.post("/escalations/<escalation_id>/acknowledge")
@require_role(*common.STAFF)
def acknowledge(escalation_id: str):
    """Someone at the desk is on it."""
    return _move(escalation_id, "acknowledged", "escalation-acknowledged")


@bp.post("/escalations/<escalation_id>/resolve")
@require_role(*common.STAFF)
def resolve(escalation_id: str):
    """Done: the caller was helped or called back."""
    return _move(escalation_id, "resolved", "escalation-resolved")
