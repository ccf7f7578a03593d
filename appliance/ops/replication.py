"""`dentra replicate`: run Litestream on the store, restart it when it stops, and publish how far behind it is.

Litestream exits when an SFTP server is down at its start and stays quiet while an S3 server is
down, so the supervisor does not trust its process state alone: every `probe_s` it lists the
replica and compares the newest shipped change with the store's newest write. The result goes to
status/replication.json, which `dentra status` and the status page read.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from appliance.errors import AppError
from appliance.ops import facts, litestream, records
from appliance.ops.target import parse_target
from appliance.store.db import DB_NAME

log = logging.getLogger("dentra.replicate")
RECORD = "replication"
CONFIG_NAME = "replication/litestream.yml"
LEVELS = {"ERROR": logging.ERROR, "WARN": logging.WARNING, "INFO": logging.INFO, "DEBUG": logging.DEBUG}


class Supervisor:
    """One Litestream child replicating the store, restarted with backoff, and a lag probe."""

    def __init__(self, config, data_dir: Path, stop: threading.Event, probe_s: float = 15.0):
        self.data_dir, self.stop, self.probe_s = Path(data_dir), stop, probe_s
        self.target = parse_target(config.replication)
        self.db = self.data_dir / DB_NAME
        self.config_path = litestream.write_config(self.data_dir / CONFIG_NAME, self.db, self.target,
                                                   config.replication.sync_interval_seconds)
        self.child: subprocess.Popen | None = None
        self.state: dict = {"state": "starting", "target": self.target.display, "restarts": 0, "last_error": "",
                            "started_at": records.now_iso(), "replica_txid": 0, "replica_shipped_at": None,
                            "lag_s": None}
        self._child_error = ""

    def run(self) -> int:
        """Replicate until `stop` is set; returns 0."""
        backoff = 1.0
        while not self.stop.is_set():
            began = time.monotonic()
            self.child = self._start()
            next_probe = time.monotonic() + min(2.0, self.probe_s)  # the first snapshot takes a moment
            while self.child.poll() is None and not self.stop.is_set():
                if time.monotonic() >= next_probe:
                    self.probe()
                    next_probe = time.monotonic() + self.probe_s
                self.stop.wait(0.2)
            if self.stop.is_set():
                break
            # a run of more than a few seconds was no crash loop (an SFTP server down kills it at once)
            backoff = 1.0 if time.monotonic() - began > 3 else min(backoff * 2, 30.0)
            self._error(f"litestream stopped (exit {self.child.returncode}): {self._child_error or 'no message'}; "
                        f"restarting in {backoff:.0f} s")
            self.state.update(state="restarting", restarts=self.state["restarts"] + 1)
            self._publish()
            self.stop.wait(backoff)
        self._halt()
        self.state.update(state="stopped", litestream_pid=None)
        self._publish()
        return 0

    def _start(self) -> subprocess.Popen:
        self._child_error = ""
        child = subprocess.Popen(litestream.argv("replicate", self.config_path, self.target),
                                 env=litestream.child_env(self.target), stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._forward_log, args=(child,), daemon=True, name="litestream-log").start()
        log.info("litestream (pid %d) replicating %s to %s", child.pid, self.db, self.target.display)
        self.state.update(litestream_pid=child.pid)
        return child

    def _forward_log(self, child: subprocess.Popen) -> None:
        """Litestream's lines go to our journal at their own level; the last error is kept for the status."""
        for line in child.stderr:
            line = re.sub(r"^time=\S+\s+", "", line.strip())
            match = re.search(r"level=(\w+)", line)
            level = LEVELS.get(match.group(1), logging.INFO) if match else logging.WARNING
            log.log(level, "litestream: %s", line)
            if level >= logging.WARNING or line.startswith("Error:"):
                self._child_error = line.removeprefix("Error: ")

    def _halt(self) -> None:
        if self.child and self.child.poll() is None:
            self.child.terminate()  # Litestream ships what it has before it exits
            try:
                self.child.wait(15)
            except subprocess.TimeoutExpired:
                self.child.kill()
                self.child.wait()

    def probe(self) -> dict:
        """List the replica, measure the lag against the store's newest write, publish the record."""
        now = datetime.now(UTC)
        try:
            txid, shipped = litestream.replica_position(
                litestream.replica_files(self.config_path, self.db, self.target, timeout_s=max(20.0, self.probe_s)))
            self.state.update(replica_txid=txid, replica_ok_at=now.isoformat(timespec="seconds"),
                              replica_shipped_at=shipped.isoformat() if shipped else None,
                              state="replicating" if self.child and self.child.poll() is None else "restarting")
        except AppError as err:
            self._error(err.message)
            self.state.update(state="target-unreachable")
        live = _newest_write(self.db)
        shipped_at = self.state.get("replica_shipped_at")
        shipped = datetime.fromisoformat(shipped_at) if shipped_at else None
        self.state.update(live_newest_write_at=live.isoformat() if live else None, probed_at=now.isoformat(),
                          lag_s=lag_seconds(live, shipped))
        self._publish()
        return dict(self.state)

    def _error(self, message: str) -> None:
        log.warning("%s", message)
        self.state.update(last_error=message, last_error_at=records.now_iso())

    def _publish(self) -> None:
        records.write_record(self.data_dir, RECORD, self.state)


def lag_seconds(live: datetime | None, shipped: datetime | None) -> float | None:
    """How far the replica's newest change is behind the store's newest write; None when nothing was shipped."""
    if live is None:
        return 0.0
    if shipped is None:
        return None
    return round(max(0.0, (live - shipped).total_seconds()), 3)


def _newest_write(db: Path) -> datetime | None:
    try:
        conn = facts.read_only(db)
        try:
            return facts.newest_write_at(conn)
        finally:
            conn.close()
    except sqlite3.Error:  # a store being created or moved is not the replica's problem
        return None
