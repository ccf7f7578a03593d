"""Store and scheduling benchmark (`make bench`): caller-ID lookup, availability search and racing bookings.

Builds a generated clinic (100,000 patients, 50,000 appointments by default) in bench/work/, measures,
prints a table and merges the figures into bench/results.json (one flat object, units last in the keys).

    .venv/bin/python bench/store_bench.py [--patients N --appointments M]
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import shutil
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from common import machine, merge_results, percentile
from store_data import UNKNOWN_AREAS, BenchStore, build, open_store, random_number

from appliance import defaults, phones, recognition
from appliance.config import Config, load_config
from appliance.errors import SchedulingError, SlotTaken
from appliance.scheduling import booking
from appliance.scheduling.availability import Slot, choose_offers, find_slots
from appliance.store import Store
from appliance.store.appointments import HOLDING

BENCH_DIR = Path(__file__).resolve().parent
# A Monday morning inside the demo clinic's calendar; nothing in the bench reads the real clock.
NOW = datetime(2026, 12, 7, 8, 0)
GOALS = {"callerid_lookup_p99_ms": 2.0, "availability_p99_ms": 20.0, "double_bookings": 0}

# Two holding appointments of one provider overlap when the later-starting one starts before the
# earlier one ends; ordering the pair by (start, id) counts each clash once and lets SQLite walk the
# (provider_id, start_at) index instead of comparing every pair.
DOUBLE_BOOKINGS_SQL = f"""
    SELECT COUNT(*) FROM appointments a JOIN appointments b
      ON b.provider_id = a.provider_id AND b.start_at >= a.start_at AND b.start_at < a.end_at
     AND (b.start_at > a.start_at OR b.appointment_id > a.appointment_id)
    WHERE a.status IN ({", ".join(f"'{s}'" for s in HOLDING)}) AND b.status IN ({", ".join(f"'{s}'" for s in HOLDING)})
