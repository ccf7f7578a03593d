"""Test helpers for the receptionist page: a second store connection and ringing calls as answering.py emits them."""

from __future__ import annotations

from appliance import events
from appliance.store import Store
from appliance.telephony.answering import announce_ringing


def second_connection(store: Store) -> Store:
    """Another connection to the same store, as the answering service or the web process has."""
    return Store.open(store.data_dir, store.key_file, migrate=False)


def ring(store: Store, number: str | None) -> tuple[str, int]:
    """Recognize a caller and emit `call-ringing` as telephony/answering.py does; returns (call_id, event_id)."""
    call_id, _recognition = announce_ringing(store, number, "US")
    event_id = store.conn.execute("SELECT MAX(event_id) FROM events WHERE call_id = ? AND type = 'call-ringing'",
                                  (call_id,)).fetchone()[0]
    return call_id, event_id


def say(store: Store, call_id: str, who: str, text: str, flow: str = "greeting") -> int:
    """Emit one transcript line as brain/conversation.py does."""
    with store.write():
        return events.emit(store, "caller-said" if who == "caller" else "box-said", call_id,
                           text=text, flow=flow, expects="intent")
