"""Availability: which (provider, location, start) slots fit a service, and which few to offer a caller.

A slot fits when a provider with a matching role is free for the whole service length inside a
working interval, starts on a `slot_step_minutes` boundary, at least `min_notice_hours` after now
and at most `max_days_ahead` days ahead. A provider works at one location per day: once they hold
an appointment somewhere that day, they are offered only there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from appliance.config import Config
from appliance.scheduling.calendar import working_intervals
from appliance.store import appointments
from appliance.store.db import Store

# Start-time windows a caller means by "morning" etc.; a slot belongs to the window its start is in.
TIME_OF_DAY = {
    "morning": (time(0, 0), time(12, 0)),
    "afternoon": (time(12, 0), time(17, 0)),
    "evening": (time(17, 0), time(23, 59)),
}


@dataclass(frozen=True)
class Slot:
    service: str
    provider: str
    location: str
    start: datetime
    end: datetime


def bookable_window(config: Config, now: datetime) -> tuple[datetime, date]:
    """Earliest bookable start and last bookable day, from the calendar rules."""
    cal = config.calendar
    return now + timedelta(hours=cal.min_notice_hours), now.date() + timedelta(days=cal.max_days_ahead)


def _ceil_to_step(moment: datetime, step: int) -> datetime:
    minutes = moment.hour * 60 + moment.minute + (1 if moment.second or moment.microsecond else 0)
    return datetime.combine(moment.date(), time()) + timedelta(minutes=-(-minutes // step) * step)


def find_slots(store: Store, config: Config, service_id: str, first_day: date, last_day: date, now: datetime, *,
               location: str | None = None, provider: str | None = None, time_of_day: str | None = None,
               exclude_appointment: str | None = None) -> list[Slot]:
    """Every fitting slot from first_day to last_day (inclusive), ordered by start then provider.

    `exclude_appointment` ignores one appointment's hold (a reschedule may move within its own time).
    """
    service = config.service(service_id)
    providers = [p for p in config.providers if p.role in service.roles
                 and (provider is None or p.id == provider) and (location is None or location in p.locations)]
    earliest, horizon = bookable_window(config, now)
    first_day, last_day = max(first_day, earliest.date()), min(last_day, horizon)
    if not providers or first_day > last_day:
        return []
    window = TIME_OF_DAY[time_of_day] if time_of_day else None
    span_start = datetime.combine(first_day, time())
    span_end = datetime.combine(last_day + timedelta(days=1), time())
    held = appointments.busy(store, [p.id for p in providers], span_start, span_end, exclude=exclude_appointment)
    length, step = timedelta(minutes=service.minutes), config.calendar.slot_step_minutes
    slots = []
    day = first_day
    while day <= last_day:
        for p in providers:
            busy_today = [h for h in held[p.id] if h[0].date() == day]
            day_location = busy_today[0][2] if busy_today else None
            for loc in p.locations:
                if (location and loc != location) or (day_location and loc != day_location):
                    continue
                for open_start, open_end in working_intervals(config, loc, day):
                    start = _ceil_to_step(max(open_start, earliest), step)
                    while start + length <= open_end:
                        end = start + length
                        if window and not window[0] <= start.time() < window[1]:
                            start += timedelta(minutes=step)
                            continue
                        clash = next((h for h in busy_today if h[0] < end and start < h[1]), None)
                        if clash:
                            # jump past the clash, back onto a step boundary
                            start = _ceil_to_step(max(clash[1], start + timedelta(minutes=step)), step)
                            continue
                        slots.append(Slot(service_id, p.id, loc, start, end))
                        start += timedelta(minutes=step)
        day += timedelta(days=1)
    slots.sort(key=lambda s: (s.start, s.provider))
    return slots


def choose_offers(slots: list[Slot], n: int = 3, preferred_provider: str | None = None,
                  preferred_time: str | None = None, spread_minutes: int = 90) -> list[Slot]:
    """Up to n slots to read to a caller: the patient's preferred provider and time of day first,
    earliest first, and spread out (a different day or `spread_minutes` apart) so the choice is real."""
    window = TIME_OF_DAY.get(preferred_time or "")

    def rank(s: Slot):
        in_window = window is None or window[0] <= s.start.time() < window[1]
        return (s.provider != preferred_provider if preferred_provider else False, not in_window, s.start)

    ordered = sorted(slots, key=rank)
    chosen: list[Slot] = []
    gap = timedelta(minutes=spread_minutes)
    for s in ordered:
        if len(chosen) >= n:
            return chosen
        if all(s.start.date() != c.start.date() or abs(s.start - c.start) >= gap for c in chosen):
            chosen.append(s)
    for s in ordered:  # not enough spread-out slots: fill with any other start time
        if len(chosen) >= n:
            break
        if all(s.start != c.start for c in chosen):
            chosen.append(s)
    return chosen
