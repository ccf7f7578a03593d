"""Browser protections: CSRF on every form, cookie flags, security headers, the persisted secret."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from appliance.errors import KeyFileError
from appliance.web import security
from tests.web.conftest import PASSWORD, add_user, browser, csrf_of

TEMPLATES = Path(security.__file__).parent / "templates"


def login_form(client, username="uma", **extra):
    return {"username": username, "password": PASSWORD, **extra}


@pytest.mark.parametrize("token", [None, "", "0" * 64, "not-hex"])
def test_sign_in_without_a_valid_token_is_400(client, store, token):
    add_user(store, "uma")
    client.get("/login")  # the browser holds its pre-sign-in cookie
    form = login_form(client) if token is None else login_form(client, csrf_token=token)
    response = client.post("/login", data=form)
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)
    assert users_signed_in(store) == 0


def users_signed_in(store) -> int:
    return store.conn.execute("SELECT COUNT(*) FROM web_sessions").fetchone()[0]


def test_a_token_from_another_browser_is_400(app, client, store):
    add_user(store, "uma")
    stolen = csrf_of(browser(app).get("/login"))
    client.get("/login")
    assert client.post("/login", data=login_form(client, csrf_token=stolen)).status_code == 400
    no_cookie = browser(app)
    assert no_cookie.post("/login", data=login_form(no_cookie, csrf_token=stolen)).status_code == 400
    assert client.post("/login", data=login_form(client, csrf_token=csrf_of(client.get("/login")))).status_code == 302


def test_signed_in_forms_need_the_token_too(signed_in):
    desk = signed_in("front_desk")
    refused = desk.post("/logout")
    assert refused.status_code == 400
    assert desk.get("/").status_code == 200  # still signed in: nothing happened
    as_json = desk.post("/logout", headers={"Accept": "application/json"})
    assert as_json.status_code == 400 and as_json.get_json()["error"]["code"] == "csrf-invalid"
    token = csrf_of(desk.get("/"))
    assert desk.post("/logout", headers={"X-CSRF-Token": token}).status_code == 302  # how scripts send it
    assert desk.get("/").status_code == 302


def test_every_form_in_the_templates_carries_the_token():
    """Every POST form carries it; GET forms (search, filters) must not, or it would end up in URLs."""
    for path in TEMPLATES.glob("*.html"):
        text = path.read_text()
        methods = re.findall(r'<form\b[^>]*\bmethod="(post|get)"', text)
        assert len(methods) == text.count("<form"), f"{path.name}: every form states its method"
        assert methods.count("post") == text.count('name="csrf_token" value="{{ csrf_token() }}"'), path.name


def test_cookie_flags(client, store):
    add_user(store, "uma")
    form_cookie = client.get("/login").headers["Set-Cookie"]
    signed = client.post("/login", data=login_form(client, csrf_token=csrf_of(client.get("/login"))))
    session_cookie = signed.headers["Set-Cookie"]
    assert form_cookie.startswith("__Host-dentra-form=") and session_cookie.startswith("__Host-dentra-session=")
    for cookie in (form_cookie, session_cookie):
        flags = {part.strip().split("=")[0].lower(): part for part in cookie.split(";")[1:]}
        assert {"secure", "httponly", "path", "samesite"} <= set(flags), cookie
        assert flags["samesite"].strip() == "SameSite=Strict" and flags["path"].strip() == "Path=/"
        assert "domain" not in flags and "expires" not in flags and "max-age" not in flags
    token = session_cookie.split(";")[0].split("=", 1)[1]
    stored = store.conn.execute("SELECT token_hash FROM web_sessions").fetchone()[0]
    assert token.encode() not in stored and len(stored) == 32  # only the SHA-256 of it is kept


def test_security_headers_on_pages_and_errors(signed_in, client):
    responses = [client.get("/login"), client.get("/no-such-page"), signed_in("front_desk").get("/")]
    for response in responses:
        h = response.headers
        assert h["X-Frame-Options"] == "DENY" and h["X-Content-Type-Options"] == "nosniff"
        assert h["Cache-Control"] == "no-store" and h["Referrer-Policy"] == "no-referrer"
        csp = h["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe" not in csp
    assert responses[1].status_code == 404
    with client.get("/static/dentra.js") as js:
        assert js.status_code == 200 and js.headers["Content-Security-Policy"]
        assert js.headers.get("Cache-Control") != "no-store"  # no PHI there; may be cached


def test_templates_have_no_inline_script_or_style():
    for path in [*TEMPLATES.glob("*.html")]:
        text = path.read_text()
        assert "<script>" not in text and "<style" not in text and " style=" not in text, path.name
        assert " on" + "click=" not in text and "javascript:" not in text, path.name


def test_the_secret_is_kept_0600_and_survives(tmp_path):
    first = security.load_secret(tmp_path)
    path = tmp_path / security.SECRET_NAME
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert security.load_secret(tmp_path) == first and len(first) == 32
    path.chmod(0o640)
    with pytest.raises(KeyFileError, match=r"readable by other users \(mode 640\); run `chmod 600"):
        security.load_secret(tmp_path)
    path.chmod(0o600)
    path.write_text("short\n")
    with pytest.raises(KeyFileError, match="is damaged; delete it"):
        security.load_secret(tmp_path)


def test_pages_escape_what_people_type(client, store):
    page = client.post("/login", data={"username": "<script>alert(1)</script>", "password": "x" * 12,
                                       "csrf_token": csrf_of(client.get("/login"))})
    text = page.get_data(as_text=True)
    assert page.status_code == 401
    assert "<script>alert(1)" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
