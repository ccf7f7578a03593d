"""Calls, their turns and how the caller was recognized; the caller's number is PHI and encrypted."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime

from appliance.store.db import Store, utc_now


def new_call_id() -> str:
    return "C" + datetime.now(UTC).strftime("%Y%m%d%H%M%S") + secrets.token_hex(3)


def start(store: Store, *, direction: str = "inbound", channel: str = "sip", caller_e164: str | None = None,
          caller_raw: str | None = None, call_id: str | None = None) -> str:
    """Open a call row; inside store.write(). The number is kept as E.164, else as the PBX sent it."""
    call_id = call_id or new_call_id()
    number = store.vault.encrypt(caller_e164 or caller_raw, "calls", "caller_number", call_id)
    index = store.vault.blind_index("phone", caller_e164) if caller_e164 else None
    store.conn.execute(
        "INSERT INTO calls (call_id, direction, channel, caller_number, caller_index, started_at) "
        "VALUES (?, ?, ?, ?, ?, ?)", (call_id, direction, channel, number, index, utc_now()))
    return call_id


def record_recognition(store: Store, call_id: str, *, method: str, number_status: str, candidates: list[str],
                       confidence: float) -> None:
    """Store how the caller was (or was not) recognized; the call's patient is set when exactly one matched."""
    single = candidates[0] if len(candidates) == 1 else None
    store.conn.execute(
        "INSERT INTO call_recognitions (call_id, at, method, number_status, candidates, patient_id, confidence) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (call_id, utc_now(), method, number_status, json.dumps(candidates), single, confidence))
    if single:
        store.conn.execute("UPDATE calls SET patient_id = ? WHERE call_id = ?", (single, call_id))


def add_turn(store: Store, call_id: str, speaker: str, text: str, *, intent: str | None = None,
             flow: str | None = None, latency_ms: float | None = None) -> int:
    seq = store.conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM call_turns WHERE call_id = ?",
                             (call_id,)).fetchone()[0]
    store.conn.execute(
        "INSERT INTO call_turns VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (call_id, seq, utc_now(), speaker, store.vault.encrypt(text, "call_turns", "text", f"{call_id}/{seq}"),
         intent, flow, latency_ms))
    return seq


def end(store: Store, call_id: str, outcome: str, last_flow: str | None = None) -> None:
    store.conn.execute("UPDATE calls SET ended_at = ?, outcome = ?, last_flow = ? WHERE call_id = ?",
                       (utc_now(), outcome, last_flow, call_id))


def recognitions(store: Store, call_id: str) -> list[dict]:
    rows = store.conn.execute("SELECT * FROM call_recognitions WHERE call_id = ? ORDER BY recognition_id", (call_id,))
    return [{**dict(r), "candidates": json.loads(r["candidates"])} for r in rows]
