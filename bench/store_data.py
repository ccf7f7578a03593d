"""A generated clinic store for the benchmarks: many patients (households share a number) and a busy calendar.

Everything goes through the real store API (patients.add, appointments.insert), so the rows are
encrypted and indexed exactly as in production. Generation is seeded, so runs are comparable.
"""

from __future__ import annotations

import itertools
import random
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from appliance.config import Config
from appliance.runner import init_store
from appliance.scheduling.calendar import working_intervals
from appliance.store import Store, appointments, patients
from appliance.store.appointments import Appointment

BATCH = 5_000  # rows per write transaction: one fsync per batch instead of one per row
HOUSEHOLD_SHARE = 0.05  # share of patients whose home number is shared with someone in their household
MOBILE_SHARE = 0.4
FUTURE_FILL = (0.9, 0.4)  # share of future working time booked: next days nearly full, day 120 much less
PAST_FILL = 0.85
PAST_STATUS = (("completed", 0.88), ("no_show", 0.05), ("cancelled", 0.07))
FUTURE_STATUS = (("scheduled", 0.67), ("confirmed", 0.30), ("cancelled", 0.03))
# how often each service is booked, by role
SERVICE_WEIGHTS = {"exam": 30, "filling": 22, "new-patient": 10, "crown": 8, "root-canal": 5, "whitening": 5,
                   "emergency": 12, "cleaning": 100}
# area codes around the clinic for known patients; unknown callers come from elsewhere
PATIENT_AREAS = ("217", "309", "312", "618", "630", "708", "773", "815", "847", "872")
UNKNOWN_AREAS = ("415", "512", "615", "720")
FIRST = (
    "Maria", "James", "Aisha", "Robert", "Linda", "Wei", "Carlos", "Fatima", "John", "Olga", "Peter", "Sofia",
    "Daniel", "Grace", "Ahmed", "Lucia", "Ethan", "Chloe", "Mateo", "Zoe", "Noah", "Emma", "Liam", "Ava", "Lucas",
    "Mia", "Omar", "Nora", "Ivan", "Hana", "Diego", "Elena", "Samuel", "Priya", "Kofi", "Yuki", "Andre", "Rosa",
    "Tomas", "Leila", "Marco", "Ingrid", "Felix", "Amara", "Jonas", "Clara", "Rafael", "Nadia", "Hugo", "Iris"
)
LAST = (
    "Lopez", "Smith", "Khan", "Johnson", "Nguyen", "Garcia", "Brown", "Okafor", "Kowalski", "Rossi", "Muller",
    "Chen", "Patel", "Kim", "Silva", "Haddad", "Novak", "Jensen", "Dubois", "Tanaka", "Fischer", "Moreau", "Santos",
    "Costa", "Ivanova", "Larsen", "Schmidt", "Romero", "Murphy", "Walsh", "Baker", "Mensah", "Hughes", "Rivera",
    "Ortiz", "Flores", "Reyes", "Cruz", "Bauer", "Horvat", "Berg", "Lindqvist", "Quinn", "Adeyemi", "Mwangi",
    "Sato", "Petrov", "Ferreira", "Young", "Hall"
)


@dataclass
class BenchStore:
    """What the benchmarks need to know about the generated store."""

    data_dir: Path
    patients: int
    appointments: int
    generation_s: float
    history_from: date
    known_numbers: list[tuple[str, str]]  # (E.164, patient id) of a sample of stored phones
    reserved_patients: list[str] = field(default_factory=list)  # patients with no appointments at all


def random_number(rng: random.Random, areas: tuple[str, ...]) -> str:
    """A valid-looking NANP number: area code, exchange 200-999 (not N11), four digits."""
    while True:
        exchange = rng.randrange(200, 1000)
        if exchange % 100 != 11:
            return f"+1{rng.choice(areas)}{exchange}{rng.randrange(10_000):04d}"


