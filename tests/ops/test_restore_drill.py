"""Restore drills against real replica servers on loopback (sshd for SFTP, moto for S3), and restores on a new box."""

from __future__ import annotations

import json
import os

import pytest

from appliance.config import load_config
from appliance.scheduling import booking
from appliance.scheduling.availability import find_slots
from appliance.store import Store
from tests.conftest import DEMO_NOW
from tests.ops.conftest import dentra, replicating, wait_for, write_clinic
from tests.ops.servers import S3_ENV


def clinic_for(kind: str, tmp_path, sftp_server=None, s3_server=None, **more):
    """A clinic file replicating to the named server, and the environment its credentials come from."""
    name = f"{kind}-{tmp_path.name}"
    if kind == "sftp":
        return write_clinic(tmp_path / "clinic.toml", url=sftp_server.url(name), sftp_host_key=sftp_server.host_key,
                            sftp_key_file=str(sftp_server.client_key), **more), {}
    return write_clinic(tmp_path / "clinic.toml", url=s3_server.url(name), **more), S3_ENV


def book_one(data_dir, clinic) -> str:
    config = load_config(clinic)
    with Store.open(data_dir) as store:
        slot = find_slots(store, config, "cleaning", DEMO_NOW.date(), DEMO_NOW.date().replace(day=20), DEMO_NOW)[0]
        return booking.book(store, config, slot, "P1001", DEMO_NOW, source="ai", actor="test").appointment_id


@pytest.mark.parametrize("kind", ["sftp", "s3"])
def test_restore_drill_passes_and_status_shows_it(kind, demo_data, tmp_path, request):
    server = request.getfixturevalue(f"{kind}_server")
    clinic, env = clinic_for(kind, tmp_path, **{f"{kind}_server": server})
    stale = demo_data / ".drill-cut-off-by-a-power-cut"
    stale.mkdir()
    os.utime(stale, (0, 0))
    with replicating(clinic, demo_data, env):
        booked = book_one(demo_data, clinic)
        run = dentra("backup", "drill", "--config", clinic, "--data-dir", demo_data, "--json", env=env)
        status = json.loads(dentra("status", "--config", clinic, "--data-dir", demo_data, "--json", env=env).stdout)
    assert run.returncode == 0, run.stderr
    drill = json.loads(run.stdout)
    assert drill["result"] == "ok" and drill["errors"] == []
    assert drill["integrity"] == "ok" and drill["audit_rows"] >= 32
    assert drill["counts"]["appointments"] == 26 and drill["counts"]["patients"] == 30
    assert drill["lag_s"] < 3  # the booking shipped within the sync interval (1 s) and a probe
    assert drill["target"].startswith(f"{kind}://") and "testing" not in run.stdout
    assert booked.startswith("A")
    assert list(demo_data.glob(".drill-*")) == []  # its scratch copy and a killed drill's are gone
    assert status["drill"]["result"] == "ok" and status["replication"]["state"] == "replicating"
    assert not [p for p in status["problems"] if p.startswith(("replication", "restore drill"))]


def test_a_wrong_sftp_host_key_is_refused(demo_data, tmp_path, sftp_server):
    other_key = (sftp_server.client_key.parent / "client_key.pub").read_text()  # any key but the server's
    clinic, _ = clinic_for("sftp", tmp_path, sftp_server)
    clinic.write_text(clinic.read_text().replace(sftp_server.host_key, " ".join(other_key.split()[:2])))
    run = dentra("backup", "drill", "--config", clinic, "--data-dir", demo_data)
    assert run.returncode == 1
    assert "host key mismatch" in run.stderr and "sftp://127.0.0.1" in run.stderr
    assert list(sftp_server.root.glob(f"*{tmp_path.name}*")) == []  # nothing was sent to the impostor


def test_restore_on_a_new_box_with_only_the_url_and_the_recovery_code(demo_data, tmp_path, s3_server):
    clinic, env = clinic_for("s3", tmp_path, s3_server=s3_server)
    with replicating(clinic, demo_data, env):
        book_one(demo_data, clinic)
        wait_for(lambda: json.loads(dentra("backup", "drill", "--config", clinic, "--data-dir", demo_data,
                                           "--json", env=env).stdout)["result"] == "ok", 20, "a good drill")
    before = dentra("appointments", "--data-dir", demo_data, "--json").stdout
    code = (tmp_path / ".recovery_code").read_text()
    # the new box: no clinic file, no key file, a different home; the replica URL, S3 keys and the code only
    url = load_config(clinic).replication.url
    new_env = {**env, "HOME": str(tmp_path / "newhome"), "DENTRA_CONFIG": ""}
    run = dentra("restore", "--from", url, "--to", tmp_path / "newbox", "--recovery-code", "-", env=new_env,
                 stdin=code + "\n")
    assert run.returncode == 0, run.stderr
    assert "integrity ok; audit chain ok" in run.stdout
    assert (os.stat(tmp_path / "newbox" / "dentra.key").st_mode & 0o777) == 0o600
    assert dentra("appointments", "--data-dir", tmp_path / "newbox", "--json").stdout == before
    found = json.loads(dentra("patients", "find", "--data-dir", tmp_path / "newbox", "--name", "lopez",
                              "--json").stdout)
    assert {p["patient_id"] for p in found} == {"P1001", "P1029"}
    assert dentra("audit", "verify", "--data-dir", tmp_path / "newbox").returncode == 0


def test_restore_refuses_a_used_folder_and_a_wrong_code(demo_data, tmp_path):
    replica = tmp_path / "replica"
    clinic = write_clinic(tmp_path / "clinic.toml", url=f"file://{replica}")
    with replicating(clinic, demo_data):
        pass
    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("keep me")
    run = dentra("restore", "--from", f"file://{replica}", "--to", used, "--key-file", demo_data / "dentra.key")
    assert run.returncode == 1 and "is not an empty folder" in run.stderr
    assert [p.name for p in used.iterdir()] == ["notes.txt"]
    wrong = "-".join(["AAAAA"] * 11)
    run = dentra("restore", "--from", f"file://{replica}", "--to", tmp_path / "fresh", "--recovery-code", wrong)
    assert run.returncode == 1 and run.stderr.startswith("dentra: ") and len(run.stderr.splitlines()) == 1
    assert not (tmp_path / "fresh").exists()  # a failed restore leaves nothing behind to trip the next try
    run = dentra("restore", "--from", f"file://{replica}", "--to", tmp_path / "fresh")
    assert run.returncode == 2 and "--recovery-code" in run.stderr
