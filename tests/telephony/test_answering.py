"""End to end on loopback: a patient calls extension 250 through kamailio and books by voice.

The box runs here (SipAgent + AnsweringService with Whisper base and Piper); the caller is a
second baresip process that speaks Piper-synthesized answers to whatever the box last asked,
waiting like a person for the box to finish talking, and records everything it hears.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import numpy as np
import pytest

from appliance import defaults, events
from appliance.brain.understanding import Understander
from appliance.clock import Clock
from appliance.runner import init_store
from appliance.store import Store, appointments, calls, patients
from appliance.telephony.answering import AnsweringService
from appliance.telephony.sip import SipAgent
from appliance.voice.audio import read_wav, resample, to_frames, write_wav
from appliance.voice.demo_models import base_dir, joe_voice
from appliance.voice.stt import Transcriber, vocabulary_prompt
from appliance.voice.tts import Speaker
from appliance.voice.turns import VoiceStages
from appliance.voice.vad import Endpointer
from tests.brain.scripted_caller import persona_answer
from tests.conftest import DEMO_NOW
from tests.telephony.lab import box_settings, run

CALLER_NUMBER = "+16175550200"  # what the lab PBX asserts for extension 200
JAMES = {"opening": "Hi, I'd like to book a cleaning please.",
         "answers": {"name": "James Smith", "date_of_birth": "April 18th, 1972",
                     "preferred_time": "Thursday afternoon", "slot_choice": "The first one please.",
                     "confirmation": "Yes please.", "anything_else": "No, that's all. Thank you."}}


@pytest.fixture(scope="module")
def stages(config) -> VoiceStages:
    voice = VoiceStages(Transcriber.load(base_dir()), Speaker.load(joe_voice()), vocabulary_prompt(config))
    voice.warm([])
    return voice


@pytest.fixture
def clinic(tmp_path, config) -> Path:
    """The demo store, with the lab caller's number on James Smith's record (P1002)."""
    store, _code = init_store(config, tmp_path / "data", None, defaults.DEMO_DIR)
    with store, store.write():
        patients.add_phone(store, "P1002", patients.Phone(CALLER_NUMBER, "mobile"))
    return tmp_path / "data"


def spoken(stages: VoiceStages, text: str, folder: Path, n: int) -> Path:
    """The caller's words as a 16 kHz WAV (Piper), with a little silence after."""
    audio = np.concatenate([s for _, s in stages.speaker.speak(text)] + [np.zeros(8000, np.int16)])
    path = folder / f"caller-{n}.wav"
    write_wav(path, audio, 16000)
    return path


def utterances(samples: np.ndarray) -> list[bytes]:
    """The recording cut where the box paused, with the box's own endpointer."""
    endpointer = Endpointer(end_pause_ms=500, no_input_ms=10**9)
    endpointer.listen()
    tail = np.zeros(16000, np.int16)  # the recording stops with the call: let the last reply end
    return [e.audio for f in to_frames(np.concatenate([samples, tail])) for e in endpointer.feed(f)
            if e.type == "speech-end"]


def recall(said: str, heard: str) -> float:
    """Share of the box's words (3+ letters) found in the transcript, whose spacing Whisper may change."""
    words = [w for w in re.findall(r"[a-z]+", said.lower()) if len(w) >= 3]
    squashed = re.sub(r"[^a-z]", "", heard.lower())
    return sum(w in squashed for w in words) / max(len(words), 1)


def call_closed(data_dir: Path) -> bool:
    with Store.open(data_dir) as store:
        return store.conn.execute("SELECT COUNT(*) FROM calls WHERE ended_at IS NOT NULL").fetchone()[0] > 0


def last_box_line(data_dir: Path) -> dict | None:
    with Store.open(data_dir) as store:
        said = [e for e in events.since(store) if e.type == "box-said"]
    return said[-1].payload if said else None


def test_a_patient_books_a_cleaning_by_voice(config, clinic, stages, pbx, peers, sip_password, tmp_path):
    async def body():
        async with SipAgent(box_settings(pbx, codecs=("g722", "pcmu"))) as agent:
            await agent.wait_status("registered", timeout=15)
            service = AnsweringService(config, clinic, None, stages, Understander(config),
                                       clock=Clock(config.tz, fixed=DEMO_NOW))
            agent.on_call(service.handle)
            caller = peers("200", registrar=pbx, codecs=("g722", "pcmu"), interactive=True)
            caller.send("dial", uri=f"sip:250@{pbx.address}")
            await caller.wait("established", timeout=20)
            state, turn = {}, 0
            while True:
                event = await caller.wait_any(("quiet", "closed"), timeout=90)
                if event["event"] == "closed":
                    return event, service
                line = last_box_line(clinic)
                answer = persona_answer(JAMES, line["expects"], state) if line else None
                if answer is None:
                    caller.send("hangup")
                    return await caller.wait("closed", timeout=20), service
                turn += 1
                caller.send("say", wav=str(spoken(stages, answer, tmp_path, turn)))

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
