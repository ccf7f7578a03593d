"""Signing in: password, then a TOTP code (enrolled with a QR code at the first sign-in), and out.

Failures count against the account (locked after [web] lockout_failures) and against the client
address (paused after [web] address_failures within the window). A wrong username and a wrong
password get the same answer and take the same time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Blueprint, g, redirect, render_template, request, url_for

from appliance.store import audit, users, web_sessions
from appliance.store.users import User
from appliance.web import second_factor, web_context
from appliance.web.access import actor, client_address, public

bp = Blueprint("auth", __name__)

SIGNED_OUT = {"idle": "You were signed out after a while without activity.",
              "max-age": "You were signed out because the session reached its maximum length.",
              "pending": "The sign-in took too long; please start again."}


def _safe_next(target: str | None) -> str:
    # only paths on this site: an open redirect would let a phishing link pass through the login page
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return url_for("views.home")


def _form(template: str, status: int = 200, **context):
    context.setdefault("next", _safe_next(request.values.get("next")))
    return render_template(template, **context), status


@bp.get("/login")
@public
def login():
    if g.user:
        return redirect(_safe_next(request.args.get("next")))
    notice = SIGNED_OUT.get(g.get("signed_out") or request.args.get("signed_out", ""))
    return _form("login.html", notice=notice)


@bp.post("/login")
@public
def login_post():
    ctx = web_context()
    store, now, web, address = ctx.store(), ctx.now(), ctx.config.web, client_address()
    window = timedelta(minutes=web.address_window_minutes)
    retry = web_sessions.address_retry_at(store, address, now, window, web.address_failures)
    if retry:
        return _form("login.html", 429, error=f"Too many failed sign-ins from this computer. Try again after "
                                              f"{_local(retry)}.")
    username, password = request.form.get("username", ""), request.form.get("password", "")
    user = users.get(store, username) if users.USERNAME.fullmatch(username.strip().lower()) else None
    if user and user.locked_at(now):
        return _locked(user)
    if not users.password_matches(store, user, password) or user.disabled:
        web_sessions.address_failed(store, address, now, window)
        if user is None or user.disabled:
            with store.write():
                audit.record(store, "web", "sign-in-failed", None, user.username if user else None, address=address,
                             step="password", reason="disabled" if user else "unknown-user")
        elif users.sign_in_failed(store, user, address, "password", now, web.lockout_failures, web.lockout_minutes):
            return _locked(users.by_id(store, user.user_id))
        return _form("login.html", 401, error="Wrong username or password.", username=username)
    if g.session:
        web_sessions.end(store, g.session)
    # sessions of browsers that were simply closed are swept here, at each sign-in
    web_sessions.prune(store, now - timedelta(minutes=web.idle_timeout_minutes),
                       now - timedelta(hours=web.session_max_hours))
    stage = "second-factor" if user.totp_enrolled else "enrol"
    g.new_session_token = web_sessions.start(store, user.user_id, stage, address, now)
    target = "auth.code" if user.totp_enrolled else "auth.enrol"
    return redirect(url_for(target, next=_safe_next(request.form.get("next"))))


@bp.get("/login/code")
@public
def code():
    if g.pending is None or g.session.stage != "second-factor":
        return redirect(url_for("auth.login"))
    return _form("code.html")


@bp.post("/login/code")
@public
def code_post():
    if g.pending is None or g.session.stage != "second-factor":
        return redirect(url_for("auth.login"))
    return _check_code(g.pending, "code.html")


@bp.get("/login/enrol")
@public
def enrol():
    if g.pending is None or g.session.stage != "enrol":
        return redirect(url_for("auth.login"))
    return _enrol_form(g.pending)


@bp.post("/login/enrol")
@public
def enrol_post():
    if g.pending is None or g.session.stage != "enrol":
        return redirect(url_for("auth.login"))
    return _check_code(g.pending, None)


@bp.post("/logout")
def logout():
    store = web_context().store()
    web_sessions.end(store, g.session)
    with store.write():
        audit.record(store, actor(g.user), "signed-out", None, g.user.username, address=client_address())
    g.drop_session_cookie = True
    return redirect(url_for("auth.login"))


def _enrol_form(user: User, status: int = 200, error: str | None = None):
    store = web_context().store()
    secret = users.totp_secret(store, user)
    if secret is None:  # first visit; a reload keeps the same secret, so a scanned code stays valid
        secret = second_factor.new_secret()
        users.start_enrolment(store, user, secret)
    issuer = f"{web_context().config.clinic.name} (Dentra)"
    uri = second_factor.provisioning_uri(secret, user.username, issuer)
    return _form("enrol.html", status, error=error, qr=second_factor.qr_svg(uri),
                 secret=second_factor.grouped(secret), issuer=issuer, username=user.username)


def _check_code(user: User, template: str | None):
    ctx = web_context()
    store, now, web, address = ctx.store(), ctx.now(), ctx.config.web, client_address()
    if user.locked_at(now):  # locked meanwhile by failures in another browser
        web_sessions.end(store, g.session)
        g.drop_session_cookie = True
        return _locked(user)
    secret = users.totp_secret(store, user)
    if secret is None:  # the enrolment page was never shown (or an admin reset it): show it
        return redirect(url_for("auth.enrol"))
    step = second_factor.accepted_step(secret, request.form.get("code", ""), now, users.last_totp_step(store, user))
    if step is not None:
        users.second_factor_passed(store, user, step, address, now)
        g.new_session_token = web_sessions.advance(store, g.session, "signed-in", now)
        return redirect(_safe_next(request.form.get("next")))
    web_sessions.address_failed(store, address, now, timedelta(minutes=web.address_window_minutes))
    if users.sign_in_failed(store, user, address, "code", now, web.lockout_failures, web.lockout_minutes):
        web_sessions.end(store, g.session)
        g.drop_session_cookie = True
        return _locked(users.by_id(store, user.user_id))
    error = "That code is not right. Type the 6 digits your authenticator app shows now."
    return _form(template, 401, error=error) if template else _enrol_form(user, 401, error)


def _locked(user: User):
    message = (f"This account is locked after too many failed sign-ins until {_local(user.locked_until)}. "
               f"A manager or IT can unlock it now with `dentra users unlock {user.username}`.")
    return _form("login.html", 423, error=message)


def _local(at) -> str:
    """A UTC time (datetime or stored text) as the clinic's wall-clock time, e.g. 14:05."""
    when = datetime.fromisoformat(at) if isinstance(at, str) else at
    return when.astimezone(web_context().config.tz).strftime("%H:%M")
