"""The calls pages: newest first, masked numbers, filters, pages; the transcript, timeline and hand-off."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from appliance.store import patients
from tests.web.pages import audit_rows, make_call, make_escalation

HTML_LINE = 'My name is <b>Bob</b> <img src=x onerror="alert(1)">'


@pytest.fixture
def store(demo_store):
    return demo_store


def at(day: int, hour: int, minute: int = 0) -> str:
    """A stored UTC stamp for a clinic-local December time (Chicago is UTC-6 then)."""
    return (datetime(2026, 12, day, hour, minute, tzinfo=UTC) + timedelta(hours=6)).isoformat(timespec="milliseconds")


def listed_ids(page: str) -> list[str]:
    return re.findall(r'href="/calls/(C[0-9a-f]+)"', page)


def test_the_list_is_newest_first_with_masked_numbers_and_recognition(signed_in, store):
    older = make_call(store, "+12175550100", started_at=at(1, 9), outcome="booked")  # Maria Lopez's household
    newer = make_call(store, "+12175550103", started_at=at(1, 10), outcome="transferred")  # James Smith
    unknown = make_call(store, "+12175559999", started_at=at(1, 11), outcome=None)  # still talking
    withheld = make_call(store, None, started_at=at(1, 8), outcome="abandoned")
    page = signed_in("front_desk", "eve").get("/calls").get_data(as_text=True)
    assert listed_ids(page) == [unknown, newer, older, withheld]
    assert "…0103" in page and "+12175550103" not in page and "(217) 555-0103" not in page
    for text in ("James Smith", "recognized", "household phone", "2 possible", "new caller", "number withheld",
                 "in progress", "transferred", ">10:00</a>"):  # today's calls show the time only
        assert text in page, text
    rows = audit_rows(store, "calls-listed")
    assert [(r["actor"], r["patient_id"]) for r in rows] == [("web:eve", "P1002")]


def test_filters_by_outcome_and_clinic_local_day(signed_in, store):
    late = make_call(store, started_at=at(1, 23, 30), outcome="booked")  # Wednesday in UTC
    early = make_call(store, started_at=at(2, 0, 15), outcome="booked")
    other = make_call(store, started_at=at(2, 9), outcome="answered")
    desk = signed_in("front_desk")
    assert listed_ids(desk.get("/calls?day=2026-12-01").get_data(as_text=True)) == [late]
    wednesday = desk.get("/calls?day=2026-12-02").get_data(as_text=True)
    assert listed_ids(wednesday) == [other, early] and "Wed 2 Dec 09:00" in wednesday
    assert listed_ids(desk.get("/calls?day=2026-12-02&outcome=booked").get_data(as_text=True)) == [early]
    empty = desk.get("/calls?day=2026-12-03").get_data(as_text=True)
    assert "No calls on Thu 3 Dec 2026." in empty


@pytest.mark.parametrize("query, message", [
    ("outcome=won", "outcome must be one of booked, rescheduled"),
    ("day=yesterday", "day must be a date like 2026-12-01"),
    ("page=0", "page must be a whole number from 1"),
    ("page=two", "page must be a whole number from 1"),
])
def test_bad_filters_get_a_clear_400(signed_in, query, message):
    response = signed_in("front_desk").get(f"/calls?{query}")
    assert response.status_code == 400 and message in response.get_data(as_text=True)


def test_pages_of_25(signed_in, store):
    made = [make_call(store, started_at=at(1, 8, minute)) for minute in range(30)]
    desk = signed_in("front_desk")
    first = desk.get("/calls").get_data(as_text=True)
    assert listed_ids(first) == made[::-1][:25] and "Page 1 of 2 · 30 in all" in first
    assert 'href="/calls?page=2"' in first
    second = desk.get("/calls?page=2").get_data(as_text=True)
    assert listed_ids(second) == made[::-1][25:] and 'href="/calls?page=1"' in second
    assert "No calls on this page." in desk.get("/calls?page=3").get_data(as_text=True)
    filtered = desk.get("/calls?outcome=answered&day=2026-12-01").get_data(as_text=True)
    assert "/calls?page=2&amp;outcome=answered&amp;day=2026-12-01" in filtered


def test_the_detail_has_the_transcript_timeline_and_no_recording(signed_in, store):
    call_id = make_call(store, "+12175550103", lines=[("caller", "I need a cleaning"), ("box", "Sure thing.")],
                        outcome="booked")
    page = signed_in("front_desk", "fay").get(f"/calls/{call_id}").get_data(as_text=True)
    for text in ("(217) 555-0103", "James Smith", "I need a cleaning", "Sure thing.", "Ringing", "Call ended",
                 "outcome: booked", "Not recorded"):
        assert text in page, text
    assert "<audio" not in page
    rows = audit_rows(store, "call-viewed")
    assert [(r["actor"], r["patient_id"], r["detail"]["call_id"]) for r in rows] == [("web:fay", "P1002", call_id)]


def test_the_detail_links_the_escalation_and_household_candidates(signed_in, store):
    escalation_id = make_escalation(store, "+12175550100", reason="emergency")
    call_id = store.conn.execute("SELECT call_id FROM escalations").fetchone()[0]
    page = signed_in("front_desk").get(f"/calls/{call_id}").get_data(as_text=True)
    assert f'href="/escalations?status=open#{escalation_id}"' in page and "transfer · emergency" in page
    assert "Escalated to the front desk" in page  # the timeline
    assert "Maria Lopez" in page and "Possible" in page
    household = set(patients.ids_by_phone(store, "+12175550100"))
    assert len(household) == 2 and {r["patient_id"] for r in audit_rows(store, "call-viewed")} == household


def test_an_unknown_call_is_a_clear_404(signed_in):
    desk = signed_in("front_desk")
    for call_id in ("C2026nothere", "x" * 80, "<script>"):
        response = desk.get(f"/calls/{call_id}")
        assert response.status_code == 404 and "There is no call with id" in response.get_data(as_text=True)
        assert "<script>" not in response.get_data(as_text=True)


def test_html_in_a_transcript_renders_as_text(signed_in, store):
    call_id = make_call(store, lines=[("caller", HTML_LINE)])
    page = signed_in("front_desk").get(f"/calls/{call_id}").get_data(as_text=True)
    assert HTML_LINE not in page and "<b>Bob</b>" not in page and "<img" not in page
    assert "My name is &lt;b&gt;Bob&lt;/b&gt; &lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page
