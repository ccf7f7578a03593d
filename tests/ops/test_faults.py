"""Faults: Litestream killed mid-write, a power cut mid-booking, a full disk, the replica server down then back."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from appliance.config import load_config
from appliance.ops.drill import run_drill
from appliance.ops.records import read_record
from appliance.ops.target import parse_target
from appliance.store import Store, audit
from appliance.store.db import DB_NAME
from tests.ops.conftest import dentra, replicating, wait_for, write_clinic
from tests.ops.loss import kill_litestream_mid_write, start_writer
from tests.ops.servers import S3_ENV, Cable


def assert_whole(data_dir: Path, confirmed: list[str]) -> None:
    """The store opens clean; every confirmed booking is there, each with its audit row and event, and
    no audit row or event belongs to a booking that is not."""
    with Store.open(data_dir) as store:
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert audit.verify(store).ok
        booked = {r[0] for r in store.conn.execute("SELECT appointment_id FROM appointments WHERE source = 'ai'")}
        audited = [r[0] for r in store.conn.execute(
            "SELECT subject FROM audit_log WHERE action = 'appointment-booked' AND actor = 'test:booker'")]
        n_events = store.conn.execute("SELECT COUNT(*) FROM events WHERE type = 'appointment-booked'").fetchone()[0]
    assert set(confirmed) <= booked
    assert sorted(audited) == sorted(booked) and n_events == len(booked)


def test_kill_9_litestream_mid_write_then_it_catches_up(demo_data, tmp_path, config):
    clinic = write_clinic(tmp_path / "clinic.toml", url=f"file://{tmp_path / 'replica'}")
    target = parse_target(load_config(clinic).replication)
    with replicating(clinic, demo_data):
        writer = start_writer(demo_data, clinic)
        try:
            result = kill_litestream_mid_write(demo_data, target)
        finally:
            writer.kill()
            writer.communicate()
    # Litestream ships every second (sync-interval): about that much was only on the box
    print(f"kill -9 of litestream: {result}")
    assert 0 <= result["at_risk_s"] < 2.5, result
    assert result["catch_up_s"] < 10, result


def test_power_cut_mid_booking(demo_data, tmp_path):
    """kill -9 the booking process, the replication supervisor and Litestream together, three times."""
    clinic = write_clinic(tmp_path / "clinic.toml", url=f"file://{tmp_path / 'replica'}")
    confirmed: list[str] = []
    rng = random.Random(6)
    for _ in range(3):
        with replicating(clinic, demo_data) as supervisor:
            booker = start_writer(demo_data, clinic, "book")
            first = booker.stdout.readline()  # bookings are flowing
            assert first.startswith("booked"), first + booker.stderr.read()
            time.sleep(rng.uniform(0.1, 0.6))
            for pid in (booker.pid, read_record(demo_data, "replication")["litestream_pid"], supervisor.pid):
                os.kill(pid, signal.SIGKILL)
            out = first + booker.communicate()[0]
            confirmed += [line.split()[1] for line in out.splitlines() if line.startswith("booked")]
    assert len(confirmed) > 15
    assert_whole(demo_data, confirmed)
    # and the replica picks up where it was cut off
    with replicating(clinic, demo_data):
        drill = run_drill(load_config(clinic), demo_data, demo_data / "dentra.key")
    assert drill["result"] == "ok", drill["errors"]


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs when we may mount one (root, as in CI); else None (the booker limits its file size)."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mount)],
                                            capture_output=True).returncode == 0:
        yield mount, {}
        subprocess.run(["umount", "-l", str(mount)], check=True)
    else:
        yield mount, {"BOOKER_FSIZE": str(2 * 1024 * 1024)}


def test_disk_full_while_booking(demo_data, tmp_path, small_disk):
    disk, limit = small_disk
    data_dir = disk / "data"
    shutil.copytree(demo_data, data_dir)
    clinic = write_clinic(tmp_path / "clinic.toml")
    booker = start_writer(data_dir, clinic, "book", env=limit)
    out, err = booker.communicate(timeout=120)
    lines = out.splitlines()
    confirmed = [line.split()[1] for line in lines if line.startswith("booked")]
    assert booker.returncode == 3, err[-2000:]
    assert lines[-1].startswith(("error disk-full: the disk holding", "error disk-write-failed: writing to"))
    assert "this change was not saved" in lines[-1] and "df -h" in lines[-1]
    if not limit:  # a real full disk: an admin's command that must write a lot says so in one line
        run = dentra("keys", "rotate", "--data-dir", data_dir)
        assert run.returncode == 1
        assert run.stderr.startswith(f"dentra: the disk holding {data_dir} is full; this change was not saved")
        assert len(run.stderr.splitlines()) == 1
    # the disk is replaced by a bigger one: everything confirmed is there, nothing half-written
    bigger = tmp_path / "bigger"
    bigger.mkdir()
    for name in (DB_NAME, DB_NAME + "-wal", "dentra.key"):
        if (data_dir / name).exists():
            shutil.copy2(data_dir / name, bigger / name)
    assert len(confirmed) > 5
    assert_whole(bigger, confirmed)


def test_replica_server_down_then_back(demo_data, tmp_path, s3_server):
    """The S3 server unreachable for ~8 s (standing in for an hour): writes queue, status alerts, then it catches up."""
    cable = Cable(s3_server.port)
    clinic = write_clinic(tmp_path / "clinic.toml", url=s3_server.url(f"down-{tmp_path.name}", port=cable.port),
                          max_lag_seconds=3)
    status = ["status", "--config", clinic, "--data-dir", demo_data, "--json"]
    with replicating(clinic, demo_data, S3_ENV):
        writer = start_writer(demo_data, clinic)
        try:
            time.sleep(1)
            cable.unplug()
            alerts = wait_for(lambda: [p for p in json.loads(dentra(*status, env=S3_ENV).stdout)["problems"]
                                       if p.startswith("replication:")], 30, "status to alert")
            assert "behind" in alerts[0] or "has not answered" in alerts[0]
            assert dentra(*status, env=S3_ENV).returncode == 1
            cable.plug()
            plugged = datetime.now(UTC)

            def caught_up():  # judged by a probe that started after the cable was back
                rec = read_record(demo_data, "replication") or {}
                return datetime.fromisoformat(rec["probed_at"]) > plugged and rec["lag_s"] is not None \
                    and rec["lag_s"] < 1.5

            wait_for(caught_up, 60, "the replica to catch up")
        finally:
            # stopped between writes: a writer killed between its commit and the WAL index update leaves a
            # transaction Litestream ships but live readers do not see until the next write
            writer.terminate()
            writer.communicate()
        drill = json.loads(dentra("backup", "drill", "--config", clinic, "--data-dir", demo_data, "--json",
                                  env=S3_ENV).stdout)
        # the alert clears by itself (polled: on a loaded box one probe may still be on its way)
        wait_for(lambda: not [p for p in json.loads(dentra(*status, env=S3_ENV).stdout)["problems"]
                              if p.startswith("replication:")], 30, "the replication alert to clear")
    assert drill["result"] == "ok", drill["errors"]
