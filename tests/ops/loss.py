"""Writes at risk when Litestream is killed mid-write, and how it catches up (shared by tests and the bench)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from appliance.ops import facts
from appliance.ops.records import read_record
from appliance.ops.restore import fetch
from appliance.ops.target import ReplicaTarget
from appliance.store.db import DB_NAME
from tests.ops.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]


def start_writer(data_dir: Path, clinic: Path, mode: str = "heartbeat", env=None) -> subprocess.Popen:
    """tests/ops/booker.py as its own process; a heartbeat writer's lines are dropped (a full pipe would stall it)."""
    out = subprocess.DEVNULL if mode == "heartbeat" else subprocess.PIPE
    return subprocess.Popen([sys.executable, "-m", "tests.ops.booker", str(data_dir), str(clinic), mode], cwd=ROOT,
                            stdin=subprocess.DEVNULL, stdout=out, stderr=out, text=True,
                            env={**os.environ, **(env or {})})


def replica_newest(target: ReplicaTarget) -> datetime | None:
    """The newest write a restore of the replica would give back now."""
    with tempfile.TemporaryDirectory(prefix="dentra-loss-") as scratch:
        fetch(target, Path(scratch) / DB_NAME)
        conn = facts.read_only(Path(scratch) / DB_NAME)
        try:
            return facts.newest_write_at(conn)
        finally:
            conn.close()


def live_newest(data_dir: Path) -> datetime | None:
    conn = facts.read_only(data_dir / DB_NAME)
    try:
        return facts.newest_write_at(conn)
    finally:
        conn.close()


def kill_litestream_mid_write(data_dir: Path, target: ReplicaTarget, write_s: float = 2.0) -> dict:
    """With `dentra replicate` running and a writer busy, kill -9 Litestream; measure what only the box held,
    then wait for the supervisor's restart to ship it. Returns {at_risk_s, catch_up_s}."""
    before = read_record(data_dir, "replication")["restarts"]
    # time only from when the writer's writes reach the replica, or the demo data's age would count
    since = datetime.now(UTC)
    wait_for(lambda: (replica_newest(target) or since) > since, 20, "the writer's writes to reach the replica",
             every=0.3)
    time.sleep(write_s)
    pid = read_record(data_dir, "replication")["litestream_pid"]
    killed_at = datetime.now(UTC)
    os.kill(pid, signal.SIGKILL)
    at_risk = (killed_at - replica_newest(target)).total_seconds()
    wait_for(lambda: (read_record(data_dir, "replication") or {}).get("restarts", 0) > before, 15,
             "the supervisor to restart litestream")
    started = time.monotonic()
    newest = live_newest(data_dir)
    wait_for(lambda: (replica_newest(target) or killed_at) >= newest, 30, "the replica to catch up", every=0.5)
    return {"at_risk_s": round(at_risk, 3), "catch_up_s": round(time.monotonic() - started, 2)}
