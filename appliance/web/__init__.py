"""The receptionist page: `create_app(config, data_dir)` builds the Flask app with its blueprints.

Order of the request hooks matters: the CSRF check runs first (it needs only cookies), then the
session is loaded, then anything not marked public needs a signed-in user (deny by default, so a
page that forgets `require_role` still shows nothing to a stranger).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask, current_app

from appliance.config import Config
from appliance.store import Store
from appliance.store.db import default_key_file, peek_meta

Now = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class WebContext:
    """What every request needs: the config, the clock and one store connection per thread."""

    def __init__(self, config: Config, data_dir: Path, key_file: Path | None, now: Now):
        self.config, self.data_dir, self.now = config, Path(data_dir), now
        recorded = peek_meta(self.data_dir, "key_file")
        self.key_file = Path(key_file or config.store.key_file or recorded or default_key_file(self.data_dir))
        self._local = threading.local()
        self._opened: list[Store] = []
        self._lock = threading.Lock()
        self.closers: list[Callable[[], None]] = []  # run first by close() (the live channel's hub)

    def store(self) -> Store:
        """This thread's store (a SQLite connection must not serve two threads' transactions)."""
        store = getattr(self._local, "store", None)
        if store is None:
            store = Store.open(self.data_dir, self.key_file, migrate=False)
            self._local.store = store
            with self._lock:
                self._opened.append(store)
        return store

    def close(self) -> None:
        for closer in self.closers:
            closer()
        with self._lock:
            for store in self._opened:
                store.close()
            self._opened.clear()


def web_context() -> WebContext:
    return current_app.extensions["dentra"]


def create_app(config: Config, data_dir: Path, key_file: Path | None = None, now: Now | None = None) -> Flask:
    """The receptionist page's Flask app for this clinic and store; `now` (UTC) can be injected by tests."""
    from appliance.web import access, auth, channel, security, views

    app = Flask(__name__)
    ctx = WebContext(config, data_dir, key_file, now or utc_now)
    with Store.open(ctx.data_dir, ctx.key_file):  # migrates once, before any request thread opens it
        pass
    app.extensions["dentra"] = ctx
    secret = security.load_secret(ctx.data_dir)
    app.config.update(
        SECRET_KEY=secret,
        SESSION_COOKIE_NAME="__Host-dentra-flask",
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        MAX_CONTENT_LENGTH=1024 * 1024,  # forms are small; nothing here takes uploads
        TEMPLATES_AUTO_RELOAD=False,
    )
    security.install(app)
    access.install(app)
    app.register_blueprint(auth.bp)
    views.register(app)
    channel.install(app)  # the screen pop's /live websocket
    return app
