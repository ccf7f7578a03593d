"""Working intervals: when a location is open on a day, after breaks and holidays."""

from __future__ import annotations

from datetime import date, datetime, time

from appliance.config import WEEKDAYS, Config, TimeRange

Interval = tuple[datetime, datetime]


def _at(day: date, t: time) -> datetime:
    return datetime.combine(day, t)


def open_hours(config: Config, location_id: str, day: date) -> TimeRange | None:
    """The location's hours that weekday, or None when closed (weekday off or holiday)."""
    if day in config.calendar.holidays:
        return None
    return config.location(location_id).hours.get(WEEKDAYS[day.weekday()])


def working_intervals(config: Config, location_id: str, day: date) -> list[Interval]:
    """Open spans of the day at a location: hours minus breaks, in order; empty when closed."""
    hours = open_hours(config, location_id, day)
    if hours is None:
        return []
    spans = [(_at(day, hours.start), _at(day, hours.end))]
    for brk in config.location(location_id).breaks:
        b0, b1 = _at(day, brk.start), _at(day, brk.end)
        cut = []
        for s0, s1 in spans:
            if b1 <= s0 or b0 >= s1:
                cut.append((s0, s1))
                continue
            if s0 < b0:
                cut.append((s0, b0))
            if b1 < s1:
                cut.append((b1, s1))
        spans = cut
    return spans


def is_open(config: Config, location_id: str, start: datetime, end: datetime) -> bool:
    """True when [start, end) lies inside one working interval of that day."""
    return any(s0 <= start and end <= s1 for s0, s1 in working_intervals(config, location_id, start.date()))
