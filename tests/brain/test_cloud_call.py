"""A whole call that needs the cloud fallback: placeholders out, intent back, audited; a timeout hands off."""

from __future__ import annotations

import dataclasses

import pytest

from appliance.brain.conversation import BrainContext, Conversation
from appliance.recognition import recognize_call
from tests.brain.fake_openai import FakeOpenAI
from tests.conftest import DEMO_NOW

KEY_ENV = "DENTRA_TEST_CLOUD_KEY"
UNCLEAR = "This is James Smith, born April 18th 1972, could you fit me in sometime next Thursday? My number is " \
          "217 555 0103."


@pytest.fixture
def fake(tmp_path):
    with FakeOpenAI(tmp_path / "tls") as server:
        yield server


def call(config, store, fake, monkeypatch, timeout=2.0):
    monkeypatch.setenv(KEY_ENV, fake.api_key)
    cloud = dataclasses.replace(config.cloud_llm, enabled=True, base_url=fake.url, model="gpt-test",
                                api_key_env=KEY_ENV, ca_file=str(fake.ca_file), timeout_seconds=timeout)
    config = dataclasses.replace(config, cloud_llm=cloud)
    ctx = BrainContext.create(config, store)
    call_id, recognition = recognize_call(store, "+12175550103", ctx.region, channel="simulate")
    conversation = Conversation(ctx, call_id, recognition, DEMO_NOW)
    conversation.start()
    return conversation


def test_unclear_request_goes_to_the_cloud_without_phi(config, demo_store, fake, monkeypatch):
    fake.answer = {"intent": "book", "slots": {"service": "teeth cleaning", "date": "next Thursday"}}
    conversation = call(config, demo_store, fake, monkeypatch)
    line = conversation.hear(UNCLEAR)
    assert (line.flow, line.expects) == ("book", "name")  # booking, and verification comes first
    assert conversation.service == "cleaning" and conversation.day.first.isoformat() == "2026-12-10"
    [received] = fake.requests
    raw = received.body.lower()
    for phi in (b"james", b"smith", b"1972", b"april 18", b"0103", b"555"):
        assert phi not in raw, phi
    row = demo_store.conn.execute("SELECT * FROM audit_log WHERE action = 'cloud-llm-used'").fetchone()
    assert row["subject"] == conversation.call_id and '"outcome":"ok"' in row["detail"]
    assert "james" not in row["detail"].lower()


def test_rules_first_nothing_sent_for_a_clear_request(config, demo_store, fake, monkeypatch):
    conversation = call(config, demo_store, fake, monkeypatch)
    conversation.hear("I'd like to book a cleaning")
    assert fake.requests == []


def test_cloud_timeout_hands_the_caller_to_the_front_desk(config, demo_store, fake, monkeypatch):
    fake.delay = 3.0
    conversation = call(config, demo_store, fake, monkeypatch, timeout=0.5)
    line = conversation.hear(UNCLEAR)
    assert line.action["type"] == "transferred" and line.expects == "nothing"
    assert "having trouble" in line.say
    row = demo_store.conn.execute("SELECT detail FROM audit_log WHERE action = 'cloud-llm-used'").fetchone()
    assert '"outcome":"cloud-timeout"' in row["detail"]
