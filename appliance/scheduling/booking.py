"""Book, reschedule and cancel: every write re-checks availability inside one BEGIN IMMEDIATE transaction.

The re-check asks the availability engine itself whether the exact slot is still offered, so
what can be booked is by construction what can be offered, and two concurrent calls can never
take the same provider time (the second one waits for the write lock, then sees the first booking).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from appliance import events
from appliance.config import Config
from appliance.errors import NotFound, SchedulingError, SlotTaken
from appliance.scheduling.availability import Slot, bookable_window, find_slots
from appliance.scheduling.calendar import is_open
from appliance.store import appointments, audit
from appliance.store.appointments import UPCOMING, Appointment
from appliance.store.db import Store


def _require_bookable(store: Store, config: Config, slot: Slot, patient_id: str, now: datetime,
                      exclude: str | None = None) -> None:
    """Raise a SchedulingError saying why `slot` cannot be booked now (caller holds the write lock)."""
    try:
        service, provider = config.service(slot.service), config.provider(slot.provider)
        config.location(slot.location)
    except KeyError as err:
        raise SchedulingError(str(err.args[0]), "unknown-id") from None
    if provider.role not in service.roles or slot.location not in provider.locations:
        raise SchedulingError(f"{provider.id} does not do {service.id} at {slot.location}", "wrong-provider")
    if slot.end - slot.start != timedelta(minutes=service.minutes):
        raise SchedulingError(f"{service.id} takes {service.minutes} minutes", "wrong-length")
    step = config.calendar.slot_step_minutes
    if (slot.start.hour * 60 + slot.start.minute) % step or slot.start.second or slot.start.microsecond:
        raise SchedulingError(f"appointments start every {step} minutes, not at {slot.start:%H:%M}", "off-step")
    free = find_slots(store, config, slot.service, slot.start.date(), slot.start.date(), now,
                      location=slot.location, provider=slot.provider, exclude_appointment=exclude)
    if slot not in free:
        earliest, horizon = bookable_window(config, now)
        if slot.start < earliest:
            raise SchedulingError(f"{slot.start:%Y-%m-%d %H:%M} is too soon; the earliest is {earliest:%Y-%m-%d %H:%M}",
                                  "too-short-notice")
        if slot.start.date() > horizon:
            raise SchedulingError(f"{slot.start:%Y-%m-%d} is past the last bookable day {horizon}", "too-far-ahead")
        if not is_open(config, slot.location, slot.start, slot.end):
            raise SchedulingError(f"{slot.location} is closed at {slot.start:%Y-%m-%d %H:%M}", "outside-hours")
        day = datetime.combine(slot.start.date(), datetime.min.time())
        held = appointments.busy(store, [slot.provider], day, day + timedelta(days=1), exclude=exclude)[slot.provider]
        if held and held[0][2] != slot.location:
            raise SchedulingError(f"{slot.provider} works at {held[0][2]} on {slot.start:%Y-%m-%d}",
                                  "provider-elsewhere")
        raise SlotTaken(f"{slot.provider} is no longer free at {slot.start:%Y-%m-%d %H:%M}")
    clash = appointments.patient_overlaps(store, patient_id, slot.start, slot.end, exclude=exclude)
    if clash:
        raise SchedulingError(f"patient {patient_id} already has {clash[0]} at that time", "patient-busy")


def book(store: Store, config: Config, slot: Slot, patient_id: str, now: datetime, *, source: str,
         actor: str, call_id: str | None = None) -> Appointment:
    """Book `slot` for the patient; raises SlotTaken if someone else got it first."""
    with store.write():
        _require_patient(store, patient_id)
        _require_bookable(store, config, slot, patient_id, now)
        appt = appointments.insert(store, _new(store, slot, patient_id, source, call_id))
        audit.record(store, actor, "appointment-booked", patient_id, appt.appointment_id,
                     call_id=call_id, service=slot.service)
        events.emit(store, "appointment-booked", call_id, appointment_id=appt.appointment_id, patient_id=patient_id)
    return appt


def reschedule(store: Store, config: Config, appointment_id: str, slot: Slot, now: datetime, *, source: str,
               actor: str, call_id: str | None = None) -> Appointment:
    """Move an upcoming appointment: a new one is booked and the old one marked `rescheduled` and linked."""
    with store.write():
        old = _upcoming(store, appointment_id, now)
        if slot.service != old.service:
            raise SchedulingError(f"{old.appointment_id} is a {old.service}, not a {slot.service}; "
                                  "cancel it and book the new service instead", "wrong-service")
        _require_bookable(store, config, slot, old.patient_id, now, exclude=old.appointment_id)
        new = replace(_new(store, slot, old.patient_id, source, call_id), rescheduled_from=old.appointment_id)
        appointments.insert(store, new)
        appointments.set_status(store, old.appointment_id, "rescheduled", replaced_by=new.appointment_id)
        audit.record(store, actor, "appointment-rescheduled", old.patient_id, new.appointment_id,
                     call_id=call_id, previous=old.appointment_id)
        events.emit(store, "appointment-rescheduled", call_id, appointment_id=new.appointment_id,
                    previous=old.appointment_id, patient_id=old.patient_id)
    return new


def cancel(store: Store, appointment_id: str, now: datetime, *, reason: str, actor: str,
           call_id: str | None = None) -> Appointment:
    """Cancel an upcoming appointment that has not started; its time becomes free at once."""
    with store.write():
        appt = _upcoming(store, appointment_id, now)
        appointments.set_status(store, appointment_id, "cancelled", cancel_reason=reason)
        audit.record(store, actor, "appointment-cancelled", appt.patient_id, appointment_id,
                     call_id=call_id, reason=reason)
        events.emit(store, "appointment-cancelled", call_id, appointment_id=appointment_id, patient_id=appt.patient_id)
    return appointments.get(store, appointment_id)


def _new(store: Store, slot: Slot, patient_id: str, source: str, call_id: str | None) -> Appointment:
    return Appointment(appointments.next_appointment_id(store), patient_id, slot.service, slot.provider,
                       slot.location, slot.start, slot.end, "scheduled", source, booked_by_call=call_id)


def _upcoming(store: Store, appointment_id: str, now: datetime) -> Appointment:
    appt = appointments.get(store, appointment_id)
    if appt.status not in UPCOMING:
        raise SchedulingError(f"appointment {appointment_id} is {appt.status}, not upcoming", "not-upcoming")
    if appt.start <= now:
        raise SchedulingError(f"appointment {appointment_id} started at {appt.start:%Y-%m-%d %H:%M}; "
                              "the front desk handles it", "already-started")
    return appt


def _require_patient(store: Store, patient_id: str) -> None:
    if not store.conn.execute("SELECT 1 FROM patients WHERE patient_id = ?", (patient_id,)).fetchone():
        raise NotFound(f"no patient with id {patient_id!r}")
