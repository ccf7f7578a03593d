"""Book, reschedule and cancel against real stores: checks, links, audit rows, events and atomicity."""

from __future__ import annotations

import sqlite3
import tempfile
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance import defaults, events
from appliance.errors import NotFound, SchedulingError, SlotTaken
from appliance.runner import init_store
from appliance.scheduling import booking
from appliance.scheduling.availability import Slot, find_slots
from appliance.scheduling.calendar import is_open
from appliance.store import appointments, audit, calls
from tests.conftest import DEMO_NOW

TUE1, MON7, TUE8, THU10, MON14 = (date(2026, 12, d) for d in (1, 7, 8, 10, 14))


def at(day: date, hhmm: str) -> datetime:
    h, m = map(int, hhmm.split(":"))
    return datetime.combine(day, time(h, m))


def slot(service: str, provider: str, location: str, day: date, hhmm: str, minutes: int | None = None) -> Slot:
    length = {"cleaning": 60, "exam": 30, "filling": 60, "crown": 90}[service] if minutes is None else minutes
    start = at(day, hhmm)
    return Slot(service, provider, location, start, start + timedelta(minutes=length))


def counts(store) -> tuple[int, int, int]:
    """(appointments, audit rows, events): what any write would change."""
    q = store.conn.execute
    return (q("SELECT COUNT(*) FROM appointments").fetchone()[0], q("SELECT COUNT(*) FROM audit_log").fetchone()[0],
            q("SELECT COUNT(*) FROM events").fetchone()[0])


