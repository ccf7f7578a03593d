"""`dentra run` keeps the receptionist page running as a child process (`dentra web`), restarting it if it dies.

A separate process, not a thread: gunicorn wants its own main thread and signals, a crash in the
page must not take calls down with it, and systemd can later run the same command as its own unit
(`dentra-web`) with nothing else changed.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from appliance.web.server import PARENT_ENV

log = logging.getLogger("dentra.run")

FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 60.0
HEALTHY_AFTER_S = 60.0  # a child that ran this long was fine; its next crash starts the backoff over


def web_command(config_source: str, data_dir: Path, key_file: Path | None) -> list[str]:
    """The `dentra web` command line for this clinic and store."""
    argv = [sys.executable, "-m", "appliance", "web", "--config", config_source, "--data-dir", str(data_dir)]
    return argv + (["--key-file", str(key_file)] if key_file else [])


class WebProcess:
    """One supervised `dentra web`: start(), then stop() when the appliance stops."""

    def __init__(self, argv: list[str]):
        self.argv = argv
        self.starts = 0
        self.process: subprocess.Popen | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # stop() must not miss a child being started at that moment
        self._thread = threading.Thread(target=self._keep_running, name="web-supervisor", daemon=True)

    def start(self) -> WebProcess:
        self._thread.start()
        return self

    def _keep_running(self) -> None:
        backoff = FIRST_BACKOFF_S
        while not self._stopping.is_set():
            started = time.monotonic()
            with self._lock:
                if self._stopping.is_set():
                    return
                # its own session: a Ctrl-C in the terminal reaches `dentra run`, which then stops the page
                self.process = subprocess.Popen(self.argv, env={**os.environ, PARENT_ENV: str(os.getpid())},
                                                start_new_session=True)
                self.starts += 1
            code = self.process.wait()
            if self._stopping.is_set():
                return
            if time.monotonic() - started > HEALTHY_AFTER_S:
                backoff = FIRST_BACKOFF_S
            log.error("the receptionist page (dentra web) stopped with exit code %s; restarting in %.0f s",
                      code, backoff)
            self._stopping.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    def stop(self, timeout: float = 15.0) -> int | None:
        """Stop the page (SIGTERM, then SIGKILL after `timeout`); returns its exit code."""
        self._stopping.set()
        with self._lock:
            proc = self.process
        if proc is None or proc.poll() is not None:
            self._thread.join(timeout=1)
            return proc.returncode if proc else None
        proc.terminate()
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        self._thread.join(timeout=1)
        return code
