"""End to end on loopback: a patient calls extension 250 through kamailio and books by voice.

The box runs here (SipAgent + AnsweringService with Whisper base and Piper); the caller is a
second baresip process that speaks Piper-synthesized answers to whatever the box last asked,
waiting like a person for the box to finish talking, and records everything it hears.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from appliance import events
from appliance.brain.understanding import Understander
from appliance.clock import Clock
from appliance.store import Store, appointments, calls
from appliance.telephony.answering import AnsweringService
from appliance.telephony.sip import SipAgent
from appliance.voice.audio import read_wav, resample
from appliance.voice.demo_models import base_dir, joe_voice
from appliance.voice.stt import Transcriber, vocabulary_prompt
from appliance.voice.tts import Speaker
from appliance.voice.turns import VoiceStages
from tests.conftest import DEMO_NOW
from tests.telephony.lab import box_settings, run
from tests.telephony.voice_caller import (
    booking_call,
    call_closed,
    prepare_clinic,
    recall,
    spoken,
    utterances,
)


@pytest.fixture(scope="module")
def stages(config) -> VoiceStages:
    voice = VoiceStages(Transcriber.load(base_dir()), Speaker.load(joe_voice()), vocabulary_prompt(config))
    voice.warm([])
    return voice


@pytest.fixture
def clinic(tmp_path, config) -> Path:
    return prepare_clinic(config, tmp_path / "data")


def test_a_patient_books_a_cleaning_by_voice(config, clinic, stages, pbx, peers, sip_password, tmp_path):
    async def body():
        return await booking_call(config, clinic, stages, pbx, peers, tmp_path)
    closed, service = run(body(), timeout=300)
    with Store.open(clinic) as store:
        conversation = [(e.type, e.payload.get("text")) for e in events.since(store) if e.type.endswith("-said")]
        booked = [a for a in appointments.listing(store, patient_id="P1002") if a.source == "ai"]
        [call] = store.conn.execute("SELECT * FROM calls WHERE channel = 'sip'").fetchall()
        recognized = calls.recognitions(store, call["call_id"])
        kinds = [e.type for e in events.since(store) if e.call_id == call["call_id"]]
    assert len(booked) == 1 and booked[0].service == "cleaning", "\n".join(map(str, conversation))
    assert booked[0].start.date().isoformat() == "2026-12-03" and 13 <= booked[0].start.hour < 17
    assert recognized[0]["candidates"] == ["P1002"] and call["outcome"] == "booked"
    assert kinds[0] == "call-ringing" and "call-answered" in kinds and kinds[-1] == "call-ended"
    # what the caller heard is speech, and each reply says what the brain said
    heard, rate = read_wav(closed["recording"])
    pieces = [stages.transcriber.transcribe(np.frombuffer(audio, np.int16)).text for audio in utterances(
        resample(heard, rate, 16000))]
    box_said = [text for kind, text in conversation if kind == "box-said"]
    for said in box_said:
        best = max(recall(said, piece) for piece in pieces)
        assert best >= 0.7, f"{said!r} not heard; the caller heard {pieces}"
    [run_] = service.runs.values()
    latencies = [t.voice_to_voice_s for t in run_.timings if t.voice_to_voice_s is not None]
    assert len(latencies) >= 5  # every caller turn got a spoken reply
    print(json.dumps({"voice_to_voice_s": [round(x, 2) for x in latencies]}))


def test_keypad_zero_puts_the_caller_through_to_the_front_desk(config, clinic, stages, pbx, peers, sip_password):
    """A key press travels as DTMF into the call's turns, and the hand-off is a real transfer to ext 101."""
    async def body():
        async with SipAgent(box_settings(pbx, codecs=("g722", "pcmu"))) as agent:
            await agent.wait_status("registered", timeout=15)
            service = AnsweringService(config, clinic, None, stages, Understander(config),
                                       clock=Clock(config.tz, fixed=DEMO_NOW))
            agent.on_call(service.handle)
            desk = await asyncio.to_thread(peers, "101", registrar=pbx, auto_answer=True)
            caller = await asyncio.to_thread(peers, "200", registrar=pbx, codecs=("g722", "pcmu"), interactive=True)
            caller.send("dial", uri=f"sip:250@{pbx.address}")
            await caller.wait("quiet", timeout=60)  # the greeting has been said
            caller.send("dtmf", digits="0")
            await caller.wait("transfer-call", timeout=60, peer=f"sip:101@{pbx.address}")
            await desk.wait("established", timeout=20)
            return service

    service = run(body(), timeout=180)
    [call_id] = service.runs
    with Store.open(clinic) as store:
        call = store.conn.execute("SELECT * FROM calls WHERE call_id = ?", (call_id,)).fetchone()
        said = [(e.type, e.payload) for e in events.since(store) if e.call_id == call_id]
    assert call["outcome"] == "transferred"
    assert ("caller-said", "<dtmf 0>") in [(kind, p.get("text")) for kind, p in said]
    transferred = [p for kind, p in said if kind == "call-transferred"]
    assert transferred == [{"to": "101"}]


def test_a_caller_who_hangs_up_mid_sentence_leaves_a_clean_record(config, clinic, stages, pbx, peers, sip_password,
                                                                 tmp_path):
    async def body():
        async with SipAgent(box_settings(pbx)) as agent:
            await agent.wait_status("registered", timeout=15)
            service = AnsweringService(config, clinic, None, stages, Understander(config),
                                       clock=Clock(config.tz, fixed=DEMO_NOW))
            agent.on_call(service.handle)
            caller = await asyncio.to_thread(peers, "200", registrar=pbx, interactive=True)
            caller.send("dial", uri=f"sip:250@{pbx.address}")
            await caller.wait("quiet", timeout=60)
            long_answer = "I would like to book a cleaning for my whole family, my wife, my two sons and " \
                          "my daughter, ideally all on the same afternoon next week if that is possible"
            caller.send("say", wav=str(spoken(stages, long_answer, tmp_path, 1)))
            await asyncio.sleep(1.5)
            caller.send("hangup")
            await caller.wait("closed", timeout=20)
            for _ in range(100):  # the box notices at once; its last write closes the call's record
                if call_closed(clinic):
                    break
                await asyncio.sleep(0.1)
            return service

    service = run(body(), timeout=120)
    [call_id] = service.runs
    with Store.open(clinic) as store:
        call = store.conn.execute("SELECT * FROM calls WHERE call_id = ?", (call_id,)).fetchone()
        kinds = [e.type for e in events.since(store) if e.call_id == call_id]
    assert call["outcome"] == "abandoned" and call["ended_at"] is not None
    assert kinds[-1] == "call-ended" and "error" not in kinds
