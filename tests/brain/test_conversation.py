"""A call's state and records: greeting by caller ID, turns stored encrypted, outcome, `dentra simulate`."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from appliance import events
from appliance.brain.conversation import BrainContext, Conversation
from appliance.recognition import recognize_call
from appliance.simulate import run_call
from appliance.store import calls
from tests.conftest import DEMO_NOW

DENTRA = str(Path(sys.executable).parent / "dentra")


def start(config, store, caller, now=DEMO_NOW):
    ctx = BrainContext.create(config, store)
    call_id, recognition = recognize_call(store, caller, ctx.region, channel="simulate")
    conversation = Conversation(ctx, call_id, recognition, now)
    return conversation, conversation.start()


@pytest.mark.parametrize("caller, greeting, candidates", [
    ("+12175550103", "Hi James!", 1),
    ("+12175550100", "How can I help you today?", 2),
    ("+13125550177", "this is the virtual receptionist", 0),
    ("anonymous", "this is the virtual receptionist", 0),
    ("sip:garbage@pbx", "this is the virtual receptionist", 0),
])
def test_greeting_follows_caller_id(config, demo_store, caller, greeting, candidates):
    conversation, first = start(config, demo_store, caller)
    assert greeting in first.say and (first.expects, first.flow) == ("intent", "greeting")
    assert len(conversation.candidates) == candidates
    if candidates == 2:  # a household phone: no name until we know who it is
        assert "Maria" not in first.say and "Henry" not in first.say


def test_every_turn_is_stored_encrypted_with_the_outcome(config, demo_store):
    out = io.StringIO()
    lines = io.StringIO("Do you take MetLife?\nNo, that's all.\n")
    outcome = run_call(config, demo_store, "+12175550112", DEMO_NOW, lines, out)
    said = [json.loads(x) for x in out.getvalue().splitlines()]
    assert outcome == "answered" and said[-1]["end"] is True and said[-1]["outcome"] == "answered"
    call_id = said[-1]["call_id"]
    row = demo_store.conn.execute("SELECT * FROM calls WHERE call_id = ?", (call_id,)).fetchone()
    assert (row["outcome"], row["channel"], row["patient_id"]) == ("answered", "simulate", "P1008")
    turns = demo_store.conn.execute("SELECT * FROM call_turns WHERE call_id = ? ORDER BY seq", (call_id,)).fetchall()
    assert [t["speaker"] for t in turns] == ["box", "caller", "box", "caller", "box"]
    assert all(b"MetLife" not in t["text"] for t in turns)
    first_caller = demo_store.vault.decrypt(turns[1]["text"], "call_turns", "text", f"{call_id}/2")
    assert first_caller == "Do you take MetLife?" and turns[1]["intent"] == "question"
    kinds = [e.type for e in events.since(demo_store) if e.call_id == call_id]
    assert kinds[-1] == "call-ended" and kinds.count("caller-said") == 2
    assert calls.recognitions(demo_store, call_id)[0]["candidates"] == ["P1008"]


def test_hanging_up_mid_booking_is_abandoned(config, demo_store):
    conversation, _ = start(config, demo_store, "+12175550103")
    conversation.hear("I'd like to book a cleaning")
    assert conversation.hang_up() == "abandoned"


def test_nothing_is_said_after_the_call_ends(config, demo_store):
    out = io.StringIO()
    run_call(config, demo_store, "+12175550116", DEMO_NOW, io.StringIO("Get me a person\nhello?\nhello?\n"), out)
    said = [json.loads(x) for x in out.getvalue().splitlines()]
    assert said[-2]["expects"] == "nothing" and said[-2]["action"]["type"] == "transferred"
    assert said[-1] == {"end": True, "outcome": "transferred", "call_id": said[-1]["call_id"]}
    assert len(said) == 3


def test_simulate_cli_end_to_end(demo_store, config):
    data_dir = str(demo_store.data_dir)
    run = subprocess.run([DENTRA, "simulate", "--config", config.source, "--data-dir", data_dir, "--caller",
                          "+12175550103", "--now", "2026-12-01T09:00"], input="What are your hours?\nno thanks\n",
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    said = [json.loads(x) for x in run.stdout.splitlines()]
    assert said[1]["flow"] == "question" and "8 AM to 5 PM" in said[1]["say"]
    assert said[-1]["outcome"] == "answered"


@pytest.mark.parametrize("args, message", [
    (["--now", "tomorrow"], "dentra: --now must look like 2026-12-01T09:00 (clinic-local time), got 'tomorrow'\n"),
])
def test_simulate_bad_arguments_exit_2(demo_store, config, args, message):
    run = subprocess.run([DENTRA, "simulate", "--config", config.source, "--data-dir", str(demo_store.data_dir),
                          *args], input="", capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and run.stderr == message and run.stdout == ""


def test_simulate_unreadable_config_exit_2(tmp_path, demo_store):
    bad = tmp_path / "clinic.toml"
    bad.write_text("[clinic]\nname = 'x'\n")
    run = subprocess.run([DENTRA, "simulate", "--config", str(bad), "--data-dir", str(demo_store.data_dir)],
                         input="", capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and run.stderr.startswith(f"dentra: {bad}: ") and len(run.stderr.splitlines()) == 1


def test_now_is_clinic_local(config):
    from appliance.simulate import parse_now

    assert parse_now("2026-12-01T09:00", config) == datetime(2026, 12, 1, 9, 0)
    assert parse_now("2026-12-01T15:00+00:00", config) == datetime(2026, 12, 1, 9, 0)


def test_simulate_with_a_missing_model_says_what_to_do(tmp_path, demo_store):
    from appliance import defaults

    config_file = tmp_path / "clinic.toml"
    config_file.write_text(defaults.EXAMPLE_CONFIG.read_text().replace('llm = ""', 'llm = "nowhere.gguf"'))
    run = subprocess.run([DENTRA, "simulate", "--config", str(config_file), "--data-dir", str(demo_store.data_dir)],
                         input="hello\n", capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and run.stdout == ""
    assert "nowhere.gguf" in run.stderr and "dentra models fetch" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
