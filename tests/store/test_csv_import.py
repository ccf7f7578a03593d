"""CSV import is all-or-nothing and names file, line and field for a bad row."""

from __future__ import annotations

import shutil

import pytest

from appliance import defaults
from appliance.errors import ImportDataError
from appliance.store import patients
from appliance.store.csv_import import import_appointments, import_patients


def count(store, table):
    return store.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def demo_copy(tmp_path, name, edit=None):
    """A copy of a demo CSV with line `edit[0]` changed by replacing edit[1] with edit[2]."""
    path = tmp_path / name
    shutil.copy(defaults.DEMO_DIR / name, path)
    if edit:
        lines = path.read_text().splitlines(keepends=True)
        line, old, new = edit
        assert old in lines[line - 1], lines[line - 1]
        lines[line - 1] = lines[line - 1].replace(old, new, 1)
        path.write_text("".join(lines))
    return path


def test_demo_import_keeps_ids_and_decrypts(demo_store):
    maria = patients.get(demo_store, "P1001")
    assert maria.full_name == "Maria Lopez" and maria.date_of_birth.isoformat() == "1980-08-02"
    assert [(p.number, p.kind) for p in maria.phones] == [
        ("+12175550100", "home"), ("+12175550101", "mobile"), ("+12175550102", "work")]
    assert maria.language == "es" and maria.sms_consent and maria.allergies == "latex"
    assert maria.preferred_provider == "dr-okafor" and maria.insurance == "MetLife"
    assert patients.get(demo_store, "P1012").balance_cents == 31000
    row = demo_store.conn.execute("SELECT * FROM appointments WHERE appointment_id = 'A5004'").fetchone()
    assert (row["start_at"], row["end_at"], row["status"], row["source"]) == \
        ("2026-12-01T14:00", "2026-12-01T15:30", "confirmed", "import")


@pytest.mark.parametrize("edit, field, problem", [
    ((5, "1966-01-14", "1966-13-14"), "date_of_birth", "must be a date like 1980-08-02, got '1966-13-14'"),
    ((7, "+12175550108", "+1217555"), "phone", "is not a valid phone number for region US"),
    ((2, "+12175550101", "call me"), "phone_mobile", "is not a valid phone number for region US"),
    ((8, "carlos.garcia@example.com", "carlos at example"), "email", "is not an e-mail address"),
    ((3, "hyg-rivera", "hyg-nobody"), "preferred_provider", "no provider with id 'hyg-nobody'"),
    ((4, ",en,no,", ",english,no,"), "language", "must be a two-letter code like en, got 'english'"),
    ((6, ",en,yes,", ",en,maybe,"), "sms_opt_in", "must be yes or no, got 'maybe'"),
    ((11, ",Emily,", ",,"), "first_name", "is required"),
    ((31, "P1030", "P1029"), "patient_id", "P1029 is already in the store"),
])
def test_bad_patient_row_imports_nothing(store, config, tmp_path, edit, field, problem):
    path = demo_copy(tmp_path, "patients.csv", edit)
    with pytest.raises(ImportDataError) as info, store.write():
        import_patients(store, config, path, "test")
    assert str(info.value) == f"{path}: line {edit[0]}: {field}: {problem}; nothing was imported"
    assert count(store, "patients") == 0 and count(store, "patient_phones") == 0
    assert count(store, "audit_log") == 0


@pytest.mark.parametrize("edit, field, problem", [
    ((3, "2026-12-01T10:00", "2026-12-01 10am"), "start", "must look like 2026-12-01T09:00, got '2026-12-01 10am'"),
    ((4, "P1007", "P9999"), "patient_id", "no patient with id 'P9999'"),
    ((5, "crown", "implant"), "service", "no service with id 'implant'"),
    ((6, "exam,dr-chen", "exam,hyg-rivera"), "provider", "hyg-rivera is a hygienist and cannot do exam"),
    ((9, "hyg-patel,northside", "hyg-patel,downtown"), "location", "hyg-patel does not work at 'downtown'"),
    ((9, "scheduled", "pending"), "status", "must be one of scheduled, confirmed, cancelled"),
    ((7, "2026-12-02T08:00", "2026-12-01T10:30"), "start",
     "hyg-rivera already has an appointment at 2026-12-01 10:00"),
])
def test_bad_appointment_row_imports_nothing(store, config, tmp_path, edit, field, problem):
    with store.write():
        import_patients(store, config, defaults.DEMO_DIR / "patients.csv", "test")
    before = count(store, "audit_log")
    path = demo_copy(tmp_path, "appointments.csv", edit)
    with pytest.raises(ImportDataError) as info, store.write():
        import_appointments(store, config, path, "test")
    assert str(info.value).startswith(f"{path}: line {edit[0]}: {field}: {problem}")
    assert count(store, "appointments") == 0 and count(store, "audit_log") == before


def test_missing_column_and_ragged_row(store, config, tmp_path):
    path = tmp_path / "patients.csv"
    path.write_text("patient_id,first_name,last_name,phone\nP1,Ann,Lee,+12175550100\n")
    with pytest.raises(ImportDataError, match="line 1: date_of_birth: column is missing"), store.write():
        import_patients(store, config, path, "test")
    path = demo_copy(tmp_path, "appointments.csv", (2, "scheduled", "scheduled,extra"))
    with pytest.raises(ImportDataError, match="line 2: row: has more values"), store.write():
        import_appointments(store, config, path, "test")
