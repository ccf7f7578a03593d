"""The schedule grid: rows per booking step, blocks spanning their rows, hours, overlaps, other locations."""

from __future__ import annotations

from datetime import date, datetime

from appliance.store.appointments import Appointment
from appliance.web import day_board
from appliance.web.day_board import Block

TUESDAY = date(2026, 12, 1)  # downtown 08:00-17:00, northside 09:00-18:00, lunch 12:00-13:00 downtown


def appt(aid: str, provider: str, start: str, end: str, location: str = "downtown", status: str = "scheduled"):
    return Appointment(aid, "P1001", "exam", provider, location, datetime.fromisoformat(f"2026-12-01T{start}"),
                       datetime.fromisoformat(f"2026-12-01T{end}"), status, "staff")


def column(board, provider: str) -> list:
    i = [p.id for p in board.providers].index(provider)
    return [row.cells[i] for row in board.rows]


def test_rows_follow_opening_hours_and_blocks_span_their_length(config):
    location = config.location("downtown")
    booked = [appt("A1", "dr-chen", "09:00", "10:00"), appt("A2", "dr-okafor", "09:00", "09:30")]
    board = day_board.build(config, location, TUESDAY, booked, {})
    assert board.rows[0].at == datetime(2026, 12, 1, 8, 0) and board.rows[-1].at == datetime(2026, 12, 1, 16, 45)
    assert len(board.rows) == 36 and board.hours == "08:00-17:00" and board.booked == 2
    chen = column(board, "dr-chen")
    assert isinstance(chen[4], Block) and chen[4].rows == 4 and chen[5:8] == ["covered"] * 3 and chen[8] is None
    lunch = [r.is_open for r in board.rows if r.at.hour == 12]
    assert lunch == [False] * 4 and board.rows[0].is_open


def test_a_booking_outside_the_hours_widens_the_grid(config):
    late = appt("A1", "dr-chen", "17:00", "17:40")  # imported data may hold it
    board = day_board.build(config, config.location("downtown"), TUESDAY, [late], {})
    assert board.rows[-1].at == datetime(2026, 12, 1, 17, 30) and not board.rows[-1].is_open
    assert column(board, "dr-chen")[36].rows == 3  # 17:00-17:40 reaches into the 17:30 row


def test_overlapping_bookings_are_listed_not_drawn_over_each_other(config):
    first, second = appt("A1", "dr-chen", "09:00", "10:00"), appt("A2", "dr-chen", "09:30", "10:00")
    board = day_board.build(config, config.location("downtown"), TUESDAY, [second, first], {})
    assert board.booked == 1 and board.overlapping == [second]


def test_closed_locations_without_bookings_have_no_board(config):
    sunday = date(2026, 12, 6)
    assert day_board.build(config, config.location("downtown"), sunday, [], {}) is None
    walk_in = Appointment("A1", "P1001", "exam", "dr-chen", "downtown", datetime(2026, 12, 6, 10),
                          datetime(2026, 12, 6, 11), "scheduled", "staff")
    board = day_board.build(config, config.location("downtown"), sunday, [walk_in], {})
    assert board.hours == "" and board.booked == 1 and not any(r.is_open for r in board.rows)


def test_providers_working_elsewhere_that_day_are_marked(config):
    booked = [appt("A1", "dr-okafor", "09:00", "09:30", "downtown")]
    where = day_board.where_providers_work(booked)
    northside = day_board.build(config, config.location("northside"), TUESDAY, booked, where)
    assert northside.away == {"dr-okafor": "downtown"} and northside.booked == 0
    downtown = day_board.build(config, config.location("downtown"), TUESDAY, booked, where)
    assert downtown.away == {}


def test_a_provider_no_longer_in_the_config_still_shows(config):
    gone = appt("A1", "dr-retired", "10:00", "10:30")
    board = day_board.build(config, config.location("downtown"), TUESDAY, [gone], {})
    assert board.providers[-1].id == "dr-retired" and board.booked == 1
