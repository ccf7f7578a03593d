"""Finished and ongoing calls as the receptionist page lists them: summaries, transcripts, timelines.

Reads only. The caller's number and every transcript line are decrypted here, for the one page
of calls being shown, never for the whole table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from appliance.errors import NotFound
from appliance.store.db import Store

OUTCOMES = ("booked", "rescheduled", "cancelled", "answered", "transferred", "escalated", "abandoned")
# the transcript shows what was said; the timeline shows everything else that happened
SPOKEN = ("caller-said", "box-said")
MARGIN = timedelta(minutes=1)  # events are written just before the call row closes and just after it opens


@dataclass(frozen=True)
class CallSummary:
    call_id: str
    direction: str
    number: str | None  # E.164, or what the PBX sent; None when withheld
    patient_id: str | None
    started_at: str
    answered_at: str | None
    ended_at: str | None
    outcome: str | None
    last_flow: str | None
    recognition: str  # recognized, household, new-caller, withheld, unreadable, unknown
    candidates: tuple[str, ...]


@dataclass(frozen=True)
class Turn:
    seq: int
    at: str
    speaker: str
    text: str
    intent: str | None
    flow: str | None


_SELECT = """
    SELECT c.*, r.method, r.number_status, r.candidates FROM calls c
    LEFT JOIN call_recognitions r ON r.recognition_id =
        (SELECT MAX(recognition_id) FROM call_recognitions WHERE call_id = c.call_id)
"""


def _summary(store: Store, r) -> CallSummary:
    candidates = tuple(json.loads(r["candidates"])) if r["candidates"] else ()
    if r["patient_id"]:
        recognition = "recognized"
    elif len(candidates) > 1:
        recognition = "household"
    elif r["number_status"] in ("withheld", "unparseable"):
        recognition = "withheld" if r["number_status"] == "withheld" else "unreadable"
    else:
        recognition = "new-caller" if r["method"] else "unknown"
    number = store.vault.decrypt(r["caller_number"], "calls", "caller_number", r["call_id"])
    return CallSummary(r["call_id"], r["direction"], number, r["patient_id"], r["started_at"], r["answered_at"],
                       r["ended_at"], r["outcome"], r["last_flow"], recognition, candidates)


def page(store: Store, *, outcome: str | None = None, since: str | None = None, until: str | None = None,
         limit: int = 25, offset: int = 0) -> tuple[list[CallSummary], int]:
    """One page of calls, newest first, and how many match; since/until are stored UTC text bounds."""
    where, args = [], []
    if outcome:
        where.append("c.outcome = ?"), args.append(outcome)
    if since:
        where.append("c.started_at >= ?"), args.append(since)
    if until:
        where.append("c.started_at < ?"), args.append(until)
    clause = " WHERE " + " AND ".join(where) if where else ""
    total = store.conn.execute(f"SELECT COUNT(*) FROM calls c{clause}", args).fetchone()[0]
    rows = store.conn.execute(f"{_SELECT}{clause} ORDER BY c.started_at DESC, c.call_id DESC LIMIT ? OFFSET ?",
                              [*args, limit, offset])
    return [_summary(store, r) for r in rows], total


def get(store: Store, call_id: str) -> CallSummary:
    row = store.conn.execute(f"{_SELECT} WHERE c.call_id = ?", (call_id,)).fetchone()
    if row is None:
        raise NotFound(f"no call with id {call_id!r}")
    return _summary(store, row)


def of_patient(store: Store, patient_id: str, limit: int = 10) -> list[CallSummary]:
    rows = store.conn.execute(f"{_SELECT} WHERE c.patient_id = ? ORDER BY c.started_at DESC LIMIT ?",
                              (patient_id, limit))
    return [_summary(store, r) for r in rows]


def transcript(store: Store, call_id: str) -> list[Turn]:
    rows = store.conn.execute("SELECT * FROM call_turns WHERE call_id = ? ORDER BY seq", (call_id,))
    return [Turn(r["seq"], r["at"], r["speaker"],
                 store.vault.decrypt(r["text"], "call_turns", "text", f"{call_id}/{r['seq']}") or "",
                 r["intent"], r["flow"]) for r in rows]


def timeline(store: Store, call: CallSummary) -> list[tuple[str, str, dict]]:
    """(at, type, payload) of the call's events other than spoken lines, oldest first."""
    start = _first_event_at(store, _shift(call.started_at, -MARGIN))
    end = _first_event_at(store, _shift(call.ended_at, MARGIN)) if call.ended_at else None
    rows = store.conn.execute(
        "SELECT * FROM events WHERE event_id >= ? AND event_id < ? AND call_id = ? ORDER BY event_id",
        (start, end if end is not None else 2**62, call.call_id))
    return [(r["at"], r["type"], json.loads(store.vault.decrypt(r["payload"], "events", "payload",
                                                                f"{r['type']}/{r['at']}")))
            for r in rows if r["type"] not in SPOKEN]


def _shift(stamp: str, by: timedelta) -> str:
    return (datetime.fromisoformat(stamp) + by).isoformat(timespec="milliseconds")


def _first_event_at(store: Store, stamp: str) -> int:
    """The id of the first event written at or after `stamp`.

    The outbox has no index on call or time, and it grows by every line of every call; ids grow
    with time (events are written under the write lock), so a binary search over the primary key
    finds a call's stretch in ~40 lookups instead of scanning years of events.
    """
    lo = 1
    hi = (store.conn.execute("SELECT MAX(event_id) FROM events").fetchone()[0] or 0) + 1
    while lo < hi:
        mid = (lo + hi) // 2
        row = store.conn.execute("SELECT event_id, at FROM events WHERE event_id >= ? ORDER BY event_id LIMIT 1",
                                 (mid,)).fetchone()
        if row is None or row["at"] >= stamp:
            hi = mid
        else:
            lo = row["event_id"] + 1
    return lo


def booked_by(store: Store, call_id: str) -> list[str]:
    """Appointment ids this call booked or moved."""
    rows = store.conn.execute("SELECT appointment_id FROM appointments WHERE booked_by_call = ? "
                              "ORDER BY appointment_id", (call_id,))
    return [r[0] for r in rows]


def escalations_of(store: Store, call_id: str) -> list[dict]:
    rows = store.conn.execute("SELECT escalation_id, kind, reason, status, handled_by, created_at FROM escalations "
                              "WHERE call_id = ? ORDER BY created_at", (call_id,))
    return [dict(r) for r in rows]
