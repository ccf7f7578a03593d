"""The day's schedule as a grid for one location: a column per provider, a row per booking step.

Built as plain data for a table with rowspans (no inline styles: the page's CSP forbids them).
An appointment that would overlap one already placed in its provider's column (possible only in
imported data) is not drawn over it: it goes to `overlapping`, listed under the grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from appliance.config import Config, Location, Provider
from appliance.scheduling.calendar import open_hours, working_intervals
from appliance.store.appointments import Appointment


@dataclass
class Block:
    """One appointment drawn in the grid, spanning `rows` rows."""

    appointment: Appointment
    rows: int


@dataclass
class Row:
    at: datetime
    is_open: bool  # inside the location's hours and outside breaks
    cells: list[Block | str | None]  # a Block starts here, "covered" by a block above, or None (free)


@dataclass
class Board:
    location: Location
    providers: list[Provider]
    away: dict[str, str]  # provider id -> the other location they work at that day
    hours: str  # "08:00-17:00", or "" when closed
    rows: list[Row] = field(default_factory=list)
    overlapping: list[Appointment] = field(default_factory=list)

    @property
    def booked(self) -> int:
        return sum(isinstance(c, Block) for r in self.rows for c in r.cells)


def _floor(moment: datetime, origin: datetime, step: timedelta) -> int:
    return int((moment - origin) // step)


def build(config: Config, location: Location, day: date, appts: list[Appointment],
          elsewhere: dict[str, str]) -> Board | None:
    """The grid for this location and day; None when it is closed and nothing is booked there."""
    step = timedelta(minutes=config.calendar.slot_step_minutes)
    here = [a for a in appts if a.location == location.id]
    hours = open_hours(config, location.id, day)
    if hours is None and not here:
        return None
    ids = [p.id for p in config.providers if location.id in p.locations]
    ids += [a.provider for a in here if a.provider not in ids]  # someone booked here outside their usual places
    providers = [_provider(config, pid) for pid in ids]
    midnight = datetime.combine(day, datetime.min.time())
    starts = [a.start for a in here] + ([datetime.combine(day, hours.start)] if hours else [])
    ends = [a.end for a in here] + ([datetime.combine(day, hours.end)] if hours else [])
    first = midnight + step * _floor(min(starts), midnight, step)
    count = max(1, -(-(max(ends) - first) // step))  # ceiling division: the last block ends inside the grid
    intervals = working_intervals(config, location.id, day)
    rows = [Row(first + step * i, any(s <= first + step * i < e for s, e in intervals), [None] * len(providers))
            for i in range(count)]
    board = Board(location, providers, {p: loc for p, loc in elsewhere.items() if p in ids and loc != location.id},
                  str(hours) if hours else "", rows)
    for a in sorted(here, key=lambda a: (a.start, a.appointment_id)):
        col, top = ids.index(a.provider), _floor(a.start, first, step)
        span = max(1, -(-(a.end - rows[top].at) // step))
        if any(rows[i].cells[col] is not None for i in range(top, top + span)):
            board.overlapping.append(a)
            continue
        rows[top].cells[col] = Block(a, span)
        for i in range(top + 1, top + span):
            rows[i].cells[col] = "covered"
    return board


def _provider(config: Config, provider_id: str) -> Provider:
    try:
        return config.provider(provider_id)
    except KeyError:  # a provider removed from the config still has their booked appointments shown
        return Provider(provider_id, provider_id, "", ())


def where_providers_work(appts: list[Appointment]) -> dict[str, str]:
    """provider id -> the location of their first appointment that day (one location a day)."""
    found: dict[str, str] = {}
    for a in sorted(appts, key=lambda a: a.start):
        found.setdefault(a.provider, a.location)
    return found
