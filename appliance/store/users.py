"""Staff accounts of the receptionist page: argon2 password hashes, encrypted TOTP secrets, lockout.

Every change is audited (actor, username, never a password or secret). Times are UTC ISO text
with seconds, so they compare as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from appliance.errors import NotFound, UserError
from appliance.store import audit
from appliance.store.db import Store

ROLES = ("front_desk", "manager", "admin")
MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 256  # argon2 hashes anything, but a megabyte "password" is a denial of service
USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,31}")
EXTENSION = re.compile(r"[0-9A-Za-z*+._-]{1,32}")  # a SIP user part the PBX rings (usually digits)

_hasher = PasswordHasher()


@cache
def _decoy_hash(hasher: PasswordHasher) -> str:
    # Unknown usernames are checked against this, so a wrong name takes as long as a wrong password.
    return hasher.hash("decoy password that nobody has")


def stamp(at: datetime) -> str:
    """A UTC time as stored: ISO text with seconds."""
    return at.astimezone(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class User:
    user_id: int
    username: str
    role: str
    totp_enrolled: bool
    failed_attempts: int
    locked_until: str | None
    disabled: bool
    created_at: str
    last_login_at: str | None
    extension: str | None = None  # the desk phone "take the call" rings

    def locked_at(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > stamp(now)


_COLUMNS = ("user_id, username, role, totp_enrolled, failed_attempts, locked_until, disabled, created_at, "
            "last_login_at, extension")


def _user(row) -> User:
    return User(row["user_id"], row["username"], row["role"], bool(row["totp_enrolled"]), row["failed_attempts"],
                row["locked_until"], bool(row["disabled"]), row["created_at"], row["last_login_at"], row["extension"])


def check_new_password(password: str) -> None:
    """Raise UserError unless the password meets the policy (12 to 256 characters)."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise UserError(f"the password must have at least {MIN_PASSWORD_CHARS} characters "
                        f"(a short sentence is easy to remember); got {len(password)}")
    if len(password) > MAX_PASSWORD_CHARS:
        raise UserError(f"the password must have at most {MAX_PASSWORD_CHARS} characters")


def add(store: Store, username: str, role: str, password: str, actor: str, now: datetime,
        extension: str | None = None) -> User:
    """Create an account (TOTP is enrolled at its first sign-in), with its desk extension if given."""
    username = username.strip().lower()
    if not USERNAME.fullmatch(username):
        raise UserError(f"username {username!r} must be 2-32 lower-case letters, digits, '.', '_' or '-'")
    if role not in ROLES:
        raise UserError(f"role {role!r} is not one of {', '.join(ROLES)}")
    check_new_password(password)
    check_extension(extension)
    hashed = _hasher.hash(password)
    with store.write() as conn:
        if conn.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone():
            raise UserError(f"user {username!r} exists already; pick another name or use `dentra users list`")
        conn.execute("INSERT INTO users (username, role, password_hash, created_at) VALUES (?, ?, ?, ?)",
                     (username, role, hashed, stamp(now)))
        audit.record(store, actor, "user-added", None, username, role=role)
    return set_extension(store, username, extension, actor) if extension else get(store, username)


def get(store: Store, username: str) -> User | None:
    row = store.conn.execute(f"SELECT {_COLUMNS} FROM users WHERE username = ?", (username.strip().lower(),))
    row = row.fetchone()
    return _user(row) if row else None


def by_id(store: Store, user_id: int) -> User | None:
    row = store.conn.execute(f"SELECT {_COLUMNS} FROM users WHERE user_id = ?", (user_id,)).fetchone()
    return _user(row) if row else None


def listing(store: Store) -> list[User]:
    return [_user(r) for r in store.conn.execute(f"SELECT {_COLUMNS} FROM users ORDER BY username")]


def require(store: Store, username: str) -> User:
    """The account, or NotFound naming it."""
    user = get(store, username)
    if user is None:
        raise NotFound(f"no user {username!r}; `dentra users list` shows who exists")
    return user


def password_matches(store: Store, user: User | None, password: str) -> bool:
    """Check a password (in constant work even for an unknown user); rehashes when parameters changed."""
    row = store.conn.execute("SELECT password_hash FROM users WHERE user_id = ?",
                             (user.user_id if user else -1,)).fetchone()
    hashed = row["password_hash"] if row else _decoy_hash(_hasher)
    try:
        _hasher.verify(hashed, password[:MAX_PASSWORD_CHARS])
    except (VerificationError, InvalidHashError):
        return False
    if user is None:
        return False
    if _hasher.check_needs_rehash(hashed):
        with store.write() as conn:
            conn.execute("UPDATE users SET password_hash = ? WHERE user_id = ?", (_hasher.hash(password), user.user_id))
    return True


# ---- second factor ----


def totp_secret(store: Store, user: User) -> str | None:
    blob = store.conn.execute("SELECT totp_secret FROM users WHERE user_id = ?", (user.user_id,)).fetchone()[0]
    return store.vault.decrypt(blob, "users", "totp_secret", str(user.user_id))


