"""The screen pop's websocket, `/live`: signed-in staff only, fed by the web process's one ScreenPopHub.

The hub (an outbox tailer thread and a store connection of its own) is made at the first `/live`
connection, so it always lives in the gunicorn worker that serves the sockets (never in a parent
before a fork), and test apps that never open a socket start no thread. `close()` (on SIGTERM via
server.py, and from WebContext.close) drops every page at once, so a restart is not held up by
sockets that would otherwise stay open until gunicorn's graceful timeout.
"""

from __future__ import annotations

import threading
from datetime import datetime

from flask import Blueprint, Flask, current_app, request
from flask_sock import Sock

from appliance.store import Store
from appliance.web import WebContext, access, live
from appliance.web.screenpop import PopSource, ScreenPopHub

bp = Blueprint("live", __name__)
sock = Sock()


class LiveHub:
    """The web process's hub, made on first use and closed with the app."""

    def __init__(self, ctx: WebContext):
        self.ctx = ctx
        self.hub: ScreenPopHub | None = None
        self._closed = False
        self._lock = threading.Lock()

    def get(self) -> ScreenPopHub:
        with self._lock:
            if self._closed:
                raise RuntimeError("the web process is stopping")
            if self.hub is None:
                store = Store.open(self.ctx.data_dir, self.ctx.key_file, migrate=False)
                self.hub = ScreenPopHub(PopSource(store, self.clinic_now))
                self.hub.start()
            return self.hub

    def clinic_now(self) -> datetime:
        """Clinic-local now for the cards (ages, the next appointment); ctx.now is UTC and tests move it."""
        return self.ctx.now().astimezone(self.ctx.config.tz).replace(tzinfo=None)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            hub, self.hub = self.hub, None
        if hub is not None:
            hub.close()
            hub.source.store.close()


def live_hub(app: Flask | None = None) -> LiveHub:
    return (app or current_app).extensions["dentra.live"]


@sock.route("/live", bp=bp)
def channel(ws):
    """One page's stream of screen pops (signed-in users only, as every view); `?last_event_id=N` resumes."""
    live.serve(ws, live_hub().get(), request.args.get("last_event_id"), access.patient_shown_auditor(),
               signed_in=access.session_check())


def install(app: Flask) -> None:
    ctx: WebContext = app.extensions["dentra"]
    hub = app.extensions["dentra.live"] = LiveHub(ctx)
    ctx.closers.append(hub.close)
    app.register_blueprint(bp)
