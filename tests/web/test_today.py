"""The schedule page: clinic-local days, navigation, clear refusals of bad days, audited reads, escaping."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from appliance.store import appointments, patients
from appliance.store.appointments import Appointment
from appliance.store.patients import Patient
from tests.web.pages import audit_rows

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
def store(demo_store):
    return demo_store


def test_today_is_the_clinics_day_with_every_provider_and_booking(signed_in, web_now, store):
    web_now.at = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)  # Wednesday in UTC, still Tuesday evening in Chicago
    desk = signed_in("front_desk")
    page = desk.get("/today").get_data(as_text=True)
    assert "Tue 1 Dec 2026 · today" in page
    for text in ("Bright Smile Downtown", "open 08:00-17:00", "Dr. Emily Chen", "Ana Rivera, RDH", "Carlos Garcia",
                 "Filling", "09:00–10:00", "David Brown", "Crown", "confirmed", "Bright Smile Northside"):
        assert text in page, text
    assert 'href="/today?day=2026-11-30"' in page and 'href="/today?day=2026-12-02"' in page
    assert 'href="/patients/P1007"' in page


def test_any_day_by_query_and_the_days_reads_are_audited(signed_in, store):
    desk = signed_in("front_desk", "dana")
    page = desk.get("/today?day=2026-12-07").get_data(as_text=True)
    assert "Mon 7 Dec 2026" in page and "· today" not in page
    booked = {a.patient_id for a in appointments.listing(store, start_from=datetime(2026, 12, 7),
                                                         until=datetime(2026, 12, 8))}
    rows = audit_rows(store, "schedule-viewed")
    assert {r["patient_id"] for r in rows} == booked and len(rows) == len(booked) == 4
    assert {(r["actor"], r["detail"]["day"], r["detail"]["address"]) for r in rows} == {
        ("web:dana", "2026-12-07", "192.168.1.20")}


@pytest.mark.parametrize("day", ["tomorrow", "2026-13-01", "2026-12-1x", "<b>x</b>"])
def test_a_bad_day_gets_a_clear_400(signed_in, day, store):
    desk = signed_in("front_desk")
    response = desk.get("/today", query_string={"day": day})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "day must be a date like 2026-12-01" in page
    assert "<b>x</b>" not in page
    as_json = desk.get("/today", query_string={"day": day}, headers={"Accept": "application/json"})
    assert as_json.get_json()["error"]["message"].startswith("day must be a date like 2026-12-01, got ")
    assert audit_rows(store, "schedule-viewed") == []


def test_closed_days_and_holidays_say_so(signed_in, store):
    desk = signed_in("front_desk")
    sunday = desk.get("/today?day=2026-12-06").get_data(as_text=True)
    assert "Every location is closed on this day and nothing is booked." in sunday
    christmas = desk.get("/today?day=2026-12-25").get_data(as_text=True)
    assert "closed for a holiday" in christmas
    assert audit_rows(store, "schedule-viewed") == []  # no patient was shown


def test_cancelled_appointments_leave_the_grid_but_stay_listed(signed_in, store):
    with store.write():
        appointments.set_status(store, "A5003", "cancelled", cancel_reason="caller")
    page = signed_in("front_desk").get("/today?day=2026-12-01").get_data(as_text=True)
    grid, listed = page.split("Cancelled or moved")
    assert "Carlos Garcia" not in grid and "Carlos Garcia" in listed


def test_a_patient_name_with_html_renders_as_text(signed_in, store):
    with store.write():
        evil = patients.add(store, Patient(SCRIPT, "Smith"), "test")
        appointments.insert(store, Appointment("A9001", evil.patient_id, "exam", "dr-chen", "downtown",
                                               datetime(2026, 12, 1, 15), datetime(2026, 12, 1, 15, 30),
                                               "scheduled", "staff"))
    page = signed_in("front_desk").get("/today?day=2026-12-01").get_data(as_text=True)
    assert SCRIPT not in page and "&lt;script&gt;alert(1)&lt;/script&gt; Smith" in page
