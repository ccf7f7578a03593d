"""Web fixtures: the app on a fresh store, a clock tests move by hand, and signed-in clients per role."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher

from appliance.store import users
from appliance.web import create_app, second_factor

PASSWORD = "correct horse battery"
# A Tuesday afternoon in the clinic (UTC); only the web's own timers read it.
START = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


class FakeNow:
    """The web app's clock: stands still until a test moves it."""

    def __init__(self, at: datetime = START):
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta) -> None:
        self.at += timedelta(**delta)


@pytest.fixture(autouse=True)
def quick_password_hashing(monkeypatch):
    """Cheap argon2 parameters: web tests sign in hundreds of times (the real ones take ~0.15 s a try)."""
    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def web_now() -> FakeNow:
    return FakeNow()


@pytest.fixture
def app(store, config, web_now):
    """The receptionist page's app on a fresh store (`store` from tests/conftest.py)."""
    app = create_app(config, store.data_dir, store.key_file, now=web_now)
    app.config["TESTING"] = True
    yield app
    app.extensions["dentra"].close()


def browser(app):
    """A test client that looks like a browser on the LAN over HTTPS."""
    client = app.test_client()
    client.environ_base.update({"wsgi.url_scheme": "https", "REMOTE_ADDR": "192.168.1.20"})
    return client


@pytest.fixture
def client(app):
    return browser(app)


def csrf_of(response) -> str:
    """The CSRF token of the (first) form on a page."""
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', response.get_data(as_text=True))
    assert found, response.get_data(as_text=True)[:500]
    return found.group(1)


def add_user(store, username: str, role: str = "front_desk", password: str = PASSWORD):
    return users.add(store, username, role, password, "test", START)


def post_password(client, username: str, password: str = PASSWORD, **form):
    token = csrf_of(client.get("/login"))
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token, **form})


def post_code(client, path: str, code: str):
    token = csrf_of(client.get(path))
    return client.post(path, data={"code": code, "csrf_token": token})


def enrol(client, store, username: str, now: FakeNow):
    """Sign in for the first time: password, then the enrolment page's code. Returns the TOTP secret."""
    response = post_password(client, username)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login/enrol")
    client.get("/login/enrol")
    secret = users.totp_secret(store, users.get(store, username))
    done = post_code(client, "/login/enrol", second_factor.code_at(secret, now()))
    assert done.status_code == 302, done.get_data(as_text=True)
    now.advance(seconds=30)  # the next sign-in needs a fresh code (codes are never accepted twice)
    return secret


@pytest.fixture
def signed_in(app, store, web_now):
    """Factory: `signed_in("manager")` -> a client signed in (TOTP enrolled) as a new user of that role."""
    made = 0

    def sign_in(role: str = "front_desk", username: str | None = None):
        nonlocal made
        made += 1
        username = username or f"{role.replace('_', '')}{made}"
        add_user(store, username, role)
        client = browser(app)
        enrol(client, store, username, web_now)
        return client

    return sign_in
