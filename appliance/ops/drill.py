"""The restore drill: restore the newest replica into a scratch folder, open it with the key, check it.

It proves what a restore after a disaster would give: the file opens with the key, SQLite finds it
whole, the audit chain verifies, the row counts match the live store, and how far behind the live
store it was (replication lag). The result goes to status/drill.json for `dentra status`.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from appliance.errors import AppError
from appliance.ops import facts, records
from appliance.ops.restore import check_store, fetch
from appliance.ops.target import parse_target
from appliance.store.db import DB_NAME

log = logging.getLogger("dentra.drill")
RECORD = "drill"
STALE_SCRATCH_S = 3 * 3600  # dentra-jobs gives a drill 2 hours


def run_drill(config, data_dir: Path, key_file: Path, attempts: int = 3) -> dict:
    """Run one drill and record it; returns the record (result `ok` or `failed`, counts, lag, errors)."""
    started = datetime.now(UTC)
    record: dict = {"result": "failed", "started_at": started.isoformat(timespec="seconds"), "errors": []}
    try:
        target = parse_target(config.replication)
        record["target"] = target.display
        _clear_stale_scratch(Path(data_dir))
        # scratch space inside the data dir: same disk, same permissions, never replicated
        with tempfile.TemporaryDirectory(prefix=".drill-", dir=data_dir) as scratch:
            for attempt in range(1, attempts + 1):
                live_counts, live_newest = _live(Path(data_dir))
                restored = Path(scratch) / f"attempt-{attempt}"
                fetch(target, restored / DB_NAME)
                checks = check_store(restored, key_file)
                mismatches = {t: [live_counts.get(t), checks.counts.get(t)]
                              for t in sorted(set(live_counts) | set(checks.counts))
                              if live_counts.get(t) != checks.counts.get(t)}
                if not mismatches or not checks.ok or attempt == attempts:
                    break
                # a write landed between reading the live counts and the newest shipped change: look again
                time.sleep(config.replication.sync_interval_seconds + 1)
        record.update(attempts=attempt, integrity=checks.integrity, audit_rows=checks.audit_rows,
                      counts=checks.counts, count_mismatches=mismatches,
                      replica_newest_write_at=_iso(checks.newest_write_at), live_newest_write_at=_iso(live_newest),
                      lag_s=_lag(live_newest, checks.newest_write_at))
        if checks.integrity != "ok":
            record["errors"].append(f"integrity check of the restored store: {checks.integrity}")
        if checks.audit_problem:
            record["errors"].append(f"audit chain of the restored store broken at {checks.audit_problem}")
        for table, (live, replica) in mismatches.items():
            record["errors"].append(f"row count of {table}: live store {live}, restored replica {replica}")
    except AppError as err:
        record["errors"].append(err.message)
    except (sqlite3.Error, OSError) as err:
        record["errors"].append(f"reading the store in {data_dir}: {err}")
    finished = datetime.now(UTC)
    record.update(result="failed" if record["errors"] else "ok", finished_at=finished.isoformat(timespec="seconds"),
                  duration_s=round((finished - started).total_seconds(), 2))
    records.write_record(data_dir, RECORD, record)
    log.info("restore drill %s in %.1f s (lag %s s)", record["result"], record["duration_s"], record.get("lag_s"))
    return record


def _clear_stale_scratch(data_dir: Path) -> None:
    """Remove scratch folders of drills killed mid-way (a power cut); a running drill's is younger than this."""
    for scratch in data_dir.glob(".drill-*"):
        if scratch.is_dir() and time.time() - scratch.stat().st_mtime > STALE_SCRATCH_S:
            shutil.rmtree(scratch, ignore_errors=True)


def _live(data_dir: Path) -> tuple[dict[str, int], datetime | None]:
    conn = facts.read_only(data_dir / DB_NAME)
    try:
        return facts.row_counts(conn), facts.newest_write_at(conn)
    finally:
        conn.close()


def _lag(live: datetime | None, replica: datetime | None) -> float | None:
    if live is None or replica is None:
        return None if live else 0.0
    return round(max(0.0, (live - replica).total_seconds()), 3)


def _iso(when: datetime | None) -> str | None:
    return when.isoformat(timespec="milliseconds") if when else None
