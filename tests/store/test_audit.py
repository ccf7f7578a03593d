"""The audit log is append-only and its chain breaks when a row is altered behind the app's back."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from appliance.store import audit


def raw(store):
    """A plain SQLite connection, as someone with file access but without the app would use."""
    return sqlite3.connect(store.data_dir / "dentra.db", isolation_level=None)


def test_chain_verifies_and_records_ids_only(demo_store):
    report = audit.verify(demo_store)
    assert report.ok and report.rows == 31  # 30 patients created + one appointments import
    row = demo_store.conn.execute("SELECT * FROM audit_log WHERE action = 'patient-created' LIMIT 1").fetchone()
    assert row["patient_id"] == "P1001" and row["actor"] == "import:demo"
    assert "Maria" not in row["detail"]


def test_record_needs_a_transaction(store):
    with pytest.raises(RuntimeError, match="inside store.write"):
        audit.record(store, "test", "noop")


@pytest.mark.parametrize("sql", ["UPDATE audit_log SET actor = 'someone-else' WHERE seq = 2",
                                 "DELETE FROM audit_log WHERE seq = 2"])
def test_triggers_refuse_update_and_delete(demo_store, sql):
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        demo_store.conn.execute(sql)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        raw(demo_store).execute(sql)
    assert audit.verify(demo_store).ok


def tamper(store, *statements):
    conn = raw(store)
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("DROP TRIGGER audit_log_no_delete")
    for sql in statements:
        conn.execute(sql)
    conn.close()


def test_altered_row_breaks_the_chain(demo_store):
    tamper(demo_store, "UPDATE audit_log SET patient_id = 'P1002' WHERE seq = 5")
    report = audit.verify(demo_store)
    assert not report.ok and report.first_bad_seq == 5 and "altered" in report.problem


def test_recomputed_plain_sha256_does_not_help_a_forger(demo_store):
    """Rewriting a row and its hash without the audit key is still caught."""
    import hashlib

    row = demo_store.conn.execute("SELECT * FROM audit_log WHERE seq = 3").fetchone()
    forged = hashlib.sha256((row["prev_hash"] + "forged").encode()).hexdigest()
    tamper(demo_store, f"UPDATE audit_log SET actor = 'x', hash = '{forged}' WHERE seq = 3")
    report = audit.verify(demo_store)
    assert not report.ok and report.first_bad_seq == 3


def test_deleted_row_breaks_the_chain(demo_store):
    tamper(demo_store, "DELETE FROM audit_log WHERE seq = 7")
    report = audit.verify(demo_store)
    assert not report.ok and report.first_bad_seq == 8 and "missing" in report.problem


def test_cli_audit_verify_exit_codes(demo_store):
    argv = [sys.executable, "-m", "appliance", "audit", "verify", "--data-dir", str(demo_store.data_dir)]
    ok = subprocess.run(argv, capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.strip() == "audit chain ok: 31 rows verified"
    tamper(demo_store, "UPDATE audit_log SET action = 'nothing-happened' WHERE seq = 12")
    broken = subprocess.run(argv, capture_output=True, text=True)
    assert broken.returncode == 1
    assert broken.stderr.startswith("audit chain BROKEN at row 12: was altered after it was written")
