"""find_slots and choose_offers against the demo clinic (real store, demo appointments)."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, time, timedelta

import pytest

from appliance.config import CalendarRules
from appliance.scheduling.availability import Slot, bookable_window, choose_offers, find_slots
from appliance.store import appointments
from tests.conftest import DEMO_NOW

TUE1, WED2, THU3, SAT5, MON7, TUE8, THU10 = (date(2026, 12, d) for d in (1, 2, 3, 5, 7, 8, 10))


def at(day: date, hhmm: str) -> datetime:
    h, m = map(int, hhmm.split(":"))
    return datetime.combine(day, time(h, m))


def starts(slots, provider=None, location=None) -> list[str]:
    return [f"{s.start:%H:%M}" for s in slots
            if (provider is None or s.provider == provider) and (location is None or s.location == location)]


def every(first: str, last: str, step: int = 15) -> list[str]:
    out, t, end = [], at(TUE1, first), at(TUE1, last)
    while t <= end:
        out.append(f"{t:%H:%M}")
        t += timedelta(minutes=step)
    return out


def one_day(store, config, service, day, now=DEMO_NOW, **kw):
    return find_slots(store, config, service, day, day, now, **kw)


# ---- what fits ----


def test_cleaning_is_offered_by_hygienists_only(demo_store, config):
    slots = find_slots(demo_store, config, "cleaning", TUE1, THU10, DEMO_NOW)
    assert slots
    assert {s.provider for s in slots} == {"hyg-rivera", "hyg-patel"}
    assert all(s.end - s.start == timedelta(minutes=60) and s.service == "cleaning" for s in slots)


def test_exam_is_offered_by_dentists_only(demo_store, config):
    slots = find_slots(demo_store, config, "exam", TUE1, THU10, DEMO_NOW)
    assert {s.provider for s in slots} == {"dr-chen", "dr-okafor"}
    assert all(s.end - s.start == timedelta(minutes=30) for s in slots)


def test_each_provider_is_offered_only_at_their_own_locations(demo_store, config):
    slots = find_slots(demo_store, config, "exam", TUE1, THU10, DEMO_NOW) + \
        find_slots(demo_store, config, "cleaning", TUE1, THU10, DEMO_NOW)
    for s in slots:
        assert s.location in config.provider(s.provider).locations


def test_location_filter(demo_store, config):
    slots = one_day(demo_store, config, "cleaning", TUE8, location="northside")
    assert {(s.provider, s.location) for s in slots} == {("hyg-patel", "northside")}
    # hyg-patel holds 15:00-16:00 that day; northside is open 09:00-18:00 without a break
    assert starts(slots) == every("09:00", "14:00") + every("16:00", "17:00")


def test_provider_filter(demo_store, config):
    slots = find_slots(demo_store, config, "exam", TUE1, THU10, DEMO_NOW, provider="dr-chen")
    assert slots and {s.provider for s in slots} == {"dr-chen"}


def test_provider_without_the_role_gets_nothing(demo_store, config):
    assert find_slots(demo_store, config, "cleaning", TUE1, THU10, DEMO_NOW, provider="dr-chen") == []
    assert find_slots(demo_store, config, "exam", TUE1, THU10, DEMO_NOW, location="northside",
                      provider="dr-chen") == []


def test_slots_are_ordered_by_start_then_provider(demo_store, config):
    slots = find_slots(demo_store, config, "exam", TUE1, THU10, DEMO_NOW)
    assert slots == sorted(slots, key=lambda s: (s.start, s.provider))
    assert len(set(slots)) == len(slots)


def test_unknown_service_raises(demo_store, config):
    with pytest.raises(KeyError):
        find_slots(demo_store, config, "tattoo", TUE1, THU10, DEMO_NOW)


# ---- time of day ----


def test_morning_starts_before_noon(demo_store, config):
    slots = find_slots(demo_store, config, "exam", TUE1, THU10, DEMO_NOW, time_of_day="morning")
    assert slots and all(s.start.time() < time(12) for s in slots)
    assert any(s.start.time() == time(11, 30) for s in slots)


def test_afternoon_starts_from_noon_to_five(demo_store, config):
    slots = find_slots(demo_store, config, "cleaning", TUE1, THU10, DEMO_NOW, time_of_day="afternoon")
    assert slots and all(time(12) <= s.start.time() < time(17) for s in slots)
    # northside has no lunch break, so hyg-patel is offered at noon
    assert any(s.start.time() == time(12) and s.provider == "hyg-patel" for s in slots)


def test_evening_is_only_northside_late_days(demo_store, config):
    slots = find_slots(demo_store, config, "exam", TUE1, THU10, DEMO_NOW, time_of_day="evening")
    # dr-okafor is downtown on Dec 1 and free on Dec 3 only after his northside root canal; Dec 8 he is
    # at northside; Dec 10 he has nothing booked. The last 30-minute start before 18:00 is 17:30.
    by_day = {}
    for s in slots:
        assert (s.provider, s.location) == ("dr-okafor", "northside")
        by_day.setdefault(s.start.date(), []).append(f"{s.start:%H:%M}")
    assert by_day == {THU3: ["17:00", "17:15", "17:30"], TUE8: ["17:00", "17:15", "17:30"],
                      THU10: ["17:00", "17:15", "17:30"]}


def test_evening_on_a_day_without_evening_hours_is_empty(demo_store, config):
    assert one_day(demo_store, config, "cleaning", MON7, time_of_day="evening") == []


# ---- steps, notice and horizon ----


def test_starts_are_on_step_boundaries(demo_store, config):
    slots = find_slots(demo_store, config, "crown", TUE1, date(2026, 12, 20), DEMO_NOW)
    assert slots and all(s.start.minute % 15 == 0 and s.start.second == 0 for s in slots)


def test_a_coarser_step_gives_coarser_starts(demo_store, config):
    cfg = dataclasses.replace(config, calendar=dataclasses.replace(config.calendar, slot_step_minutes=30))
    slots = one_day(demo_store, cfg, "exam", TUE8, provider="dr-okafor")
    assert starts(slots) == every("10:00", "17:30", 30)  # after his 09:00-10:00 filling; no break there


def test_min_notice_from_now_on_a_step(demo_store, config):
    slots = one_day(demo_store, config, "exam", TUE1, provider="dr-chen")
    assert starts(slots)[0] == "11:00"  # now 09:00 + 2 h


@pytest.mark.parametrize(("now", "first"), [
    (at(TUE1, "09:07"), "11:15"),
    (at(TUE1, "09:15"), "11:15"),
    (at(TUE1, "09:00") + timedelta(seconds=30), "11:15"),  # 11:00:30 is past 11:00
    (at(TUE1, "08:59"), "11:00"),
])
def test_min_notice_rounds_up_to_the_next_step(demo_store, config, now, first):
    slots = one_day(demo_store, config, "exam", TUE1, now=now, provider="dr-chen")
    assert starts(slots)[0] == first


def test_min_notice_pushes_to_the_next_day(demo_store, config):
    late = at(TUE1, "16:00")  # earliest 18:00: downtown closed, northside closing
    assert find_slots(demo_store, config, "cleaning", TUE1, TUE1, late) == []
    slots = find_slots(demo_store, config, "cleaning", TUE1, WED2, late)
    assert slots and all(s.start.date() == WED2 for s in slots)


def test_late_evening_notice_reaches_the_next_morning(demo_store, config):
    cfg = dataclasses.replace(config, calendar=CalendarRules(config.calendar.holidays, 15, 12, 120))
    slots = find_slots(demo_store, cfg, "exam", TUE1, WED2, at(TUE1, "21:10"), provider="dr-chen")
    # earliest 09:10 Wednesday; dr-chen has an exam 08:00-08:30 then is free
    assert slots[0].start == at(WED2, "09:15")


def test_past_days_are_never_offered(demo_store, config):
    assert find_slots(demo_store, config, "exam", date(2026, 11, 1), date(2026, 11, 30), DEMO_NOW) == []
    slots = find_slots(demo_store, config, "exam", date(2026, 11, 25), TUE1, DEMO_NOW)
    assert slots and min(s.start for s in slots) >= at(TUE1, "11:00")


def test_max_days_ahead_is_the_last_bookable_day(demo_store, config):
    earliest, horizon = bookable_window(config, DEMO_NOW)
    assert (earliest, horizon) == (at(TUE1, "11:00"), date(2027, 3, 31))
    slots = find_slots(demo_store, config, "cleaning", date(2027, 3, 25), date(2027, 4, 15), DEMO_NOW)
    assert max(s.start.date() for s in slots) == horizon  # a Wednesday, downtown open
    assert find_slots(demo_store, config, "cleaning", date(2027, 4, 1), date(2027, 4, 15), DEMO_NOW) == []


def test_last_day_before_first_day_is_empty(demo_store, config):
    assert find_slots(demo_store, config, "exam", THU10, TUE8, DEMO_NOW) == []


# ---- closed days ----


def test_holiday_gives_nothing(demo_store, config):
    for service in ("cleaning", "exam", "emergency"):
        assert one_day(demo_store, config, service, date(2026, 12, 24)) == []
        assert one_day(demo_store, config, service, date(2026, 12, 25)) == []


def test_holidays_are_skipped_inside_a_range(demo_store, config):
    slots = find_slots(demo_store, config, "exam", date(2026, 12, 22), date(2027, 1, 4), DEMO_NOW)
    days = {s.start.date() for s in slots}
    assert days.isdisjoint(config.calendar.holidays)
    assert date(2026, 12, 23) in days and date(2027, 1, 2) in days  # Wednesday, then a Saturday


def test_saturday_only_northside_providers(demo_store, config):
    exams = one_day(demo_store, config, "exam", SAT5)
    assert {(s.provider, s.location) for s in exams} == {("dr-okafor", "northside")}
    assert starts(exams) == every("09:00", "12:30")
    cleanings = one_day(demo_store, config, "cleaning", SAT5)
    assert {(s.provider, s.location) for s in cleanings} == {("hyg-patel", "northside")}
    assert starts(cleanings) == every("09:00", "12:00")


def test_sunday_gives_nothing(demo_store, config):
    assert one_day(demo_store, config, "exam", date(2026, 12, 6)) == []


# ---- existing appointments ----


def test_booked_morning_blocks_until_lunch(demo_store, config):
    # hyg-rivera holds 08:00-12:00 on Dec 7 (four cleanings); lunch follows
    slots = one_day(demo_store, config, "cleaning", MON7)
    assert starts(slots, "hyg-rivera") == every("13:00", "16:00")


def test_appointment_blocks_every_overlapping_start(demo_store, config):
    # dr-okafor: exam 09:00-09:30 and crown 14:00-15:30 downtown on Dec 1
    exams = starts(one_day(demo_store, config, "exam", TUE1, provider="dr-okafor"))
    assert exams == every("11:00", "11:30") + every("13:00", "13:30") + every("15:30", "16:30")
    fillings = starts(one_day(demo_store, config, "filling", TUE1, provider="dr-okafor"))
    assert fillings == ["11:00", "13:00", "15:30", "15:45", "16:00"]


def test_back_to_back_is_allowed(demo_store, config):
    # hyg-rivera's cleaning on Dec 14 is 10:00-11:00: 09:00 ends as it starts, 11:00 starts as it ends
    got = starts(one_day(demo_store, config, "cleaning", date(2026, 12, 14), provider="hyg-rivera"))
    assert "09:00" in got and "11:00" in got
    assert not {"09:15", "09:30", "09:45", "10:00", "10:15", "10:30", "10:45"} & set(got)


def test_one_location_per_day_for_a_provider_with_bookings(demo_store, config):
    # Dec 1: dr-okafor is booked downtown, so northside (open that Tuesday) is not offered
    dec1 = one_day(demo_store, config, "exam", TUE1, provider="dr-okafor")
    assert {s.location for s in dec1} == {"downtown"}
    assert one_day(demo_store, config, "exam", TUE1, provider="dr-okafor", location="northside") == []
    # Dec 8: he is booked at northside, so downtown is not offered
    dec8 = one_day(demo_store, config, "exam", TUE8, provider="dr-okafor")
    assert {s.location for s in dec8} == {"northside"}


def test_a_provider_with_a_free_day_is_offered_at_both_locations(demo_store, config):
    dec10 = one_day(demo_store, config, "exam", THU10, provider="dr-okafor")
    assert {s.location for s in dec10} == {"downtown", "northside"}
    ten = [s for s in dec10 if s.start == at(THU10, "10:00")]
    assert {s.location for s in ten} == {"downtown", "northside"}


def test_booking_elsewhere_pins_the_provider_for_the_day(demo_store, config):
    with demo_store.write():
        appointments.insert(demo_store, appointments.Appointment(
            "A9001", "P1003", "exam", "dr-okafor", "northside", at(THU10, "16:00"), at(THU10, "16:30"),
            "scheduled", "staff"))
    dec10 = one_day(demo_store, config, "exam", THU10, provider="dr-okafor")
    assert {s.location for s in dec10} == {"northside"}
    assert "09:00" in starts(dec10)  # the morning at northside is still open


def test_exclude_appointment_ignores_its_hold(demo_store, config):
    without = starts(one_day(demo_store, config, "cleaning", MON7, provider="hyg-rivera"))
    assert "09:00" not in without
    got = starts(one_day(demo_store, config, "cleaning", MON7, provider="hyg-rivera", exclude_appointment="A5013"))
    assert got == ["09:00"] + without  # 09:00-10:00 is A5013's own hour


def test_exclude_appointment_also_releases_the_location_pin(demo_store, config):
    # A5016 is dr-okafor's only appointment on Dec 8 (northside)
    slots = one_day(demo_store, config, "exam", TUE8, provider="dr-okafor", exclude_appointment="A5016")
    assert {s.location for s in slots} == {"downtown", "northside"}
    assert at(TUE8, "09:00") in {s.start for s in slots if s.location == "northside"}


@pytest.mark.parametrize("status", ["cancelled", "rescheduled"])
def test_cancelled_and_rescheduled_appointments_free_their_time(demo_store, config, status):
    with demo_store.write():
        appointments.set_status(demo_store, "A5013", status)
    got = starts(one_day(demo_store, config, "cleaning", MON7, provider="hyg-rivera"))
    assert got[0] == "09:00" and "08:45" not in got and "10:00" not in got


@pytest.mark.parametrize("status", ["completed", "no_show", "confirmed"])
def test_other_statuses_keep_holding_the_time(demo_store, config, status):
    with demo_store.write():
        appointments.set_status(demo_store, "A5013", status)
    got = starts(one_day(demo_store, config, "cleaning", MON7, provider="hyg-rivera"))
    assert got[0] == "13:00"


def test_empty_store_offers_full_days(store, config):
    slots = one_day(store, config, "exam", TUE8, provider="dr-chen")
    assert starts(slots) == every("08:00", "11:30") + every("13:00", "16:30")


# ---- choose_offers ----


def _spread(offers: list[Slot], minutes: int = 90) -> bool:
    return all(a.start.date() != b.start.date() or abs(a.start - b.start) >= timedelta(minutes=minutes)
               for i, a in enumerate(offers) for b in offers[i + 1:])


def test_offers_at_most_three_spread_out_earliest_first(demo_store, config):
    slots = find_slots(demo_store, config, "exam", TUE1, THU10, DEMO_NOW)
    offers = choose_offers(slots)
    assert len(offers) == 3
    assert all(o in slots for o in offers)
    assert _spread(offers)
    assert offers[0] == slots[0]
    assert [o.start for o in offers] == sorted(o.start for o in offers)


def test_offers_respect_n(demo_store, config):
    slots = find_slots(demo_store, config, "exam", TUE1, THU10, DEMO_NOW)
    assert len(choose_offers(slots, n=1)) == 1
    assert len(choose_offers(slots, n=5)) == 5


def test_preferred_provider_first_when_available(demo_store, config):
    slots = find_slots(demo_store, config, "exam", TUE1, THU10, DEMO_NOW)
    assert slots[0].provider == "dr-chen"  # chen sorts first at the earliest time
    offers = choose_offers(slots, preferred_provider="dr-okafor")
    assert [o.provider for o in offers] == ["dr-okafor"] * 3
    assert offers[0].start == at(TUE1, "11:00")
    assert _spread(offers)


def test_preferred_provider_falls_back_to_others(demo_store, config):
    # Monday: northside is closed, so hyg-patel cannot be offered
    slots = one_day(demo_store, config, "cleaning", MON7)
    offers = choose_offers(slots, preferred_provider="hyg-patel")
    assert len(offers) == 3 and {o.provider for o in offers} == {"hyg-rivera"}


def test_preferred_provider_with_few_slots_is_topped_up(config):
    day = TUE8
    mine = [Slot("exam", "dr-chen", "downtown", at(day, "09:00"), at(day, "09:30"))]
    other = [Slot("exam", "dr-okafor", "northside", at(day, t), at(day, t) + timedelta(minutes=30))
             for t in ("08:00", "11:00", "14:00", "16:00")]
    offers = choose_offers(sorted(other + mine, key=lambda s: s.start), preferred_provider="dr-chen")
    assert offers[0] == mine[0]
    assert len(offers) == 3 and _spread(offers)
    assert [o.start for o in offers[1:]] == [at(day, "11:00"), at(day, "14:00")]


def test_preferred_time_of_day_first(demo_store, config):
    slots = find_slots(demo_store, config, "cleaning", TUE1, THU10, DEMO_NOW)
    offers = choose_offers(slots, preferred_time="afternoon")
    assert len(offers) == 3
    assert all(time(12) <= o.start.time() < time(17) for o in offers)
    mornings = choose_offers(slots, preferred_time="morning")
    assert all(o.start.time() < time(12) for o in mornings)


def test_preferred_time_falls_back_when_impossible(demo_store, config):
    slots = one_day(demo_store, config, "cleaning", MON7)  # no evening hours on a Monday
    offers = choose_offers(slots, preferred_time="evening")
    assert len(offers) == 3 and offers == choose_offers(slots)


def test_provider_and_time_preferences_together(demo_store, config):
    slots = find_slots(demo_store, config, "exam", TUE1, THU10, DEMO_NOW)
    offers = choose_offers(slots, preferred_provider="dr-okafor", preferred_time="evening")
    assert all(o.provider == "dr-okafor" and o.start.time() >= time(17) for o in offers)
    assert offers[0].start == at(THU3, "17:00")


def test_unknown_or_empty_preferred_time_is_ignored(demo_store, config):
    slots = find_slots(demo_store, config, "exam", TUE1, THU10, DEMO_NOW)
    assert choose_offers(slots, preferred_time="") == choose_offers(slots)
    assert choose_offers(slots, preferred_time="brunch") == choose_offers(slots)


def test_fewer_than_three_when_fewer_exist(config):
    assert choose_offers([]) == []
    two = [Slot("exam", "dr-chen", "downtown", at(TUE8, t), at(TUE8, t) + timedelta(minutes=30))
           for t in ("09:00", "15:00")]
    assert choose_offers(two) == two


def test_close_slots_fill_in_when_nothing_is_spread_out(config):
    close = [Slot("exam", "dr-chen", "downtown", at(TUE8, t), at(TUE8, t) + timedelta(minutes=30))
             for t in ("09:00", "09:15", "09:30", "09:45")]
    offers = choose_offers(close)
    assert [o.start for o in offers] == [at(TUE8, "09:00"), at(TUE8, "09:15"), at(TUE8, "09:30")]


def test_offers_never_repeat_a_start_time(config):
    same = [Slot("exam", p, "downtown", at(TUE8, "09:00"), at(TUE8, "09:30")) for p in ("dr-chen", "dr-okafor")]
    assert len(choose_offers(same)) == 1


def test_offers_on_different_days_count_as_spread(config):
    days = [Slot("exam", "dr-chen", "downtown", at(d, "09:00"), at(d, "09:30")) for d in (TUE1, WED2, THU3, TUE8)]
    assert choose_offers(days) == days[:3]


def test_zero_offers_asked_gives_none(config):
    four = [Slot("exam", "dr-chen", "downtown", at(TUE8, t), at(TUE8, t) + timedelta(minutes=30))
            for t in ("08:00", "10:00", "13:00", "15:00")]
    assert choose_offers(four, n=0) == []
    assert choose_offers(four, n=2) == four[:2]
