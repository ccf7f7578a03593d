"""Working intervals and is_open for the demo clinic and for locations built to stress the break cutting."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.config import Location, TimeRange
from appliance.scheduling.calendar import is_open, open_hours, working_intervals

TUE, FRI, SAT, SUN, MON = date(2026, 12, 1), date(2026, 12, 4), date(2026, 12, 5), date(2026, 12, 6), date(2026, 12, 7)


def at(day: date, hhmm: str) -> datetime:
    h, m = map(int, hhmm.split(":"))
    return datetime.combine(day, time(h, m))


def spans(day: date, *pairs: tuple[str, str]) -> list[tuple[datetime, datetime]]:
    return [(at(day, a), at(day, b)) for a, b in pairs]


def with_location(config, **fields):
    """The demo config plus one extra location `lab` (open Tue only unless `hours` says otherwise)."""
    fields.setdefault("hours", {"tue": TimeRange(time(8), time(17))})
    lab = Location(id="lab", name="Lab", **fields)
    return dataclasses.replace(config, locations=(*config.locations, lab))


def test_downtown_weekday_is_hours_minus_lunch(config):
    assert working_intervals(config, "downtown", TUE) == spans(TUE, ("08:00", "12:00"), ("13:00", "17:00"))


def test_downtown_friday_has_short_afternoon(config):
    assert working_intervals(config, "downtown", FRI) == spans(FRI, ("08:00", "12:00"), ("13:00", "14:00"))


def test_northside_has_no_breaks(config):
    assert working_intervals(config, "northside", TUE) == spans(TUE, ("09:00", "18:00"))
    assert working_intervals(config, "northside", SAT) == spans(SAT, ("09:00", "13:00"))


@pytest.mark.parametrize(("location", "day"), [
    ("downtown", SAT), ("downtown", SUN), ("northside", MON), ("northside", SUN),
    ("northside", date(2026, 12, 2)),  # a Wednesday
])
def test_closed_weekdays_have_no_intervals(config, location, day):
    assert open_hours(config, location, day) is None
    assert working_intervals(config, location, day) == []


@pytest.mark.parametrize("holiday", [date(2026, 12, 24), date(2026, 12, 25), date(2026, 12, 31), date(2027, 1, 1)])
def test_holidays_close_every_location(config, holiday):
    for location in ("downtown", "northside"):
        assert open_hours(config, location, holiday) is None
        assert working_intervals(config, location, holiday) == []


def test_the_day_before_a_holiday_is_open(config):
    wed = date(2026, 12, 23)
    assert open_hours(config, "downtown", wed) == TimeRange(time(8), time(17))
    assert working_intervals(config, "downtown", wed) == spans(wed, ("08:00", "12:00"), ("13:00", "17:00"))


def test_several_breaks_are_all_cut_out(config):
    cfg = with_location(config, breaks=(TimeRange(time(10), time(10, 15)), TimeRange(time(12), time(13))))
    assert working_intervals(cfg, "lab", TUE) == spans(
        TUE, ("08:00", "10:00"), ("10:15", "12:00"), ("13:00", "17:00"))


def test_breaks_at_the_edges_or_outside_hours_only_trim(config):
    cfg = with_location(config, breaks=(TimeRange(time(7), time(8, 30)), TimeRange(time(16, 30), time(18)),
                                        TimeRange(time(19), time(20))))
    assert working_intervals(cfg, "lab", TUE) == spans(TUE, ("08:30", "16:30"))


def test_a_break_covering_the_whole_day_closes_it(config):
    cfg = with_location(config, breaks=(TimeRange(time(6), time(20)),))
    assert open_hours(cfg, "lab", TUE) is not None
    assert working_intervals(cfg, "lab", TUE) == []
    assert not is_open(cfg, "lab", at(TUE, "09:00"), at(TUE, "10:00"))


@pytest.mark.parametrize(("start", "end", "expected"), [
    ("08:00", "09:00", True),    # first minute of the day
    ("11:00", "12:00", True),    # ends exactly when lunch starts
    ("13:00", "14:00", True),    # starts exactly when lunch ends
    ("16:00", "17:00", True),    # ends exactly at closing
    ("11:30", "12:30", False),   # runs into lunch
    ("11:30", "13:30", False),   # spans lunch entirely
    ("12:00", "13:00", False),   # is lunch
    ("12:45", "13:15", False),   # starts inside lunch
    ("07:45", "08:15", False),   # starts before opening
    ("16:30", "17:30", False),   # runs past closing
])
def test_is_open_downtown_tuesday(config, start, end, expected):
    assert is_open(config, "downtown", at(TUE, start), at(TUE, end)) is expected


def test_is_open_across_northside_midday_without_break(config):
    assert is_open(config, "northside", at(TUE, "11:30"), at(TUE, "13:00"))
    assert is_open(config, "northside", at(TUE, "17:00"), at(TUE, "18:00"))
    assert not is_open(config, "northside", at(TUE, "17:30"), at(TUE, "18:30"))


def test_is_open_is_false_on_closed_days_and_holidays(config):
    assert not is_open(config, "downtown", at(SAT, "09:00"), at(SAT, "10:00"))
    assert is_open(config, "northside", at(SAT, "09:00"), at(SAT, "10:00"))
    assert not is_open(config, "northside", at(SAT, "12:30"), at(SAT, "13:30"))
    xmas_eve = date(2026, 12, 24)  # a Thursday: both locations would be open
    assert not is_open(config, "downtown", at(xmas_eve, "09:00"), at(xmas_eve, "10:00"))
    assert not is_open(config, "northside", at(xmas_eve, "09:00"), at(xmas_eve, "10:00"))


def test_is_open_refuses_spans_that_cross_midnight(config):
    cfg = with_location(config, hours={"tue": TimeRange(time(8), time(23, 59)),
                                       "wed": TimeRange(time(0), time(12))})
    assert is_open(cfg, "lab", at(TUE, "23:00"), at(TUE, "23:30"))
    assert not is_open(cfg, "lab", at(TUE, "23:30"), at(TUE, "23:30") + timedelta(hours=1))


def test_unknown_location_raises(config):
    with pytest.raises(KeyError):
        working_intervals(config, "nowhere", TUE)




def _t(m: int) -> time:
    return time(m // 60, m % 60)


@st.composite
def ranges(draw):
    a = draw(st.integers(min_value=0, max_value=24 * 60 - 2))
    b = draw(st.integers(min_value=a + 1, max_value=24 * 60 - 1))
    return TimeRange(_t(a), _t(b))


@given(hours=ranges(), breaks=st.lists(ranges(), max_size=4))
def test_intervals_are_ordered_disjoint_inside_hours_and_outside_breaks(config, hours, breaks):
    cfg = with_location(config, hours={"tue": hours}, breaks=tuple(breaks))
    got = working_intervals(cfg, "lab", TUE)
    open0, open1 = at(TUE, f"{hours.start:%H:%M}"), at(TUE, f"{hours.end:%H:%M}")
    for (_s0, s1), (n0, _n1) in zip(got, got[1:], strict=False):
        assert s1 <= n0
    for s0, s1 in got:
        assert open0 <= s0 < s1 <= open1
        assert is_open(cfg, "lab", s0, s1)
        for brk in breaks:
            b0, b1 = at(TUE, f"{brk.start:%H:%M}"), at(TUE, f"{brk.end:%H:%M}")
            assert s1 <= b0 or s0 >= b1
    # every minute of the hours that no break covers is inside some interval
    for m in range(hours.start.hour * 60 + hours.start.minute, hours.end.hour * 60 + hours.end.minute):
        moment = datetime.combine(TUE, _t(m))
        in_break = any(b.start <= moment.time() < b.end for b in breaks)
        assert in_break != any(s0 <= moment < s1 for s0, s1 in got)
