"""Escalations: open / acknowledged / resolved lists; acknowledge and resolve, with who and when recorded."""

from __future__ import annotations

import html

import pytest

from appliance.store import audit
from tests.web.conftest import csrf_of
from tests.web.pages import audit_rows, make_escalation


@pytest.fixture
def store(demo_store):
    return demo_store


def act(client, escalation_id: str, action: str, came_from: str = "open"):
    token = csrf_of(client.get("/escalations"))
    return client.post(f"/escalations/{escalation_id}/{action}", data={"csrf_token": token, "from": came_from})


def status_of(store, escalation_id: str) -> tuple:
    return tuple(store.conn.execute("SELECT status, handled_by FROM escalations WHERE escalation_id = ?",
                                    (escalation_id,)).fetchone())


def test_open_escalations_show_reason_kind_caller_and_call_link(signed_in, store):
    emergency = make_escalation(store, "+12175550103", reason="emergency")
    callback = make_escalation(store, "+12175559999", reason="caller asked for a person", kind="callback")
    page = signed_in("front_desk", "hal").get("/escalations").get_data(as_text=True)
    assert page.index(emergency) < page.index(callback)  # oldest first: a queue
    for text in ("emergency", "call back", "caller asked for a person", "James Smith", "(217) 555-0103",
                 "(217) 555-9999", "open <span class=\"count\">2</span>", "/calls/C"):
        assert text in page, text
    rows = audit_rows(store, "escalations-listed")
    assert [(r["actor"], r["patient_id"], r["detail"]["status"]) for r in rows] == [("web:hal", "P1002", "open")]


def test_a_caller_recognized_but_not_verified_is_shown_as_such(signed_in, store):
    make_escalation(store, "+12175550116", reason="caller upset")
    store.conn.execute("UPDATE escalations SET patient_id = NULL")
    page = signed_in("front_desk").get("/escalations").get_data(as_text=True)
    assert "Noah Wilson" in page and "by caller ID, not verified" in page


def test_acknowledge_then_resolve_records_who_and_when(signed_in, store):
    escalation_id = make_escalation(store)
    desk = signed_in("front_desk", "ivy")
    done = act(desk, escalation_id, "acknowledge")
    assert done.status_code == 302 and done.headers["Location"] == "/escalations?status=open"
    assert status_of(store, escalation_id) == ("acknowledged", "ivy")
    acknowledged = desk.get("/escalations?status=acknowledged").get_data(as_text=True)
    assert escalation_id in acknowledged and "ivy" in acknowledged and "Acknowledge</button>" not in acknowledged
    manager = signed_in("manager", "jo")
    assert act(manager, escalation_id, "resolve", "acknowledged").headers["Location"] == (
        "/escalations?status=acknowledged")
    assert status_of(store, escalation_id) == ("resolved", "jo")
    resolved = manager.get("/escalations?status=resolved").get_data(as_text=True)
    assert escalation_id in resolved and "Resolve</button>" not in resolved
    trail = [(r["action"], r["actor"], r["subject"]) for r in audit_rows(store, "escalation-acknowledged")
             + audit_rows(store, "escalation-resolved")]
    assert trail == [("escalation-acknowledged", "web:ivy", escalation_id), ("escalation-resolved", "web:jo",
                                                                             escalation_id)]
    assert audit.verify(store).ok


def test_an_open_escalation_can_be_resolved_directly(signed_in, store):
    escalation_id = make_escalation(store)
    assert act(signed_in("front_desk"), escalation_id, "resolve").status_code == 302
    assert status_of(store, escalation_id)[0] == "resolved"


def test_handling_twice_is_refused_and_changes_nothing(signed_in, store):
    escalation_id = make_escalation(store)
    first, second = signed_in("front_desk", "kim"), signed_in("front_desk", "lee")
    act(first, escalation_id, "acknowledge")
    again = act(second, escalation_id, "acknowledge")
    text = html.unescape(again.get_data(as_text=True))
    assert again.status_code == 409 and "Nothing was changed: this escalation is already acknowledged (by kim)" in text
    act(first, escalation_id, "resolve")
    assert act(second, escalation_id, "resolve").status_code == 409
    assert status_of(store, escalation_id) == ("resolved", "kim")
    assert len(audit_rows(store, "escalation-acknowledged")) == 1


def test_unknown_escalations_and_statuses_are_clear(signed_in, store):
    desk = signed_in("front_desk")
    for escalation_id in ("Edeadbeef00", "not-an-id"):
        response = act(desk, escalation_id, "acknowledge")
        assert response.status_code == 404 and "There is no escalation with id" in response.get_data(as_text=True)
    bad = desk.get("/escalations?status=closed")
    assert bad.status_code == 400 and "status must be one of open, acknowledged, resolved" in bad.get_data(
        as_text=True)
    assert "Nothing waiting for the front desk." in desk.get("/escalations").get_data(as_text=True)


def test_resolved_escalations_come_in_pages(signed_in, store):
    made = [make_escalation(store) for _ in range(27)]
    store.conn.execute("UPDATE escalations SET status = 'resolved', handled_by = 'test'")
    desk = signed_in("front_desk")
    first = desk.get("/escalations?status=resolved").get_data(as_text=True)
    assert "Page 1 of 2 · 27 in all" in first and 'href="/escalations?page=2&amp;status=resolved"' in first
    second = desk.get("/escalations?status=resolved&page=2").get_data(as_text=True)
    assert sum(e in second for e in made) == 2 and sum(e in first for e in made) == 25
