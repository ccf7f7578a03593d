"""`dentra migrate`: a backup first, then every pending migration or none."""

from __future__ import annotations

import sqlite3

from appliance import cli
from appliance.store import migrations
from appliance.store.db import DB_NAME

# numbered after the real migrations, whatever their count: an upgrade brings the next numbers
NEXT = migrations.MIGRATIONS[-1][0] + 1
GOOD = (NEXT, "patient-nickname", "ALTER TABLE patients ADD COLUMN nickname_index BLOB;\n"
                                  "CREATE INDEX patients_nickname ON patients(nickname_index);")
BROKEN = (NEXT + 1, "broken", "CREATE TABLE half_done (a); INSERT INTO no_such_table VALUES (1);")


def dump(db) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def test_pending_migrations_run_after_a_backup(demo_data, monkeypatch, capsys):
    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, GOOD])
    before = dump(demo_data / DB_NAME)
    assert cli.main(["migrate", "--data-dir", str(demo_data)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"applied migrations {NEXT}; the store before them is backed up at ")
    (backup,) = (demo_data / "backups").glob("pre-migrate-*.db")
    assert backup.stat().st_mode & 0o777 == 0o600
    assert dump(backup) == before  # the backup is the store as it was
    conn = sqlite3.connect(demo_data / DB_NAME)
    assert NEXT in {r[0] for r in conn.execute("SELECT number FROM schema_migrations")}
    assert "nickname_index" in {r[1] for r in conn.execute("PRAGMA table_info(patients)")}
    conn.close()
    assert cli.main(["migrate", "--data-dir", str(demo_data)]) == 0
    assert "up to date; nothing to migrate" in capsys.readouterr().out


def test_a_failed_migration_leaves_the_database_untouched(demo_data, monkeypatch, capsys):
    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, GOOD, BROKEN])
    before = dump(demo_data / DB_NAME)
    assert cli.main(["migrate", "--data-dir", str(demo_data)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"dentra: migration {NEXT + 1} (broken) failed: no such table: no_such_table; "
                          "nothing was changed")
    assert "a backup is at" in err and len(err.splitlines()) == 1
    assert dump(demo_data / DB_NAME) == before  # not even the good migration before it stayed
    (backup,) = (demo_data / "backups").glob("pre-migrate-*.db")
    assert dump(backup) == before
