"""Staff accounts: names, roles, the password policy, argon2 hashes, encrypted TOTP secrets, audit."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from appliance.errors import NotFound, UserError
from appliance.store import audit, keys, users

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


def test_add_and_check_a_password(store):
    user = users.add(store, " Anna.B ", "front_desk", PASSWORD, "cli:root", NOW)
    assert (user.username, user.role, user.totp_enrolled, user.disabled) == ("anna.b", "front_desk", False, False)
    assert user.created_at == "2026-12-01T15:00:00+00:00"
    stored = store.conn.execute("SELECT password_hash FROM users").fetchone()[0]
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$") and PASSWORD not in stored
    assert users.password_matches(store, user, PASSWORD)
    assert not users.password_matches(store, user, PASSWORD.upper())
    assert not users.password_matches(store, None, PASSWORD)
    row = store.conn.execute("SELECT * FROM audit_log WHERE action = 'user-added'").fetchone()
    assert (row["actor"], row["subject"], row["detail"]) == ("cli:root", "anna.b", '{"role":"front_desk"}')


@pytest.mark.parametrize("username, role, password, problem", [
    ("a", "front_desk", PASSWORD, "must be 2-32 lower-case letters"),
    ("anna b", "front_desk", PASSWORD, "must be 2-32 lower-case letters"),
    ("<b>", "front_desk", PASSWORD, "must be 2-32 lower-case letters"),
    ("anna", "receptionist", PASSWORD, "role 'receptionist' is not one of front_desk, manager, admin"),
    ("anna", "admin", "short pass", "at least 12 characters (a short sentence is easy to remember); got 10"),
    ("anna", "admin", "x" * 257, "at most 256 characters"),
])
def test_refused_accounts(store, username, role, password, problem):
    with pytest.raises(UserError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        users.add(store, username, role, password, "test", NOW)
    assert users.listing(store) == []


def test_names_are_unique(store):
    users.add(store, "anna", "manager", PASSWORD, "test", NOW)
    with pytest.raises(UserError, match="user 'anna' exists already"):
        users.add(store, "ANNA", "front_desk", PASSWORD, "test", NOW)


def test_old_hash_parameters_are_upgraded_at_sign_in(store, monkeypatch):
    from argon2 import PasswordHasher

    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    user = users.add(store, "anna", "manager", PASSWORD, "test", NOW)
    monkeypatch.undo()
    assert users.password_matches(store, user, PASSWORD)
    assert store.conn.execute("SELECT password_hash FROM users").fetchone()[0].startswith("$argon2id$v=19$m=65536")


def test_totp_secret_is_encrypted_and_bound_to_its_user(store):
    anna = users.add(store, "anna", "manager", PASSWORD, "test", NOW)
    ben = users.add(store, "ben", "manager", PASSWORD, "test", NOW)
    users.start_enrolment(store, anna, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
    blob = store.conn.execute("SELECT totp_secret FROM users WHERE username = 'anna'").fetchone()[0]
    assert b"JBSWY3DP" not in blob
    assert users.totp_secret(store, anna) == "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    assert users.totp_secret(store, ben) is None
    store.conn.execute("UPDATE users SET totp_secret = ? WHERE username = 'ben'", (blob,))
    with pytest.raises(Exception, match="fails its integrity check"):
        users.totp_secret(store, ben)  # a secret copied to another account does not open


def test_key_rotation_re_encrypts_totp_secrets(store):
    anna = users.add(store, "anna", "manager", PASSWORD, "test", NOW)
    users.start_enrolment(store, anna, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
    result = keys.rotate(store, "test")
    blob = store.conn.execute("SELECT totp_secret FROM users").fetchone()[0]
    assert store.vault.kid_of(blob) == result.new_kid
    assert users.totp_secret(store, anna) == "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def test_admin_actions_are_audited_and_end_sessions(store):
    from appliance.store import web_sessions

    anna = users.add(store, "anna", "front_desk", PASSWORD, "test", NOW)
    web_sessions.start(store, anna.user_id, "signed-in", "192.168.1.20", NOW)
    users.sign_in_failed(store, anna, "192.168.1.20", "password", NOW, 1, 15)
    assert users.get(store, "anna").locked_at(NOW)
    assert not users.unlock(store, "anna", "cli:root").locked_at(NOW)
    assert users.reset_totp(store, "anna", "cli:root").totp_enrolled is False
    assert store.conn.execute("SELECT COUNT(*) FROM web_sessions").fetchone()[0] == 0
    assert users.disable(store, "anna", "cli:root").disabled
    actions = [r["action"] for r in store.conn.execute("SELECT action FROM audit_log WHERE subject = 'anna'")]
    assert actions == ["user-added", "sign-in-failed", "user-locked", "user-unlocked", "user-totp-reset",
                       "user-disabled"]
    assert audit.verify(store).ok
    with pytest.raises(NotFound, match="no user 'bob'; `dentra users list` shows who exists"):
        users.unlock(store, "bob", "cli:root")
