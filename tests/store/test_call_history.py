"""Call history reads: summaries and recognition, transcripts, and a call's stretch of the events outbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from appliance.recognition import recognize_call
from appliance.store import call_history, calls
from appliance.store.call_history import _first_event_at

T0 = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def stamp(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat(timespec="milliseconds")


def put_event(store, seconds: float, type_: str, call_id: str | None, **payload) -> int:
    """An outbox row written at a chosen time (events.emit always uses the real clock)."""
    at = stamp(seconds)
    blob = store.vault.encrypt(json.dumps(payload), "events", "payload", f"{type_}/{at}")
    return store.conn.execute("INSERT INTO events (at, type, call_id, payload) VALUES (?, ?, ?, ?)",
                              (at, type_, call_id, blob)).lastrowid


def test_first_event_at_finds_the_boundary_across_gaps(store):
    with store.write():
        ids = [put_event(store, i * 10, "tick", None) for i in range(50)]
        store.conn.execute("DELETE FROM events WHERE event_id IN (?, ?, ?)", (ids[20], ids[21], ids[22]))
    assert _first_event_at(store, stamp(-5)) == 1
    assert _first_event_at(store, stamp(195)) <= ids[23]  # 200-220 s were deleted: the next is 230 s
    assert store.conn.execute("SELECT MIN(event_id) FROM events WHERE event_id >= ? AND at >= ?",
                              (_first_event_at(store, stamp(195)), stamp(195))).fetchone()[0] == ids[23]
    assert _first_event_at(store, stamp(490)) == ids[49]
    assert _first_event_at(store, stamp(10_000)) == ids[49] + 1


def test_empty_outbox(store):
    assert _first_event_at(store, stamp(0)) == 1


def test_timeline_holds_only_the_calls_own_unspoken_events(demo_store):
    store = demo_store
    call_id, _ = recognize_call(store, "+12175550103", "US")
    with store.write():
        store.conn.execute("UPDATE calls SET started_at = ?, ended_at = ?, outcome = 'booked' WHERE call_id = ?",
                           (stamp(100), stamp(200), call_id))
        put_event(store, 30, "call-ringing", call_id)  # over a minute before the call: out of its stretch
        put_event(store, 99, "call-ringing", call_id)
        put_event(store, 120, "caller-said", call_id, text="hello")
        put_event(store, 130, "call-ringing", "C-other")
        put_event(store, 150, "appointment-booked", call_id, appointment_id="A5026")
        put_event(store, 200, "call-ended", call_id, outcome="booked")
        put_event(store, 400, "call-ended", call_id, outcome="late")
    call = call_history.get(store, call_id)
    assert [(at, kind) for at, kind, _ in call_history.timeline(store, call)] == [
        (stamp(99), "call-ringing"), (stamp(150), "appointment-booked"), (stamp(200), "call-ended")]
    assert call.recognition == "recognized" and call.patient_id == "P1002" and call.number == "+12175550103"


def test_page_counts_and_orders(demo_store):
    store = demo_store
    made = []
    for i, number in enumerate(("+12175550100", "+12175550103", None)):
        call_id, _ = recognize_call(store, number, "US")
        with store.write():
            store.conn.execute("UPDATE calls SET started_at = ? WHERE call_id = ?", (stamp(i), call_id))
            calls.add_turn(store, call_id, "caller", f"line {i}")
        made.append(call_id)
    found, total = call_history.page(store, limit=2)
    assert total == 3 and [c.call_id for c in found] == made[::-1][:2]
    assert [c.recognition for c in call_history.page(store, limit=5)[0]] == ["withheld", "recognized", "household"]
    assert [t.text for t in call_history.transcript(store, made[0])] == ["line 0"]
    assert call_history.page(store, since=stamp(1), until=stamp(2))[1] == 1
