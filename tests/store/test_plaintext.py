"""No patient name, phone number, birth date or e-mail appears in plaintext anywhere in the data dir."""

from __future__ import annotations

import csv
from datetime import date

import pytest

from appliance import defaults, events
from appliance.phones import clinic_region
from appliance.recognition import recognize_call
from appliance.store import Store, calls, keys


def demo_phi(config) -> list[bytes]:
    """Every identifying string of the demo patients, in the forms it could be written."""
    clinic_text = defaults.EXAMPLE_CONFIG.read_text()
    needles = set()
    with open(defaults.DEMO_DIR / "patients.csv", newline="") as f:
        for row in csv.DictReader(f):
            first, last = row["first_name"], row["last_name"]
            needles.add(f"{first} {last}")
            # short words can occur by chance in ciphertext; staff first names occur in the config
            needles.update(n for n in (first, last) if len(n) >= 4 and n not in clinic_text)
            dob = date.fromisoformat(row["date_of_birth"])
            needles.update({dob.isoformat(), dob.strftime("%m/%d/%Y"), dob.strftime("%Y%m%d")})
            needles.add(row["email"])
            for col in ("phone", "phone_mobile", "phone_work"):
                if row[col]:
                    needles.update({row[col], row[col][2:], f"{row[col][2:5]}-{row[col][5:8]}-{row[col][8:]}"})
    return sorted(n.encode() for n in needles)


def leaks(data_dir, needles) -> list[str]:
    found = []
    for path in sorted(data_dir.iterdir()):
        if path.name == "dentra.key" or not path.is_file():
            continue
        blob = path.read_bytes()
        found += [f"{path.name}: {n.decode()}" for n in needles if n in blob]
    return found


@pytest.fixture
def busy_store(demo_store, config):
    """The demo store after some calls: numbers, transcripts and events hold PHI too."""
    region = clinic_region(config)
    for number in ("+12175550100", "(217) 555-0125", "sip:+12175550113@pbx"):
        call_id, rec = recognize_call(demo_store, number, region)
        with demo_store.write():
            calls.add_turn(demo_store, call_id, "caller", f"This is {rec.candidates[0].full_name}, born "
                           f"{rec.candidates[0].date_of_birth}, call me at {rec.e164}")
            calls.add_turn(demo_store, call_id, "box", f"Thank you {rec.candidates[0].first_name}.")
            events.emit(demo_store, "caller-said", call_id, text=f"my email is {rec.candidates[0].email}")
    return demo_store


def test_the_scan_would_see_plaintext(tmp_path, config):
    """Guard against a scan that cannot fail: a plain SQLite file with a name is caught."""
    import sqlite3

    conn = sqlite3.connect(tmp_path / "dentra.db")
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES ('Maria Lopez 1980-08-02 +12175550100')")
    conn.commit()
    conn.close()
    assert len(leaks(tmp_path, demo_phi(config))) >= 3


def test_no_phi_in_database_or_wal(busy_store, config):
    needles = demo_phi(config)
    assert len(needles) > 150
    data_dir = busy_store.data_dir
    # while open: recent writes sit in the WAL
    assert (data_dir / "dentra.db-wal").stat().st_size > 0
    assert leaks(data_dir, needles) == []
    busy_store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert leaks(data_dir, needles) == []
    busy_store.close()
    assert leaks(data_dir, needles) == []


def test_no_phi_after_key_rotation(busy_store, config):
    keys.rotate(busy_store, "test")
    data_dir, key_file = busy_store.data_dir, busy_store.key_file
    busy_store.close()
    assert leaks(data_dir, demo_phi(config)) == []
    with Store.open(data_dir, key_file) as again:
        assert again.conn.execute("SELECT COUNT(*) FROM patients").fetchone()[0] == 30
