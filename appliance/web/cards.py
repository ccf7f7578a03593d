"""Screen-pop cards: what the receptionist page shows for each outbox event, read fresh from the store.

Cards are plain data (JSON-ready dicts of strings, numbers and booleans): the browser inserts
every text with `textContent`, so no HTML is ever built here. Cards hold PHI (the caller's full
number, names, allergies, what the caller said): they go to signed-in staff only and never into
logs. Every patient a card shows is reported through `on_patient_shown(patient_id, what)` so the
viewer's read can be audited.

Card shapes by event type (`None` for other types: their message carries the payload instead):
- `call-ringing`: `{number, number_display, number_masked, number_status, new_caller, household, confidence,
  patients: [patient card...]}`; a patient card is `{patient_id, name, preferred_name, initials,
  date_of_birth, age, language, calling_from, last_visit, next_appointment, balance_cents,
  insurance, allergies, allergy_alert, notes}` and `next_appointment` is
  `{appointment_id, start, service, provider, location}` or null.
- `caller-said` / `box-said`: `{line: {who, text, at}, flow, expects}` (who is `caller` or `box`).
- `call-answered`, `call-transferred`, `call-ended`, `error`: `{status, ...}` with `to` and `by`
  (the receptionist who took it, or null when the brain transferred), `outcome`, or `code` and `message`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from appliance.events import Event
from appliance.phones import readable
from appliance.store import patients
from appliance.store.appointments import UPCOMING, to_text
from appliance.store.db import Store
from appliance.store.patients import Patient

PatientShown = Callable[[str, str], None]  # (patient_id, what) -> None; the web layer audits it

SCREEN_POP = "screen-pop"
CALL_TRANSCRIPT = "call-transcript"
SPEAKERS = {"caller-said": "caller", "box-said": "box"}


def build_card(store: Store, event: Event, now: datetime, on_patient_shown: PatientShown) -> dict | None:
    """The card for one event, or None when the event has no card (its payload is shown as is)."""
    if event.type == "call-ringing":
        return ringing_card(store, event, now, on_patient_shown)
    if event.type in SPEAKERS:
        return transcript_card(store, event, on_patient_shown)
    p = event.payload
    if event.type == "call-answered":
        return {"status": "answered"}
    if event.type == "call-transferred":
        return {"status": "transferred", "to": p.get("to"), "by": p.get("by")}  # by: who took it on the page
    if event.type == "call-ended":
        return {"status": "ended", "outcome": p.get("outcome")}
    if event.type == "error":
        return {"status": "error", "code": p.get("code"), "message": p.get("message")}
    return None


def ringing_card(store: Store, event: Event, now: datetime, on_patient_shown: PatientShown) -> dict:
    """Who is calling: the number and each recognized patient, or a new caller."""
    p = event.payload
    number = caller_number(store, event.call_id) if event.call_id else None
    found = patients.get_many(store, list(p.get("candidates") or []))
    cards = []
    for patient in found:
        cards.append(patient_card(store, patient, now, number))
        on_patient_shown(patient.patient_id, SCREEN_POP)
    return {
        "number": number,
        "number_display": readable(number) if number else None,
        "number_masked": p.get("number_last_digits"),
        "number_status": p.get("number_status"),
        "new_caller": not cards,
        "household": len(cards) > 1,
        "confidence": p.get("confidence"),
        "patients": cards,
    }


def patient_card(store: Store, patient: Patient, now: datetime, number: str | None = None) -> dict:
    """One patient as the screen pop shows them; `number` marks which of their phones is ringing."""
    allergies = (patient.allergies or "").strip() or None
    return {
        "patient_id": patient.patient_id,
        "name": patient.full_name,
        "preferred_name": patient.preferred_name,
        "initials": initials(patient),
        "date_of_birth": _iso(patient.date_of_birth),
        "age": age(patient.date_of_birth, now.date()),
        "language": patient.language,
        "calling_from": next((ph.kind for ph in patient.phones if ph.number == number), None),
        "last_visit": _iso(patient.last_visit),
        "next_appointment": next_appointment(store, patient.patient_id, now),
        "balance_cents": patient.balance_cents,
        "insurance": patient.insurance,
        "allergies": allergies,
        # staff must not miss an allergy (latex gloves, lidocaine), so the page highlights it
        "allergy_alert": allergies is not None,
        "notes": patient.notes,
    }


def transcript_card(store: Store, event: Event, on_patient_shown: PatientShown) -> dict:
    """One transcript line and the brain's flow at that moment."""
    p = event.payload
    patient_id = call_patient(store, event.call_id) if event.call_id else None
    if patient_id:
        # a recognized caller's words are that patient's PHI
        on_patient_shown(patient_id, CALL_TRANSCRIPT)
    return {
        "line": {"who": SPEAKERS[event.type], "text": p.get("text", ""), "at": event.at},
        "flow": p.get("flow"),
        "expects": p.get("expects"),
    }


def initials(patient: Patient) -> str:
    """Two letters for the photo placeholder ("Maria Lopez" -> "ML")."""
    return "".join(part[:1] for part in (patient.first_name, patient.last_name) if part).upper()


def age(date_of_birth: date | None, today: date) -> int | None:
    """Whole years on `today`."""
    if date_of_birth is None:
        return None
    before_birthday = (today.month, today.day) < (date_of_birth.month, date_of_birth.day)
    return today.year - date_of_birth.year - before_birthday


def next_appointment(store: Store, patient_id: str, now: datetime) -> dict | None:
    """The patient's first upcoming appointment with display names, or None."""
    row = store.conn.execute(
        "SELECT a.appointment_id, a.start_at, s.name AS service, p.name AS provider, l.name AS location "
        "FROM appointments a JOIN services s USING (service_id) JOIN providers p USING (provider_id) "
        "JOIN locations l USING (location_id) "
        f"WHERE a.patient_id = ? AND a.start_at >= ? AND a.status IN ({', '.join('?' * len(UPCOMING))}) "
        "ORDER BY a.start_at LIMIT 1", (patient_id, to_text(now), *UPCOMING)).fetchone()
    if row is None:
        return None
    return {"appointment_id": row["appointment_id"], "start": row["start_at"], "service": row["service"],
            "provider": row["provider"], "location": row["location"]}


def caller_number(store: Store, call_id: str) -> str | None:
    """The full number of a call (E.164, or as the PBX sent it), None when withheld or unknown."""
    row = store.conn.execute("SELECT caller_number FROM calls WHERE call_id = ?", (call_id,)).fetchone()
    if row is None or row["caller_number"] is None:
        return None
    return store.vault.decrypt(row["caller_number"], "calls", "caller_number", call_id)


def call_patient(store: Store, call_id: str) -> str | None:
    row = store.conn.execute("SELECT patient_id FROM calls WHERE call_id = ?", (call_id,)).fetchone()
    return row["patient_id"] if row else None


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None
