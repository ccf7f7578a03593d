"""What `dentra status` and the IT status page show: one dict from the status records and the box itself.

`gather` reads files only (no key, no network, no PHI): SIP registration from the voice service's
record, models, disk, store, replication lag and the last drill. Every problem is one line saying
what is wrong and what to do; `problems` empty means nothing needs attention.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from appliance import models
from appliance.ops import facts
from appliance.ops.records import age_s, read_record
from appliance.ops.replication import lag_seconds
from appliance.store.db import DB_NAME

LOW_DISK_BYTES = 2 * 1024**3  # recordings and the WAL need room; a full disk stops bookings
STALE_REPORT_S = 120  # the replication supervisor reports every 15 s


def gather(config, data_dir: Path, now: datetime | None = None) -> dict:
    """The box's health as a JSON-ready dict, with `problems` (what needs attention) and `last_error`."""
    now = now or datetime.now(UTC)
    data_dir = Path(data_dir)
    problems: list[str] = []
    status = {"checked_at": now.isoformat(timespec="seconds"), "data_dir": str(data_dir),
              "sip": _sip(config, data_dir, problems), "models": _models(config, data_dir, problems),
              "disk": _disk(data_dir, problems), "store": _store(data_dir, problems),
              "replication": _replication(config, data_dir, now, problems),
              "drill": _drill(config, data_dir, now, problems)}
    errors = [(s.get("last_error_at") or s.get("finished_at") or "", name, s.get("last_error"))
              for name, s in (("sip", status["sip"]), ("replication", status["replication"]),
                              ("drill", status["drill"])) if s.get("last_error")]
    status["last_error"] = dict(zip(("at", "source", "message"), max(errors), strict=True)) if errors else None
    status["problems"] = problems
    return status


def _alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except PermissionError:
        return True
    except (OSError, TypeError, ValueError):
        return False
    return True


def _sip(config, data_dir: Path, problems: list[str]) -> dict:
    rec = read_record(data_dir, "voice")
    if rec is None:
        problems.append("SIP: the voice service has not reported (no status/voice.json); start it "
                        "(`systemctl start dentra-voice`) and read `journalctl -u dentra-voice`")
        return {"state": "unknown"}
    out = {k: rec.get(k) for k in ("state", "since", "last_error", "registrar", "extension", "listen",
                                   "retry_at", "updated_at")}
    if not _alive(rec.get("pid")):
        out["state"] = "not-running"
        problems.append(f"SIP: the voice service is not running (last report {rec.get('updated_at')}); start it "
                        "with `systemctl start dentra-voice` and read `journalctl -u dentra-voice`")
    elif config.sip.registrar and rec.get("state") != "registered":
        out["last_error_at"] = rec.get("since")
        problems.append(f"SIP: not registered with {config.sip.registrar} as extension {config.sip.extension} "
                        f"({rec.get('state')}: {rec.get('last_error') or 'no answer yet'}); check sip.registrar, "
                        f"the extension and ${config.sip.password_env}")
    return out


def _models(config, data_dir: Path, problems: list[str]) -> dict:
    folder = models.models_dir(config, data_dir)
    try:
        manifest = models.Manifest.load()
    except Exception as err:  # noqa: BLE001 - a broken manifest is itself the thing to report
        problems.append(f"models: the manifest cannot be read ({err}); reinstall the appliance")
        return {}
    out = {}
    for role in ("stt", "stt_wideband", "llm", "tts", "turn"):
        name = getattr(config.models, role)
        if not name:
            out[role] = {"name": "", "state": "not configured"}
            continue
        entry = next((m for m in manifest.models if m.name == name), None)
        if entry is None:
            out[role] = {"name": name, "state": "not in the manifest (not checked)"}
            continue
        # sizes only: hashing gigabytes is `dentra models verify`'s job, not a status glance
        bad = [p for f in entry.files if (p := models.check_file(entry, f, entry.target(folder, f), hash_it=False))]
        out[role] = {"name": name, "state": "ok" if not bad else bad[0].kind}
        if bad:
            problems.append(f"models: {bad[0]}")
    if not config.models.stt or not config.models.tts:
        problems.append("models: calls need [models] stt and tts; set them and run `dentra models fetch`")
    return out


