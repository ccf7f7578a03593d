"""Signing in with password and TOTP: enrolment, wrong password, wrong code, replay, sign-out."""

from __future__ import annotations

from appliance.store import audit, users
from appliance.web import second_factor
from tests.web.conftest import add_user, post_code, post_password


def test_first_sign_in_enrols_totp_with_a_local_qr_code(client, store, web_now):
    add_user(store, "anna")
    response = post_password(client, "anna")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login/enrol")
    page = client.get("/login/enrol").get_data(as_text=True)
    assert "<svg" in page and "class=\"segno\"" in page and "http" not in page.split("<svg")[1].split("</svg>")[0]
    secret = users.totp_secret(store, users.get(store, "anna"))
    assert second_factor.grouped(secret) in page
    assert client.get("/login/enrol").get_data(as_text=True).count(second_factor.grouped(secret)) == 1
    done = post_code(client, "/login/enrol", second_factor.code_at(secret, web_now()))
    assert done.status_code == 302 and done.headers["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200 and "Signed in as <strong>anna</strong>" in home.get_data(as_text=True)
    assert users.get(store, "anna").totp_enrolled
    actions = [r["action"] for r in store.conn.execute("SELECT action FROM audit_log WHERE subject = 'anna'")]
    assert actions == ["user-added", "totp-enrolled", "signed-in"]
    assert audit.verify(store).ok
