"""`dentra web`: the receptionist page under gunicorn over TLS, one process with a thread per request.

One worker process: the screen-pop tailer and each browser's queue live in that process, and the
box has two cores. Threads, because a live screen holds its connection (flask-sock) for hours.
No access log: URLs can carry a patient id or a searched name, and PHI never goes into logs.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from pathlib import Path

from gunicorn.app.base import BaseApplication

from appliance.config import Config
from appliance.errors import AppError
from appliance.web import certs

log = logging.getLogger("dentra.web")
PARENT_ENV = "DENTRA_WEB_PARENT"  # set by `dentra run`: the page stops when the voice agent is gone


class PageServer(BaseApplication):
    """gunicorn driven from code: settings from the clinic config, the app built in the worker."""

    def __init__(self, make_app, options: dict):
        self._make_app, self._options = make_app, options
        super().__init__()

    def load_config(self) -> None:
        for name, value in self._options.items():
            self.cfg.set(name, value)

    def load(self):
        return self._make_app()


def options(config: Config, listen: str, data_dir: Path) -> dict:
    """gunicorn settings for the page; TLS from the data dir's certificate and key."""
    cert, key = certs.paths(data_dir)
    return {
        "bind": [listen],
        "workers": 1,
        "worker_class": "gthread",
        "threads": config.web.threads,
        "certfile": str(cert),
        "keyfile": str(key),
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        "timeout": 60,
        "graceful_timeout": 10,
        "keepalive": 5,
        "proc_name": "dentra-web",
        # served directly on the LAN: no proxy may claim another client address or scheme
        "forwarded_allow_ips": "",
        "secure_scheme_headers": {},
        "control_socket_disable": True,
        "post_worker_init": _drop_pages_on_stop,
    }


def _drop_pages_on_stop(worker) -> None:
    """On SIGTERM also close the live channel, so open screens do not hold the stop for graceful_timeout."""
    graceful = signal.getsignal(signal.SIGTERM)

    def stop(sig, frame):
        from appliance.web.channel import live_hub

        threading.Thread(target=live_hub(worker.wsgi).close, name="live-close", daemon=True).start()
        if callable(graceful):
            graceful(sig, frame)

    signal.signal(signal.SIGTERM, stop)


def check_listen(listen: str, source: str) -> None:
    """Fail early with one clear line when the address cannot be bound (gunicorn would retry for a while)."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    probe = socket.socket(family, socket.SOCK_STREAM)
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind((host, int(port)))
    except OSError as err:
        raise AppError(f"cannot serve the receptionist page on {listen}: {err.strerror}; change [web] listen in "
                       f"{source} or stop the program using that port", code="web-listen-failed") from None
    finally:
        probe.close()


def _follow_parent(parent_pid: int) -> None:
    """Stop this server when the process that started it has gone (a crashed `dentra run` leaves no orphan)."""
    def watch():
        while os.getppid() == parent_pid:
            time.sleep(1)
        log.warning("the voice agent that started the web page has stopped; stopping too")
        os.kill(os.getpid(), 15)

    threading.Thread(target=watch, name="follow-parent", daemon=True).start()


def serve(config: Config, data_dir: Path, key_file: Path | None, listen: str | None = None) -> int:
    """Run the page until SIGTERM/SIGINT; makes a self-signed certificate first if there is none."""
    from appliance.web import WebContext, create_app, utc_now

    listen = listen or config.web.listen
    check = WebContext(config, data_dir, key_file, utc_now)  # a wrong key or store is one clear line, here
    check.store()
    check.close()
    made = certs.ensure_self_signed(data_dir, certs.host_names(listen))
    if made:
        print(f"Made a self-signed certificate for the receptionist page: {made.describe()}", flush=True)
    check_listen(listen, config.source)
    if os.environ.get(PARENT_ENV, "").isdigit():
        _follow_parent(int(os.environ[PARENT_ENV]))
    print(f"Receptionist page on https://{listen}/ (Ctrl-C stops)", flush=True)
    PageServer(lambda: create_app(config, data_dir, key_file), options(config, listen, data_dir)).run()
    return 0
