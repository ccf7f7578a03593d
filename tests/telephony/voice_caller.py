"""A caller who speaks: drives a peer process through a call by voice, like a patient would.

Used by the end-to-end tests and the call benches (bench/call_bench.py, bench/concurrency_bench.py):
the peer waits until the box has gone quiet, answers what the box last asked on its call (the
scripted persona of tests/brain/scripted_caller.py) with Piper-synthesized speech, and records all
it hears.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np

from appliance import defaults, events
from appliance.brain.understanding import Understander
from appliance.clock import Clock
from appliance.runner import init_store
from appliance.store import Store, patients
from appliance.telephony.answering import AnsweringService
from appliance.telephony.sip import SipAgent
from appliance.voice.audio import FRAME_MS, read_wav, to_frames, write_wav
from appliance.voice.turns import VoiceStages
from appliance.voice.vad import Endpointer
from tests.brain.scripted_caller import persona_answer
from tests.conftest import DEMO_NOW
from tests.telephony.lab import ASSERTED_PREFIX, box_settings

CALLER_NUMBER = "+16175550200"  # what the lab PBX asserts for extension 200
JAMES = {"opening": "Hi, I'd like to book a cleaning please.",
         "answers": {"name": "James Smith", "date_of_birth": "April 18th, 1972",
                     "preferred_time": "Thursday afternoon", "slot_choice": "The first one please.",
                     "confirmation": "Yes please.", "anything_else": "No, that's all. Thank you."}}


def prepare_clinic(config, data_dir: Path, phones: dict[str, str] | None = None) -> Path:
    """The demo store, with the lab callers' numbers on patients' records (default: 200 is James Smith, P1002)."""
    store, _code = init_store(config, data_dir, None, defaults.DEMO_DIR)
    with store, store.write():
        for number, patient_id in (phones or {CALLER_NUMBER: "P1002"}).items():
            patients.add_phone(store, patient_id, patients.Phone(number, "mobile"))
    return data_dir


def spoken(stages: VoiceStages, text: str, folder: Path, n: int) -> Path:
    """The caller's words as a 16 kHz WAV (Piper), with a little silence after."""
    audio = np.concatenate([s for _, s in stages.speaker.speak(text)] + [np.zeros(8000, np.int16)])
    path = folder / f"caller-{n}.wav"
    write_wav(path, audio, 16000)
    return path


def speech_onset_s(path: Path) -> float:
    """Seconds from the start of a 16 kHz WAV to its first voiced frame, as the box's endpointer judges it."""
    samples, _rate = read_wav(path)
    endpointer = Endpointer(no_input_ms=10**9)
    endpointer.listen()
    for frame in to_frames(samples):
        for event in endpointer.feed(frame):
            if event.type == "speech-start":
                return event.onset_frame * FRAME_MS / 1000
    raise ValueError(f"{path}: no speech in it")


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


def last_box_line(data_dir: Path, call_id: str | None = None) -> dict | None:
    """What the box last said (on `call_id`, else on any call): the `box-said` event's payload."""
    with Store.open(data_dir) as store:
        last = store.conn.execute("SELECT MAX(event_id) FROM events WHERE type = 'box-said' AND "
                                  "(? IS NULL OR call_id = ?)", (call_id, call_id)).fetchone()[0]
        return events.since(store, last - 1, limit=1)[0].payload if last else None


def call_of(service: AnsweringService, caller) -> str | None:
    """The box's call id for a peer's call (the lab PBX asserts ASSERTED_PREFIX + the peer's user)."""
    number = ASSERTED_PREFIX + caller.user
    return next((call_id for call_id, run in list(service.runs.items()) if run.line.caller.number == number), None)


async def converse(caller, service: AnsweringService, clinic: Path, persona: dict,
                   voice: Callable[[str], Path]) -> dict:
    """Answer by voice (`voice(text)`: a WAV) what the box last asked on this caller's dialled call, as a
    person would once it has gone quiet, until the call ends; returns the caller's `closed` event."""
    await caller.wait("established", timeout=20)
    state: dict = {}
    while True:
        event = await caller.wait_any(("quiet", "closed"), timeout=120)
        if event["event"] == "closed":
            return event
        line = last_box_line(clinic, call_of(service, caller))
        answer = persona_answer(persona, line["expects"], state) if line else None
        if answer is None:
            caller.send("hangup")
            return await caller.wait("closed", timeout=20)
        caller.send("say", wav=str(voice(answer)))


@asynccontextmanager
async def answering_box(config, clinic: Path, stages: VoiceStages, pbx,
                        codecs=("g722", "pcmu")) -> AsyncIterator[AnsweringService]:
    """The box registered as extension 250 on the lab PBX, answering calls on the demo day with `stages`."""
    async with SipAgent(box_settings(pbx, codecs=codecs)) as agent:
        await agent.wait_status("registered", timeout=15)
        service = AnsweringService(config, clinic, None, stages, Understander(config),
                                   clock=Clock(config.tz, fixed=DEMO_NOW))
        agent.on_call(service.handle)
        yield service


async def booking_call(config, clinic: Path, stages: VoiceStages, pbx, start_peer, workdir: Path,
                       persona: dict = JAMES):
    """One whole call by voice; returns (the caller's `closed` event, the answering service)."""
    async with answering_box(config, clinic, stages, pbx) as service:
        caller = start_peer("200", registrar=pbx, codecs=("g722", "pcmu"), interactive=True)
        caller.send("dial", uri=f"sip:250@{pbx.address}")
        said = iter(range(1, 100))
        closed = await converse(caller, service, clinic, persona,
                                lambda text: spoken(stages, text, workdir, next(said)))
        return closed, service
