"""Signing in with password and TOTP: enrolment, wrong password, wrong code, replay, sign-out."""

from __future__ import annotations

import pytest

from appliance.store import audit, users
from appliance.web import second_factor
from tests.web.conftest import PASSWORD, add_user, csrf_of, enrol, post_code, post_password


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


def test_enrolled_user_signs_in_with_password_then_code(client, store, web_now):
    add_user(store, "ben")
    secret = enrol(client, store, "ben", web_now)
    fresh = client.application.test_client()
    fresh.environ_base.update({"wsgi.url_scheme": "https", "REMOTE_ADDR": "192.168.1.21"})
    response = post_password(fresh, "ben")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login/code")
    assert fresh.get("/").status_code == 302  # the password alone signs nobody in
    done = post_code(fresh, "/login/code", second_factor.code_at(secret, web_now()))
    assert done.status_code == 302 and done.headers["Location"] == "/"
    assert fresh.get("/").status_code == 200
    assert users.get(store, "ben").last_login_at == "2026-12-01T15:00:30+00:00"


def failed_rows(store, username=None):
    sql = "SELECT * FROM audit_log WHERE action = 'sign-in-failed'"
    rows = [dict(r) for r in store.conn.execute(sql)]
    return [r for r in rows if username is None or r["subject"] == username]


def test_wrong_password_and_unknown_user_get_the_same_answer(client, store):
    add_user(store, "cara")
    wrong = post_password(client, "cara", "not the right one at all")
    unknown = post_password(client, "nobody", PASSWORD)
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "Wrong username or password." in response.get_data(as_text=True)
    assert users.get(store, "cara").failed_attempts == 1
    rows = failed_rows(store)
    assert [(r["actor"], r["subject"]) for r in rows] == [("web:cara", "cara"), ("web", None)]
    assert '"address":"192.168.1.20"' in rows[0]["detail"] and PASSWORD not in str(rows)
    assert client.get("/").status_code == 302


def test_wrong_code_keeps_the_sign_in_pending_and_counts(client, store, web_now):
    add_user(store, "dan")
    secret = enrol(client, store, "dan", web_now)
    client.post("/logout", data={"csrf_token": csrf_from_home(client)})
    post_password(client, "dan")
    right = second_factor.code_at(secret, web_now())
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    response = post_code(client, "/login/code", wrong)
    assert response.status_code == 401 and "That code is not right" in response.get_data(as_text=True)
    assert users.get(store, "dan").failed_attempts == 1
    assert client.get("/").status_code == 302
    assert post_code(client, "/login/code", right).status_code == 302
    assert client.get("/").status_code == 200
    assert users.get(store, "dan").failed_attempts == 0


def csrf_from_home(client):
    return csrf_of(client.get("/"))


def test_a_code_is_never_accepted_twice(client, store, web_now):
    add_user(store, "eve")
    post_password(client, "eve")
    client.get("/login/enrol")
    secret = users.totp_secret(store, users.get(store, "eve"))
    code = second_factor.code_at(secret, web_now())
    assert post_code(client, "/login/enrol", code).status_code == 302
    client.post("/logout", data={"csrf_token": csrf_from_home(client)})
    post_password(client, "eve")
    replay = post_code(client, "/login/code", code)
    assert replay.status_code == 401
    web_now.advance(seconds=30)
    assert post_code(client, "/login/code", second_factor.code_at(secret, web_now())).status_code == 302


def test_lockout_after_five_failures_then_unlock(client, store, web_now, config):
    assert config.web.lockout_failures == 5 and config.web.lockout_minutes == 15
    add_user(store, "finn")
    for _ in range(4):
        assert post_password(client, "finn", "wrong password again").status_code == 401
    locked = post_password(client, "finn", "wrong password again")
    text = locked.get_data(as_text=True)
    assert locked.status_code == 423
    # 15:15 UTC is 09:15 in Springfield (America/Chicago)
    assert "locked after too many failed sign-ins until 09:15" in text and "dentra users unlock finn" in text
    assert post_password(client, "finn").status_code == 423  # even the right password
    assert users.get(store, "finn").locked_until == "2026-12-01T15:15:00+00:00"
    users.unlock(store, "finn", "cli:admin")
    assert post_password(client, "finn").status_code == 302
    actions = [r["action"] for r in store.conn.execute("SELECT action FROM audit_log WHERE subject = 'finn'")]
    assert actions == ["user-added"] + ["sign-in-failed"] * 5 + ["user-locked", "user-unlocked"]


def test_a_lock_ends_by_itself(client, store, web_now):
    add_user(store, "gus")
    for _ in range(5):
        post_password(client, "gus", "wrong password again")
    web_now.advance(minutes=14, seconds=59)
    assert post_password(client, "gus").status_code == 423
    web_now.advance(seconds=1)
    assert post_password(client, "gus").status_code == 302


def test_wrong_codes_lock_the_account_too(client, store, web_now):
    add_user(store, "hana")
    enrol(client, store, "hana", web_now)
    client.post("/logout", data={"csrf_token": csrf_from_home(client)})
    post_password(client, "hana")
    for _ in range(4):
        assert post_code(client, "/login/code", "000000").status_code in (401, 302)
    last = client.post("/login/code", data={"code": "000000", "csrf_token": csrf_from(client, "/login/code")})
    assert last.status_code == 423
    assert client.get("/login/code").status_code == 302  # the half-finished sign-in is gone
    assert users.get(store, "hana").locked_at(web_now())


