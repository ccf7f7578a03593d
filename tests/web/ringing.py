"""Test helpers for the receptionist page: a second store connection and ringing calls as answering.py emits them."""

from __future__ import annotations

from appliance import events
from appliance.phones import last_digits
from appliance.recognition import recognize_call
from appliance.store import Store


def second_connection(store: Store) -> Store:
    """Another connection to the same store, as the answering service or the web process has."""
    return Store.open(store.data_dir, store.key_file, migrate=False)


def ring(store: Store, number: str | None) -> tuple[str, int]:
    """Recognize a caller and emit `call-ringing` like telephony/answering.py; returns (call_id, event_id)."""
    call_id, recognition = recognize_call(store, number, "US")
    with store.write():
        event_id = events.emit(store, "call-ringing", call_id, number_status=recognition.number_status,
                               number_last_digits=last_digits(recognition.e164) if recognition.e164 else None,
                               candidates=[p.patient_id for p in recognition.candidates],
                               confidence=recognition.confidence)
    return call_id, event_id


def say(store: Store, call_id: str, who: str, text: str, flow: str = "greeting") -> int:
    """Emit one transcript line as brain/conversation.py does."""
    with store.write():
        return events.emit(store, "caller-said" if who == "caller" else "box-said", call_id,
                           text=text, flow=flow, expects="intent")
