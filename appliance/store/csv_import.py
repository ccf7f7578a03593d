"""Import patients and appointments from CSV (the demo clinic, or a practice's export).

All-or-nothing: the caller wraps the import in one transaction, and the first bad row raises an
ImportDataError naming the file, the line and the field, so nothing half-imported is left behind.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

from appliance import phones
from appliance.config import Config
from appliance.errors import ImportDataError
from appliance.store import appointments, audit, patients
from appliance.store.appointments import Appointment
from appliance.store.db import Store
from appliance.store.migrations import APPOINTMENT_STATUSES

PATIENT_COLUMNS = ("patient_id", "first_name", "last_name", "date_of_birth", "phone")
APPOINTMENT_COLUMNS = ("appointment_id", "patient_id", "service", "provider", "location", "start", "status")
YES, NO = {"yes", "y", "true", "1"}, {"no", "n", "false", "0", ""}


def _rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str], Callable]]:
    """(line number, row, fail) for each data row; fail(field, problem) raises ImportDataError."""
    try:
        f = path.open(newline="", encoding="utf-8-sig")
    except OSError as err:
        raise ImportDataError(str(path), 0, "file", f"cannot be read: {err.strerror}") from None
    with f:
        reader = csv.DictReader(f)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise ImportDataError(str(path), 1, missing[0], "column is missing from the header")
        for row in reader:
            line = reader.line_num

            def fail(field: str, problem: str, line=line) -> None:
                raise ImportDataError(str(path), line, field, problem)

            if None in row:
                fail("row", "has more values than the header has columns")
            yield line, {k: (v or "").strip() for k, v in row.items()}, fail


def _date(value: str, field: str, fail, *, required: bool = False) -> date | None:
    if not value:
        if required:
            fail(field, "is required")
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(field, f"must be a date like 1980-08-02, got {value!r}")


def import_patients(store: Store, config: Config, path: Path, actor: str) -> int:
    """Add every patient in the file; inside store.write(). Returns the number imported."""
    region = phones.clinic_region(config)
    provider_ids = {p.id for p in config.providers}
    location_ids = {loc.id for loc in config.locations}
    count = 0
    for _line, row, fail in _rows(path, PATIENT_COLUMNS):
        pid = row["patient_id"]
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", pid):
            fail("patient_id", f"must be letters and digits, got {pid!r}")
        if store.conn.execute("SELECT 1 FROM patients WHERE patient_id = ?", (pid,)).fetchone():
            fail("patient_id", f"{pid} is already in the store")
        for field in ("first_name", "last_name"):
            if not row[field]:
                fail(field, "is required")
        dob = _date(row["date_of_birth"], "date_of_birth", fail, required=True)
        if dob > date.today():
            fail("date_of_birth", "is in the future")
        numbers = []
        for field, kind in (("phone", "home"), ("phone_mobile", "mobile"), ("phone_work", "work")):
            raw = row.get(field, "")
            if raw:
                e164 = phones.normalize(raw, region)
                if e164 is None:
                    fail(field, f"is not a valid phone number for region {region}")
                numbers.append(patients.Phone(e164, kind))
        email = row.get("email", "")
        if email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            fail("email", "is not an e-mail address")
        try:
            balance_cents = round(float(row.get("balance") or 0) * 100)
        except ValueError:
            fail("balance", f"must be a number, got {row['balance']!r}")
        provider = row.get("preferred_provider") or None
        if provider and provider not in provider_ids:
            fail("preferred_provider", f"no provider with id {provider!r}")
        preferred_time = row.get("preferred_time", "").lower()
        if preferred_time not in patients.PREFERRED_TIMES:
            fail("preferred_time", "must be morning, afternoon, evening or empty")
        location = row.get("location") or None
        if location and location not in location_ids:
            fail("location", f"no location with id {location!r}")
        consent = row.get("sms_opt_in", "").lower()
        if consent not in YES | NO:
            fail("sms_opt_in", f"must be yes or no, got {consent!r}")
        language = (row.get("language") or "en").lower()
        if not re.fullmatch(r"[a-z]{2}", language):
            fail("language", f"must be a two-letter code like en, got {language!r}")
        patients.add(store, patients.Patient(
            patient_id=pid, first_name=row["first_name"], last_name=row["last_name"], date_of_birth=dob,
            email=email or None, insurance=row.get("insurance") or None, allergies=row.get("allergies") or None,
            language=language, balance_cents=balance_cents, preferred_provider=provider,
            preferred_time=preferred_time, preferred_location=location, sms_consent=consent in YES,
            last_visit=_date(row.get("last_visit", ""), "last_visit", fail), phones=tuple(numbers)),
            actor, source="import")
        count += 1
    return count


def import_appointments(store: Store, config: Config, path: Path, actor: str) -> int:
    """Add every appointment in the file, refusing any that would double-book; inside store.write()."""
    count = 0
    for _line, row, fail in _rows(path, APPOINTMENT_COLUMNS):
        aid = row["appointment_id"]
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", aid):
            fail("appointment_id", f"must be letters and digits, got {aid!r}")
        if store.conn.execute("SELECT 1 FROM appointments WHERE appointment_id = ?", (aid,)).fetchone():
            fail("appointment_id", f"{aid} is already in the store")
        if not store.conn.execute("SELECT 1 FROM patients WHERE patient_id = ?", (row["patient_id"],)).fetchone():
            fail("patient_id", f"no patient with id {row['patient_id']!r}")
        try:
            service = config.service(row["service"])
        except KeyError:
            fail("service", f"no service with id {row['service']!r}")
        try:
            provider = config.provider(row["provider"])
        except KeyError:
            fail("provider", f"no provider with id {row['provider']!r}")
        if provider.role not in service.roles:
            fail("provider", f"{provider.id} is a {provider.role} and cannot do {service.id}")
        if row["location"] not in provider.locations:
            fail("location", f"{provider.id} does not work at {row['location']!r}")
        try:
            start = datetime.strptime(row["start"], appointments.MINUTE)
        except ValueError:
            fail("start", f"must look like 2026-12-01T09:00, got {row['start']!r}")
        status = row["status"] or "scheduled"
        if status not in APPOINTMENT_STATUSES:
            fail("status", f"must be one of {', '.join(APPOINTMENT_STATUSES)}, got {status!r}")
        end = start + timedelta(minutes=service.minutes)
        if status not in ("cancelled", "rescheduled"):
            clash = appointments.busy(store, [provider.id], start, end)[provider.id]
            if clash:
                fail("start", f"{provider.id} already has an appointment at {clash[0][0]:%Y-%m-%d %H:%M}")
        appointments.insert(store, Appointment(aid, row["patient_id"], service.id, provider.id, row["location"],
                                               start, end, status, "import"))
        count += 1
    audit.record(store, actor, "appointments-imported", None, path.name, count=count)
    return count
