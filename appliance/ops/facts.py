"""Facts about a store file that need no key: row counts, the newest write, size, pending migrations."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

from appliance.store.db import DB_NAME

# The store's own write times (UTC, written by utc_now()): every booking, call, audit row and event
# carries one, so "newest write" reads the same on the live store and on a restored replica.
NEWEST_WRITE_SQL = (
    "SELECT at FROM audit_log ORDER BY seq DESC LIMIT 1",
    "SELECT at FROM events ORDER BY event_id DESC LIMIT 1",
    "SELECT MAX(started_at) FROM calls",
    "SELECT MAX(updated_at) FROM appointments",
    "SELECT MAX(updated_at) FROM patients",
)


def read_only(db_path: Path) -> sqlite3.Connection:
    """A connection that refuses writes: looking at a store must never change it.

    Not `mode=ro`: after a crash a read-only connection cannot rebuild the WAL index and reads a stale
    snapshot (it once counted one audit row fewer than the restored replica held).
    """
    if not Path(db_path).is_file():
        raise sqlite3.OperationalError(f"no database at {db_path}")
    conn = sqlite3.connect(db_path, timeout=10, isolation_level=None)
    conn.execute("PRAGMA query_only=1")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def store_tables(conn: sqlite3.Connection) -> list[str]:
    """The store's own tables; Litestream's bookkeeping tables (_litestream_*) are not ours."""
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                        "AND name NOT LIKE '\\_litestream%' ESCAPE '\\' ORDER BY name")
    return [r[0] for r in rows]


def row_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Rows per table, read in one snapshot."""
    conn.execute("BEGIN")
    try:
        return {t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in store_tables(conn)}
    finally:
        conn.execute("COMMIT")


def newest_write_at(conn: sqlite3.Connection) -> datetime | None:
    """The time of the newest booking, call, audit row or event in this database (UTC)."""
    found = []
    for sql in NEWEST_WRITE_SQL:
        try:
            row = conn.execute(sql).fetchone()
        except sqlite3.OperationalError:  # an older schema without that table
            continue
        if row and row[0]:
            found.append(datetime.fromisoformat(row[0]))
    return max(found) if found else None


def store_bytes(data_dir: Path) -> int:
    """Size of the database and its write-ahead log."""
    total = 0
    for suffix in ("", "-wal"):
        try:
            total += (Path(data_dir) / (DB_NAME + suffix)).stat().st_size
        except FileNotFoundError:
            pass
    return total


def pending_migrations(conn: sqlite3.Connection) -> list[int]:
    """Numbers of the schema migrations this code has and the database has not applied yet."""
    from appliance.store.migrations import MIGRATIONS

    try:
        done = {r[0] for r in conn.execute("SELECT number FROM schema_migrations")}
    except sqlite3.OperationalError:
        done = set()
    return [m[0] for m in MIGRATIONS if m[0] not in done]
