"""`dentra migrate`: a backup of the store first, then every pending migration in one transaction.

Either all pending migrations apply or none does: a failure rolls the whole upgrade back, so the
old code can still run on the old database, and the backup is there besides.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from appliance.errors import StoreError
from appliance.store import migrations
from appliance.store.db import Store

BACKUP_DIR = "backups"


@dataclass(frozen=True)
class Upgrade:
    applied: tuple[int, ...]
    backup: Path | None  # None when nothing was pending


def migrate_store(data_dir: Path, key_file: Path) -> Upgrade:
    """Back the store up beside itself, then apply every pending migration or none."""
    with Store.open(data_dir, key_file, migrate=False) as store:  # the key is checked before anything is written
        todo = migrations.pending(store.conn)
        if not todo:
            return Upgrade((), None)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        backup = backup_to(store.conn, Path(data_dir) / BACKUP_DIR / f"pre-migrate-{stamp}.db")
        apply_all(store.conn, todo, backup)
    return Upgrade(tuple(m[0] for m in todo), backup)


def backup_to(conn: sqlite3.Connection, path: Path) -> Path:
    """Copy the live database with SQLite's online backup API into a new 0600 file, and check the copy."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    copy = sqlite3.connect(path)
    try:
        conn.backup(copy)
        verdict = copy.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.Error as err:
        copy.close()
        path.unlink(missing_ok=True)
        raise StoreError(f"cannot back the store up to {path} ({err}); nothing was migrated. Check free space "
                         f"with `df -h {path.parent}`", "backup-failed") from None
    copy.close()
    if verdict != "ok":
        raise StoreError(f"the backup {path} does not pass SQLite's integrity check ({verdict}); nothing was "
                         "migrated. Run `dentra audit verify` and restore from the replica if needed", "backup-failed")
    return path


def apply_all(conn: sqlite3.Connection, todo: list[tuple[int, str, str]], backup: Path) -> None:
    """Run the migrations statement by statement inside one BEGIN IMMEDIATE ... COMMIT."""
    conn.execute("BEGIN IMMEDIATE")
    number, name = 0, ""
    try:
        for number, name, script in todo:
            for statement in _statements(script):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)",
                         (number, name, datetime.now(UTC).isoformat(timespec="seconds")))
        conn.execute("COMMIT")
    except sqlite3.Error as err:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise StoreError(f"migration {number} ({name}) failed: {err}; nothing was changed, the database is as "
                         f"before and a backup is at {backup}. Keep running the previous version and report this",
                         "migration-failed") from None


def _statements(script: str) -> list[str]:
    """Split a migration script into statements; a `;` inside a trigger body or a string does not split."""
    out, buf = [], ""
    for piece in script.split(";"):
        buf += piece + ";"
        if sqlite3.complete_statement(buf):
            if buf.strip(" \n\t;"):
                out.append(buf.strip())
            buf = ""
    return out
