"""The encrypted SQLite store: opening (key first, database second), transactions, catalog sync.

One database file in WAL mode under the data dir. A wrong or missing key file is detected before
anything is written, so a misconfigured box can never damage the store.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from appliance.errors import DiskFull, KeyFileError, StoreError
from appliance.store import migrations
from appliance.store.crypto import Vault, new_master, read_key_file, recovery_code, write_key_file

DB_NAME = "dentra.db"
KEY_NAME = "dentra.key"


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def default_key_file(data_dir: Path) -> Path:
    return data_dir / KEY_NAME


def _connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN IMMEDIATE ourselves so every write takes the lock up front.
    conn = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: a booking confirmed to a caller must survive a power cut.
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class Store:
    """An open store: a connection plus the vault that encrypts its PHI columns."""

    def __init__(self, conn: sqlite3.Connection, vault: Vault, data_dir: Path, key_file: Path):
        self.conn, self.vault, self.data_dir, self.key_file = conn, vault, data_dir, key_file

    # ---- opening ----

    @classmethod
    def create(cls, data_dir: Path, key_file: Path | None = None) -> tuple[Store, str]:
        """Make a new store and key file; returns the store and the recovery code to print once."""
        data_dir = Path(data_dir)
        key_file = Path(key_file) if key_file else default_key_file(data_dir)
        db_path = data_dir / DB_NAME
        if db_path.exists():
            raise StoreError(f"{db_path} already exists; this data dir is initialized already")
        # the database holds only ciphertext for PHI, but nobody else on the box needs to read it
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        master = new_master()
        write_key_file(key_file, master)
        vault = Vault(master)
        conn = _connect(db_path)
        migrations.migrate(conn)
        store = cls(conn, vault, data_dir, key_file)
        wrapped = vault.new_data_key()
        with store.write():
            conn.execute("INSERT INTO store_meta VALUES ('key_check', ?)", (vault.key_check,))
            conn.execute("INSERT INTO store_meta VALUES ('created_at', ?)", (utc_now(),))
            conn.execute("INSERT INTO store_meta VALUES ('key_file', ?)", (str(key_file.resolve()),))
            conn.execute("INSERT INTO data_keys VALUES (?, ?, ?, 1)", (wrapped.kid, wrapped.wrapped, utc_now()))
        return store, recovery_code(master)

    @classmethod
    def open(cls, data_dir: Path, key_file: Path | None = None, migrate: bool = True) -> Store:
        """Open an existing store; the key is checked against it before any write."""
        data_dir = Path(data_dir)
        key_file = Path(key_file) if key_file else default_key_file(data_dir)
        db_path = data_dir / DB_NAME
        if not db_path.is_file():
            raise StoreError(f"no store in {data_dir} (missing {DB_NAME}); create one with `dentra init`")
        vault = Vault(read_key_file(key_file))
        check_key(db_path, key_file, vault)
        conn = _connect(db_path)
        if migrate:
            migrations.migrate(conn)
        for row in conn.execute("SELECT kid, wrapped, active FROM data_keys"):
            vault.load_data_key(row["kid"], row["wrapped"], bool(row["active"]))
        return cls(conn, vault, data_dir, key_file)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- transactions ----

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction taking the write lock at BEGIN, so re-checks see the final state."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
            self.conn.execute("COMMIT")
        except BaseException as err:
            if self.conn.in_transaction:  # SQLite has already rolled back after a full disk
                self.conn.execute("ROLLBACK")
            failed = write_failed(err, self.data_dir)
            if failed is None:
                raise
            raise failed from err

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several reads."""
        self.conn.execute("BEGIN")
        try:
            yield self.conn
        finally:
            self.conn.execute("COMMIT")

    # ---- small helpers used by the table modules ----

    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM store_meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def next_number(self, kind: str) -> int:
        """The next free number for P.../A... ids (inside store.write(); triggers advance the counter)."""
        return self.conn.execute("SELECT last + 1 FROM id_counters WHERE kind = ?", (kind,)).fetchone()[0]

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT INTO store_meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                          (key, value))


def write_failed(err: BaseException, data_dir: Path) -> StoreError | None:
    """A clear error for a write the disk refused (full or failing); None for any other error."""
    name = getattr(err, "sqlite_errorname", "")
    if name == "SQLITE_FULL":
        return DiskFull(f"the disk holding {data_dir} is full; this change was not saved. Free space "
                        f"(`df -h {data_dir}`), then try again")
    if name.startswith("SQLITE_IOERR"):
        return StoreError(f"writing to the store in {data_dir} failed ({name}); this change was not saved. "
                          f"Check free space (`df -h {data_dir}`) and the disk's health", "disk-write-failed")
    return None


def _meta_read_only(db_path: Path, key: str) -> str | None:
    ro = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        row = ro.execute("SELECT value FROM store_meta WHERE key = ?", (key,)).fetchone()
    finally:
        ro.close()
    return row[0] if row else None


def check_key(db_path: Path, key_file: Path, vault: Vault) -> None:
    """Raise KeyFileError unless this key belongs to the database; reads only."""
    try:
        stored = _meta_read_only(db_path, "key_check")
    except sqlite3.DatabaseError as err:
        raise StoreError(f"{db_path} cannot be read as a Dentra store: {err}") from None
    if stored != vault.key_check:
        raise KeyFileError(f"key file {key_file} does not belong to the store {db_path}; "
                           "use the key file made when this store was created (or `dentra keys recover`)")


def sync_catalog(store: Store, config) -> None:
    """Mirror locations, providers and services from the clinic config (ids stay; removed ones go inactive)."""
    conn = store.conn
    with store.write():
        for table, columns, rows in (
            ("locations", ("location_id", "name", "address"),
             [(x.id, x.name, x.address) for x in config.locations]),
            ("providers", ("provider_id", "name", "role", "locations"),
             [(p.id, p.name, p.role, json.dumps(list(p.locations))) for p in config.providers]),
            ("services", ("service_id", "name", "minutes", "price", "roles"),
             [(s.id, s.name, s.minutes, s.price, json.dumps(list(s.roles))) for s in config.services]),
        ):
            conn.execute(f"UPDATE {table} SET active = 0")
            updates = ", ".join(f"{c} = excluded.{c}" for c in columns[1:])
            sql = (f"INSERT INTO {table} ({', '.join(columns)}, active) VALUES ({', '.join('?' * len(columns))}, 1) "
                   f"ON CONFLICT({columns[0]}) DO UPDATE SET {updates}, active = 1")
            conn.executemany(sql, rows)
        store.set_meta("config_path", config.source)


def peek_meta(data_dir: Path, key: str) -> str | None:
    """Read one store_meta value without the key (e.g. which config file created this store)."""
    db_path = Path(data_dir) / DB_NAME
    if not db_path.is_file():
        return None
    try:
        return _meta_read_only(db_path, key)
    except sqlite3.DatabaseError:
        return None