"""


def caller_forms(e164: str, rng: random.Random) -> str:
    """The same number the way a PBX, a trunk or a softphone may present it."""
    national = e164[2:]
    area, exchange, line = national[:3], national[3:6], national[6:]
    return rng.choice((
        e164, national, f"1{national}", f"+1 ({area}) {exchange}-{line}", f"({area}) {exchange}-{line}",
        f"{area}-{exchange}-{line}", f"{area}.{exchange}.{line}", f"sip:{e164}@pbx.local",
        f'"Caller" <sip:{e164}@10.0.0.2;user=phone>', f"tel:{e164}",
    ))


def bench_callerid(store: Store, config: Config, bench: BenchStore, runs: int, rng: random.Random) -> dict:
    """Time recognition.identify on known numbers in varied forms (70%) and unknown numbers (30%)."""
    region = phones.clinic_region(config)
    known = {number for number, _ in bench.known_numbers}
    calls = []
    for _ in range(runs):
        if rng.random() < 0.7:
            number, patient_id = rng.choice(bench.known_numbers)
            calls.append((caller_forms(number, rng), patient_id))
        else:
            while (number := random_number(rng, UNKNOWN_AREAS)) in known:
                pass
            calls.append((caller_forms(number, rng), None))
    for raw, _ in calls[:50]:  # warm the page cache and phonenumbers' metadata
        recognition.identify(store, raw, region)
    times, misses = [], 0
    for raw, patient_id in calls:
        t0 = time.perf_counter()
        result = recognition.identify(store, raw, region)
        times.append((time.perf_counter() - t0) * 1000)
        found = {p.patient_id for p in result.candidates}
        if (patient_id is None) != (not found) or (patient_id and patient_id not in found):
            misses += 1
    return {"callerid_lookup_p50_ms": percentile(times, 50), "callerid_lookup_p99_ms": percentile(times, 99),
            "callerid_wrong_results": misses, "callerid_runs": runs}


def bench_availability(store: Store, config: Config, runs: int, rng: random.Random) -> dict:
    """Time find_slots over 14 days plus choose_offers (what one "when can I come?" turn does)."""
    providers = [p.id for p in config.providers]
    times, empty = [], 0
    for i in range(runs + 20):
        service = rng.choice(config.services).id
        first = NOW.date() + timedelta(days=rng.randrange(100))
        preferred_provider = rng.choice(providers + [None] * 4)
        preferred_time = rng.choice((None, "morning", "afternoon"))
        t0 = time.perf_counter()
        slots = find_slots(store, config, service, first, first + timedelta(days=13), NOW)
        offers = choose_offers(slots, preferred_provider=preferred_provider, preferred_time=preferred_time)
        elapsed = (time.perf_counter() - t0) * 1000
        if i >= 20:  # the first runs warm the cache
            times.append(elapsed)
            empty += not offers
    return {"availability_p50_ms": percentile(times, 50), "availability_p99_ms": percentile(times, 99),
            "availability_runs": runs, "availability_no_offer_runs": empty}


def race_slots(store: Store, config: Config, count: int) -> list[Slot]:
    """`count` free slots that do not overlap one another, spread over weeks 3-14, so each can be booked once
    (one location per provider and day, since a provider works at one place a day)."""
    taken: dict[str, list[Slot]] = {}
    where: dict[tuple[str, object], str] = {}
    candidates = []
    for service in ("exam", "cleaning", "filling"):
        candidates += find_slots(store, config, service, NOW.date() + timedelta(days=14),
                                 NOW.date() + timedelta(days=98), NOW)
    random.Random(7).shuffle(candidates)
    chosen = []
    for slot in candidates:
        mine = taken.setdefault(slot.provider, [])
        day = (slot.provider, slot.start.date())
        if where.setdefault(day, slot.location) == slot.location and all(
                slot.end <= s.start or s.end <= slot.start for s in mine):
            mine.append(slot)
            chosen.append(slot)
            if len(chosen) == count:
                break
    chosen.sort(key=lambda s: (s.start, s.provider))
    return chosen


def race_worker(data_dir: str, slots: list[Slot], patient_ids: list[str], seed: int, barrier, results) -> None:
    """One racing process: its own store connection, the shared slots in a locally shuffled order."""
    config = load_config(defaults.EXAMPLE_CONFIG)
    store = Store.open(Path(data_dir))
    rng = random.Random(seed)
    order = list(range(len(slots)))
    for i in range(0, len(order), 4):  # shuffle within small windows so processes meet on the same slots
        window = order[i : i + 4]
        rng.shuffle(window)
        order[i : i + 4] = window
    booked = taken = other = 0
    barrier.wait()
    started = time.monotonic()
    for n, i in enumerate(order):
        try:
            booking.book(store, config, slots[i], patient_ids[n], NOW, source="ai", actor="bench")
            booked += 1
        except SlotTaken:
            taken += 1
        except SchedulingError:
            other += 1
    results.put((booked, taken, other, started, time.monotonic()))
    store.close()


def bench_race(bench: BenchStore, config: Config, n_slots: int, n_procs: int) -> dict:
    """n_procs processes race for the same n_slots slots; every slot should be booked exactly once."""
    with open_store(bench) as store:
        slots = race_slots(store, config, n_slots)
    patients = bench.reserved_patients
    if len(patients) < n_procs * len(slots):
        raise SystemExit(f"the race needs {n_procs * len(slots)} patients without appointments; "
                         f"have {len(patients)} (use more --patients)")
    ctx = multiprocessing.get_context("spawn")  # fresh interpreters: no SQLite handle crosses a fork
    barrier, results = ctx.Barrier(n_procs), ctx.Queue()
    procs = [ctx.Process(target=race_worker, args=(
        str(bench.data_dir), slots, patients[w * len(slots) : (w + 1) * len(slots)], w, barrier, results))
        for w in range(n_procs)]
    for p in procs:
        p.start()
    rows = [results.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    booked, taken, other = (sum(r[i] for r in rows) for i in range(3))
    wall = max(r[4] for r in rows) - min(r[3] for r in rows)
    with open_store(bench) as store:
        doubles = store.conn.execute(DOUBLE_BOOKINGS_SQL).fetchone()[0]
    return {"booking_per_s": booked / wall, "double_bookings": doubles, "race_slots": len(slots),
            "race_processes": n_procs, "race_booked": booked, "race_slot_taken": taken, "race_other_errors": other,
            "race_attempts_per_s": (booked + taken + other) / wall, "race_wall_s": wall}


def print_table(figures: dict) -> None:
    rows = [
        ("caller-ID lookup p50", f"{figures['callerid_lookup_p50_ms']:.3f} ms", ""),
        ("caller-ID lookup p99", f"{figures['callerid_lookup_p99_ms']:.3f} ms", "<= 2 ms"),
        ("availability p50 (14 days + offers)", f"{figures['availability_p50_ms']:.2f} ms", ""),
        ("availability p99 (14 days + offers)", f"{figures['availability_p99_ms']:.2f} ms", "<= 20 ms"),
        ("bookings/s (racing processes)", f"{figures['booking_per_s']:.1f}", ""),
        ("double bookings", str(figures["double_bookings"]), "0"),
    ]
    print(f"\n{'figure':<38}{'value':>14}  goal")
    for name, value, goal in rows:
        print(f"{name:<38}{value:>14}  {goal}")
    missed = [k for k, goal in GOALS.items() if figures[k] > goal]
    print("goals: " + ("all met" if not missed else "MISSED " + ", ".join(missed)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000, help="patients in the generated store")
    parser.add_argument("--appointments", type=int, default=50_000, help="appointments in the generated store")
    parser.add_argument("--lookups", type=int, default=2_000, help="caller-ID lookups to time")
    parser.add_argument("--availability-runs", type=int, default=500, help="availability searches to time")
    parser.add_argument("--race-slots", type=int, default=200, help="slots the booking processes race for")
    parser.add_argument("--race-processes", type=int, default=4, help="processes booking at the same time")
    parser.add_argument("--work-dir", type=Path, default=BENCH_DIR / "work", help="where the store is built")
    parser.add_argument("--results", type=Path, default=BENCH_DIR / "results.json", help="JSON file to merge into")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    config = load_config(defaults.EXAMPLE_CONFIG)
    data_dir = args.work_dir / "store"
    shutil.rmtree(data_dir, ignore_errors=True)
    args.work_dir.mkdir(parents=True, exist_ok=True)

    print(f"building a store with {args.patients:,} patients and {args.appointments:,} appointments ...", flush=True)
    bench = build(config, data_dir, args.patients, args.appointments, NOW,
                  reserved=args.race_slots * args.race_processes)
    print(f"  generated in {bench.generation_s:.1f} s (history from {bench.history_from})", flush=True)
    rng = random.Random(11)
    with open_store(bench) as store:
        print(f"caller-ID lookup x {args.lookups:,} ...", flush=True)
        figures = bench_callerid(store, config, bench, args.lookups, rng)
        print(f"availability x {args.availability_runs:,} ...", flush=True)
        figures |= bench_availability(store, config, args.availability_runs, rng)
    print(f"booking race: {args.race_processes} processes x {args.race_slots} slots ...", flush=True)
    figures |= bench_race(bench, config, args.race_slots, args.race_processes)
    figures["machine"] = machine()
    figures["bench_store"] = {"patients": bench.patients, "appointments": bench.appointments,
                              "generation_s": round(bench.generation_s, 1), "history_from": str(bench.history_from)}
    figures = {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}
    figures["store_bench_total_s"] = round(time.perf_counter() - started, 1)
    print_table(figures)
    print(f"race: {figures['race_booked']} booked, {figures['race_slot_taken']} slot-taken, "
          f"{figures['race_other_errors']} other refusals in {figures['race_wall_s']:.1f} s; "
          f"caller-ID wrong results: {figures['callerid_wrong_results']}")
    merge_results(args.results, figures)
    print(f"whole bench {figures['store_bench_total_s']:.1f} s; figures merged into {args.results}")
    return 0 if figures["double_bookings"] == 0 and figures["callerid_wrong_results"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
