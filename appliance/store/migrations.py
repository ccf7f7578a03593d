"""Numbered schema migrations, applied in order and recorded in `schema_migrations`.

Columns of type BLOB named in ENCRYPTED_COLUMNS hold AES-GCM ciphertext (see store/crypto.py);
`*_index` columns hold blind indexes (HMAC), so lookups never need plaintext.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

APPOINTMENT_STATUSES = ("scheduled", "confirmed", "cancelled", "rescheduled", "completed", "no_show")
APPOINTMENT_SOURCES = ("ai", "staff", "import")

# table -> (SQL giving the row id bound into each ciphertext, encrypted columns)
ENCRYPTED_COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "patients": ("patient_id", ("first_name", "last_name", "preferred_name", "date_of_birth", "email",
                                "address", "insurance", "allergies", "notes")),
    "patient_phones": ("patient_id", ("number",)),
    "appointments": ("appointment_id", ("notes",)),
    "calls": ("call_id", ("caller_number",)),
    "call_turns": ("call_id || '/' || seq", ("text",)),
    "escalations": ("escalation_id", ("detail",)),
    "events": ("type || '/' || at", ("payload",)),
    "users": ("user_id", ("totp_secret",)),
}


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


M001_INITIAL = f"""
    CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE data_keys (
        kid TEXT PRIMARY KEY,
        wrapped BLOB NOT NULL,
        created_at TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE locations (
        location_id TEXT PRIMARY KEY, name TEXT NOT NULL, address TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1
    );
    CREATE TABLE providers (
        provider_id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL,
        locations TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1
    );
    CREATE TABLE services (
        service_id TEXT PRIMARY KEY, name TEXT NOT NULL, minutes INTEGER NOT NULL,
        price REAL NOT NULL, roles TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1
    );
    CREATE TABLE patients (
        patient_id TEXT PRIMARY KEY,
        first_name BLOB NOT NULL, last_name BLOB NOT NULL, preferred_name BLOB,
        date_of_birth BLOB, email BLOB, address BLOB, insurance BLOB, allergies BLOB, notes BLOB,
        dob_index BLOB,
        language TEXT NOT NULL DEFAULT 'en',
        balance_cents INTEGER NOT NULL DEFAULT 0,
        preferred_provider TEXT REFERENCES providers(provider_id),
        preferred_time TEXT NOT NULL DEFAULT '' CHECK (preferred_time IN ('', 'morning', 'afternoon', 'evening')),
        preferred_location TEXT REFERENCES locations(location_id),
        sms_consent INTEGER NOT NULL DEFAULT 0,
        last_visit TEXT,
        source TEXT NOT NULL DEFAULT 'staff',
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL
    );
    CREATE INDEX patients_dob ON patients(dob_index);
    -- blind index of each lower-cased name word, for "find by name" without plaintext names
    CREATE TABLE patient_name_index (
        token BLOB NOT NULL, patient_id TEXT NOT NULL REFERENCES patients(patient_id) ON DELETE CASCADE,
        PRIMARY KEY (token, patient_id)
    ) WITHOUT ROWID;
    CREATE TABLE patient_phones (
        phone_id INTEGER PRIMARY KEY,
        patient_id TEXT NOT NULL REFERENCES patients(patient_id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('home', 'mobile', 'work')),
        number BLOB NOT NULL,
        number_index BLOB NOT NULL,
        UNIQUE (patient_id, number_index)
    );
    CREATE INDEX patient_phones_lookup ON patient_phones(number_index);
    CREATE TABLE calls (
        call_id TEXT PRIMARY KEY,
        direction TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
        channel TEXT NOT NULL DEFAULT 'sip',
        caller_number BLOB, caller_index BLOB,
        patient_id TEXT REFERENCES patients(patient_id),
        started_at TEXT NOT NULL, answered_at TEXT, ended_at TEXT,
        outcome TEXT, last_flow TEXT
    );
    CREATE INDEX calls_started ON calls(started_at);
    CREATE TABLE call_turns (
        call_id TEXT NOT NULL REFERENCES calls(call_id), seq INTEGER NOT NULL,
        at TEXT NOT NULL, speaker TEXT NOT NULL CHECK (speaker IN ('caller', 'box')),
        text BLOB, intent TEXT, flow TEXT, latency_ms REAL,
        PRIMARY KEY (call_id, seq)
    );
    CREATE TABLE call_recognitions (
        recognition_id INTEGER PRIMARY KEY,
        call_id TEXT NOT NULL REFERENCES calls(call_id),
        at TEXT NOT NULL,
        method TEXT NOT NULL CHECK (method IN ('caller-id', 'name-dob', 'none')),
        number_status TEXT NOT NULL CHECK (number_status IN ('valid', 'unparseable', 'withheld', 'n/a')),
        candidates TEXT NOT NULL,
        patient_id TEXT REFERENCES patients(patient_id),
        confidence REAL NOT NULL
    );
    CREATE INDEX call_recognitions_call ON call_recognitions(call_id);
    CREATE TABLE appointments (
        appointment_id TEXT PRIMARY KEY,
        patient_id TEXT NOT NULL REFERENCES patients(patient_id),
        service_id TEXT NOT NULL REFERENCES services(service_id),
        provider_id TEXT NOT NULL REFERENCES providers(provider_id),
        location_id TEXT NOT NULL REFERENCES locations(location_id),
        start_at TEXT NOT NULL, end_at TEXT NOT NULL CHECK (end_at > start_at),
        status TEXT NOT NULL CHECK (status IN {_in(APPOINTMENT_STATUSES)}),
        source TEXT NOT NULL CHECK (source IN {_in(APPOINTMENT_SOURCES)}),
        booked_by_call TEXT REFERENCES calls(call_id),
        rescheduled_from TEXT REFERENCES appointments(appointment_id),
        replaced_by TEXT REFERENCES appointments(appointment_id),
        notes BLOB,
        cancel_reason TEXT,
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL
    );
    CREATE INDEX appointments_provider_time ON appointments(provider_id, start_at);
    CREATE INDEX appointments_patient_time ON appointments(patient_id, start_at);
    CREATE INDEX appointments_time ON appointments(start_at);
    CREATE TABLE escalations (
        escalation_id TEXT PRIMARY KEY,
        call_id TEXT REFERENCES calls(call_id),
        patient_id TEXT REFERENCES patients(patient_id),
        reason TEXT NOT NULL, detail BLOB,
        status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged', 'resolved')),
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL, handled_by TEXT
    );
    CREATE INDEX escalations_status ON escalations(status, created_at);
    CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY,
        at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
        patient_id TEXT, subject TEXT, detail TEXT NOT NULL,
        prev_hash TEXT NOT NULL, hash TEXT NOT NULL
    );
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
    -- the outbox the receptionist page tails; payload is encrypted JSON
    CREATE TABLE events (
        event_id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL, type TEXT NOT NULL, call_id TEXT, payload BLOB NOT NULL
    );
