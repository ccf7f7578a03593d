"""The cloud fallback against a local fake OpenAI API: no PHI arrives, answers are restored, failures hand off."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time

import pytest

from appliance.brain.cloud import CLOUD_CONFIDENCE, CloudLlmMisconfigured, CloudModel, audit_use
from appliance.brain.interpretation import SCHEMA
from appliance.brain.redaction import Redactor
from appliance.config import CloudLlmSettings
from appliance.store import audit
from tests.brain.fake_openai import FakeOpenAI

KEY_ENV = "DENTRA_TEST_CLOUD_KEY"
UTTERANCE = ("Hi, this is James Smith. I need to move my cleaning to Thursday. My number is 217-555-0103, "
             "that's two one seven five five five zero one zero three. I was born April 18th, 1972 "
             "and my email is james.smith@example.com")
CONTEXT = "Hi James, thanks for calling. How can I help?"
PHI = ["James", "Smith", "217", "555", "0103", "two one seven", "five five five", "zero one zero three",
       "April 18", "1972", "james.smith", "example.com"]


@pytest.fixture
def fake(tmp_path):
    with FakeOpenAI(tmp_path / "tls") as server:
        yield server


def settings(fake: FakeOpenAI, **changes) -> CloudLlmSettings:
    base = CloudLlmSettings(enabled=True, base_url=fake.url, model="gpt-test-mini", api_key_env=KEY_ENV,
                            timeout_seconds=2.0, ca_file=str(fake.ca_file))
    return dataclasses.replace(base, **changes)


def model(fake: FakeOpenAI, key: str | None = None, **changes) -> CloudModel:
    return CloudModel(settings(fake, **changes), key or fake.api_key)


def answer_with_placeholders(request: dict) -> dict:
    """What a good model does: fill slots by copying the placeholders it was shown."""
    said = request["messages"][-1]["content"].split("The caller said:")[1]
    first = {kind: f"[{kind}_{n}]" for kind, n in reversed(re.findall(r"\[(NAME|PHONE|DOB|EMAIL)_(\d+)\]", said))}
    return {"intent": "reschedule", "slots": {"name": first["NAME"], "phone": first["PHONE"],
                                              "date_of_birth": first["DOB"], "service": "cleaning",
                                              "date": "Thursday"}}


def test_round_trip_sends_placeholders_only_and_restores_the_answer(fake, caplog):
    fake.answer = answer_with_placeholders
    cloud = model(fake)
    with caplog.at_level(logging.DEBUG):
        found = cloud.interpret(UTTERANCE, "intent", CONTEXT, Redactor(["James", "Smith", "James Smith"]))

    assert cloud.last_error is None and cloud.last_outcome == "ok"
    assert found.intent == "reschedule" and found.source == "cloud" and found.confidence == CLOUD_CONFIDENCE
    assert found.slots == {"name": "James Smith", "phone": "217-555-0103", "date_of_birth": "April 18th, 1972",
                           "service": "cleaning", "date": "Thursday"}

    assert len(fake.requests) == 1
    for received in fake.requests:  # the raw bytes that reached the server
        raw = received.body.lower()
        leaked = [phi for phi in PHI if phi.lower().encode() in raw]
        assert not leaked, f"PHI reached the cloud: {leaked}"
        for placeholder in (b"[NAME_1]", b"[PHONE_1]", b"[DOB_1]", b"[EMAIL_1]"):
            assert placeholder.lower() in raw
    user = fake.requests[0].json["messages"][1]["content"]
    assert user.count("[PHONE_1]") == 2 and "[PHONE_2]" not in user  # one number said two ways
    assert "move my cleaning to Thursday" in user
    assert re.search(r"Hi \[NAME_\d\], thanks", user.split("The caller said:")[0])  # the context is redacted too
    logged = [r for r in caplog.records if r.name == "appliance.brain.cloud"]
    assert [(r.msg, r.args[0]) for r in logged] == [("cloud-llm %s in %d ms", "ok")]  # a code and a timing only
    assert isinstance(logged[0].args[1], int)


def test_request_is_openai_chat_completions_with_bearer_key(fake):
    model(fake).interpret("I want to book", "intent", "", Redactor())
    received = fake.requests[0]
    assert received.path == "/v1/chat/completions"
    assert received.headers["Authorization"] == f"Bearer {fake.api_key}"
    assert received.headers["Content-Type"] == "application/json"
    body = received.json
    assert body["model"] == "gpt-test-mini" and body["temperature"] == 0
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert body["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "interpretation", "schema": json.loads(json.dumps(SCHEMA)), "strict": True}}


def test_wrong_key_is_refused(fake):
    cloud = model(fake, key="sk-wrong")
    assert cloud.interpret("I want to book", "intent", "", Redactor()) is None
    assert cloud.last_error == "cloud-http-401"


def test_tls_is_verified(fake):
    # without the clinic's CA file the fake's certificate is not trusted: refused, not silently accepted
    cloud = model(fake, ca_file="")
    assert cloud.interpret("my name is James Smith", "intent", "", Redactor()) is None
    assert cloud.last_error == "cloud-tls"
    deadline = time.monotonic() + 2
    while not fake.handshake_failures and time.monotonic() < deadline:
        time.sleep(0.01)  # the fake notices the aborted handshake in its own thread
    assert fake.requests == [] and fake.handshake_failures >= 1
    # the host name is checked against the certificate too (it names 127.0.0.1 and localhost)
    assert model(fake, base_url=fake.url.replace("127.0.0.1", "localhost")).interpret(
        "I want to book", "intent", "", Redactor()) is not None


def test_timeout_hands_off_within_the_budget(fake):
    fake.delay = 5.0
    cloud = model(fake, timeout_seconds=0.5)
    started = time.monotonic()
    assert cloud.interpret("I want to book", "intent", "", Redactor()) is None
    elapsed = time.monotonic() - started
    assert cloud.last_error == "cloud-timeout"
    assert 0.4 <= elapsed < 1.5


@pytest.mark.parametrize("status", [500, 502, 429])
def test_http_errors_hand_off(fake, status):
    fake.status = status
    cloud = model(fake)
    assert cloud.interpret("I want to book", "intent", "", Redactor()) is None
    assert cloud.last_error == f"cloud-http-{status}"


@pytest.mark.parametrize("answer", ["Sure! The caller wants to book.", {"intent": "dance", "slots": {}},
                                    {"slots": {}}, '{"intent": "book", "slots": "cleaning"}', ""])
def test_bad_answers_hand_off(fake, answer):
    fake.answer = answer
    cloud = model(fake)
    assert cloud.interpret("I want to book", "intent", "", Redactor()) is None
    assert cloud.last_error == "cloud-bad-answer"


def test_a_body_that_is_not_the_api_hands_off(fake):
    fake.raw_response = b"<html>Please log in to the guest wifi</html>"
    cloud = model(fake)
    assert cloud.interpret("I want to book", "intent", "", Redactor()) is None
    assert cloud.last_error == "cloud-bad-answer"


def test_a_fenced_answer_is_accepted_and_made_up_placeholders_dropped(fake):
    fake.answer = '```json\n{"intent": "book", "slots": {"service": "cleaning", "name": "[NAME_7]"}}\n```'
    found = model(fake).interpret("I want a cleaning", "intent", "", Redactor())
    assert found.intent == "book" and found.slots == {"service": "cleaning"}


def test_last_error_clears_after_a_good_answer(fake):
    cloud = model(fake)
    fake.status = 500
    cloud.interpret("I want to book", "intent", "", Redactor())
    fake.status = 200
    assert cloud.interpret("I want to book", "intent", "", Redactor()) is not None
    assert cloud.last_error is None


def test_unreachable_endpoint_hands_off(fake):
    cloud = model(fake, base_url="http://127.0.0.1:1/v1")  # plain http is allowed to loopback only
    assert cloud.interpret("I want to book", "intent", "", Redactor()) is None
    assert cloud.last_error == "cloud-unreachable"


def test_from_config_reads_the_key_from_the_environment(config, fake, monkeypatch):
    enabled = dataclasses.replace(config, cloud_llm=settings(fake))
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(CloudLlmMisconfigured, match=KEY_ENV) as raised:
        CloudModel.from_config(enabled)
    assert raised.value.code == "cloud-llm-misconfigured"
    monkeypatch.setenv(KEY_ENV, fake.api_key)
    assert CloudModel.from_config(enabled).interpret("I want to book", "intent", "", Redactor()) is not None
    assert CloudModel.from_config(config) is None  # off by default: nothing is ever sent


@pytest.mark.parametrize(("changes", "message"), [
    ({"enabled": False}, "enabled is false"),
    ({"base_url": "http://llm.example.com/v1"}, "must be an https:// URL"),
    ({"base_url": "ftp://127.0.0.1/v1"}, "must be an https:// URL"),
    ({"ca_file": "/nonexistent/ca.pem"}, "cannot load /nonexistent/ca.pem"),
])
def test_misconfigured_settings_are_refused(fake, changes, message):
    with pytest.raises(CloudLlmMisconfigured, match=message):
        model(fake, **changes)
    with pytest.raises(CloudLlmMisconfigured, match=KEY_ENV):
        CloudModel(settings(fake), "")


def test_each_use_is_audited_without_phi(demo_store, fake):
    fake.answer = answer_with_placeholders
    cloud = model(fake)
    redactor = Redactor(["James", "Smith"])
    assert cloud.interpret(UTTERANCE, "intent", CONTEXT, redactor, store=demo_store, call_id="C-cloud-1")
    fake.status = 502
    assert cloud.interpret(UTTERANCE, "intent", CONTEXT, redactor, store=demo_store, call_id="C-cloud-1") is None
    with demo_store.write():  # inside a caller's own transaction too
        audit_use(demo_store, "C-cloud-2", "cloud-timeout", "gpt-test-mini")

    rows = demo_store.conn.execute("SELECT * FROM audit_log WHERE action = 'cloud-llm-used' ORDER BY seq").fetchall()
    assert [(r["actor"], r["patient_id"], r["subject"]) for r in rows] == [
        ("brain", None, "C-cloud-1"), ("brain", None, "C-cloud-1"), ("brain", None, "C-cloud-2")]
    details = [json.loads(r["detail"]) for r in rows]
    assert [(d["outcome"], d["model"]) for d in details] == [
        ("ok", "gpt-test-mini"), ("cloud-http-502", "gpt-test-mini"), ("cloud-timeout", "gpt-test-mini")]
    for r, d in zip(rows, details, strict=True):  # ids and codes only (hashes are hex, ms a number: not checked)
        assert set(d) - {"ms"} == {"outcome", "model"} and isinstance(d.get("ms", 0), int)
        text = " ".join(str(v) for v in (r["actor"], r["action"], r["patient_id"], r["subject"], d["outcome"],
                                         d["model"])).lower()
        assert not [phi for phi in PHI if phi.lower() in text]
    report = audit.verify(demo_store)
    assert report.ok and report.rows == 31 + 3
