"""`dentra status`: one line per problem saying what to do, exit 1 when something needs attention, no PHI."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

from appliance.config import load_config
from appliance.ops import records, status
from appliance.runner import publish_sip_status
from appliance.telephony.sip import SipStatus
from tests.ops.conftest import dentra, write_clinic
from tests.store.test_plaintext import demo_phi


class FakeAgent:
    """What runner.publish_sip_status needs of a SipAgent: its status and a status callback."""

    def __init__(self, state: str, **fields):
        self.status = SipStatus(state, datetime.now(UTC), registrar="pbx.local:5060", extension="250", **fields)
        self.callbacks = []

    def on_status(self, callback):
        self.callbacks.append(callback)

    def change(self, state: str, **fields):
        self.status = SipStatus(state, datetime.now(UTC), registrar="pbx.local:5060", extension="250", **fields)
        for cb in self.callbacks:
            cb(self.status)


def clinic(tmp_path, **replication):
    text = write_clinic(tmp_path / "clinic.toml", **replication).read_text()
    (tmp_path / "clinic.toml").write_text(text.replace('registrar = ""', 'registrar = "pbx.local:5060"', 1))
    return load_config(tmp_path / "clinic.toml")


def problems_about(result: dict, part: str) -> list[str]:
    return [p for p in result["problems"] if p.lower().startswith(part)]


def test_a_fresh_box_lists_what_needs_doing(demo_data, config, tmp_path):
    run = dentra("status", "--data-dir", demo_data)
    assert run.returncode == 1
    assert "Needs attention:" in run.stdout
    assert "replication: off, there is no offsite copy; set [replication] url" in run.stdout
    assert "SIP: the voice service has not reported" in run.stdout
    result = json.loads(dentra("status", "--data-dir", demo_data, "--json").stdout)
    assert result["store"]["pending_migrations"] == [] and result["store"]["bytes"] > 100_000
    assert result["disk"]["free_bytes"] > 0 and result["replication"] == {"state": "off"}
    text = run.stdout + json.dumps(result)
    assert [n for n in demo_phi(config) if n.decode() in text] == []


def test_the_voice_service_publishes_registration(demo_data, tmp_path):
    config = clinic(tmp_path)
    agent = FakeAgent("registering")
    publish_sip_status(agent, demo_data)
    agent.change("registered")
    assert records.read_record(demo_data, "voice")["state"] == "registered"
    assert problems_about(status.gather(config, demo_data), "sip") == []
    agent.change("failed", last_error="403 Forbidden", attempts=3)
    (line,) = problems_about(status.gather(config, demo_data), "sip")
    assert "not registered with pbx.local:5060 as extension 250 (failed: 403 Forbidden)" in line
    assert "$DENTRA_SIP_PASSWORD" in line
    assert not list((demo_data / "status").glob(".*.tmp"))  # written whole, through a rename


def test_a_dead_voice_service_is_reported(demo_data, tmp_path):
    records.write_record(demo_data, "voice", {"state": "registered"})
    body = json.loads(records.record_path(demo_data, "voice").read_text())
    body["pid"] = 2**22 + 7  # beyond pid_max: no such process
    records.record_path(demo_data, "voice").write_text(json.dumps(body))
    (line,) = problems_about(status.gather(clinic(tmp_path), demo_data), "sip")
    assert "voice service is not running" in line and "systemctl start dentra-voice" in line


def test_replication_lag_and_silence_alert(demo_data, tmp_path):
    config = clinic(tmp_path, url="file:///mnt/backup/dentra", max_lag_seconds=60)
    now = datetime.now(UTC)
    base = {"state": "replicating", "target": "file:///mnt/backup/dentra", "restarts": 0, "lag_s": 0.4,
            "replica_ok_at": now.isoformat(), "last_error": ""}
    records.write_record(demo_data, "replication", base)
    assert problems_about(status.gather(config, demo_data), "replication") == []
    records.write_record(demo_data, "replication", {**base, "lag_s": 95.0, "last_error": "dial tcp: refused"})
    (line,) = problems_about(status.gather(config, demo_data), "replication")
    assert line == "replication: the offsite copy is 95 s behind (limit 60 s); dial tcp: refused"
    quiet = (now - timedelta(seconds=400)).isoformat()
    records.write_record(demo_data, "replication", {**base, "replica_ok_at": quiet, "last_error": "timeout"})
    (line,) = problems_about(status.gather(config, demo_data), "replication")
    assert "has not answered for" in line and "timeout" in line
    later = now + timedelta(seconds=status.STALE_REPORT_S + 5)
    (line,) = problems_about(status.gather(config, demo_data, now=later), "replication")
    assert "not running or not reporting" in line


def test_drill_failures_and_old_drills_alert(demo_data, tmp_path):
    config = clinic(tmp_path, url="file:///mnt/backup/dentra", drill_max_age_days=8)
    assert "none yet; run `dentra backup drill`" in problems_about(status.gather(config, demo_data), "restore")[0]
    records.write_record(demo_data, "drill", {"result": "failed", "finished_at": records.now_iso(),
                                              "errors": ["row count of appointments: live store 26, replica 25"]})
    result = status.gather(config, demo_data)
    assert "row count of appointments" in problems_about(result, "restore")[0]
    assert result["last_error"]["source"] == "drill"
    old = (datetime.now(UTC) - timedelta(days=9)).isoformat(timespec="seconds")
    records.write_record(demo_data, "drill", {"result": "ok", "finished_at": old, "errors": []})
    assert "over 8 days ago" in problems_about(status.gather(config, demo_data), "restore")[0]


def test_all_well_exits_zero(demo_data, tmp_path, monkeypatch):
    config = clinic(tmp_path, url="file:///mnt/backup/dentra")
    monkeypatch.setattr(status, "_models", lambda *a: {})  # no model files in a test data dir
    monkeypatch.setattr(status, "_disk", lambda *a: {})
    records.write_record(demo_data, "voice", {"state": "registered", "since": records.now_iso()})
    records.write_record(demo_data, "replication", {"state": "replicating", "lag_s": 0.0,
                                                    "replica_ok_at": records.now_iso()})
    records.write_record(demo_data, "drill", {"result": "ok", "finished_at": records.now_iso(), "errors": []})
    result = status.gather(config, demo_data)
    assert result["problems"] == [] and result["last_error"] is None
    assert os.getpid() == records.read_record(demo_data, "voice")["pid"]