"""


def _max_number(table: str, column: str, prefix: str, floor: int) -> str:
    return (f"COALESCE((SELECT MAX(CAST(substr({column}, 2) AS INTEGER)) FROM {table} "
            f"WHERE {column} GLOB '{prefix}[0-9]*'), {floor})")


def _counter_trigger(table: str, column: str, prefix: str, kind: str) -> str:
    return (f"CREATE TRIGGER {table}_id_counter AFTER INSERT ON {table} WHEN NEW.{column} GLOB '{prefix}[0-9]*' "
            f"BEGIN UPDATE id_counters SET last = MAX(last, CAST(substr(NEW.{column}, 2) AS INTEGER)) "
            f"WHERE kind = '{kind}'; END;")


# Finding a patient's name tokens (re-indexing, cascades) needs patient_id first; and the next
# P/A number comes from a counter kept by triggers, not from reading every id under the write lock.
M002_ID_COUNTERS = f"""
    CREATE INDEX patient_name_index_patient ON patient_name_index(patient_id);
    CREATE TABLE id_counters (kind TEXT PRIMARY KEY, last INTEGER NOT NULL);
    INSERT INTO id_counters VALUES ('patient', {_max_number("patients", "patient_id", "P", 1000)});
    INSERT INTO id_counters VALUES ('appointment', {_max_number("appointments", "appointment_id", "A", 5000)});
    {_counter_trigger("patients", "patient_id", "P", "patient")}
    {_counter_trigger("appointments", "appointment_id", "A", "appointment")}