def last_audit(store):
    return store.conn.execute("SELECT * FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()


def new_call(store) -> str:
    with store.write():
        return calls.start(store, caller_e164="+12175550103")


def book(store, config, s: Slot, patient="P1002", now=DEMO_NOW, **kw):
    kw.setdefault("source", "ai")
    kw.setdefault("actor", "brain")
    return booking.book(store, config, s, patient, now, **kw)


def offered(store, config, s: Slot, now=DEMO_NOW) -> bool:
    return s in find_slots(store, config, s.service, s.start.date(), s.start.date(), now, provider=s.provider)


# ---- book ----


def test_book_inserts_a_scheduled_appointment(demo_store, config):
    call_id = new_call(demo_store)
    s = slot("cleaning", "hyg-rivera", "downtown", TUE8, "09:00")
    appt = book(demo_store, config, s, "P1002", call_id=call_id)
    stored = appointments.get(demo_store, appt.appointment_id)
    assert stored == appt
    assert (stored.patient_id, stored.service, stored.provider, stored.location) == \
        ("P1002", "cleaning", "hyg-rivera", "downtown")
    assert (stored.start, stored.end) == (s.start, s.end)
    assert (stored.status, stored.source, stored.booked_by_call) == ("scheduled", "ai", call_id)
    assert stored.rescheduled_from is None and stored.replaced_by is None
    assert appt.appointment_id == "A5026"  # after the 25 demo appointments
    assert not offered(demo_store, config, s)


def test_book_writes_an_audit_row_and_an_event(demo_store, config):
    call_id = new_call(demo_store)
    before = events.since(demo_store)
    appt = book(demo_store, config, slot("exam", "dr-chen", "downtown", TUE8, "10:00"), "P1002",
                call_id=call_id, actor="ai:call")
    row = last_audit(demo_store)
    assert (row["actor"], row["action"], row["patient_id"], row["subject"]) == \
        ("ai:call", "appointment-booked", "P1002", appt.appointment_id)
    assert f'"call_id":"{call_id}"' in row["detail"] and '"service":"exam"' in row["detail"]
    assert audit.verify(demo_store).ok
    new = events.since(demo_store, before[-1].event_id if before else 0)
    assert [(e.type, e.call_id) for e in new] == [("appointment-booked", call_id)]
    assert new[0].payload == {"appointment_id": appt.appointment_id, "patient_id": "P1002"}


def test_staff_booking_without_a_call(demo_store, config):
    appt = book(demo_store, config, slot("exam", "dr-chen", "downtown", TUE8, "10:00"), source="staff",
                actor="user:frontdesk")
    assert (appt.source, appt.booked_by_call) == ("staff", None)
    assert events.since(demo_store)[-1].call_id is None


def test_booking_the_same_slot_twice_is_slot_taken(demo_store, config):
    s = slot("cleaning", "hyg-rivera", "downtown", TUE8, "09:00")
    assert offered(demo_store, config, s)
    book(demo_store, config, s, "P1002")
    before = counts(demo_store)
    with pytest.raises(SlotTaken) as err:
        book(demo_store, config, s, "P1003")
    assert err.value.code == "slot-taken"
    assert counts(demo_store) == before


def test_booking_an_overlapping_slot_is_slot_taken(demo_store, config):
    # hyg-rivera holds 10:00-11:00 on Dec 14 (A5022)
    with pytest.raises(SlotTaken):
        book(demo_store, config, slot("cleaning", "hyg-rivera", "downtown", MON14, "10:30"))
    with pytest.raises(SlotTaken):
        book(demo_store, config, slot("cleaning", "hyg-rivera", "downtown", MON14, "09:15"))


def test_another_provider_at_the_same_time_is_fine(demo_store, config):
    book(demo_store, config, slot("exam", "dr-chen", "downtown", TUE8, "10:00"), "P1002")
    appt = book(demo_store, config, slot("exam", "dr-okafor", "northside", TUE8, "10:00"), "P1003")
    assert appt.status == "scheduled"


@pytest.mark.parametrize(("s", "code"), [
    (slot("cleaning", "hyg-rivera", "downtown", date(2026, 12, 5), "09:00"), "outside-hours"),   # Saturday downtown
    (slot("exam", "dr-chen", "downtown", TUE8, "12:00"), "outside-hours"),                        # lunch
    (slot("cleaning", "hyg-rivera", "downtown", TUE8, "11:30"), "outside-hours"),                 # runs into lunch
    (slot("cleaning", "hyg-rivera", "downtown", TUE8, "16:30"), "outside-hours"),                 # past closing
    (slot("exam", "dr-chen", "downtown", TUE8, "07:30"), "outside-hours"),                        # before opening
    (slot("cleaning", "hyg-patel", "northside", date(2026, 12, 24), "10:00"), "outside-hours"),   # holiday
    (slot("exam", "dr-chen", "downtown", TUE1, "10:00"), "too-short-notice"),                     # 1 h from now
    (slot("exam", "dr-chen", "downtown", date(2026, 11, 30), "10:00"), "too-short-notice"),       # the past
    (slot("exam", "dr-chen", "downtown", date(2027, 4, 1), "10:00"), "too-far-ahead"),            # day 121
    (slot("cleaning", "dr-chen", "downtown", TUE8, "09:00"), "wrong-provider"),                   # dentist cleaning
    (slot("exam", "hyg-rivera", "downtown", TUE8, "09:00"), "wrong-provider"),                    # hygienist exam
    (slot("exam", "dr-chen", "northside", TUE8, "09:00"), "wrong-provider"),                      # not her location
    (slot("cleaning", "hyg-rivera", "downtown", TUE8, "09:00", minutes=30), "wrong-length"),
    (slot("crown", "dr-chen", "downtown", TUE8, "09:00", minutes=60), "wrong-length"),
    (slot("exam", "dr-chen", "downtown", TUE8, "10:05"), "off-step"),
    (slot("exam", "dr-nobody", "downtown", TUE8, "10:00"), "unknown-id"),
    (slot("tattoo", "dr-chen", "downtown", TUE8, "10:00", minutes=30), "unknown-id"),
    (slot("exam", "dr-chen", "uptown", TUE8, "10:00"), "unknown-id"),
])
def test_unbookable_slots_fail_with_a_code_and_change_nothing(demo_store, config, s, code):
    before = counts(demo_store)
    with pytest.raises(SchedulingError) as err:
        book(demo_store, config, s)
    assert err.value.code == code
    assert not isinstance(err.value, SlotTaken)
    assert counts(demo_store) == before


def test_last_bookable_day_is_still_bookable(demo_store, config):
    appt = book(demo_store, config, slot("exam", "dr-chen", "downtown", date(2027, 3, 31), "10:00"))
    assert appt.start == at(date(2027, 3, 31), "10:00")


def test_exactly_min_notice_is_bookable(demo_store, config):
    appt = book(demo_store, config, slot("exam", "dr-chen", "downtown", TUE1, "11:00"))
    assert appt.start == at(TUE1, "11:00")


def test_provider_pinned_elsewhere_that_day_is_refused(demo_store, config):
    # dr-okafor is booked downtown on Dec 1, so northside (open that day) cannot be booked for him
    before = counts(demo_store)
    with pytest.raises(SchedulingError) as err:
        book(demo_store, config, slot("exam", "dr-okafor", "northside", TUE1, "16:00"))
    assert err.value.code == "provider-elsewhere" and not isinstance(err.value, SlotTaken)
    assert counts(demo_store) == before


def test_reschedule_keeps_the_service_and_refuses_started_appointments(demo_store, config):
    # A5022 is a cleaning; moving it into an exam slot is a different booking, not a move
    with pytest.raises(SchedulingError) as err:
        reschedule(demo_store, config, "A5022", slot("exam", "dr-chen", "downtown", MON14, "14:00"))
    assert err.value.code == "wrong-service"
    # A5001 started at 09:00 on Dec 1: at 09:10 it can be neither moved nor cancelled by the box
    during = datetime(2026, 12, 1, 9, 10)
    with pytest.raises(SchedulingError) as err:
        booking.cancel(demo_store, "A5001", during, reason="late", actor="brain")
    assert err.value.code == "already-started"
    with pytest.raises(SchedulingError) as err:
        reschedule(demo_store, config, "A5001", slot("exam", "dr-okafor", "downtown", MON14, "14:00"), now=during)
    assert err.value.code == "already-started"
    assert appointments.get(demo_store, "A5001").status == "scheduled"


def test_patient_double_booking_is_refused(demo_store, config):
    # P1001 has a cleaning 10:00-11:00 on Dec 14 (A5022); dr-chen is free at 10:30
    s = slot("exam", "dr-chen", "downtown", MON14, "10:30")
    assert offered(demo_store, config, s)
    before = counts(demo_store)
    with pytest.raises(SchedulingError) as err:
        book(demo_store, config, s, "P1001")
    assert err.value.code == "patient-busy"
    assert counts(demo_store) == before
    # back to back with their own appointment is fine
    assert book(demo_store, config, slot("exam", "dr-chen", "downtown", MON14, "11:00"), "P1001")


def test_unknown_patient_is_not_found(demo_store, config):
    before = counts(demo_store)
    with pytest.raises(NotFound):
        book(demo_store, config, slot("exam", "dr-chen", "downtown", TUE8, "10:00"), "P9999")
    assert counts(demo_store) == before


def test_book_is_atomic_when_a_later_write_fails(demo_store, config):
    # a failure after the appointment row is written (here: the audit insert) must undo that row too
    demo_store.conn.execute("CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log "
                            "WHEN NEW.action = 'appointment-booked' BEGIN SELECT RAISE(ABORT, 'disk says no'); END")
    before = counts(demo_store)
    s = slot("exam", "dr-chen", "downtown", TUE8, "10:00")
    with pytest.raises(sqlite3.IntegrityError):
        book(demo_store, config, s)
    assert counts(demo_store) == before
    assert offered(demo_store, config, s)
    assert not demo_store.conn.in_transaction


def test_failed_book_leaves_the_store_usable(demo_store, config):
    with pytest.raises(SlotTaken):
        book(demo_store, config, slot("cleaning", "hyg-rivera", "downtown", MON7, "09:00"))
    assert not demo_store.conn.in_transaction
    assert book(demo_store, config, slot("cleaning", "hyg-rivera", "downtown", MON7, "13:00"))


# ---- reschedule ----


def reschedule(store, config, appointment_id, s, now=DEMO_NOW, **kw):
    kw.setdefault("source", "ai")
    kw.setdefault("actor", "brain")
    return booking.reschedule(store, config, appointment_id, s, now, **kw)


def test_reschedule_links_old_and_new(demo_store, config):
    call_id = new_call(demo_store)
    new = reschedule(demo_store, config, "A5022", slot("cleaning", "hyg-rivera", "downtown", date(2026, 12, 15),
                                                       "14:00"), call_id=call_id)
    old = appointments.get(demo_store, "A5022")
    assert (old.status, old.replaced_by) == ("rescheduled", new.appointment_id)
    stored = appointments.get(demo_store, new.appointment_id)
    assert (stored.status, stored.rescheduled_from, stored.patient_id) == ("scheduled", "A5022", "P1001")
    assert (stored.booked_by_call, stored.source) == (call_id, "ai")
    row = last_audit(demo_store)
    assert (row["action"], row["patient_id"], row["subject"]) == ("appointment-rescheduled", "P1001",
                                                                 new.appointment_id)
    assert '"previous":"A5022"' in row["detail"]
    ev = events.since(demo_store)[-1]
    assert (ev.type, ev.call_id) == ("appointment-rescheduled", call_id)
    assert ev.payload == {"appointment_id": new.appointment_id, "previous": "A5022", "patient_id": "P1001"}
    # the old hour is free again
    assert offered(demo_store, config, slot("cleaning", "hyg-rivera", "downtown", MON14, "10:00"))


def test_reschedule_into_an_overlap_with_its_own_time(demo_store, config):
    # A5022: hyg-rivera 10:00-11:00 on Dec 14; 30 minutes later overlaps only itself
    s = slot("cleaning", "hyg-rivera", "downtown", MON14, "10:30")
    assert not offered(demo_store, config, s)
    new = reschedule(demo_store, config, "A5022", s)
    assert (new.start, new.end) == (at(MON14, "10:30"), at(MON14, "11:30"))
    got = {x.start for x in find_slots(demo_store, config, "cleaning", MON14, MON14, DEMO_NOW, provider="hyg-rivera")}
    assert at(MON14, "09:30") in got  # 09:30-10:30 touches the new time only at its start
    assert at(MON14, "10:00") not in got and at(MON14, "11:00") not in got


def test_reschedule_can_move_a_provider_to_the_other_location(demo_store, config):
    # A5016 is dr-okafor's only appointment on Dec 8 (northside): moving it downtown the same day is fine
    new = reschedule(demo_store, config, "A5016", slot("filling", "dr-okafor", "downtown", TUE8, "09:00"))
    assert new.location == "downtown"


def test_reschedule_to_a_taken_slot_changes_nothing(demo_store, config):
    before = counts(demo_store)
    with pytest.raises(SlotTaken):
        reschedule(demo_store, config, "A5022", slot("cleaning", "hyg-rivera", "downtown", MON7, "09:00"))
    assert counts(demo_store) == before
    assert appointments.get(demo_store, "A5022").status == "scheduled"


def test_reschedule_checks_the_patients_other_appointments(demo_store, config):
    # P1001 books an exam at 14:00 on Dec 15, then tries to move the Dec 14 cleaning on top of it
    book(demo_store, config, slot("exam", "dr-chen", "downtown", date(2026, 12, 15), "14:00"), "P1001")
    with pytest.raises(SchedulingError) as err:
        reschedule(demo_store, config, "A5022", slot("cleaning", "hyg-rivera", "downtown", date(2026, 12, 15),
                                                     "13:45"))
    assert err.value.code == "patient-busy"
    assert appointments.get(demo_store, "A5022").status == "scheduled"


@pytest.mark.parametrize(("s", "code"), [
    (slot("cleaning", "hyg-rivera", "downtown", date(2026, 12, 24), "10:00"), "outside-hours"),
    (slot("cleaning", "hyg-rivera", "downtown", TUE1, "10:00"), "too-short-notice"),
    (slot("cleaning", "dr-chen", "downtown", TUE8, "10:00"), "wrong-provider"),
])
def test_reschedule_applies_the_booking_rules(demo_store, config, s, code):
    before = counts(demo_store)
    with pytest.raises(SchedulingError) as err:
        reschedule(demo_store, config, "A5022", s)
    assert err.value.code == code
    assert counts(demo_store) == before


def test_reschedule_is_atomic_when_a_later_write_fails(demo_store, config):
    demo_store.conn.execute("CREATE TRIGGER fail_event BEFORE INSERT ON events WHEN NEW.type = "
                            "'appointment-rescheduled' BEGIN SELECT RAISE(ABORT, 'disk says no'); END")
    before = counts(demo_store)
    with pytest.raises(sqlite3.IntegrityError):
        reschedule(demo_store, config, "A5022", slot("cleaning", "hyg-rivera", "downtown", TUE8, "09:00"))
    assert counts(demo_store) == before
    old = appointments.get(demo_store, "A5022")
    assert (old.status, old.replaced_by) == ("scheduled", None)


def test_a_rescheduled_appointment_cannot_be_moved_or_cancelled_again(demo_store, config):
    new = reschedule(demo_store, config, "A5022", slot("cleaning", "hyg-rivera", "downtown", TUE8, "09:00"))
    for attempt in (lambda: reschedule(demo_store, config, "A5022", slot("cleaning", "hyg-rivera", "downtown",
                                                                          TUE8, "14:00")),
                    lambda: booking.cancel(demo_store, "A5022", DEMO_NOW, reason="x", actor="brain")):
        with pytest.raises(SchedulingError) as err:
            attempt()
        assert err.value.code == "not-upcoming"
    # the replacement itself can be moved on
    assert reschedule(demo_store, config, new.appointment_id, slot("cleaning", "hyg-rivera", "downtown", TUE8,
                                                                   "14:00")).rescheduled_from == new.appointment_id


def test_confirmed_appointments_can_be_rescheduled(demo_store, config):
    # A5012 is confirmed (hyg-rivera, Dec 7 08:00)
    new = reschedule(demo_store, config, "A5012", slot("cleaning", "hyg-rivera", "downtown", MON7, "13:00"))
    assert appointments.get(demo_store, "A5012").replaced_by == new.appointment_id


def test_reschedule_unknown_appointment_is_not_found(demo_store, config):
    with pytest.raises(NotFound):
        reschedule(demo_store, config, "A0001", slot("cleaning", "hyg-rivera", "downtown", TUE8, "09:00"))


# ---- cancel ----


def test_cancel_frees_the_slot(demo_store, config):
    s = slot("cleaning", "hyg-rivera", "downtown", MON14, "10:00")
    assert not offered(demo_store, config, s)
    call_id = new_call(demo_store)
    appt = booking.cancel(demo_store, "A5022", DEMO_NOW, reason="caller asked", actor="brain", call_id=call_id)
    assert (appt.status, appt.cancel_reason) == ("cancelled", "caller asked")
    assert offered(demo_store, config, s)
    row = last_audit(demo_store)
    assert (row["action"], row["patient_id"], row["subject"]) == ("appointment-cancelled", "P1001", "A5022")
    ev = events.since(demo_store)[-1]
    assert (ev.type, ev.call_id, ev.payload) == ("appointment-cancelled", call_id,
                                                 {"appointment_id": "A5022", "patient_id": "P1001"})
    # and somebody else can take it
    assert book(demo_store, config, s, "P1002").start == s.start


def test_cancel_twice_is_refused_and_changes_nothing(demo_store, config):
    booking.cancel(demo_store, "A5022", DEMO_NOW, reason="caller asked", actor="brain")
    before = counts(demo_store)
    with pytest.raises(SchedulingError) as err:
        booking.cancel(demo_store, "A5022", DEMO_NOW, reason="again", actor="brain")
    assert err.value.code == "not-upcoming"
    with pytest.raises(SchedulingError) as err:
        reschedule(demo_store, config, "A5022", slot("cleaning", "hyg-rivera", "downtown", TUE8, "09:00"))
    assert err.value.code == "not-upcoming"
    assert counts(demo_store) == before
    assert appointments.get(demo_store, "A5022").cancel_reason == "caller asked"


def test_cancel_unknown_appointment_is_not_found(demo_store):
    with pytest.raises(NotFound):
        booking.cancel(demo_store, "A0001", DEMO_NOW, reason="x", actor="brain")


# ---- properties ----

SERVICES = ("cleaning", "exam", "filling", "crown", "emergency")
PATIENTS = [f"P{1001 + i}" for i in range(30)]


def fresh_demo_store(config):
    """A fresh demo store per hypothesis example (the function-scoped fixture is shared across examples)."""
    tmp = tempfile.TemporaryDirectory()
    s, _ = init_store(config, Path(tmp.name) / "data", None, defaults.DEMO_DIR)
    return s, tmp


def overlapping(a: Slot | appointments.Appointment, b: Slot | appointments.Appointment) -> bool:
    return a.start < b.end and b.start < a.end


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(service=st.sampled_from(SERVICES), day=st.integers(0, 20), pick=st.integers(0, 10_000),
       patient=st.sampled_from(PATIENTS))
def test_every_offered_slot_is_bookable_and_then_gone(config, service, day, pick, patient):
    store, tmp = fresh_demo_store(config)
    with tmp, store:
        first = TUE1 + timedelta(days=day)
        slots = find_slots(store, config, service, first, first + timedelta(days=2), DEMO_NOW)
        if not slots:
            return
        s = slots[pick % len(slots)]
        try:
            appt = book(store, config, s, patient)
        except SchedulingError as err:
            assert err.code == "patient-busy"  # the only reason an offered slot may be refused
            return
        assert (appt.start, appt.end, appt.provider, appt.location) == (s.start, s.end, s.provider, s.location)
        after = find_slots(store, config, service, first, first + timedelta(days=2), DEMO_NOW)
        assert s not in after
        same_provider = [x for x in after if x.provider == s.provider and x.start.date() == s.start.date()]
        assert not any(overlapping(x, s) for x in same_provider)
        assert all(x.location == s.location for x in same_provider)  # pinned to one location that day
        # other providers' slots are untouched
        assert [x for x in slots if x.provider != s.provider] == [x for x in after if x.provider != s.provider]


op = st.tuples(st.sampled_from(("book", "book", "cancel", "reschedule")), st.sampled_from(SERVICES),
               st.integers(0, 6), st.integers(0, 10_000), st.sampled_from(PATIENTS))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(op, min_size=1, max_size=12))
