"""Scripted calls through the real brain, store and scheduler: our own suite and the public samples.

`tests/scenarios/*.json` use the acceptance format; the public ones in ../shared/acceptance are
also played here in-process (and by callsim.py itself through `dentra simulate` in the test command).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance import defaults
from appliance.runner import init_store
from appliance.store import audit
from tests.brain.scripted_caller import check, transcript
from tests.conftest import SHARED

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
