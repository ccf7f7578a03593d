"""The events outbox: small kebab-case events written in the same transaction as the change.

The receptionist page tails this table by `event_id`, so a restart loses nothing. Payloads may
hold PHI (a caller's words), so they are stored encrypted like any other PHI column.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from appliance.store.db import Store, utc_now


@dataclass(frozen=True)
class Event:
    event_id: int
    at: str
    type: str
    call_id: str | None
    payload: dict[str, Any]


def emit(store: Store, type: str, call_id: str | None = None, **payload: Any) -> int:
    """Append one event; call inside store.write() so it commits with the change it reports."""
    at = utc_now()
    blob = store.vault.encrypt(json.dumps(payload, sort_keys=True, default=str), "events", "payload", f"{type}/{at}")
    cur = store.conn.execute("INSERT INTO events (at, type, call_id, payload) VALUES (?, ?, ?, ?)",
                             (at, type, call_id, blob))
    return cur.lastrowid


def since(store: Store, after_id: int = 0, limit: int = 500) -> list[Event]:
    """Events newer than `after_id`, oldest first (what a reconnecting screen missed)."""
    rows = store.conn.execute("SELECT * FROM events WHERE event_id > ? ORDER BY event_id LIMIT ?", (after_id, limit))
    return [_event(store, r) for r in rows]


def for_call(store: Store, call_id: str, limit: int = 2000) -> list[Event]:
    """One call's events, oldest first (the live call view starts from these)."""
    rows = store.conn.execute("SELECT * FROM events WHERE call_id = ? ORDER BY event_id LIMIT ?", (call_id, limit))
    return [_event(store, r) for r in rows]


def _event(store: Store, r) -> Event:
    payload = store.vault.decrypt(r["payload"], "events", "payload", f"{r['type']}/{r['at']}")
    return Event(r["event_id"], r["at"], r["type"], r["call_id"], json.loads(payload))
