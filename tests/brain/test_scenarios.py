"""Scripted calls through the real brain, store and scheduler: our own suite and the public samples.

`tests/scenarios/*.json` use the acceptance format; the public ones in ../shared/acceptance are
also played here in-process (and by callsim.py itself through `dentra simulate` in the test command).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from appliance import defaults
from appliance.brain.understanding import Understander
from appliance.runner import init_store
from appliance.store import audit
from tests.brain.scripted_caller import check, transcript
from tests.conftest import SHARED

EXPECTS = {"intent", "name", "date_of_birth", "which_patient", "service", "preferred_time", "slot_choice",
           "confirmation", "appointment_choice", "phone", "anything_else", "nothing"}
FLOWS = {"greeting", "book", "reschedule", "cancel", "question", "emergency", "transfer", "closing"}
OWN = sorted((Path(__file__).parent.parent / "scenarios").glob("*.json"))
PUBLIC = sorted((SHARED / "acceptance" / "scenarios").glob("*.json"))


@pytest.fixture
def fresh_demo(tmp_path, config):
    store, _code = init_store(config, tmp_path / "data", None, defaults.DEMO_DIR)
    yield store
    store.close()


def test_our_suite_is_broad():
    assert len(OWN) >= 40


@pytest.mark.parametrize("path", OWN + PUBLIC, ids=lambda p: p.stem)
def test_scenario(path, config, fresh_demo):
    scenario = json.loads(path.read_text())
    problems, lines = check(config, fresh_demo, scenario)
    assert not problems, "\n".join(problems) + "\n" + transcript(lines)
    assert audit.verify(fresh_demo).ok


class Generous:
    """The tiny model needs more tokens than a real one to finish its JSON (its words are single characters)."""

    def __init__(self, model):
        self.model, self.asked = model, 0

    def interpret(self, utterance, expects, context=""):
        self.asked += 1
        return self.model.interpret(utterance, expects, context, timeout_s=30, max_tokens=700)


@pytest.mark.parametrize("path", PUBLIC, ids=lambda p: p.stem)
def test_public_scenario_with_a_local_model(path, config, fresh_demo, model):
    """With a (tiny, random) local model configured the rules still carry the common calls."""
    understander = Understander(config, local=Generous(model))
    problems, lines = check(config, fresh_demo, json.loads(path.read_text()), understander)
    assert not problems, "\n".join(problems) + "\n" + transcript(lines)


def test_model_answers_flow_into_a_call(config, fresh_demo, model):
    """Words the rules cannot place go to the model, and whatever it answers, the call goes on soundly."""
    from appliance.brain.conversation import BrainContext, Conversation
    from appliance.recognition import recognize_call

    local = Generous(model)
    ctx = BrainContext.create(config, fresh_demo)
    ctx.understander = Understander(config, local=local)
    call_id, recognition = recognize_call(fresh_demo, "+12175550103", ctx.region, channel="simulate")
    conversation = Conversation(ctx, call_id, recognition, datetime(2026, 12, 1, 9, 0))
    conversation.start()
    for words in ("Blorp flibber.", "Wobble wobble quux.", "Zzzt."):
        line = conversation.hear(words)
        assert line.expects in EXPECTS and line.flow in FLOWS and line.say
        if conversation.ended:
            break
    assert local.asked >= 1
    assert conversation.heard.source in ("llm", "rules")
