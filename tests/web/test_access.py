"""Who gets in: deny by default, roles (403 + audit), reads audited, idle timeout, restarts."""

from __future__ import annotations

import json

import pytest
from flask import Blueprint

from appliance.store import audit
from appliance.web import create_app
from appliance.web.access import audit_read, require_role
from tests.web.conftest import add_user, browser, csrf_of, post_password

probe = Blueprint("probe", __name__)


@probe.get("/probe/managers")
@require_role("manager", "admin")
def managers_only():
    return "manager page"


@probe.get("/probe/patient/<patient_id>")
@require_role("front_desk", "manager")
def patient(patient_id):
    audit_read("patient-viewed", patient_id)
    return "profile"


@probe.get("/probe/schedule")
@require_role("front_desk", "manager", "admin")
def schedule():
    audit_read("schedule-viewed", ["P1001", "P1002"], day="2026-12-01")
    return "schedule"


@probe.get("/probe/plain")
def plain():
    return "no decorator, still private"


@pytest.fixture
def probed(app):
    app.register_blueprint(probe)
    return app


def audit_rows(store, action):
    return [dict(r) for r in store.conn.execute("SELECT * FROM audit_log WHERE action = ?", (action,))]


def test_a_role_without_access_gets_403_and_is_audited(probed, signed_in, store):
    desk = signed_in("front_desk", "olga")
    refused = desk.get("/probe/managers")
    assert refused.status_code == 403 and "The attempt was recorded" in refused.get_data(as_text=True)
    as_json = desk.get("/probe/managers", headers={"Accept": "application/json"})
    assert as_json.status_code == 403 and as_json.get_json()["error"]["code"] == "forbidden"
    rows = audit_rows(store, "access-denied")
    assert len(rows) == 2
    assert (rows[0]["actor"], rows[0]["subject"]) == ("web:olga", "probe.managers_only")
    assert json.loads(rows[0]["detail"]) == {"address": "192.168.1.20", "path": "/probe/managers",
                                             "role": "front_desk"}
    assert signed_in("manager", "pat").get("/probe/managers").get_data(as_text=True) == "manager page"
    assert audit.verify(store).ok


def test_nothing_is_served_to_a_stranger(probed, client, store):
    for path in ("/", "/probe/managers", "/probe/plain", "/probe/patient/P1001"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")
    api = client.get("/probe/plain", headers={"Accept": "application/json"})
    assert api.status_code == 401 and api.get_json() == {"error": {"code": "signed-out", "message": "Please sign in."}}
    assert client.get("/login").status_code == 200
    with client.get("/static/dentra.css") as css:
        assert css.status_code == 200
    assert audit_rows(store, "access-denied") == [] and audit_rows(store, "patient-viewed") == []


def test_reads_of_patient_data_are_audited_per_patient(probed, signed_in, store):
    desk = signed_in("front_desk", "quinn")
    assert desk.get("/probe/patient/P1016").status_code == 200
    assert desk.get("/probe/schedule").status_code == 200
    viewed = audit_rows(store, "patient-viewed")
    assert [(r["actor"], r["patient_id"]) for r in viewed] == [("web:quinn", "P1016")]
    assert json.loads(viewed[0]["detail"]) == {"address": "192.168.1.20", "page": "probe.patient",
                                               "role": "front_desk"}
    schedule = audit_rows(store, "schedule-viewed")
    assert [r["patient_id"] for r in schedule] == ["P1001", "P1002"]
    assert json.loads(schedule[0]["detail"])["day"] == "2026-12-01"
    assert audit.verify(store).ok


def test_require_role_names_only_known_roles():
    with pytest.raises(ValueError, match="require_role needs roles"):
        require_role("receptionist")
    with pytest.raises(ValueError):
        require_role()


def test_nav_by_role(signed_in):
    manager = signed_in("manager").get("/").get_data(as_text=True)
    desk = signed_in("front_desk").get("/").get_data(as_text=True)
    for label in ("Today", "Calls", "Patients", "Escalations"):
        assert f">{label}</a>" in manager and f">{label}</a>" in desk
    for label in ("Status", "Audit"):  # IT and oversight pages
        assert f">{label}</a>" in manager and f">{label}</" not in desk


# ---- sessions: idle timeout, maximum length, restarts ----


def test_idle_timeout_signs_out_after_15_minutes_without_a_request(signed_in, web_now, store):
    desk = signed_in("front_desk", "rosa")
    web_now.advance(minutes=14)
    assert desk.get("/").status_code == 200  # a request renews the 15 minutes
    web_now.advance(minutes=14)
    assert desk.get("/").status_code == 200
    web_now.advance(minutes=15, seconds=1)
    expired = desk.get("/")
    assert expired.status_code == 302 and expired.headers["Location"].startswith("/login")
    rows = audit_rows(store, "session-expired")
    assert [(r["subject"], json.loads(r["detail"])["reason"]) for r in rows] == [("rosa", "idle")]
    assert store.conn.execute("SELECT COUNT(*) FROM web_sessions").fetchone()[0] == 0


def test_the_sign_in_page_says_why(signed_in, web_now):
    desk = signed_in("front_desk")
    web_now.advance(minutes=16)
    page = desk.get("/login")
    assert "You were signed out after a while without activity." in page.get_data(as_text=True)
    assert "__Host-dentra-session=;" in page.headers["Set-Cookie"]


def test_background_requests_do_not_keep_a_session_alive(signed_in, web_now):
    desk = signed_in("front_desk")
    web_now.advance(minutes=10)
    assert desk.get("/", headers={"X-Dentra-Background": "1"}).status_code == 200
    web_now.advance(minutes=6)
    assert desk.get("/").status_code == 302


def test_a_session_ends_after_its_maximum_length_even_when_busy(signed_in, web_now, config):
    desk = signed_in("front_desk")
    for _ in range(config.web.session_max_hours * 6 - 1):
        web_now.advance(minutes=10)
        assert desk.get("/").status_code == 200
    web_now.advance(minutes=10, seconds=1)
    expired = desk.get("/")
    assert expired.headers["Location"] == "/login?next=/&signed_out=max-age"
    assert "maximum length" in desk.get(expired.headers["Location"]).get_data(as_text=True)


def test_half_finished_sign_in_expires_after_5_minutes(client, store, web_now):
    add_user(store, "sam")
    post_password(client, "sam")
    web_now.advance(minutes=5, seconds=1)
    assert client.get("/login/enrol").headers["Location"] == "/login"


def test_a_restart_of_the_web_process_signs_nobody_out(signed_in, store, config, web_now):
    desk = signed_in("front_desk", "tom")
    token = csrf_of(desk.get("/"))
    restarted = create_app(config, store.data_dir, store.key_file, now=web_now)
    try:
        again = browser(restarted)
        for name in ("__Host-dentra-session", "__Host-dentra-form"):
            again.set_cookie(name, desk.get_cookie(name).value)
        assert "Signed in as <strong>tom</strong>" in again.get("/").get_data(as_text=True)
        assert again.post("/logout", data={"csrf_token": token}).status_code == 302  # forms from before work
    finally:
        restarted.extensions["dentra"].close()
