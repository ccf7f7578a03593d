"""The `dentra` command as an admin (and the acceptance driver) uses it: real processes, real stores."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from appliance import defaults

DENTRA = str(Path(sys.executable).parent / "dentra")


def dentra(*args, check=True, env=None, input=None):
    """The real command; stdin is `input`, never a terminal."""
    run = subprocess.run([DENTRA, *args], capture_output=True, text=True, timeout=60, input=input,
                         stdin=subprocess.DEVNULL if input is None else None, env={**os.environ, **(env or {})})
    if check:
        assert run.returncode == 0, run.stderr
    return run


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("cli") / "data"
    run = dentra("init", "--config", str(defaults.EXAMPLE_CONFIG), "--data-dir", str(data_dir), "--demo")
    assert "30 patients, 25 appointments" in run.stdout
    assert "Recovery code" in run.stdout
    return data_dir


def test_python_dash_m_is_the_same_cli():
    run = subprocess.run([sys.executable, "-m", "appliance", "--help"], capture_output=True, text=True)
    assert run.returncode == 0 and "keys" in run.stdout and "appointments" in run.stdout


def test_appointments_json_fields(demo_dir):
    rows = json.loads(dentra("appointments", "--data-dir", str(demo_dir), "--json").stdout)
    assert len(rows) == 25
    first = rows[0]
    assert {"appointment_id", "patient_id", "service", "provider", "location", "start", "end", "status"} <= set(first)
    a5010 = next(r for r in rows if r["appointment_id"] == "A5010")
    assert (a5010["patient_id"], a5010["service"], a5010["start"], a5010["end"]) == \
        ("P1016", "cleaning", "2026-12-04T08:00", "2026-12-04T09:00")


def test_appointments_filters(demo_dir):
    rows = json.loads(dentra("appointments", "--data-dir", str(demo_dir), "--json", "--from", "2026-12-07",
                             "--to", "2026-12-07", "--provider", "hyg-rivera").stdout)
    assert [r["appointment_id"] for r in rows] == ["A5012", "A5013", "A5014", "A5015"]
    bad = dentra("appointments", "--data-dir", str(demo_dir), "--from", "next week", check=False)
    assert bad.returncode == 2 and bad.stderr == "dentra: --from must be a date like 2026-12-01, got 'next week'\n"


@pytest.mark.parametrize("number, expected", [
    ("+1 (217) 555-0125", ["P1016"]),
    ("2175550125", ["P1016"]),
    ("sip:+12175550125@pbx", ["P1016"]),
    ("+12175550100", ["P1001", "P1029"]),
    ("+12175550199", []),
])
def test_patients_find_by_phone(demo_dir, number, expected):
    found = json.loads(dentra("patients", "find", "--data-dir", str(demo_dir), "--phone", number, "--json").stdout)
    assert [p["patient_id"] for p in found] == expected


def test_patients_find_unparseable_number(demo_dir):
    run = dentra("patients", "find", "--data-dir", str(demo_dir), "--phone", "12", check=False)
    assert run.returncode == 1
    assert run.stderr == "'12' is not a valid phone number for region US; no patient matched.\n"


def test_patients_find_by_name_is_audited(demo_dir):
    out = dentra("patients", "find", "--data-dir", str(demo_dir), "--name", "lopez").stdout
    assert "P1001  Maria Lopez" in out and "P1029  Henry Lopez" in out
    verify = dentra("audit", "verify", "--data-dir", str(demo_dir)).stdout
    assert verify.startswith("audit chain ok")


def test_keys_rotate_then_everything_still_works(demo_dir):
    out = dentra("keys", "rotate", "--data-dir", str(demo_dir)).stdout
    assert out.startswith("rotated: ")
    found = json.loads(dentra("patients", "find", "--data-dir", str(demo_dir), "--phone", "2175550103",
                              "--json").stdout)
    assert found[0]["first_name"] == "James"


def test_missing_key_file_is_one_clear_line(demo_dir, tmp_path):
    run = dentra("appointments", "--data-dir", str(demo_dir), "--key-file", str(tmp_path / "nope.key"),
                 check=False)
    assert run.returncode == 1
    assert run.stderr.startswith(f"dentra: key file {tmp_path / 'nope.key'} is missing")
    assert len(run.stderr.splitlines()) == 1


def start_run(data_dir) -> tuple[subprocess.Popen, list[str]]:
    """`dentra run` in the background until it says it answers calls; returns it and what it printed."""
    proc = subprocess.Popen([DENTRA, "run", "--data-dir", str(data_dir)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("Answering calls") or len(lines) > 50:
            break
    return proc, lines


def stop_run(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=30)
    finally:
        proc.kill()
        proc.stdout.close()


def test_run_creates_the_demo_store_once_and_answers(tmp_path):
    data_dir = tmp_path / "demo"
    proc, lines = start_run(data_dir)
    out = "".join(lines)
    assert stop_run(proc) == 0, out
    assert "First start: created the store" in out and "30 patients" in out and "audit chain ok" in out
    assert "Answering calls as extension 250 on 127.0.0.1:5070 (direct calls)" in out
    assert "Receptionist page: https://127.0.0.1:8443/ (dentra web, restarted if it stops)" in out
    assert (data_dir / "models" / "faster-whisper-base" / "model.bin").is_file()
    proc, lines = start_run(data_dir)
    assert stop_run(proc) == 0
    assert "First start" not in "".join(lines) and "Installed the demo model" not in "".join(lines)


def test_run_voice_only_leaves_the_page_to_its_own_unit(tmp_path, monkeypatch, config):
    from appliance import runner

    def no_page(*_args):
        raise AssertionError("dentra run --voice-only started the receptionist page")

    def stop_before_calls(*_args):
        raise KeyboardInterrupt  # the store is up; stop before the speech models load

    monkeypatch.setattr(runner, "start_web", no_page)
    monkeypatch.setattr(runner, "load_voice", stop_before_calls)
    with pytest.raises(KeyboardInterrupt):
        runner.run(config, tmp_path / "data", demo=True, voice_only=True)
    assert (tmp_path / "data").is_dir()
