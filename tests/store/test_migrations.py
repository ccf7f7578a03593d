"""Migrations apply in order on an existing store, and a failing one leaves the database as it was."""

from __future__ import annotations

import sqlite3

import pytest

from appliance import defaults
from appliance.runner import init_store
from appliance.store import Store, migrations, patients


def test_upgrade_from_the_first_schema_keeps_data_and_ids(tmp_path, config, monkeypatch):
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:1])
    old, _code = init_store(config, tmp_path / "data", None, defaults.DEMO_DIR)
    data_dir, key_file = old.data_dir, old.key_file
    old.close()
    monkeypatch.undo()
    with Store.open(data_dir, key_file) as store:
        done = [r[0] for r in store.conn.execute("SELECT number FROM schema_migrations ORDER BY number")]
        assert done == [m[0] for m in migrations.MIGRATIONS]
        assert store.conn.execute("SELECT COUNT(*) FROM patients").fetchone()[0] == 30
        with store.write():
            added = patients.add(store, patients.Patient("Olga", "Petrov"), "test")
        assert added.patient_id == "P1031"
        assert store.next_number("appointment") == 5026


def test_a_failing_migration_changes_nothing(store, monkeypatch):
    broken = (99, "broken", "CREATE TABLE half_done (a); INSERT INTO no_such_table VALUES (1);")
    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, broken])
    with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
        migrations.migrate(store.conn)
    assert not store.conn.in_transaction
    tables = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master")}
    assert "half_done" not in tables
    assert 99 not in migrations.applied(store.conn)


def test_id_counters_follow_imported_ids(store):
    with store.write():
        patients.add(store, patients.Patient("Ann", "Lee", patient_id="P7000"), "test")
        nxt = patients.add(store, patients.Patient("Bo", "Lee"), "test")
    assert nxt.patient_id == "P7001"
