"""The page's "take the call" / "end AI handling" on the voice side: a real CallRun and Conversation over an
in-memory line (the SIP lab version is in test_commands_sip.py), commands written as the web writes them."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from appliance import events
from appliance.brain.understanding import Understander
from appliance.clock import Clock
from appliance.store import Store, call_commands, escalations
from appliance.store.db import utc_now
from appliance.telephony.answering import AnsweringService
from appliance.voice.audio import FRAME_BYTES
from appliance.voice.turns import VoiceStages
from tests.conftest import DEMO_NOW

SILENCE = bytes(FRAME_BYTES)


class FakeSpeaker:
    """Half a second of tone per sentence, at once (the run's speech, without Piper)."""

    voice_id = "tone"

    def speak(self, text: str):
        t = np.arange(8000) / 16000
        yield text, (3000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)


class FakeTranscriber:
    def transcribe(self, samples, prompt: str = ""):
        raise AssertionError("the caller is silent in these tests")


class MemoryLine:
    """A phone line in memory: the caller is silent; transfers to `refuse` fail like a PBX's 404."""

    def __init__(self, number: str, refuse: tuple[str, ...] = ()):
        self.caller = type("Caller", (), {"number": number, "masked": number[-4:]})()
        self.ended = asyncio.Event()
        self.wire_rate = 16000
        self.refuse, self.transfers, self.played, self.flushes = refuse, [], 0, 0

    async def answer(self) -> None:
        pass

    async def read_frame(self) -> bytes:
        if self.ended.is_set():
            raise ConnectionError("line closed")
        await asyncio.sleep(0.02)
        return SILENCE

    async def write_frame(self, frame: bytes) -> None:
        self.played += 1
        await asyncio.sleep(0.02)  # real time, like the SIP stack's playback

    def flush_playback(self) -> None:
        self.flushes += 1

    def on_dtmf(self, callback) -> None:
        pass

    async def transfer(self, extension: str) -> None:
        self.transfers.append(extension)
        await asyncio.sleep(0.05)
        if extension in self.refuse:
            raise ConnectionError(f"404 Not Found: {extension}")
        self.ended.set()

    async def hangup(self) -> None:
        self.ended.set()


@pytest.fixture
def service(config, demo_store) -> AnsweringService:
    stages = VoiceStages(FakeTranscriber(), FakeSpeaker())
    return AnsweringService(config, demo_store.data_dir, demo_store.key_file, stages, Understander(config),
                            clock=Clock(config.tz, fixed=DEMO_NOW))


async def call_with_command(service, line, command: str | None, extension: str, *, after_s: float = 0.3):
    """Ring the box on `line`, write `command` from the page once the box talks, and wait for the call to end."""
    handled = asyncio.create_task(service.handle(line))
    while not service.runs:
        await asyncio.sleep(0.01)
    [call_id] = service.runs
    await asyncio.sleep(after_s)  # mid-greeting
    web = Store.open(service.data_dir, service.key_file, migrate=False)
    try:
        if command:
            call_commands.request(web, call_id, command, extension, "anna", "192.168.1.20")
        outcome = await asyncio.wait_for(handled, 20)
        for _ in range(50):  # the poller's last write lands right after the run ends
            latest = call_commands.latest(web, call_id)
            if latest is None or latest.done_at:
                break
            await asyncio.sleep(0.05)
        said = [(e.type, e.payload) for e in events.for_call(web, call_id)]
        return call_id, outcome, latest, said, escalations.listing(web)
    finally:
        web.close()


def test_take_the_call_transfers_the_caller_to_the_receptionists_desk(service):
    line = MemoryLine("+12175550103")
    call_id, outcome, command, said, raised = asyncio.run(call_with_command(service, line, "take", "102"))
    assert line.transfers == ["102"] and line.flushes >= 1  # the greeting was cut short
    assert outcome == "transferred" and (command.result, command.by_user) == ("transferred", "anna")
    kinds = [kind for kind, _ in said]
    assert ("call-transferred", {"to": "102", "by": "anna", "command": "take"}) in said
    assert kinds.count("call-transferred") == 1 and kinds.count("call-ended") == 1
    assert raised == []  # the receptionist has the caller: nothing for the front desk's list


def test_end_ai_hands_the_caller_to_the_front_desk_with_an_escalation(service, config):
    line = MemoryLine("+12175550103")
    call_id, outcome, command, said, raised = asyncio.run(call_with_command(service, line, "end-ai",
                                                                            config.escalation.transfer_to))
    assert line.transfers == ["101"] and outcome == "transferred" and command.result == "transferred"
    assert [(e["call_id"], e["kind"], e["reason"]) for e in raised] == [
        (call_id, "transfer", "AI handling ended from the page")]


def test_a_desk_that_does_not_answer_falls_back_to_the_front_desk(service):
    line = MemoryLine("+12175550103", refuse=("109",))
    _call_id, outcome, command, said, _ = asyncio.run(call_with_command(service, line, "take", "109"))
    assert line.transfers == ["109", "101"] and outcome == "transferred"
    assert ("error", {"code": "transfer-failed", "message": "could not transfer the caller to 109"}) in said
    assert ("call-transferred", {"to": "101", "by": "anna", "command": "take"}) in said


def test_when_nobody_answers_the_box_carries_on_with_the_caller(service):
    line = MemoryLine("+12175550103", refuse=("109", "101"))

    async def body():
        task = asyncio.create_task(call_with_command(service, line, "take", "109"))
        while len(line.transfers) < 2:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        [run] = service.runs.values()
        assert not run.taken and run.conversation.handoff is None  # back with the AI
        await line.hangup()  # the caller gives up
        return await task

    _call_id, outcome, command, said, _ = asyncio.run(body())
    assert command.result == "transfer-failed" and outcome != "transferred"
    assert not any(kind == "call-transferred" for kind, _ in said)


def test_a_command_for_a_call_that_ended_is_answered_not_carried_out(service, demo_store):
    line = MemoryLine("+12175550103")

    async def body():
        task = asyncio.create_task(call_with_command(service, line, None, ""))
        while not service.runs:
            await asyncio.sleep(0.01)
        [call_id] = service.runs
        with demo_store.write():  # written in the moment between the caller hanging up and the call's record closing
            demo_store.conn.execute("INSERT INTO call_commands (call_id, command, extension, by_user, at) "
                                    "VALUES (?, 'take', '102', 'anna', ?)", (call_id, utc_now()))
        await line.hangup()
        await task
        return call_id

    call_id = asyncio.run(body())
    command = call_commands.latest(demo_store, call_id)
    assert command.result == "call-not-live" and line.transfers == []
