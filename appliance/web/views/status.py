"""Status for IT: telephony, models, disk, store, backups and version. No patient data on this page.

Each fact says plainly when it is not known yet rather than guessing. SIP registration, the
offsite copy and the last restore drill come from the services' status records, read by
`appliance.ops.status.gather` exactly as `dentra status` reads them; its problems head the page.
Model files are checked by size only (hashing gigabytes on every page view would stall the box);
`dentra models verify` re-hashes them.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, render_template

import appliance
from appliance import models
from appliance.errors import ModelError
from appliance.ops import status as ops_status
from appliance.store.db import DB_NAME
from appliance.web import web_context
from appliance.web.access import require_role
from appliance.web.views import common

bp = Blueprint("status", __name__)
bp.record_once(lambda state: common.register_filters(state.app))

# [models] key -> (manifest kind, label, may be empty)
MODEL_KEYS = {"stt": ("stt", "Speech to text", False),
              "stt_wideband": ("stt", "Speech to text, wideband calls", True),
              "llm": ("llm", "Language model", True),
              "tts": ("tts", "Voice", False),
              "turn": ("turn", "End of turn", True)}
OPTIONAL_MODELS = {"stt_wideband": "not configured: every call uses [models] stt",
                   "llm": "not configured: calls are understood by rules only",
                   "turn": "not configured: every turn waits its full pause"}
LOW_DISK_BYTES = 2 * 1024**3  # below this, recordings, the WAL and model updates start to fail


@dataclass(frozen=True)
class Fact:
    label: str
    value: str
    state: str = "ok"  # ok, warn, unknown
    hint: str = ""


def size_text(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def model_facts(config, data_dir: Path) -> list[Fact]:
    """One line per configured model: installed with the manifest's sizes, missing, or not configured."""
    folder = models.models_dir(config, data_dir)
    try:
        manifest = models.Manifest.load()
    except ModelError as err:
        return [Fact("Model manifest", err.message, "warn")]
    return [_model_fact(key, getattr(config.models, key), folder, manifest) for key in MODEL_KEYS]


def _model_fact(key: str, name: str, folder: Path, manifest: models.Manifest) -> Fact:
    kind, label, optional = MODEL_KEYS[key]
    if not name:
        if optional:
            return Fact(label, OPTIONAL_MODELS[key])
        return Fact(label, "not configured", "warn", f"set [models] {key} in the clinic file")
    if not any(m.name == name and m.kind == kind for m in manifest.models):
        try:
            path = models.resolve(name, kind, folder, manifest)
        except ModelError as err:
            return Fact(label, err.message, "warn")
        there = path.exists()
        return Fact(label, f"{name}: {'present' if there else 'missing'} (a file, not in the manifest)",
                    "ok" if there else "warn")
    entry = manifest.get(name, kind)
    problems = [p for f in entry.files if (p := models.check_file(entry, f, entry.target(folder, f), hash_it=False))]
    if problems:
        return Fact(label, f"{name}: {problems[0].kind} ({len(problems)} of {len(entry.files)} files)", "warn",
                    f"dentra models fetch {name}")
    return Fact(label, f"{name}: installed, sizes match the manifest", hint="dentra models verify checks the sha256")


def store_facts(data_dir: Path, store) -> list[Fact]:
    files = [data_dir / DB_NAME, data_dir / f"{DB_NAME}-wal", data_dir / f"{DB_NAME}-shm"]
    size = sum(p.stat().st_size for p in files if p.exists())
    disk = shutil.disk_usage(data_dir)
    low = disk.free < LOW_DISK_BYTES or disk.free < disk.total * 0.1
    schema = store.conn.execute("SELECT MAX(number) FROM schema_migrations").fetchone()[0]
    audit_rows = store.conn.execute("SELECT COALESCE(MAX(seq), 0) FROM audit_log").fetchone()[0]
    return [
        Fact("Disk free", f"{size_text(disk.free)} of {size_text(disk.total)} ({disk.free / disk.total:.0%})",
             "warn" if low else "ok", "free space on the data disk before calls fail" if low else ""),
        Fact("Store size", f"{size_text(size)} (database and write-ahead log)"),
        Fact("Schema", f"migration {schema}"),
        Fact("Audit log", f"{audit_rows} rows", hint="dentra audit verify checks the chain"),
    ]


def sip_fact(config, sip: dict) -> Fact:
    """The voice service's SIP registration, as it last reported it."""
    where = f"extension {config.sip.extension}, " + (config.sip.registrar or f"direct calls on {config.sip.listen}")
    state = sip.get("state") or "unknown"
    # without a registrar the box takes direct calls: running is all it needs to be
    good = state == "registered" or (not config.sip.registrar and state not in ("unknown", "not-running", "failed"))
    since = f" since {sip['since']}" if sip.get("since") else ""
    error = f"; last error: {sip['last_error']}" if sip.get("last_error") else ""
    return Fact("SIP registration", f"{state}{since}{error}", "ok" if good else "warn", where)


def backup_facts(config, replication: dict, drill: dict) -> list[Fact]:
    """Replication state and lag, and the last restore drill."""
    if not config.replication.url:
        return [Fact("Offsite copy", "not configured", "warn", "set [replication] url in the clinic file")]
    state = replication.get("state") or "unknown"
    lag = f", {replication['lag_s']:.1f} s behind" if replication.get("lag_s") is not None else ""
    facts = [Fact("Offsite copy", f"{state}{lag}", "ok" if state == "replicating" else "warn",
                  replication.get("last_error") or f"to {config.replication.url.split(':', 1)[0]}://")]
    if not drill:
        facts.append(Fact("Restore drill", "none yet", "warn", "run `dentra backup drill` (weekly from dentra-jobs)"))
    else:
        facts.append(Fact("Restore drill", f"{drill.get('result')} at {drill.get('finished_at')}",
                          "ok" if drill.get("result") == "ok" else "warn", drill.get("last_error") or ""))
    return facts


@bp.get("/status")
@require_role(*common.MANAGERS)
def index():
    """What IT checks first: is the phone side up, are models and disk fine, is there a backup."""
    ctx = web_context()
    config, data_dir = ctx.config, ctx.data_dir
    health = ops_status.gather(config, data_dir)  # the same records `dentra status` reads: no PHI
    telephony = [sip_fact(config, health["sip"])]
    backup = backup_facts(config, health["replication"], health["drill"])
    with ctx.store().read():
        stored = store_facts(data_dir, ctx.store())
    return render_template("status.html", telephony=telephony, model_facts=model_facts(config, data_dir),
                           stored=stored, backup=backup, problems=health["problems"], version=appliance.__version__,
                           clock=common.local_now(), timezone=config.clinic.timezone)
