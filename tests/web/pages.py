"""Data for the page tests: calls with transcripts and escalations in the demo store, and audit reads."""

from __future__ import annotations

import json

from appliance import events
from appliance.recognition import recognize_call
from appliance.store import calls, escalations


def make_call(store, number: str | None = "+12175550100", lines=(("caller", "Hi, I'd like a cleaning."),
                                                                   ("box", "Sure, let me look.")),
              outcome: str | None = "answered", flow: str = "book", started_at: str | None = None) -> str:
    """A finished (or, with outcome None, ongoing) call from `number`, as the brain records one."""
    call_id, _ = recognize_call(store, number, "US")
    with store.write():
        if started_at:
            store.conn.execute("UPDATE calls SET started_at = ? WHERE call_id = ?", (started_at, call_id))
        events.emit(store, "call-ringing", call_id, number_status="valid")
        for speaker, text in lines:
            calls.add_turn(store, call_id, speaker, text, flow=flow)
            events.emit(store, "caller-said" if speaker == "caller" else "box-said", call_id, text=text)
        if outcome:
            calls.end(store, call_id, outcome, flow)
            events.emit(store, "call-ended", call_id, outcome=outcome)
    return call_id


def make_escalation(store, number: str = "+12175550100", reason: str = "emergency", kind: str = "transfer") -> str:
    call_id = make_call(store, number, outcome="transferred" if kind == "transfer" else "escalated")
    patient_id = store.conn.execute("SELECT patient_id FROM calls WHERE call_id = ?", (call_id,)).fetchone()[0]
    return escalations.open_escalation(store, call_id, patient_id, reason, kind)


def audit_rows(store, action: str) -> list[dict]:
    rows = store.conn.execute("SELECT * FROM audit_log WHERE action = ? ORDER BY seq", (action,))
    return [dict(r) | {"detail": json.loads(r["detail"])} for r in rows]
