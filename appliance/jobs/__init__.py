"""`dentra jobs`: the appliance's scheduled work, one small loop in one process (dentra-jobs.service).

Each job is a `dentra` command line run as a child process every so often: a crash or a hang in
one job cannot take the loop down, and its output and exit code land in the journal under
dentra-jobs. When each job is next due is kept in `<data dir>/jobs.json`, so a restart or a power
cut neither repeats a job early nor skips it. Later issues add their jobs to `standard_jobs`.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

log = logging.getLogger("dentra.jobs")

STATE_NAME = "jobs.json"
TICK_S = 60.0  # how often the loop looks for due jobs; jobs are hourly at the finest


@dataclass(frozen=True)
class Job:
    """A command run every `every`, the first time `first_after` after the loop first sees it."""

    name: str
    argv: tuple[str, ...]
    every: timedelta
    first_after: timedelta
    timeout: timedelta
    skip_reason: str = ""  # not empty: the job is listed but not run (e.g. no replication configured)


def dentra_argv(*args: str) -> tuple[str, ...]:
    """A `dentra` command line with this very interpreter (the venv's), not whatever `dentra` is on PATH."""
    return (sys.executable, "-m", "appliance", *args)


def standard_jobs(config, data_dir: Path) -> list[Job]:
    """The appliance's jobs for this clinic: today the weekly restore drill."""
    where = ("--config", config.source, "--data-dir", str(data_dir))
    # the first drill an hour after install, not at once: the replica needs its first snapshot
    drill = Job("backup-drill", dentra_argv("backup", "drill", *where), every=timedelta(days=7),
                first_after=timedelta(hours=1), timeout=timedelta(hours=2),
                skip_reason="" if config.replication.url else "no [replication] url: nothing to drill")
    return [drill]


class Schedule:
    """When each job is next due, kept in a small JSON file written atomically."""

    def __init__(self, path: Path):
        self.path = path
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raw = {}
        except ValueError:
            # a torn write cannot happen (atomic replace), but a hand edit can: start over, loudly
            log.warning("%s is not valid JSON; every job is scheduled afresh", path)
            raw = {}
        self.entries: dict[str, dict] = raw if isinstance(raw, dict) else {}

    def next_at(self, job: Job, now: datetime) -> datetime:
        entry = self.entries.get(job.name)
        if entry and "next_at" in entry:
            return datetime.fromisoformat(entry["next_at"])
        due = now + job.first_after
        self.entries[job.name] = {"next_at": due.isoformat()}
        self.save()
        return due

    def record(self, job: Job, started: datetime, exit_code: int) -> None:
        self.entries[job.name] = {"next_at": (started + job.every).isoformat(), "last_start": started.isoformat(),
                                  "last_exit": exit_code}
        self.save()

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.entries, indent=1) + "\n")
        os.replace(tmp, self.path)


def run_job(job: Job) -> int:
    """Run one job to the end (or its timeout); returns its exit code (124 on timeout, as timeout(1) does)."""
    log.info("job %s starting", job.name)
    try:
        return subprocess.run(job.argv, timeout=job.timeout.total_seconds(), check=False).returncode
    except subprocess.TimeoutExpired:
        log.error("job %s ran longer than %s and was stopped", job.name, job.timeout)
        return 124
    except OSError as err:
        log.error("job %s could not start: %s", job.name, err)
        return 127


def run_due(jobs: list[Job], schedule: Schedule, now: datetime, run: Callable[[Job], int] = run_job) -> list[str]:
    """Run every job that is due at `now`; returns the names of those that ran."""
    ran = []
    for job in jobs:
        if job.skip_reason or schedule.next_at(job, now) > now:
            continue
        code = run(job)
        (log.info if code == 0 else log.error)("job %s finished with exit code %s", job.name, code)
        schedule.record(job, now, code)
        ran.append(job.name)
    return ran


def serve(jobs: list[Job], data_dir: Path, stop: threading.Event, on_ready: Callable[[str], object],
          clock: Callable[[], datetime] = lambda: datetime.now(UTC), tick_s: float = TICK_S) -> int:
    """Run due jobs until `stop` is set; `on_ready` gets a one-line summary once the schedule is loaded."""
    schedule = Schedule(data_dir / STATE_NAME)
    now = clock()
    summary = "; ".join(f"{job.name}: {job.skip_reason}" if job.skip_reason else
                        f"{job.name}: next {schedule.next_at(job, now):%Y-%m-%d %H:%M} UTC" for job in jobs)
    for job in jobs:
        if job.skip_reason:
            log.info("job %s skipped: %s", job.name, job.skip_reason)
    on_ready(f"{len(jobs)} job(s): {summary}")
    while not stop.is_set():
        run_due(jobs, schedule, clock())
        stop.wait(tick_s)
    return 0