def _patient_rows(n: int, rng: random.Random, config: Config):
    """Yield Patient objects P1001.. with phones; ~5% of patients share a home number with their household."""
    providers = [p.id for p in config.providers]
    used: set[str] = set()

    def fresh(areas=PATIENT_AREAS) -> str:
        while (number := random_number(rng, areas)) in used:
            pass
        used.add(number)
        return number

    i = 0
    while i < n:
        # households of 2-4: mean size 3, so starting one with p = share/3 puts ~share of patients in one
        size = rng.choice((2, 3, 4)) if rng.random() < HOUSEHOLD_SHARE / 3 else 1
        home, last = fresh(), rng.choice(LAST)
        for _ in range(min(size, n - i)):
            numbers = [patients.Phone(home, "home")]
            if rng.random() < MOBILE_SHARE:
                numbers.append(patients.Phone(fresh(), "mobile"))
            first = rng.choice(FIRST)
            yield patients.Patient(
                patient_id=f"P{1001 + i}", first_name=first, last_name=last,
                date_of_birth=date(1940, 1, 1) + timedelta(days=rng.randrange(30_000)),
                email=f"{first.lower()}.{last.lower()}{i}@example.com" if rng.random() < 0.7 else None,
                insurance=rng.choice(("Delta Dental", "MetLife", "Cigna", None)),
                language=rng.choice(("en",) * 4 + ("es",)),
                preferred_provider=rng.choice(providers) if rng.random() < 0.3 else None,
                preferred_time=rng.choice(("", "", "morning", "afternoon")),
                sms_consent=rng.random() < 0.6, phones=tuple(numbers))
            i += 1


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([w[0] for w in weighted], [w[1] for w in weighted])[0]


def _day_plan(config: Config, provider, day: date, fill: float, rng: random.Random, statuses):
    """(service, location, start, end, status) for one provider's day at one location, never overlapping
    what holds time; cancelled rows leave their time free, so it may be booked again."""
    locations = [loc for loc in provider.locations if working_intervals(config, loc, day)]
    if not locations:
        return
    location = rng.choice(locations)  # a provider is at one location per day
    services = [s for s in config.services if provider.role in s.roles]
    weights = [SERVICE_WEIGHTS.get(s.id, 5) for s in services]
    for open_start, open_end in working_intervals(config, location, day):
        start = open_start
        while start < open_end:
            service = rng.choices(services, weights)[0]
            end = start + timedelta(minutes=service.minutes)
            if end > open_end:
                start += timedelta(minutes=config.calendar.slot_step_minutes)
                continue
            if rng.random() >= fill:  # left free: skip what this appointment would have taken
                start = end
                continue
            status = _pick(rng, statuses)
            yield service.id, location, start, end, status
            if status != "cancelled":
                start = end


def _appointment_plan(config: Config, today: date, total: int, rng: random.Random):
    """Yield (day, provider, service, location, start, end, status): the next 120 days first, then back in
    time from yesterday, until `total` rows."""
    ahead = config.calendar.max_days_ahead

    def days():
        for offset in range(ahead + 1):
            yield today + timedelta(days=offset), FUTURE_FILL[0] + (FUTURE_FILL[1] - FUTURE_FILL[0]) * offset / ahead, \
                FUTURE_STATUS
        for back in itertools.count(1):
            yield today - timedelta(days=back), PAST_FILL, PAST_STATUS

    rows = ((day, provider.id, *row) for day, fill, statuses in days() for provider in config.providers
            for row in _day_plan(config, provider, day, fill, rng, statuses))
    return itertools.islice(rows, total)


def build(config: Config, data_dir: Path, n_patients: int, n_appointments: int, now: datetime,
          seed: int = 2026, reserved: int = 1_000) -> BenchStore:
    """Create a store in data_dir (must not exist) and fill it; the last `reserved` patients get no appointments."""
    rng = random.Random(seed)
    started = time.perf_counter()
    store, _code = init_store(config, data_dir, None, None)
    known: list[tuple[str, str]] = []
    with store:
        rows = _patient_rows(n_patients, rng, config)
        while batch := [p for _, p in zip(range(BATCH), rows, strict=False)]:
            with store.write():
                for patient in batch:
                    patients.add(store, patient, "bench", source="import")
            known.extend((ph.number, p.patient_id) for p in rng.sample(batch, min(len(batch), 400)) for ph in p.phones)
        booked_pool = max(1, n_patients - reserved)
        plan = _appointment_plan(config, now.date(), n_appointments, rng)
        number, first_day = 5001, now.date()
        while batch := [r for _, r in zip(range(BATCH), plan, strict=False)]:
            with store.write():
                for day, provider, service, location, start, end, status in batch:
                    appointments.insert(store, Appointment(
                        f"A{number}", f"P{1001 + rng.randrange(booked_pool)}", service, provider, location,
                        start, end, status, "import"))
                    number += 1
                    first_day = min(first_day, day)
    reserved_ids = [f"P{1001 + i}" for i in range(booked_pool, n_patients)]
    return BenchStore(data_dir, n_patients, number - 5001, time.perf_counter() - started, first_day, known,
                      reserved_ids)


def open_store(bench: BenchStore) -> Store:
    return Store.open(bench.data_dir)