def start_enrolment(store: Store, user: User, secret: str) -> None:
    """Keep a new, not yet confirmed secret (shown once as a QR code)."""
    blob = store.vault.encrypt(secret, "users", "totp_secret", str(user.user_id))
    with store.write() as conn:
        conn.execute("UPDATE users SET totp_secret = ?, totp_enrolled = 0, totp_last_step = 0 WHERE user_id = ?",
                     (blob, user.user_id))


def last_totp_step(store: Store, user: User) -> int:
    return store.conn.execute("SELECT totp_last_step FROM users WHERE user_id = ?", (user.user_id,)).fetchone()[0]


def second_factor_passed(store: Store, user: User, step: int, address: str, now: datetime) -> None:
    """A signed-in user: remember the code's time step (no replay), clear failures, enrol if pending."""
    with store.write() as conn:
        conn.execute("UPDATE users SET totp_last_step = ?, totp_enrolled = 1, failed_attempts = 0, "
                     "locked_until = NULL, last_login_at = ? WHERE user_id = ?", (step, stamp(now), user.user_id))
        if not user.totp_enrolled:
            audit.record(store, f"web:{user.username}", "totp-enrolled", None, user.username, address=address)
        audit.record(store, f"web:{user.username}", "signed-in", None, user.username, address=address)


def sign_in_failed(store: Store, user: User, address: str, step: str, now: datetime, limit: int,
                   lock_minutes: int) -> bool:
    """Count a failed password or code; locks the account at `limit` failures. Returns True when locked."""
    with store.write() as conn:
        failures = conn.execute("UPDATE users SET failed_attempts = failed_attempts + 1 WHERE user_id = ? "
                                "RETURNING failed_attempts", (user.user_id,)).fetchone()[0]
        audit.record(store, f"web:{user.username}", "sign-in-failed", None, user.username, address=address,
                     step=step, failures=failures)
        if failures < limit:
            return False
        until = stamp(now + timedelta(minutes=lock_minutes))
        conn.execute("UPDATE users SET locked_until = ?, failed_attempts = 0 WHERE user_id = ?", (until, user.user_id))
        audit.record(store, "web", "user-locked", None, user.username, address=address, until=until)
    return True


# ---- admin actions (dentra users ...) ----


def unlock(store: Store, username: str, actor: str) -> User:
    user = require(store, username)
    with store.write() as conn:
        conn.execute("UPDATE users SET failed_attempts = 0, locked_until = NULL WHERE user_id = ?", (user.user_id,))
        audit.record(store, actor, "user-unlocked", None, user.username)
    return require(store, username)


def disable(store: Store, username: str, actor: str) -> User:
    """Refuse further sign-ins and end the user's open sessions."""
    user = require(store, username)
    with store.write() as conn:
        conn.execute("UPDATE users SET disabled = 1 WHERE user_id = ?", (user.user_id,))
        conn.execute("DELETE FROM web_sessions WHERE user_id = ?", (user.user_id,))
        audit.record(store, actor, "user-disabled", None, user.username)
    return require(store, username)


def reset_totp(store: Store, username: str, actor: str) -> User:
    """Forget the second factor (a lost phone): the next sign-in enrols a new one. Ends open sessions."""
    user = require(store, username)
    with store.write() as conn:
        conn.execute("UPDATE users SET totp_secret = NULL, totp_enrolled = 0, totp_last_step = 0 WHERE user_id = ?",
                     (user.user_id,))
        conn.execute("DELETE FROM web_sessions WHERE user_id = ?", (user.user_id,))
        audit.record(store, actor, "user-totp-reset", None, user.username)
    return require(store, username)


def check_extension(extension: str | None) -> str | None:
    """The extension cleaned up (None when empty); UserError unless the PBX could ring it."""
    extension = (extension or "").strip() or None
    if extension is not None and not EXTENSION.fullmatch(extension):
        raise UserError(f"extension {extension!r} must be 1-32 letters, digits, '*', '+', '.', '_' or '-' "
                        "(the number the PBX rings for this desk, e.g. 102)")
    return extension


def set_extension(store: Store, username: str, extension: str | None, actor: str) -> User:
    """Set (or clear, with None) the desk extension that "Take the call" transfers the caller to."""
    user = require(store, username)
    extension = check_extension(extension)
    with store.write() as conn:
        conn.execute("UPDATE users SET extension = ? WHERE user_id = ?", (extension, user.user_id))
        audit.record(store, actor, "user-extension-set", None, user.username, extension=extension)
    return require(store, username)


# ---- screen-pop preferences (kept per user: front-desk computers are shared) ----


def pop_preferences(store: Store, user: User) -> dict[str, bool]:
    """Whether this user wants a chime and a desktop notification when a call rings."""
    row = store.conn.execute("SELECT pop_sound, pop_notify FROM users WHERE user_id = ?", (user.user_id,)).fetchone()
    return {"sound": bool(row["pop_sound"]), "notify": bool(row["pop_notify"])} if row else \
        {"sound": False, "notify": False}


def set_pop_preferences(store: Store, user: User, sound: bool, notify: bool, address: str) -> None:
    with store.write() as conn:
        conn.execute("UPDATE users SET pop_sound = ?, pop_notify = ? WHERE user_id = ?",
                     (int(sound), int(notify), user.user_id))
        audit.record(store, f"web:{user.username}", "pop-preferences-set", None, user.username, sound=sound,
                     notify=notify, address=address)
