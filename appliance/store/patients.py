"""Patients and their phones: PHI encrypted per column, found through blind indexes.

Write functions run inside the caller's `store.write()` so an import or a booking that creates a
patient is one transaction.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date

from appliance.errors import NotFound
from appliance.store import audit
from appliance.store.db import Store, utc_now
from appliance.store.migrations import ENCRYPTED_COLUMNS

PHONE_KINDS = ("home", "mobile", "work")
PREFERRED_TIMES = ("", "morning", "afternoon", "evening")
_SECRET = ENCRYPTED_COLUMNS["patients"][1]


@dataclass(frozen=True)
class Phone:
    number: str  # E.164
    kind: str = "home"


@dataclass(frozen=True)
class Patient:
    first_name: str
    last_name: str
    patient_id: str = ""
    date_of_birth: date | None = None
    preferred_name: str | None = None
    email: str | None = None
    address: str | None = None
    insurance: str | None = None
    allergies: str | None = None
    notes: str | None = None
    language: str = "en"
    balance_cents: int = 0
    preferred_provider: str | None = None
    preferred_time: str = ""
    preferred_location: str | None = None
    sms_consent: bool = False
    last_visit: date | None = None
    phones: tuple[Phone, ...] = field(default=())

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def greeting_name(self) -> str:
        """The name to greet the caller by: preferred name, else first name."""
        return self.preferred_name or self.first_name


def plain_lower(text: str) -> str:
    """Lower case without accents ("José Núñez" -> "jose nunez"), how names are compared and indexed."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def name_tokens(*names: str | None) -> set[str]:
    """Lower-case, accent-free words of a name ("José Núñez-Díaz" -> jose, nunez, diaz)."""
    tokens = set()
    for name in names:
        if not name:
            continue
        plain = plain_lower(name)
        tokens.update(t for t in re.split(r"[^a-z0-9]+", plain) if len(t) > 1)
    return tokens


def next_patient_id(store: Store) -> str:
    return f"P{store.next_number('patient')}"


def add(store: Store, patient: Patient, actor: str, source: str = "staff") -> Patient:
    """Insert a patient (and phones); assigns the next id when patient_id is empty."""
    pid = patient.patient_id or next_patient_id(store)
    patient = dataclasses.replace(patient, patient_id=pid)
    enc = {col: store.vault.encrypt(_text(getattr(patient, col)), "patients", col, pid) for col in _SECRET}
    dob_index = store.vault.blind_index("dob", patient.date_of_birth.isoformat()) if patient.date_of_birth else None
    now = utc_now()
    store.conn.execute(
        f"INSERT INTO patients (patient_id, {', '.join(_SECRET)}, dob_index, language, balance_cents, "
        "preferred_provider, preferred_time, preferred_location, sms_consent, last_visit, source, "
        f"created_at, updated_at) VALUES ({', '.join('?' * (len(_SECRET) + 12))})",
        (pid, *enc.values(), dob_index, patient.language, patient.balance_cents, patient.preferred_provider,
         patient.preferred_time, patient.preferred_location, int(patient.sms_consent),
         _text(patient.last_visit), source, now, now))
    _index_names(store, patient)
    for phone in patient.phones:
        add_phone(store, pid, phone)
    audit.record(store, actor, "patient-created", pid, source=source)
    return patient


def add_phone(store: Store, patient_id: str, phone: Phone) -> None:
    if phone.kind not in PHONE_KINDS:
        raise ValueError(f"phone kind must be one of {PHONE_KINDS}, got {phone.kind!r}")
    store.conn.execute(
        "INSERT OR IGNORE INTO patient_phones (patient_id, kind, number, number_index) VALUES (?, ?, ?, ?)",
        (patient_id, phone.kind, store.vault.encrypt(phone.number, "patient_phones", "number", patient_id),
         store.vault.blind_index("phone", phone.number)))


def _index_names(store: Store, patient: Patient) -> None:
    store.conn.execute("DELETE FROM patient_name_index WHERE patient_id = ?", (patient.patient_id,))
    store.conn.executemany(
        "INSERT OR IGNORE INTO patient_name_index VALUES (?, ?)",
        [(store.vault.blind_index("name", t), patient.patient_id)
         for t in name_tokens(patient.first_name, patient.last_name, patient.preferred_name)])


def _text(value) -> str | None:
    if value is None or value == "":
        return None
    return value.isoformat() if isinstance(value, date) else str(value)


def get(store: Store, patient_id: str) -> Patient:
    found = get_many(store, [patient_id])
    if not found:
        raise NotFound(f"no patient with id {patient_id!r}")
    return found[0]


def get_many(store: Store, patient_ids: list[str]) -> list[Patient]:
    """Decrypt the given patients (in the order asked), phones included."""
    if not patient_ids:
        return []
    marks = ", ".join("?" * len(patient_ids))
    rows = {r["patient_id"]: r for r in store.conn.execute(
        f"SELECT * FROM patients WHERE patient_id IN ({marks})", patient_ids)}
    phones: dict[str, list[Phone]] = {}
    for r in store.conn.execute(
            f"SELECT patient_id, kind, number FROM patient_phones WHERE patient_id IN ({marks}) ORDER BY phone_id",
            patient_ids):
        number = store.vault.decrypt(r["number"], "patient_phones", "number", r["patient_id"])
        phones.setdefault(r["patient_id"], []).append(Phone(number, r["kind"]))
    return [_from_row(store, rows[pid], phones.get(pid, [])) for pid in patient_ids if pid in rows]


