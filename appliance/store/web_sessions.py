"""Sign-in sessions of the receptionist page and failed sign-ins per client address.

A session row is keyed by the SHA-256 of the random token in the browser's cookie: a copy of the
database (or the replica) holds no usable token. Sessions live in the store, so restarting the
web process signs nobody out, while signing out, disabling a user or an idle timeout really ends
a session on the server.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from appliance.store.db import Store
from appliance.store.users import stamp

STAGES = ("second-factor", "enrol", "signed-in")


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class WebSession:
    token_hash: bytes
    user_id: int
    stage: str
    address: str
    created_at: str
    last_seen_at: str


def start(store: Store, user_id: int, stage: str, address: str, now: datetime) -> str:
    """A new session after a correct password; returns the cookie token (shown to nobody else)."""
    if stage not in STAGES:
        raise ValueError(f"session stage must be one of {STAGES}, got {stage!r}")
    token = secrets.token_urlsafe(32)
    at = stamp(now)
    with store.write() as conn:
        conn.execute("INSERT INTO web_sessions VALUES (?, ?, ?, ?, ?, ?)",
                     (token_hash(token), user_id, stage, address, at, at))
    return token


def get(store: Store, token: str) -> WebSession | None:
    row = store.conn.execute("SELECT * FROM web_sessions WHERE token_hash = ?", (token_hash(token),)).fetchone()
    return WebSession(*row) if row else None


def advance(store: Store, session: WebSession, stage: str, now: datetime) -> str:
    """Move a session to its next stage under a fresh token (no session fixation across sign-in)."""
    with store.write() as conn:
        conn.execute("DELETE FROM web_sessions WHERE token_hash = ?", (session.token_hash,))
    return start(store, session.user_id, stage, session.address, now)


def touch(store: Store, session: WebSession, now: datetime) -> None:
    with store.write() as conn:
        conn.execute("UPDATE web_sessions SET last_seen_at = ? WHERE token_hash = ?", (stamp(now), session.token_hash))


def end(store: Store, session: WebSession) -> None:
    with store.write() as conn:
        conn.execute("DELETE FROM web_sessions WHERE token_hash = ?", (session.token_hash,))


def prune(store: Store, idle_before: datetime, started_before: datetime) -> int:
    """Drop sessions idle or old past their limits; returns how many."""
    with store.write() as conn:
        return conn.execute("DELETE FROM web_sessions WHERE last_seen_at < ? OR created_at < ?",
                            (stamp(idle_before), stamp(started_before))).rowcount


# ---- throttling per client address ----


def address_failed(store: Store, address: str, now: datetime, window: timedelta) -> int:
    """Record a failed sign-in from an address; returns its failures within the window."""
    with store.write() as conn:
        conn.execute("DELETE FROM login_failures WHERE at < ?", (stamp(now - window),))
        conn.execute("INSERT INTO login_failures (address, at) VALUES (?, ?)", (address, stamp(now)))
    return address_failures(store, address, now, window)


def address_failures(store: Store, address: str, now: datetime, window: timedelta) -> int:
    return store.conn.execute("SELECT COUNT(*) FROM login_failures WHERE address = ? AND at >= ?",
                              (address, stamp(now - window))).fetchone()[0]


def address_retry_at(store: Store, address: str, now: datetime, window: timedelta, limit: int) -> datetime | None:
    """When a paused address may try again (its oldest counted failure leaves the window), or None."""
    rows = store.conn.execute("SELECT at FROM login_failures WHERE address = ? AND at >= ? ORDER BY at DESC "
                              "LIMIT ?", (address, stamp(now - window), limit)).fetchall()
    if len(rows) < limit:
        return None
    return datetime.fromisoformat(rows[-1]["at"]) + window
