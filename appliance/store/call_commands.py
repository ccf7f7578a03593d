"""Commands from the receptionist page to a live call: "take" (ring my desk) and "end-ai" (front desk).

The web process cannot touch the SIP call (the voice side owns it), so a command is a row: the page
writes it (audited, one pending command per call), telephony/commands.py picks it up within a poll
interval, carries it out and records `done_at` and `result`. Results: `transferred`,
`transfer-failed`, `call-not-live`, `expired`, `no-front-desk`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from appliance.errors import AppError, NotFound
from appliance.store import audit
from appliance.store.db import Store, utc_now

COMMANDS = ("take", "end-ai")
# a command nobody carried out within this is dropped: the caller has moved on (or hung up)
EXPIRE_AFTER = timedelta(seconds=30)


class CallNotLive(AppError):
    """The call has ended (or never reached the box), so there is nothing to take over."""

    code = "call-not-live"


@dataclass(frozen=True)
class CallCommand:
    command_id: int
    call_id: str
    command: str
    extension: str
    by_user: str
    at: str
    done_at: str | None
    result: str | None


def _command(row) -> CallCommand:
    return CallCommand(row["command_id"], row["call_id"], row["command"], row["extension"], row["by_user"],
                       row["at"], row["done_at"], row["result"])


def request(store: Store, call_id: str, command: str, extension: str, by_user: str, address: str) -> CallCommand:
    """Ask the voice side to hand a live call to `extension`; a command already pending is returned as is."""
    if command not in COMMANDS:
        raise ValueError(f"command must be one of {COMMANDS}, got {command!r}")
    with store.write() as conn:
        call = conn.execute("SELECT patient_id, ended_at FROM calls WHERE call_id = ?", (call_id,)).fetchone()
        if call is None:
            raise NotFound(f"no call {call_id}")
        if call["ended_at"] is not None:
            raise CallNotLive("this call has already ended")
        pending = conn.execute("SELECT * FROM call_commands WHERE call_id = ? AND done_at IS NULL", (call_id,))
        found = pending.fetchone()
        if found is not None:  # a double click, or two receptionists at once: the first one wins
            return _command(found)
        cur = conn.execute("INSERT INTO call_commands (call_id, command, extension, by_user, at) "
                           "VALUES (?, ?, ?, ?, ?)", (call_id, command, extension, by_user, utc_now()))
        audit.record(store, f"web:{by_user}", f"call-{command}-requested", call["patient_id"], call_id,
                     extension=extension, address=address)
        return get(store, cur.lastrowid)


def get(store: Store, command_id: int) -> CallCommand:
    row = store.conn.execute("SELECT * FROM call_commands WHERE command_id = ?", (command_id,)).fetchone()
    if row is None:
        raise NotFound(f"no call command {command_id}")
    return _command(row)


def pending(store: Store) -> list[CallCommand]:
    """Commands not yet carried out, oldest first (one indexed query: the voice side asks often)."""
    rows = store.conn.execute("SELECT * FROM call_commands WHERE done_at IS NULL ORDER BY command_id")
    return [_command(r) for r in rows]


def finish(store: Store, command_id: int, result: str) -> None:
    """Record what became of a command; inside store.write(), with the event that reports it."""
    store.conn.execute("UPDATE call_commands SET done_at = ?, result = ? WHERE command_id = ? AND done_at IS NULL",
                       (utc_now(), result, command_id))


def expired(command: CallCommand, now: datetime | None = None) -> bool:
    at = datetime.fromisoformat(command.at)
    return (now or datetime.now(UTC)) - at > EXPIRE_AFTER


def latest(store: Store, call_id: str) -> CallCommand | None:
    """The newest command for a call (the live view shows whether it is pending or what became of it)."""
    row = store.conn.execute("SELECT * FROM call_commands WHERE call_id = ? ORDER BY command_id DESC LIMIT 1",
                             (call_id,)).fetchone()
    return _command(row) if row else None