def _from_row(store: Store, r, phones: list[Phone]) -> Patient:
    pid = r["patient_id"]
    plain = {col: store.vault.decrypt(r[col], "patients", col, pid) for col in _SECRET}
    dob = plain.pop("date_of_birth")
    return Patient(
        patient_id=pid, **plain, date_of_birth=date.fromisoformat(dob) if dob else None,
        language=r["language"], balance_cents=r["balance_cents"], preferred_provider=r["preferred_provider"],
        preferred_time=r["preferred_time"], preferred_location=r["preferred_location"],
        sms_consent=bool(r["sms_consent"]), last_visit=date.fromisoformat(r["last_visit"]) if r["last_visit"] else None,
        phones=tuple(phones))


def ids_by_phone(store: Store, e164: str) -> list[str]:
    """Patient ids sharing this number (a household may have several); one indexed query."""
    rows = store.conn.execute(
        "SELECT DISTINCT patient_id FROM patient_phones WHERE number_index = ? ORDER BY patient_id",
        (store.vault.blind_index("phone", e164),))
    return [r[0] for r in rows]


def ids_by_name(store: Store, name: str) -> list[str]:
    """Patient ids whose names contain every word of `name` (exact words, any order)."""
    tokens = name_tokens(name)
    if not tokens:
        return []
    marks = ", ".join("?" * len(tokens))
    rows = store.conn.execute(
        f"SELECT patient_id FROM patient_name_index WHERE token IN ({marks}) "
        "GROUP BY patient_id HAVING COUNT(*) = ? ORDER BY patient_id",
        [*(store.vault.blind_index("name", t) for t in tokens), len(tokens)])
    return [r[0] for r in rows]


def ids_by_name_and_birth_date(store: Store, name: str, date_of_birth: date) -> list[str]:
    """Patients matching both a spoken name and a date of birth (identity check for unknown numbers)."""
    by_name = set(ids_by_name(store, name))
    rows = store.conn.execute("SELECT patient_id FROM patients WHERE dob_index = ?",
                              (store.vault.blind_index("dob", date_of_birth.isoformat()),))
    return sorted(by_name & {r[0] for r in rows})


# ---- edits from the receptionist page (inside the caller's store.write(), which also audits) ----


@dataclass(frozen=True)
class PhoneOnFile:
    """A patient's phone with its row id, so a page can change or remove that one number."""

    phone_id: int
    number: str
    kind: str


def phones_on_file(store: Store, patient_id: str) -> list[PhoneOnFile]:
    rows = store.conn.execute("SELECT phone_id, kind, number FROM patient_phones WHERE patient_id = ? "
                              "ORDER BY phone_id", (patient_id,))
    return [PhoneOnFile(r["phone_id"], store.vault.decrypt(r["number"], "patient_phones", "number", patient_id),
                        r["kind"]) for r in rows]


def set_phone_kind(store: Store, patient_id: str, phone_id: int, kind: str) -> None:
    if kind not in PHONE_KINDS:
        raise ValueError(f"phone kind must be one of {PHONE_KINDS}, got {kind!r}")
    _one_phone(store.conn.execute("UPDATE patient_phones SET kind = ? WHERE patient_id = ? AND phone_id = ?",
                                  (kind, patient_id, phone_id)), patient_id, phone_id)
    _touch(store, patient_id)


def remove_phone(store: Store, patient_id: str, phone_id: int) -> None:
    _one_phone(store.conn.execute("DELETE FROM patient_phones WHERE patient_id = ? AND phone_id = ?",
                                  (patient_id, phone_id)), patient_id, phone_id)
    _touch(store, patient_id)


def _one_phone(cursor, patient_id: str, phone_id: int) -> None:
    if cursor.rowcount != 1:
        raise NotFound(f"patient {patient_id} has no phone {phone_id}")


def _touch(store: Store, patient_id: str) -> None:
    store.conn.execute("UPDATE patients SET updated_at = ? WHERE patient_id = ?", (utc_now(), patient_id))


def set_preferences(store: Store, patient: Patient, **changes) -> Patient:
    """Change the preferred name, language, provider, time or location; the name index follows the name."""
    allowed = {"preferred_name", "language", "preferred_provider", "preferred_time", "preferred_location"}
    if set(changes) - allowed:
        raise ValueError(f"only {sorted(allowed)} can be changed here, got {sorted(changes)}")
    if changes.get("preferred_time", "") not in PREFERRED_TIMES:
        raise ValueError(f"preferred time must be one of {PREFERRED_TIMES}")
    updated = dataclasses.replace(patient, **changes)
    pid = patient.patient_id
    store.conn.execute(
        "UPDATE patients SET preferred_name = ?, language = ?, preferred_provider = ?, preferred_time = ?, "
        "preferred_location = ?, updated_at = ? WHERE patient_id = ?",
        (store.vault.encrypt(_text(updated.preferred_name), "patients", "preferred_name", pid), updated.language,
         updated.preferred_provider, updated.preferred_time, updated.preferred_location, utc_now(), pid))
    _index_names(store, updated)
    return updated
