"""Small JSON status records in `<data dir>/status/`, written atomically by each service, read by `dentra status`.

They hold states, counts, times and error codes only, never PHI, so the status page and the journal
can show them to anyone who may see the box's health.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

STATUS_DIR = "status"


def record_path(data_dir: Path, name: str) -> Path:
    return Path(data_dir) / STATUS_DIR / f"{name}.json"


def write_record(data_dir: Path, name: str, fields: dict) -> Path:
    """Replace status/<name>.json in one step (a reader never sees half a record); adds updated_at and pid."""
    path = record_path(data_dir, name)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    body = {**fields, "updated_at": now_iso(), "pid": os.getpid()}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        json.dump(body, f, indent=1, sort_keys=True, default=str)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def read_record(data_dir: Path, name: str) -> dict | None:
    """The record, or None when the service never wrote one (or it cannot be read)."""
    try:
        body = json.loads(record_path(data_dir, name).read_text())
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) else None


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def age_s(iso: str | None, now: datetime | None = None) -> float | None:
    """Seconds since an ISO time in a record; None when absent."""
    if not iso:
        return None
    return ((now or datetime.now(UTC)) - datetime.fromisoformat(iso)).total_seconds()
