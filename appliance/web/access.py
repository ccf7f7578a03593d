"""Who is asking: the session behind each request, idle timeout, roles, and auditing of reads.

Every view needs a signed-in user unless marked `@public`; `@require_role(...)` narrows it further
and audits refusals. Pages that show patient data call `audit_read(...)` once per page view.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from functools import wraps

from flask import Flask, abort, current_app, g, redirect, request, url_for

from appliance.store import Store, audit, users, web_sessions
from appliance.store.users import User
from appliance.web import security, web_context

PENDING_MINUTES = 5  # between the password and the code; long enough to open an authenticator app
TOUCH_EVERY = timedelta(seconds=30)  # last-seen is written at most this often (fewer fsyncs)
BACKGROUND_HEADER = "X-Dentra-Background"  # polling scripts send it: it must not keep a session alive


def public(view: Callable) -> Callable:
    """Mark a view as reachable without signing in (the sign-in pages)."""
    view.public = True
    return view


def require_role(*roles: str) -> Callable:
    """Let only these roles in; anyone else gets 403 and an `access-denied` audit row."""
    unknown = set(roles) - set(users.ROLES)
    if unknown or not roles:
        raise ValueError(f"require_role needs roles from {users.ROLES}, got {roles}")

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def guarded(*args, **kwargs):
            user: User | None = g.get("user")
            if user is None:
                return _to_sign_in()
            if user.role not in roles:
                store = web_context().store()
                with store.write():
                    audit.record(store, actor(user), "access-denied", None, request.endpoint, path=request.path,
                                 role=user.role, address=client_address())
                abort(403)
            return view(*args, **kwargs)

        guarded.roles = roles
        return guarded

    return decorate


def audit_read(what: str, patient_ids: str | Iterable[str] | None = None, **detail) -> list[int]:
    """Record that the signed-in user was shown patient data: one row per patient (ids only, never PHI)."""
    user = g.get("user")
    if user is None:
        raise RuntimeError("audit_read needs a signed-in user (call it from a view)")
    return audit_read_as(web_context().store(), user, client_address(), what, patient_ids, page=request.endpoint,
                         **detail)


def audit_read_as(store: Store, user: User, address: str, what: str,
                  patient_ids: str | Iterable[str] | None = None, **detail) -> list[int]:
    """audit_read outside a request (a live socket's thread): who, what, which patient, from where."""
    ids = [patient_ids] if isinstance(patient_ids, str) else list(patient_ids or ())
    with store.write():
        return [audit.record(store, actor(user), what, patient_id, None, address=address, role=user.role, **detail)
                for patient_id in ids or [None]]


def patient_shown_auditor() -> Callable[[str, str], None]:
    """A `(patient_id, what)` callback (cards.PatientShown) that audits reads as the current user."""
    ctx, user, address = web_context(), g.user, client_address()
    return lambda patient_id, what: audit_read_as(ctx.store(), user, address, what, patient_id)


def session_check() -> Callable[[], bool]:
    """For a live socket: whether this request's session is still signed in (not ended, idle or too old)."""
    ctx, token = web_context(), request.cookies.get(security.SESSION_COOKIE)

    def signed_in() -> bool:
        store = ctx.store()
        session = web_sessions.get(store, token) if token else None
        if session is None or session.stage != "signed-in":
            return False
        user = users.by_id(store, session.user_id)
        return user is not None and not user.disabled and _expired(session, ctx.now(), ctx.config.web) is None

    return signed_in


def actor(user: User) -> str:
    return f"web:{user.username}"


def client_address() -> str:
    # gunicorn serves the LAN directly (no proxy), so the socket's peer is the receptionist's computer
    return request.remote_addr or "unknown"


def _to_sign_in():
    if request.method == "GET" and not security.wants_json():
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?"), signed_out=g.get("signed_out")))
    return security.error_response(401)


def load_session() -> None:
    """Put the signed-in user (g.user) or a half-finished sign-in (g.pending) on the request."""
    g.user = g.pending = g.session = None
    token = request.cookies.get(security.SESSION_COOKIE)
    if not token:
        return
    ctx = web_context()
    store, now, web = ctx.store(), ctx.now(), ctx.config.web
    session = web_sessions.get(store, token)
    user = users.by_id(store, session.user_id) if session else None
    if session is None or user is None or user.disabled:
        g.drop_session_cookie = True
        if session:
            web_sessions.end(store, session)
        return
    reason = _expired(session, now, web)
    if reason:
        web_sessions.end(store, session)
        g.drop_session_cookie, g.signed_out = True, reason
        if reason != "pending":
            with store.write():
                audit.record(store, actor(user), "session-expired", None, user.username, reason=reason,
                             address=client_address())
        return
    g.session = session
    if session.stage != "signed-in":
        g.pending = user
        return
    g.user = user
    if now - datetime.fromisoformat(session.last_seen_at) >= TOUCH_EVERY and not request.headers.get(BACKGROUND_HEADER):
        web_sessions.touch(store, session, now)


def _expired(session: web_sessions.WebSession, now: datetime, web) -> str | None:
    """Why a session is over ('pending', 'idle', 'max-age'), or None while it is valid."""
    created, seen = datetime.fromisoformat(session.created_at), datetime.fromisoformat(session.last_seen_at)
    if session.stage != "signed-in":
        return "pending" if now - created > timedelta(minutes=PENDING_MINUTES) else None
    if now - seen > timedelta(minutes=web.idle_timeout_minutes):
        return "idle"
    if now - created > timedelta(hours=web.session_max_hours):
        return "max-age"
    return None


def guard():
    """Deny by default: only public views and static files are served to someone not signed in."""
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    if view is None or getattr(view, "public", False) or request.endpoint == "static":
        return None
    if g.user is None:
        return _to_sign_in()
    return None


def install(app: Flask) -> None:
    app.before_request(load_session)
    app.before_request(guard)

    @app.context_processor
    def signed_in_user():
        config = web_context().config
        return {"user": g.get("user"), "idle_seconds": config.web.idle_timeout_minutes * 60,
                "clinic_name": config.clinic.name}
