"""Appointment rows: reading, listing and the raw writes that scheduling/booking.py wraps in checks.

Times are clinic-local wall-clock strings `YYYY-MM-DDTHH:MM` (one clinic, one time zone), so they
sort and compare as text and read the same on the receptionist's screen and in the replica.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from appliance.errors import NotFound
from appliance.store.db import Store, utc_now

# statuses whose appointments still hold the provider's time
HOLDING = ("scheduled", "confirmed", "completed", "no_show")
UPCOMING = ("scheduled", "confirmed")
MINUTE = "%Y-%m-%dT%H:%M"


def to_text(moment: datetime) -> str:
    return moment.strftime(MINUTE)


def from_text(text: str) -> datetime:
    return datetime.fromisoformat(text)  # several times faster than strptime on the availability path


@dataclass(frozen=True)
class Appointment:
    appointment_id: str
    patient_id: str
    service: str
    provider: str
    location: str
    start: datetime
    end: datetime
    status: str
    source: str
    booked_by_call: str | None = None
    rescheduled_from: str | None = None
    replaced_by: str | None = None
    cancel_reason: str | None = None

    def as_json(self) -> dict:
        """The public listing shape (`dentra appointments --json`)."""
        d = asdict(self)
        d["start"], d["end"] = to_text(self.start), to_text(self.end)
        return d


def _from_row(r) -> Appointment:
    return Appointment(
        appointment_id=r["appointment_id"], patient_id=r["patient_id"], service=r["service_id"],
        provider=r["provider_id"], location=r["location_id"], start=from_text(r["start_at"]),
        end=from_text(r["end_at"]), status=r["status"], source=r["source"], booked_by_call=r["booked_by_call"],
        rescheduled_from=r["rescheduled_from"], replaced_by=r["replaced_by"], cancel_reason=r["cancel_reason"])


def get(store: Store, appointment_id: str) -> Appointment:
    row = store.conn.execute("SELECT * FROM appointments WHERE appointment_id = ?", (appointment_id,)).fetchone()
    if not row:
        raise NotFound(f"no appointment with id {appointment_id!r}")
    return _from_row(row)


def listing(store: Store, *, patient_id: str | None = None, provider: str | None = None,
            start_from: datetime | None = None, until: datetime | None = None,
            statuses: tuple[str, ...] | None = None) -> list[Appointment]:
    """Appointments filtered by patient, provider, time window and status, ordered by start."""
    where, args = [], []
    if patient_id:
        where.append("patient_id = ?"), args.append(patient_id)
    if provider:
        where.append("provider_id = ?"), args.append(provider)
    if start_from:
        where.append("start_at >= ?"), args.append(to_text(start_from))
    if until:
        where.append("start_at < ?"), args.append(to_text(until))
    if statuses:
        where.append(f"status IN ({', '.join('?' * len(statuses))})"), args.extend(statuses)
    sql = "SELECT * FROM appointments" + (" WHERE " + " AND ".join(where) if where else "")
    return [_from_row(r) for r in store.conn.execute(sql + " ORDER BY start_at, appointment_id", args)]


def busy(store: Store, provider_ids: list[str], start: datetime, end: datetime,
         exclude: str | None = None) -> dict[str, list[tuple[datetime, datetime, str]]]:
    """(start, end, location) each provider is already holding in [start, end), by provider id."""
    marks = ", ".join("?" * len(provider_ids))
    # No appointment is longer than a day, so the lower bound lets the (provider_id, start_at) index
    # skip the provider's whole history instead of walking it.
    statuses = ", ".join(f"'{s}'" for s in HOLDING)
    rows = store.conn.execute(
        f"SELECT provider_id, start_at, end_at, location_id FROM appointments WHERE provider_id IN ({marks}) "
        f"AND start_at >= ? AND start_at < ? AND end_at > ? AND status IN ({statuses}) AND appointment_id IS NOT ? "
        "ORDER BY start_at",
        [*provider_ids, to_text(start - timedelta(days=1)), to_text(end), to_text(start), exclude])
    out: dict[str, list[tuple[datetime, datetime, str]]] = {p: [] for p in provider_ids}
    for r in rows:
        out[r["provider_id"]].append((from_text(r["start_at"]), from_text(r["end_at"]), r["location_id"]))
    return out


def patient_overlaps(store: Store, patient_id: str, start: datetime, end: datetime,
                     exclude: str | None = None) -> list[str]:
    """Ids of the patient's own upcoming appointments that overlap [start, end)."""
    rows = store.conn.execute(
        "SELECT appointment_id FROM appointments WHERE patient_id = ? AND start_at >= ? AND start_at < ? "
        "AND end_at > ? AND status IN ('scheduled', 'confirmed') AND appointment_id IS NOT ?",
        (patient_id, to_text(start - timedelta(days=1)), to_text(end), to_text(start), exclude))
    return [r[0] for r in rows]


def next_appointment_id(store: Store) -> str:
    return f"A{store.next_number('appointment')}"


def insert(store: Store, appt: Appointment) -> Appointment:
    now = utc_now()
    store.conn.execute(
        "INSERT INTO appointments (appointment_id, patient_id, service_id, provider_id, location_id, start_at, "
        "end_at, status, source, booked_by_call, rescheduled_from, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (appt.appointment_id, appt.patient_id, appt.service, appt.provider, appt.location, to_text(appt.start),
         to_text(appt.end), appt.status, appt.source, appt.booked_by_call, appt.rescheduled_from, now, now))
    return appt


def set_status(store: Store, appointment_id: str, status: str, *, replaced_by: str | None = None,
               cancel_reason: str | None = None) -> None:
    store.conn.execute(
        "UPDATE appointments SET status = ?, replaced_by = COALESCE(?, replaced_by), "
        "cancel_reason = COALESCE(?, cancel_reason), updated_at = ? WHERE appointment_id = ?",
        (status, replaced_by, cancel_reason, utc_now(), appointment_id))