def csrf_from(client, path):
    return csrf_of(client.get(path))


def test_one_computer_is_paused_after_twenty_failures(app, client, store, web_now):
    from tests.web.conftest import browser

    add_user(store, "ivan")
    for i in range(20):  # spread over names, so no single account locks
        assert post_password(client, f"guess{i}", "wrong password again").status_code == 401
    paused = post_password(client, "ivan")
    assert paused.status_code == 429 and "Try again after 09:15" in paused.get_data(as_text=True)
    other = browser(app)
    other.environ_base["REMOTE_ADDR"] = "192.168.1.30"
    assert post_password(other, "ivan").status_code == 302  # another desk is not affected
    web_now.advance(minutes=15, seconds=1)
    assert post_password(client, "ivan").status_code == 302
    assert users.get(store, "ivan").failed_attempts == 0


def test_disabled_user_cannot_sign_in_and_loses_open_sessions(signed_in, client, store):
    desk = signed_in("front_desk", "jo")
    assert desk.get("/").status_code == 200
    users.disable(store, "jo", "cli:admin")
    assert desk.get("/").status_code == 302
    response = post_password(client, "jo")
    assert response.status_code == 401 and "Wrong username or password." in response.get_data(as_text=True)
    assert failed_rows(store, "jo")[-1]["detail"].find('"reason":"disabled"') > 0


def test_reset_totp_enrols_a_new_secret_at_next_sign_in(signed_in, client, store, web_now):
    desk = signed_in("front_desk", "kim")
    old = users.totp_secret(store, users.get(store, "kim"))
    users.reset_totp(store, "kim", "cli:admin")
    assert desk.get("/").status_code == 302
    response = post_password(client, "kim")
    assert response.headers["Location"].startswith("/login/enrol")
    client.get("/login/enrol")
    assert users.totp_secret(store, users.get(store, "kim")) not in (None, old)


@pytest.mark.parametrize("target, lands", [("/?day=2026-12-02", "/?day=2026-12-02"), ("//evil.example/x", "/"),
                                           ("https://evil.example/", "/"), ("/\\evil.example", "/")])
def test_after_sign_in_only_local_pages(client, store, web_now, target, lands):
    add_user(store, "lee")
    post_password(client, "lee", next=target)
    client.get("/login/enrol")
    secret = users.totp_secret(store, users.get(store, "lee"))
    path = "/login/enrol"
    token = csrf_from(client, path)
    done = client.post(path, data={"code": second_factor.code_at(secret, web_now()), "csrf_token": token,
                                   "next": target})
    assert done.headers["Location"] == lands


def test_a_page_asked_for_before_sign_in_comes_back_after(client, store, web_now):
    add_user(store, "max")
    first = client.get("/?day=2026-12-02")
    assert first.status_code == 302 and first.headers["Location"] == "/login?next=/?day%3D2026-12-02"
    page = client.get(first.headers["Location"]).get_data(as_text=True)
    assert 'name="next" value="/?day=2026-12-02"' in page


def test_sign_out_ends_the_session_on_the_server(signed_in, store):
    desk = signed_in("front_desk", "ned")
    cookie = desk.get_cookie("__Host-dentra-session").value
    out = desk.post("/logout", data={"csrf_token": csrf_from_home(desk)})
    assert out.status_code == 302 and out.headers["Location"] == "/login"
    assert desk.get_cookie("__Host-dentra-session") is None
    desk.set_cookie("__Host-dentra-session", cookie)  # a copied cookie is worthless afterwards
    assert desk.get("/").status_code == 302
    assert store.conn.execute("SELECT COUNT(*) FROM web_sessions").fetchone()[0] == 0
    assert [r["action"] for r in store.conn.execute("SELECT action FROM audit_log WHERE subject = 'ned'")][-1] == \
        "signed-out"


def test_a_lock_from_another_browser_ends_a_half_finished_sign_in(app, client, store, web_now):
    from tests.web.conftest import browser

    add_user(store, "otto")
    enrol(client, store, "otto", web_now)
    client.post("/logout", data={"csrf_token": csrf_from_home(client)})
    post_password(client, "otto")  # waiting for the code here...
    other = browser(app)
    for _ in range(5):  # ...while someone else guesses the password
        post_password(other, "otto", "wrong password again")
    response = client.post("/login/code", data={"code": "123456", "csrf_token": csrf_from(client, "/login/code")})
    assert response.status_code == 423
    assert client.get("/login/code").headers["Location"] == "/login"


def test_a_code_posted_before_the_enrolment_page_shows_it_first(client, store):
    add_user(store, "pia")
    post_password(client, "pia")
    token = csrf_of(client.get("/login"))
    response = client.post("/login/enrol", data={"code": "123456", "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/login/enrol"
    assert users.get(store, "pia").failed_attempts == 0


def test_sessions_of_closed_browsers_are_swept_at_the_next_sign_in(signed_in, store, web_now):
    signed_in("front_desk")
    assert store.conn.execute("SELECT COUNT(*) FROM web_sessions").fetchone()[0] == 1
    web_now.advance(minutes=16)
    signed_in("front_desk")
    assert store.conn.execute("SELECT COUNT(*) FROM web_sessions").fetchone()[0] == 1