def test_random_book_cancel_reschedule_never_overlap(config, ops):
    store, tmp = fresh_demo_store(config)
    with tmp, store:
        mine: list[str] = []
        for kind, service, day, pick, patient in ops:
            first = TUE8 + timedelta(days=day)
            slots = find_slots(store, config, service, first, first, DEMO_NOW)
            try:
                if kind == "book" and slots:
                    mine.append(book(store, config, slots[pick % len(slots)], patient).appointment_id)
                elif kind == "cancel" and mine:
                    booking.cancel(store, mine.pop(pick % len(mine)), DEMO_NOW, reason="test", actor="brain")
                elif kind == "reschedule" and mine:
                    old = appointments.get(store, mine[pick % len(mine)])
                    moves = find_slots(store, config, old.service, first, first, DEMO_NOW,
                                       exclude_appointment=old.appointment_id)
                    if moves:
                        new = reschedule(store, config, old.appointment_id, moves[pick % len(moves)])
                        mine[mine.index(old.appointment_id)] = new.appointment_id
            except SchedulingError as err:
                assert err.code == "patient-busy"
        holding = appointments.listing(store, statuses=appointments.HOLDING)
        for i, a in enumerate(holding):
            for b in holding[i + 1:]:
                if a.provider == b.provider:
                    assert not overlapping(a, b), (a, b)
                    if a.start.date() == b.start.date():
                        assert a.location == b.location, (a, b)
                if a.patient_id == b.patient_id:
                    assert not overlapping(a, b), (a, b)
        for a in holding:
            assert is_open(config, a.location, a.start, a.end)
        upcoming = {a.appointment_id for a in appointments.listing(store, statuses=appointments.UPCOMING)}
        assert set(mine) <= upcoming
        assert audit.verify(store).ok
