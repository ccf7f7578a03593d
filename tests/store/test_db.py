"""Opening the store: WAL, migrations, and a wrong or missing key that never touches the database."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from appliance.errors import KeyFileError, StoreError
from appliance.runner import init_store
from appliance.store import Store
from appliance.store.crypto import new_master, write_key_file
from appliance.store.migrations import MIGRATIONS


def fingerprint(data_dir):
    """sha256 of the database and its write-ahead log, to prove a failed open changed nothing.

    A read-only SQLite open may leave an empty -wal and a -shm index beside the file; neither holds data,
    so an absent WAL and an empty one count the same.
    """
    wal = data_dir / "dentra.db-wal"
    wal_bytes = wal.read_bytes() if wal.exists() else b""
    return (hashlib.sha256((data_dir / "dentra.db").read_bytes()).hexdigest(), hashlib.sha256(wal_bytes).hexdigest())


def test_wal_mode_foreign_keys_and_migrations_recorded(store):
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    numbers = [r[0] for r in store.conn.execute("SELECT number FROM schema_migrations ORDER BY number")]
    assert numbers == [m[0] for m in MIGRATIONS]
    tables = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"locations", "providers", "services", "patients", "patient_phones", "appointments", "calls",
            "call_turns", "call_recognitions", "escalations", "audit_log", "events"} <= tables


def test_catalog_mirrors_the_config(store, config):
    services = {r["service_id"]: r["minutes"] for r in store.conn.execute("SELECT * FROM services")}
    assert services == {s.id: s.minutes for s in config.services}
    assert store.conn.execute("SELECT COUNT(*) FROM providers WHERE active = 1").fetchone()[0] == 4


def test_reopen_applies_nothing_new_and_sees_the_data(demo_store):
    data_dir, key_file = demo_store.data_dir, demo_store.key_file
    demo_store.close()
    with Store.open(data_dir, key_file) as again:
        assert again.conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] == len(MIGRATIONS)
        assert again.conn.execute("SELECT COUNT(*) FROM patients").fetchone()[0] == 30


def test_data_dir_and_key_file_are_private(store):
    assert store.data_dir.stat().st_mode & 0o077 == 0
    assert store.key_file.stat().st_mode & 0o777 == 0o600


def test_wrong_key_file_is_refused_before_any_write(demo_store, tmp_path):
    data_dir = demo_store.data_dir
    demo_store.close()
    before = fingerprint(data_dir)
    other = tmp_path / "other.key"
    write_key_file(other, new_master())
    with pytest.raises(KeyFileError, match=f"key file {other} does not belong to the store"):
        Store.open(data_dir, other)
    assert fingerprint(data_dir) == before


def test_missing_key_file_names_it(demo_store):
    data_dir, key_file = demo_store.data_dir, demo_store.key_file
    demo_store.close()
    before = fingerprint(data_dir)
    key_file.unlink()
    with pytest.raises(KeyFileError, match=f"key file {key_file} is missing"):
        Store.open(data_dir)
    assert fingerprint(data_dir) == before


def test_no_store_and_double_init(tmp_path, config):
    with pytest.raises(StoreError, match="no store in .*dentra init"):
        Store.open(tmp_path / "empty")
    s, _ = init_store(config, tmp_path / "data", None, None)
    s.close()
    with pytest.raises(StoreError, match="already"):
        init_store(config, tmp_path / "data", None, None)


def test_not_a_database(tmp_path, store):
    bogus = tmp_path / "bogus"
    bogus.mkdir()
    (bogus / "dentra.db").write_bytes(b"this is not sqlite" * 100)
    shutil.copy(store.key_file, bogus / "dentra.key")
    with pytest.raises(StoreError, match="cannot be read as a Dentra store"):
        Store.open(bogus)


def test_failed_write_rolls_back(store):
    with pytest.raises(RuntimeError), store.write() as conn:
        conn.execute("INSERT INTO store_meta VALUES ('x', 'y')")
        raise RuntimeError("boom")
    assert store.meta("x") is None