"""

M003_ESCALATION_KIND = """
    ALTER TABLE escalations ADD COLUMN kind TEXT NOT NULL DEFAULT 'transfer'
        CHECK (kind IN ('transfer', 'callback'));
"""

# Staff accounts of the receptionist page. The TOTP secret is encrypted like PHI: with it (and the
# password) anyone could sign in. Sessions are kept by the SHA-256 of their cookie token, never the
# token; login_failures counts failed sign-ins per client address for throttling.
M004_WEB_USERS = """
    CREATE TABLE users (
        user_id INTEGER PRIMARY KEY AUTOINCREMENT,
        username TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL CHECK (role IN ('front_desk', 'manager', 'admin')),
        password_hash TEXT NOT NULL,
        totp_secret BLOB,
        totp_enrolled INTEGER NOT NULL DEFAULT 0,
        totp_last_step INTEGER NOT NULL DEFAULT 0,
        failed_attempts INTEGER NOT NULL DEFAULT 0,
        locked_until TEXT,
        disabled INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        last_login_at TEXT
    );
    CREATE TABLE web_sessions (
        token_hash BLOB PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
        stage TEXT NOT NULL CHECK (stage IN ('second-factor', 'enrol', 'signed-in')),
        address TEXT NOT NULL,
        created_at TEXT NOT NULL,
        last_seen_at TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX web_sessions_user ON web_sessions(user_id);
    CREATE TABLE login_failures (
        failure_id INTEGER PRIMARY KEY,
        address TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX login_failures_address ON login_failures(address, at);
"""

# Live calls taken from the receptionist page: the web writes a command, the voice side (which owns
# the SIP call) polls for it, carries it out and marks it done. Users get their own desk extension
# ("take the call" rings it) and their screen-pop preferences (a chime, a desktop notification).
M005_CALL_COMMANDS = """
    CREATE TABLE call_commands (
        command_id INTEGER PRIMARY KEY AUTOINCREMENT,
        call_id TEXT NOT NULL REFERENCES calls(call_id),
        command TEXT NOT NULL CHECK (command IN ('take', 'end-ai')),
        extension TEXT NOT NULL,
        by_user TEXT NOT NULL,
        at TEXT NOT NULL,
        done_at TEXT,
        result TEXT
    );
    CREATE INDEX call_commands_pending ON call_commands(call_id) WHERE done_at IS NULL;
    CREATE INDEX events_call ON events(call_id, event_id);
    ALTER TABLE users ADD COLUMN extension TEXT;
    ALTER TABLE users ADD COLUMN pop_sound INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE users ADD COLUMN pop_notify INTEGER NOT NULL DEFAULT 0;
"""

# (number, name, SQL script). Never edit a shipped migration: add the next number.
MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "initial", M001_INITIAL),
    (2, "id-counters", M002_ID_COUNTERS),
    (3, "escalation-kind", M003_ESCALATION_KIND),
    (4, "web-users", M004_WEB_USERS),
    (5, "call-commands", M005_CALL_COMMANDS),
]


def applied(conn: sqlite3.Connection) -> set[int]:
    conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                 "(number INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
    return {row[0] for row in conn.execute("SELECT number FROM schema_migrations")}


def pending(conn: sqlite3.Connection) -> list[tuple[int, str, str]]:
    done = applied(conn)
    return [m for m in MIGRATIONS if m[0] not in done]


def migrate(conn: sqlite3.Connection) -> list[int]:
    """Apply pending migrations, each in its own transaction; returns the numbers applied."""
    ran = []
    for number, name, script in pending(conn):
        at = datetime.now(UTC).isoformat(timespec="seconds")
        # executescript commits any open transaction first, so BEGIN/COMMIT go inside the script
        try:
            conn.executescript(f"BEGIN IMMEDIATE;\n{script};\n"
                               f"INSERT INTO schema_migrations VALUES ({number}, '{name}', '{at}');\nCOMMIT;")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        ran.append(number)
    return ran
