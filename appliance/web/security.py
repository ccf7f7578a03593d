"""Browser-facing protections: the persisted secret, CSRF tokens, cookie flags, headers, error pages.

CSRF tokens are HMAC(secret, cookie value): bound to the session cookie once signed in, and to a
random pre-sign-in cookie on the sign-in form, so a login form cannot be forged either. The secret
lives in a 0600 file in the data dir, so a restart keeps every open form and session valid.
"""

from __future__ import annotations

import hmac
import os
import secrets
import stat
from pathlib import Path

from flask import Flask, Response, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from appliance.errors import KeyFileError

SECRET_NAME = "web-session.key"
SESSION_COOKIE = "__Host-dentra-session"  # __Host-: Secure, path /, no Domain, so no subdomain can set it
FORM_COOKIE = "__Host-dentra-form"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}

MESSAGES = {
    400: ("csrf-invalid", "The form had no valid security token (it may be from before a restart of the "
                          "browser). Reload the page and try again."),
    401: ("signed-out", "Please sign in."),
    403: ("forbidden", "Your role does not give access to this page. The attempt was recorded."),
    404: ("not-found", "There is no such page."),
    405: ("method-not-allowed", "This page cannot be used that way."),
    413: ("too-large", "That request is too large."),
    429: ("too-many-attempts", "Too many failed sign-ins from this computer. Wait a few minutes."),
}


def load_secret(data_dir: Path) -> bytes:
    """The web secret from <data_dir>/web-session.key, created (0600) on first use."""
    path = Path(data_dir) / SECRET_NAME
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"{path} is readable by other users (mode {stat.S_IMODE(mode):o}); run `chmod 600 {path}`")
    text = path.read_text().strip()
    if len(text) != 64:
        raise KeyFileError(f"{path} is damaged; delete it (everyone will have to sign in again) and restart")
    return bytes.fromhex(text)


def set_cookie(response: Response, name: str, value: str) -> None:
    """A browser-session cookie: never sent over plain HTTP, unreadable by scripts, same site only."""
    response.set_cookie(name, value, secure=True, httponly=True, samesite="Strict", path="/")


def drop_cookie(response: Response, name: str) -> None:
    response.delete_cookie(name, secure=True, httponly=True, samesite="Strict", path="/")


def _csrf_binding() -> str:
    """The cookie a token is bound to; a fresh pre-sign-in cookie is made (and set later) if none."""
    # a session ended during this request no longer binds the forms this response shows
    session = None if g.get("drop_session_cookie") else request.cookies.get(SESSION_COOKIE)
    value = session or request.cookies.get(FORM_COOKIE) or g.get("new_form_cookie")
    if not value:
        value = g.new_form_cookie = secrets.token_urlsafe(24)
    return value


def csrf_token() -> str:
    """The token every form carries in a hidden `csrf_token` field (or JavaScript in X-CSRF-Token)."""
    from flask import current_app

    key = current_app.config["SECRET_KEY"]
    return hmac.new(key, b"csrf:" + _csrf_binding().encode(), "sha256").hexdigest()


def check_csrf() -> Response | None:
    """Refuse (400) any state-changing request whose token is missing or does not match its cookie."""
    if request.method not in UNSAFE_METHODS:
        return None
    sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    has_cookie = request.cookies.get(SESSION_COOKIE) or request.cookies.get(FORM_COOKIE)
    if not has_cookie or not hmac.compare_digest(sent, csrf_token()):
        return error_response(400)
    return None


def add_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.endpoint != "static":
        # pages show PHI: never keep them in a cache or the back-forward history
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
    if g.get("new_form_cookie"):
        set_cookie(response, FORM_COOKIE, g.new_form_cookie)
    if g.get("new_session_token"):
        set_cookie(response, SESSION_COOKIE, g.new_session_token)
    elif g.get("drop_session_cookie"):
        drop_cookie(response, SESSION_COOKIE)
    return response


def wants_json() -> bool:
    return request.path.startswith("/api/") or (
        request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json")


def error_response(status: int, message: str | None = None) -> Response:
    """One error shape: a JSON object for scripts, a short page for people."""
    code, default = MESSAGES.get(status, ("error", "Something went wrong."))
    message = message or default
    if wants_json():
        response = jsonify(error={"code": code, "message": message})
    else:
        response = Response(render_template("error.html", status=status, message=message))
    response.status_code = status
    return response


def install(app: Flask) -> None:
    app.before_request(check_csrf)
    app.after_request(add_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException):
        return error_response(err.code or 500, err.description if err.code not in MESSAGES else None)
