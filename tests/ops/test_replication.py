"""The offsite replica holds the store only, and no plaintext PHI: names, phones and birth dates are ciphertext."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

from appliance import events
from appliance.ops import litestream
from appliance.ops.records import read_record
from appliance.ops.target import parse_target
from appliance.phones import clinic_region
from appliance.recognition import recognize_call
from appliance.store import Store, calls
from tests.ops.conftest import replicating, wait_for, write_clinic
from tests.ops.replica_scan import ltx_pages, replica_leaks
from tests.store.test_plaintext import demo_phi


def add_calls_with_phi(data_dir: Path, config) -> None:
    """Calls whose numbers, transcripts and events hold PHI, as a busy morning would leave them."""
    with Store.open(data_dir) as store:
        for number in ("+12175550100", "(217) 555-0125", "sip:+12175550113@pbx"):
            call_id, rec = recognize_call(store, number, clinic_region(config))
            who = rec.candidates[0]
            with store.write():
                calls.add_turn(store, call_id, "caller", f"This is {who.full_name}, born {who.date_of_birth}, "
                               f"call me at {rec.e164}")
                events.emit(store, "caller-said", call_id, text=f"my email is {who.email}")


def test_the_replica_holds_no_plaintext_phi(demo_data, config, tmp_path):
    replica = tmp_path / "replica"
    clinic = write_clinic(tmp_path / "clinic.toml", url=f"file://{replica}")
    # things that must never leave the box beside the database
    (demo_data / "recordings").mkdir()
    (demo_data / "recordings" / "call-1.wav.enc").write_bytes(b"Maria Lopez " * 10)
    with replicating(clinic, demo_data):
        add_calls_with_phi(demo_data, config)
        with Store.open(demo_data) as store:
            turns = store.conn.execute("SELECT COUNT(*) FROM call_turns").fetchone()[0]
        wait_for(lambda: (read_record(demo_data, "replication") or {}).get("lag_s") == 0.0, 20, "the calls to ship")
    files = sorted(p for p in replica.rglob("*") if p.is_file())
    assert files and all(p.suffix == ".ltx" for p in files), files  # no key file, no recordings, no records
    assert turns == 3
    needles = demo_phi(config)
    assert len(needles) > 150
    assert replica_leaks(replica, needles) == []


def test_the_replica_scan_sees_plaintext(tmp_path, config):
    """Guard against a scan that cannot fail: a plain database replicated the same way is caught, even where
    Litestream's LZ4 compression hides a repeated name from a plain grep."""
    db = tmp_path / "plain.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x)")
    conn.executemany("INSERT INTO t VALUES (?)", [("Maria Lopez 1980-08-02 +12175550100",), ("Henry Lopez",)])
    conn.commit()
    conn.close()
    target = parse_target(config.replication, url=f"file://{tmp_path / 'replica'}")
    cfg = litestream.write_config(tmp_path / "ls.json", db, target)
    subprocess.run(litestream.argv("replicate", cfg, target, "-once"), env=litestream.child_env(target),
                   check=True, capture_output=True, timeout=60)
    found = replica_leaks(tmp_path / "replica", demo_phi(config))
    assert {f.split(": ", 1)[1] for f in found} >= {"Maria Lopez", "1980-08-02", "+12175550100", "Henry Lopez"}
    blob = next((tmp_path / "replica").rglob("*.ltx")).read_bytes()
    assert blob.count(b"Lopez") < b"".join(ltx_pages(blob)).count(b"Lopez")


def test_litestream_runs_without_aws_ca_bundle(monkeypatch, tmp_path, config):
    monkeypatch.setenv("AWS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    target = parse_target(config.replication, url="s3://bucket/clinic?endpoint=http://127.0.0.1:9",
                          environ={"DENTRA_REPLICA_ACCESS_KEY_ID": "a", "DENTRA_REPLICA_SECRET_ACCESS_KEY": "b"})
    env = litestream.child_env(target)
    assert "AWS_CA_BUNDLE" not in env
    assert env["LITESTREAM_ACCESS_KEY_ID"] == "a" and env["PATH"]
