"""Escalations: calls handed to people (a live transfer, or a call-back when nobody is at the desk)."""

from __future__ import annotations

import secrets

from appliance import events
from appliance.store import audit
from appliance.store.db import Store, utc_now

KINDS = ("transfer", "callback")


def open_escalation(store: Store, call_id: str | None, patient_id: str | None, reason: str, kind: str) -> str:
    """Record a hand-off for the front desk's list and tell the receptionist page; returns its id."""
    if kind not in KINDS:
        raise ValueError(f"escalation kind must be one of {KINDS}, got {kind!r}")
    escalation_id = "E" + secrets.token_hex(5)
    now = utc_now()
    with store.write():
        store.conn.execute(
            "INSERT INTO escalations (escalation_id, call_id, patient_id, reason, kind, status, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, 'open', ?, ?)",
            (escalation_id, call_id, patient_id, reason, kind, now, now))
        audit.record(store, "brain", "escalation-opened", patient_id, escalation_id, call_id=call_id, kind=kind)
        events.emit(store, "escalation-opened", call_id, escalation_id=escalation_id, kind=kind, reason=reason,
                    patient_id=patient_id)
    return escalation_id


def listing(store: Store, status: str | None = None) -> list[dict]:
    sql = "SELECT escalation_id, call_id, patient_id, reason, kind, status, created_at FROM escalations"
    rows = store.conn.execute(sql + (" WHERE status = ?" if status else "") + " ORDER BY created_at",
                              (status,) if status else ())
    return [dict(r) for r in rows]
