"""Concurrent processes booking the same provider time: one wins each clash, nobody is double-booked."""

from __future__ import annotations

import multiprocessing
from datetime import datetime, timedelta
from pathlib import Path

from appliance import defaults
from appliance.config import load_config
from appliance.errors import AppError
from appliance.scheduling import booking
from appliance.scheduling.availability import Slot
from appliance.store import Store, audit
from appliance.store.appointments import HOLDING
from tests.conftest import DEMO_NOW

WORKERS = 8
DAY = datetime(2026, 12, 9)  # a Wednesday: downtown open 08:00-17:00, nothing booked at these times in the demo


def _at(hour: int, minute: int = 0) -> datetime:
    return DAY.replace(hour=hour, minute=minute)


def _slot(service: str, provider: str, start: datetime, minutes: int) -> Slot:
    return Slot(service, provider, "downtown", start, start + timedelta(minutes=minutes))


def contested_slots(worker: int) -> dict[str, Slot]:
    """What each worker tries to book, by clash group; inside a group every pair of slots overlaps."""
    return {
        # all eight want the very same slot
        "same-slot": _slot("cleaning", "hyg-rivera", _at(8), 60),
        # a 60-minute filling starting 09:00, 09:15, 09:30 or 09:45: all four starts overlap one another
        "shifted-starts": _slot("filling", "dr-chen", _at(9, 15 * (worker % 4)), 60),
        # different services ending together: a 90-minute crown at 14:00 and a 30-minute exam at 15:00
        "mixed-lengths": (_slot("crown", "dr-okafor", _at(14), 90) if worker % 2 == 0
                          else _slot("exam", "dr-okafor", _at(15), 30)),
    }


def book_worker(data_dir: str, worker: int, patient_id: str, barrier, results) -> None:
    """One process with its own connection; every worker starts each group at the same moment."""
    config = load_config(defaults.EXAMPLE_CONFIG)
    with Store.open(Path(data_dir)) as store:
        for group, slot in contested_slots(worker).items():
            barrier.wait()
            try:
                appt = booking.book(store, config, slot, patient_id, DEMO_NOW, source="ai", actor=f"race-{worker}")
                results.put((group, worker, "booked", appt.appointment_id))
            except AppError as err:
                results.put((group, worker, err.code, None))
            except Exception as err:  # reported, not raised: a dead worker would leave the others at the barrier
                results.put((group, worker, f"crash: {type(err).__name__}: {err}", None))


def double_bookings(store: Store) -> int:
    """Pairs of one provider's time-holding appointments that overlap (each pair counted once)."""
    holding = ", ".join(f"'{s}'" for s in HOLDING)
    return store.conn.execute(f"""
        SELECT COUNT(*) FROM appointments a JOIN appointments b
          ON b.provider_id = a.provider_id AND b.start_at >= a.start_at AND b.start_at < a.end_at
         AND (b.start_at > a.start_at OR b.appointment_id > a.appointment_id)
        WHERE a.status IN ({holding}) AND b.status IN ({holding})""").fetchone()[0]


def test_double_booking_check_sees_an_overlap(demo_store):
    """The check itself works: a raw insert behind the engine's back is counted."""
    assert double_bookings(demo_store) == 0
    with demo_store.write():
        demo_store.conn.execute(
            "INSERT INTO appointments (appointment_id, patient_id, service_id, provider_id, location_id, start_at, "
            "end_at, status, source, created_at, updated_at) VALUES ('A9999', 'P1001', 'exam', 'dr-chen', "
            "'downtown', '2026-12-09T13:15', '2026-12-09T13:45', 'scheduled', 'staff', '', '')")
    assert double_bookings(demo_store) == 1  # overlaps the demo's 13:00 exam with dr-chen


def test_racing_processes_never_double_book(demo_store):
    data_dir = str(demo_store.data_dir)
    patients = [f"P{1001 + w}" for w in range(WORKERS)]  # none has an appointment on DAY
    ctx = multiprocessing.get_context("spawn")  # fresh interpreters: no SQLite handle crosses a fork
    barrier, results = ctx.Barrier(WORKERS, timeout=60), ctx.Queue()
    procs = [ctx.Process(target=book_worker, args=(data_dir, w, patients[w], barrier, results))
             for w in range(WORKERS)]
    for p in procs:
        p.start()
    groups = contested_slots(0).keys()
    outcomes = [results.get(timeout=60) for _ in range(WORKERS * len(groups))]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0

    for group in groups:
        mine = [o for o in outcomes if o[0] == group]
        winners = [o for o in mine if o[2] == "booked"]
        assert len(winners) == 1, f"{group}: {mine}"
        assert sorted(o[2] for o in mine if o[2] != "booked") == ["slot-taken"] * (WORKERS - 1), group
        _, worker, _, appointment_id = winners[0]
        row = demo_store.conn.execute("SELECT patient_id, provider_id, start_at FROM appointments "
                                      "WHERE appointment_id = ?", (appointment_id,)).fetchone()
        slot = contested_slots(worker)[group]
        assert tuple(row) == (patients[worker], slot.provider, slot.start.strftime("%Y-%m-%dT%H:%M"))

    booked_today = demo_store.conn.execute(
        "SELECT COUNT(*) FROM appointments WHERE source = 'ai' AND start_at LIKE '2026-12-09%'").fetchone()[0]
    assert booked_today == len(groups)
    assert double_bookings(demo_store) == 0
    chain = audit.verify(demo_store)
    assert chain.ok, chain.problem
    assert demo_store.conn.execute(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'appointment-booked'").fetchone()[0] == len(groups)
