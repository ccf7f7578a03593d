"""Restoring the store from its replica into an empty folder, then opening it with the key and checking it."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from appliance.errors import KeyFileError, ReplicationError, UsageError
from appliance.ops import facts, litestream
from appliance.ops.target import ReplicaTarget
from appliance.store import audit, keys
from appliance.store.crypto import read_key_file, write_key_file
from appliance.store.db import DB_NAME, KEY_NAME, Store


@dataclass(frozen=True)
class StoreChecks:
    """What opening a (restored) store with its key found."""

    integrity: str  # "ok", or SQLite's first complaint
    audit_rows: int
    audit_problem: str  # empty when the chain verifies
    counts: dict[str, int] = field(default_factory=dict)
    newest_write_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.integrity == "ok" and not self.audit_problem


def fetch(target: ReplicaTarget, db_path: Path, timeout_s: float = 600) -> None:
    """Write the replica's newest state to `db_path` (a file that must not exist yet)."""
    with tempfile.TemporaryDirectory(prefix="dentra-restore-") as work:
        config_path = litestream.write_config(Path(work) / "litestream.yml", db_path, target)
        litestream.restore(config_path, db_path, db_path, target, timeout_s)


def check_store(data_dir: Path, key_file: Path) -> StoreChecks:
    """Open the store with the key (refused if it is not this store's) and run the integrity and audit checks."""
    with Store.open(data_dir, key_file, migrate=False) as store:
        problems = [r[0] for r in store.conn.execute("PRAGMA integrity_check").fetchall()]
        chain = audit.verify(store)
        counts = facts.row_counts(store.conn)
        newest = facts.newest_write_at(store.conn)
    audit_problem = "" if chain.ok else f"row {chain.first_bad_seq} {chain.problem}"
    return StoreChecks(problems[0] if problems else "ok", chain.rows, audit_problem, counts, newest)


def restore_to(target: ReplicaTarget, dest: Path, key_file: Path | None = None,
               recovery_code: str | None = None) -> StoreChecks:
    """Restore into the empty folder `dest` with its own key file (copied, or recreated from the recovery code)."""
    if not key_file and not recovery_code:
        raise UsageError("restore needs --key-file (the store's key file) or --recovery-code (printed by "
                         "`dentra init`): without one the restored store cannot be opened")
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ReplicationError(f"{dest} is not an empty folder; restore into a new, empty folder "
                               "(nothing was changed)", "restore-target-not-empty")
    master = read_key_file(Path(key_file)) if key_file else None
    created = not dest.exists()
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fetch(target, dest / DB_NAME)
        (dest / DB_NAME).chmod(0o600)
        new_key = dest / KEY_NAME
        if recovery_code:
            try:
                keys.recover_key_file(dest, new_key, recovery_code)
            except KeyFileError as err:
                raise KeyFileError(f"the recovery code does not open the replica at {target.display}: "
                                   f"{err.message}") from None
        else:
            _check_key_matches(dest, Path(key_file))
            write_key_file(new_key, master)
        with Store.open(dest, new_key, migrate=False) as store, store.write():
            store.set_meta("key_file", str(new_key.resolve()))  # the old box's key path means nothing here
        return check_store(dest, new_key)
    except BaseException:
        # leave the folder as we found it, so the admin can simply try again
        if created:
            shutil.rmtree(dest, ignore_errors=True)
        else:
            for child in dest.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        raise


def _check_key_matches(data_dir: Path, key_file: Path) -> None:
    with Store.open(data_dir, key_file, migrate=False):
        pass
