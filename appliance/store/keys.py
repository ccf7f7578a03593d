"""Key maintenance: rotate the column data key (re-encrypting every PHI cell) and recover a lost key file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from appliance.errors import KeyFileError
from appliance.store import audit
from appliance.store.crypto import Vault, master_from_recovery_code, write_key_file
from appliance.store.db import DB_NAME, Store, check_key, utc_now
from appliance.store.migrations import ENCRYPTED_COLUMNS


@dataclass(frozen=True)
class Rotation:
    old_kids: tuple[str, ...]
    new_kid: str
    cells: int


def rotate(store: Store, actor: str) -> Rotation:
    """Make a new data key, re-encrypt every encrypted cell with it in one transaction, drop the old keys."""
    vault = store.vault
    old_kids = tuple(r[0] for r in store.conn.execute("SELECT kid FROM data_keys ORDER BY created_at"))
    previous_active = vault.active_kid
    cells = 0
    try:
        with store.write() as conn:
            wrapped = vault.new_data_key()
            conn.execute("UPDATE data_keys SET active = 0")
            conn.execute("INSERT INTO data_keys VALUES (?, ?, ?, 1)", (wrapped.kid, wrapped.wrapped, utc_now()))
            for table, (row_id, columns) in ENCRYPTED_COLUMNS.items():
                rows = conn.execute(f"SELECT rowid AS _rowid, {row_id} AS _aad, {', '.join(columns)} FROM {table}")
                for r in rows.fetchall():
                    fresh = [vault.encrypt(vault.decrypt(r[c], table, c, str(r["_aad"])), table, c, str(r["_aad"]))
                             for c in columns]
                    sets = ", ".join(f"{c} = ?" for c in columns)
                    conn.execute(f"UPDATE {table} SET {sets} WHERE rowid = ?", (*fresh, r["_rowid"]))
                    cells += sum(v is not None for v in fresh)
            conn.execute("DELETE FROM data_keys WHERE kid != ?", (wrapped.kid,))
            audit.record(store, actor, "keys-rotated", None, wrapped.kid, previous=list(old_kids), cells=cells)
    except BaseException:
        vault.forget_data_key(vault.active_kid)
        vault.active_kid = previous_active
        raise
    for kid in old_kids:
        vault.forget_data_key(kid)
    # old ciphertext must not linger in free pages or the WAL
    store.conn.execute("VACUUM")
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return Rotation(old_kids, wrapped.kid, cells)


def recover_key_file(data_dir: Path, key_file: Path, code: str) -> None:
    """Write the key file again from the recovery code, after checking the code opens this store."""
    vault = Vault(master_from_recovery_code(code))
    db_path = Path(data_dir) / DB_NAME
    if not db_path.is_file():
        raise KeyFileError(f"no store at {db_path}; restore the database first")
    check_key(db_path, key_file, vault)
    write_key_file(key_file, master_from_recovery_code(code))
