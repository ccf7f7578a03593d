"""Every staff page and action for every role: allowed ones answer, the rest get 403 and an audit row."""

from __future__ import annotations

import pytest

from appliance.store.users import ROLES
from tests.web.conftest import csrf_of
from tests.web.pages import audit_rows, make_escalation


@pytest.fixture
def store(demo_store):
    return demo_store


@pytest.fixture
def seeded(store):
    """A call with an escalation; the ids the routes need."""
    escalation_id = make_escalation(store)
    call_id = store.conn.execute("SELECT call_id FROM escalations").fetchone()[0]
    phone_id = store.conn.execute("SELECT MIN(phone_id) FROM patient_phones WHERE patient_id = 'P1001'").fetchone()[0]
    return {"call_id": call_id, "escalation_id": escalation_id, "phone_id": phone_id}


EVERYONE = ROLES
MANAGERS = ("manager", "admin")
PAGES = [
    ("/today", EVERYONE), ("/today?day=2026-12-01", EVERYONE),
    ("/calls", EVERYONE), ("/calls/{call_id}", EVERYONE),
    ("/patients", EVERYONE), ("/patients?q=lopez", EVERYONE), ("/patients/P1001", EVERYONE),
    ("/escalations", EVERYONE), ("/escalations?status=resolved", EVERYONE),
    ("/status", MANAGERS), ("/audit", MANAGERS), ("/audit.csv", MANAGERS),
]
ACTIONS = [  # (path, form) posted from the page that shows the form
    ("/patients/P1001/phones", {"number": "217 555 0177", "kind": "mobile"}),
    ("/patients/P1001/phones/{phone_id}/kind", {"kind": "work"}),
    ("/patients/P1001/preferences", {"preferred_name": "Mari", "language": "es", "preferred_provider": "",
                                     "preferred_time": "morning", "preferred_location": ""}),
    ("/escalations/{escalation_id}/acknowledge", {}),
    ("/escalations/{escalation_id}/resolve", {}),
    ("/patients/P1001/phones/{phone_id}/remove", {}),
]


@pytest.mark.parametrize("role", ROLES)
def test_every_page_for_every_role(role, signed_in, store, seeded):
    client = signed_in(role, f"user-{role.replace('_', '')}")
    for template, allowed in PAGES:
        path = template.format(**seeded)
        response = client.get(path)
        want = 200 if role in allowed else 403
        assert response.status_code == want, (role, path, response.get_data(as_text=True)[:300])
    denied = [r["detail"]["path"] for r in audit_rows(store, "access-denied")]
    assert denied == [p for p, allowed in PAGES if role not in allowed]


@pytest.mark.parametrize("role", ROLES)
def test_every_action_for_every_role(role, signed_in, store, seeded):
    client = signed_in(role)
    token = csrf_of(client.get("/patients/P1001"))
    for template, form in ACTIONS:
        response = client.post(template.format(**seeded), data={**form, "csrf_token": token})
        assert response.status_code == 302, (role, template, response.get_data(as_text=True)[:300])
    assert audit_rows(store, "access-denied") == []


def test_nav_shows_only_pages_the_role_may_open(signed_in):
    desk = signed_in("front_desk").get("/today").get_data(as_text=True)
    assert 'href="/calls"' in desk and 'href="/status"' not in desk and 'href="/audit"' not in desk
    manager = signed_in("manager").get("/today").get_data(as_text=True)
    assert 'href="/status"' in manager and 'href="/audit"' in manager


def test_strangers_are_sent_to_sign_in(client, store, seeded):
    for template, _ in PAGES:
        response = client.get(template.format(**seeded))
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    for template, form in ACTIONS:  # no session cookie: the CSRF check refuses before anything else
        assert client.post(template.format(**seeded), data=form).status_code == 400
    assert audit_rows(store, "patient-viewed") == []


def test_every_form_is_refused_without_its_token(signed_in, store, seeded):
    client = signed_in("manager")
    before = store.conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0]
    for template, form in ACTIONS:
        for token in (None, "0" * 64):
            data = form if token is None else {**form, "csrf_token": token}
            response = client.post(template.format(**seeded), data=data)
            assert response.status_code == 400, template
            assert "security token" in response.get_data(as_text=True)
    assert store.conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] == before  # nothing changed
    assert store.conn.execute("SELECT status FROM escalations").fetchone()[0] == "open"


def test_an_idle_session_cannot_use_the_pages(signed_in, web_now, seeded):
    client = signed_in("front_desk")
    web_now.advance(minutes=16)
    response = client.get("/patients/P1001")
    assert response.status_code == 302 and "signed_out=idle" in response.headers["Location"]
