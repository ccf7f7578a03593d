"""Escalations: calls handed to people (a live transfer, or a call-back when nobody is at the desk)."""

from __future__ import annotations

import secrets

from appliance import events
from appliance.errors import AppError, NotFound
from appliance.store import audit
from appliance.store.db import Store, utc_now

KINDS = ("transfer", "callback")
STATUSES = ("open", "acknowledged", "resolved")
# what each action may move from: a resolved escalation stays resolved
MOVES = {"acknowledged": ("open",), "resolved": ("open", "acknowledged")}


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


def counts(store: Store) -> dict[str, int]:
    rows = store.conn.execute("SELECT status, COUNT(*) FROM escalations GROUP BY status")
    return {status: 0 for status in STATUSES} | {r[0]: r[1] for r in rows}


_SHOWN = "escalation_id, call_id, patient_id, reason, kind, status, created_at, updated_at, handled_by"


def page(store: Store, status: str, limit: int, offset: int) -> list[dict]:
    """Escalations in one status: open ones oldest first (a queue), resolved ones newest first."""
    order = "DESC" if status == "resolved" else "ASC"
    rows = store.conn.execute(
        # the id breaks ties between escalations of the same millisecond, so pages never overlap
        f"SELECT {_SHOWN} FROM escalations WHERE status = ? ORDER BY created_at {order}, escalation_id {order} "
        "LIMIT ? OFFSET ?",
        (status, limit, offset))
    return [dict(r) for r in rows]


def move(store: Store, escalation_id: str, status: str, by: str) -> dict:
    """Acknowledge or resolve (inside store.write()); who and when go in handled_by and updated_at."""
    row = store.conn.execute("SELECT * FROM escalations WHERE escalation_id = ?", (escalation_id,)).fetchone()
    if row is None:
        raise NotFound(f"no escalation with id {escalation_id!r}")
    if row["status"] not in MOVES[status]:
        raise AppError(f"this escalation is already {row['status']} (by {row['handled_by'] or 'nobody'})",
                       code="escalation-already-handled")
    store.conn.execute("UPDATE escalations SET status = ?, handled_by = ?, updated_at = ? WHERE escalation_id = ?",
                       (status, by, utc_now(), escalation_id))
    return dict(row) | {"status": status}
