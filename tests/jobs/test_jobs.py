"""appliance/jobs: due jobs run once per period, the schedule survives restarts, skipped jobs never run."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from appliance import jobs
from appliance.config import load_config
from appliance.defaults import EXAMPLE_CONFIG

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def job(**changes) -> jobs.Job:
    base = jobs.Job("ping", (sys.executable, "-c", "pass"), every=timedelta(days=7), first_after=timedelta(hours=1),
                    timeout=timedelta(seconds=30))
    return replace(base, **changes)


def test_a_job_first_runs_after_its_delay_then_every_period(tmp_path):
    schedule = jobs.Schedule(tmp_path / "jobs.json")
    ran: list[datetime] = []
    the_job = job()
    for minutes in range(0, 8 * 24 * 60 + 120, 30):
        now = T0 + timedelta(minutes=minutes)
        jobs.run_due([the_job], schedule, now, run=lambda j, now=now: ran.append(now) or 0)
    assert ran == [T0 + timedelta(hours=1), T0 + timedelta(days=7, hours=1)]


def test_the_schedule_survives_a_restart(tmp_path):
    path = tmp_path / "jobs.json"
    jobs.run_due([job(first_after=timedelta(0))], jobs.Schedule(path), T0, run=lambda j: 3)
    saved = json.loads(path.read_text())["ping"]
    assert saved["last_exit"] == 3 and saved["next_at"] == (T0 + timedelta(days=7)).isoformat()
    # a new process a day later: nothing is due
    assert jobs.run_due([job()], jobs.Schedule(path), T0 + timedelta(days=1), run=lambda j: 0) == []


def test_a_skipped_job_never_runs(tmp_path):
    schedule = jobs.Schedule(tmp_path / "jobs.json")
    assert jobs.run_due([job(first_after=timedelta(0), skip_reason="off")], schedule, T0 + timedelta(days=30),
                        run=lambda j: 0) == []


def test_a_damaged_schedule_file_starts_over(tmp_path, caplog):
    path = tmp_path / "jobs.json"
    path.write_text("{not json")
    assert jobs.run_due([job(first_after=timedelta(0))], jobs.Schedule(path), T0, run=lambda j: 0) == ["ping"]
    assert "not valid JSON" in caplog.text


def test_run_job_reports_exit_codes_and_timeouts():
    assert jobs.run_job(job(argv=(sys.executable, "-c", "raise SystemExit(4)"))) == 4
    assert jobs.run_job(job(argv=(sys.executable, "-c", "import time; time.sleep(5)"),
                            timeout=timedelta(seconds=0.2))) == 124
    assert jobs.run_job(job(argv=("/nonexistent/dentra",))) == 127


def test_the_drill_runs_weekly_only_when_replication_is_configured(tmp_path):
    config = load_config(EXAMPLE_CONFIG)
    (drill,) = jobs.standard_jobs(config, tmp_path)
    assert drill.argv[-6:] == ("backup", "drill", "--config", config.source, "--data-dir", str(tmp_path))
    assert drill.every == timedelta(days=7) and drill.skip_reason
    configured = replace(config, replication=replace(config.replication, url="file:///srv/replica"))
    assert not jobs.standard_jobs(configured, tmp_path)[0].skip_reason


def test_serve_reports_ready_then_stops(tmp_path):
    stop = threading.Event()
    summaries: list[str] = []

    def ready(summary: str) -> None:
        summaries.append(summary)
        stop.set()

    assert jobs.serve([job()], tmp_path, stop, ready, clock=lambda: T0, tick_s=0.01) == 0
    assert summaries == ["1 job(s): ping: next 2026-12-01 10:00 UTC"]


def test_dentra_jobs_notifies_systemd_and_stops_on_sigterm(tmp_path):
    notify = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(notify))
        sock.settimeout(30)
        proc = subprocess.Popen([sys.executable, "-m", "appliance", "jobs", "--config", str(EXAMPLE_CONFIG),
                                 "--data-dir", str(tmp_path)], env={"NOTIFY_SOCKET": str(notify), "PATH": "/usr/bin"},
                                stdout=subprocess.PIPE, text=True)
        try:
            message = sock.recv(4096).decode()
            assert "READY=1" in message and "backup-drill: no [replication] url" in message
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        finally:
            proc.kill()
            out = proc.stdout.read()
            proc.stdout.close()
    assert out.startswith("Scheduled jobs: 1 job(s)")