def _disk(data_dir: Path, problems: list[str]) -> dict:
    try:
        usage = shutil.disk_usage(data_dir)
    except OSError as err:
        problems.append(f"disk: cannot read {data_dir}: {err.strerror}")
        return {}
    if usage.free < LOW_DISK_BYTES or usage.free < usage.total * 0.05:
        problems.append(f"disk: only {usage.free / 1024**3:.1f} GiB free where the store lives ({data_dir}); "
                        "free space before the store fills it and bookings stop")
    return {"free_bytes": usage.free, "total_bytes": usage.total, "free_pct": round(100 * usage.free / usage.total, 1)}


def _store(data_dir: Path, problems: list[str]) -> dict:
    if not (data_dir / DB_NAME).is_file():
        problems.append(f"store: no store in {data_dir}; create it with `dentra init`")
        return {"bytes": 0}
    out = {"bytes": facts.store_bytes(data_dir)}
    try:
        conn = facts.read_only(data_dir / DB_NAME)
        try:
            out["pending_migrations"] = facts.pending_migrations(conn)
        finally:
            conn.close()
    except sqlite3.Error as err:
        problems.append(f"store: {data_dir / DB_NAME} cannot be read ({err}); see `dentra audit verify`")
        return out
    if out["pending_migrations"]:
        problems.append(f"store: schema migrations {out['pending_migrations']} are pending; run `dentra migrate`")
    return out


def _replication(config, data_dir: Path, now: datetime, problems: list[str]) -> dict:
    r = config.replication
    if not r.url:
        problems.append("replication: off, there is no offsite copy; set [replication] url (see README)")
        return {"state": "off"}
    rec = read_record(data_dir, "replication") or {}
    out = {k: rec.get(k) for k in ("state", "target", "lag_s", "replica_shipped_at", "live_newest_write_at",
                                   "replica_ok_at", "restarts", "last_error", "last_error_at", "updated_at")}
    reported = age_s(rec.get("updated_at"), now)
    if reported is None or reported > STALE_REPORT_S or not _alive(rec.get("pid")):
        out["state"] = "not-running"
        problems.append("replication: the replication service is not running or not reporting; start it "
                        "(`systemctl start dentra-replicate`) and read `journalctl -u dentra-replicate`")
        return out
    unreachable = age_s(rec.get("replica_ok_at") or rec.get("started_at"), now)
    out["lag_s"] = _lag_now(data_dir, rec)
    if out["lag_s"] is not None and out["lag_s"] > r.max_lag_seconds:
        problems.append(f"replication: the offsite copy is {out['lag_s']:.0f} s behind (limit {r.max_lag_seconds:.0f} "
                        f"s); {rec.get('last_error') or 'check the replica server'}")
    elif unreachable is not None and unreachable > r.max_lag_seconds:
        problems.append(f"replication: {rec.get('target')} has not answered for {unreachable:.0f} s "
                        f"({rec.get('last_error') or 'no error recorded'}); check the server and the credentials")
    return out


def _lag_now(data_dir: Path, rec: dict) -> float | None:
    """The record's lag, or more when the store has been written since the supervisor's last answer
    from the replica (its probe may be waiting on a server that is down)."""
    shipped = rec.get("replica_shipped_at")
    try:
        conn = facts.read_only(data_dir / DB_NAME)
        try:
            live = facts.newest_write_at(conn)
        finally:
            conn.close()
    except sqlite3.Error:
        return rec.get("lag_s")
    now_lag = lag_seconds(live, datetime.fromisoformat(shipped)) if shipped else None
    known = [x for x in (rec.get("lag_s"), now_lag) if x is not None]
    return max(known) if known else None


def _drill(config, data_dir: Path, now: datetime, problems: list[str]) -> dict:
    rec = read_record(data_dir, "drill")
    if not config.replication.url:
        return rec or {}
    if rec is None:
        problems.append("restore drill: none yet; run `dentra backup drill` (dentra-jobs runs it weekly)")
        return {}
    out = {k: rec.get(k) for k in ("result", "started_at", "finished_at", "lag_s", "counts", "errors", "target")}
    if rec.get("result") != "ok":
        out["last_error"] = "; ".join(rec.get("errors") or ["failed"])
        problems.append(f"restore drill: failed at {rec.get('finished_at')}: {out['last_error']}")
    elif (age_s(rec.get("finished_at"), now) or 0) > config.replication.drill_max_age_days * 86400:
        problems.append(f"restore drill: the last good one was at {rec.get('finished_at')}, over "
                        f"{config.replication.drill_max_age_days} days ago; run `dentra backup drill`")
    return out
