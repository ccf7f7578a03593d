"""A caller who speaks: drives a peer process through a call by voice, like a patient would.

Used by the end-to-end tests and `bench/call_bench.py`: the peer waits until the box has gone
quiet, answers what the box last asked (the scripted persona of tests/brain/scripted_caller.py)
with Piper-synthesized speech, and records all it hears.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from appliance import defaults, events
from appliance.brain.understanding import Understander
from appliance.clock import Clock
from appliance.runner import init_store
from appliance.store import Store, patients
from appliance.telephony.answering import AnsweringService
from appliance.telephony.sip import SipAgent
from appliance.voice.audio import to_frames, write_wav
from appliance.voice.turns import VoiceStages
from appliance.voice.vad import Endpointer
from tests.brain.scripted_caller import persona_answer
from tests.conftest import DEMO_NOW
from tests.telephony.lab import box_settings

CALLER_NUMBER = "+16175550200"  # what the lab PBX asserts for extension 200
JAMES = {"opening": "Hi, I'd like to book a cleaning please.",
         "answers": {"name": "James Smith", "date_of_birth": "April 18th, 1972",
                     "preferred_time": "Thursday afternoon", "slot_choice": "The first one please.",
                     "confirmation": "Yes please.", "anything_else": "No, that's all. Thank you."}}



def prepare_clinic(config, data_dir: Path) -> Path:
    """The demo store, with the lab caller's number on James Smith's record (P1002)."""
    store, _code = init_store(config, data_dir, None, defaults.DEMO_DIR)
    with store, store.write():
        patients.add_phone(store, "P1002", patients.Phone(CALLER_NUMBER, "mobile"))
    return data_dir


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


async def booking_call(config, clinic: Path, stages: VoiceStages, pbx, start_peer, workdir: Path,
                       persona: dict = JAMES):
    """One whole call by voice; returns (the caller's `closed` event, the answering service)."""
    async with SipAgent(box_settings(pbx, codecs=("g722", "pcmu"))) as agent:
        await agent.wait_status("registered", timeout=15)
        service = AnsweringService(config, clinic, None, stages, Understander(config),
                                   clock=Clock(config.tz, fixed=DEMO_NOW))
        agent.on_call(service.handle)
        caller = start_peer("200", registrar=pbx, codecs=("g722", "pcmu"), interactive=True)
        caller.send("dial", uri=f"sip:250@{pbx.address}")
        await caller.wait("established", timeout=20)
        state, turn = {}, 0
        while True:
            event = await caller.wait_any(("quiet", "closed"), timeout=90)
            if event["event"] == "closed":
                return event, service
            line = last_box_line(clinic)
            answer = persona_answer(persona, line["expects"], state) if line else None
            if answer is None:
                caller.send("hangup")
                return await caller.wait("closed", timeout=20), service
            turn += 1
            caller.send("say", wav=str(spoken(stages, answer, workdir, turn)))

