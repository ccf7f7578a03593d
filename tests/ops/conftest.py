"""Fixtures for the operations tests: demo stores, clinic files with a [replication] section, replica servers."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from appliance import defaults
from appliance.ops.records import read_record
from appliance.runner import init_store
from tests.ops import servers

DENTRA = str(Path(sys.executable).parent / "dentra")


def write_clinic(path: Path, **replication) -> Path:
    """The example clinic with these [replication] keys (strings and numbers)."""
    keys = "\n".join(f"{k} = {json.dumps(v)}" for k, v in replication.items())
    text = re.sub(r'\[replication\]\nurl = "".*\n', f"[replication]\n{keys}\n", defaults.EXAMPLE_CONFIG.read_text())
    path.write_text(text)
    return path


def wait_for(check, timeout: float, what: str, every: float = 0.2):
    """Poll `check()` until it returns something truthy; fail naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def dentra(*args, env=None, stdin=None, timeout=120):
    return subprocess.run([DENTRA, *map(str, args)], capture_output=True, text=True, timeout=timeout, input=stdin,
                          env={**os.environ, **(env or {})})


@contextmanager
def replicating(clinic: Path, data_dir: Path, env=None, wait_shipped: bool = True):
    """`dentra replicate` running as its own process; yields it once the replica holds the store."""
    log_path = Path(data_dir).parent / "replicate.log"  # a file, not a pipe nobody drains while it runs
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([DENTRA, "replicate", "--config", str(clinic), "--data-dir", str(data_dir),
                                 "--probe-seconds", "1"], env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    try:
        if wait_shipped:
            def shipped():  # by this supervisor, not one before it
                record = read_record(data_dir, "replication") or {}
                return record.get("pid") == proc.pid and record.get("replica_txid")

            wait_for(lambda: shipped() or proc.poll() is not None, 30, "the first snapshot to reach the replica")
            assert proc.poll() is None, log_path.read_text()[-3000:]
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def demo_data(tmp_path, config) -> Path:
    """A data dir holding the demo clinic's store (closed), and its recovery code in `.recovery_code`."""
    store, code = init_store(config, tmp_path / "data", None, defaults.DEMO_DIR)
    store.close()
    (tmp_path / ".recovery_code").write_text(code)
    return tmp_path / "data"


@pytest.fixture(scope="session")
def sftp_server(tmp_path_factory):
    if not Path(servers.SSHD).exists():
        pytest.fail("sshd is missing: scripts/dev.sh installs openssh-server")
    server = servers.start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    servers.stop(server.proc)


@pytest.fixture(scope="session")
def s3_server():
    server = servers.start_moto()
    yield server
    servers.stop(server.proc)
