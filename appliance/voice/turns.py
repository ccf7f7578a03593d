"""One call as a run of turns: caller audio -> endpointer -> Whisper -> brain -> Piper -> caller, with events.

The run owns the turn-taking: it listens with the pause the last question needs, lets the caller
talk over the box (playback stops on their first syllables), plays a short filler when the brain
takes longer than a moment, turns keypad presses into `<dtmf ...>` turns, and always records the
call's end, whoever ends it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from appliance import events
from appliance.brain.conversation import BoxLine, Conversation
from appliance.voice.audio import FRAME_MS, is_silent, to_frames
from appliance.voice.stt import Transcriber
from appliance.voice.tts import PhraseCache, Speaker
from appliance.voice.turn_end import TurnModel
from appliance.voice.vad import DEFAULT_PROBE_MS, Endpointer, pause_for, probe_for

log = logging.getLogger("dentra.voice")

FILLER = "One moment, let me check that."
FILLER_AFTER_S = 0.7  # longer than this without a reply and the caller hears the filler
DRAIN_S = 0.3  # what the SIP stack still holds to play when the last frame was queued, and some margin
KEYPAD_GAP_S = 1.5  # keys pressed closer together than this are one answer (a birth date, a number)


class Line(Protocol):
    """What a run needs from a phone line (the SIP call, or an in-memory line in tests)."""

    ended: asyncio.Event
    wire_rate: int | None  # the codec's sample rate, once audio flows

    async def read_frame(self) -> bytes: ...
    async def write_frame(self, frame: bytes) -> None: ...
    def flush_playback(self) -> None: ...
    def on_dtmf(self, callback) -> None: ...
    async def transfer(self, extension: str) -> None: ...
    async def hangup(self) -> None: ...


@dataclass
class VoiceStages:
    """The speech engines every call on the box shares, loaded once."""

    transcriber: Transcriber
    speaker: Speaker
    prompt: str = ""  # the clinic's vocabulary for Whisper
    phrases: PhraseCache = field(default_factory=PhraseCache)
    turn: TurnModel | None = None  # None: every turn waits its full pause
    wideband: Transcriber | None = None  # for 16 kHz calls (G.722, Opus); None: `transcriber` for all

    def transcriber_for(self, wire_rate: int | None) -> Transcriber:
        """The Whisper model for a call whose codec carries `wire_rate` Hz (None: not known yet)."""
        return self.wideband if self.wideband and wire_rate and wire_rate >= 16000 else self.transcriber

    def warm(self, greeting_texts: list[str]) -> None:
        """Synthesize the fixed phrases before the first call, so they play at once."""
        self.phrases.warm(self.speaker, [FILLER, *greeting_texts])


@dataclass
class TurnTiming:
    """Voice to voice: from the caller's last voiced frame to the first sounding frame of the reply."""

    heard_text: str
    stt_ms: float
    brain_ms: float
    ended_by: str = "pause"  # what ended the caller's turn: "pause", "turn-model" or "max-length"
    voice_to_voice_s: float | None = None
    speak_ms: float | None = None  # from the brain's reply to its first sounding frame (synthesis, queueing)
    replied_at: float = 0.0  # monotonic time the brain's reply was ready


class CallRun:
    """Holds one answered call until it ends; `run()` returns the outcome."""

    def __init__(self, conversation: Conversation, stages: VoiceStages, line: Line):
        self.conversation, self.stages, self.line = conversation, stages, line
        self.store = conversation.store
        self.endpointer = Endpointer(probe_ms=DEFAULT_PROBE_MS if stages.turn else None)
        self.vad_events: asyncio.Queue = asyncio.Queue()
        self.keys: asyncio.Queue = asyncio.Queue()
        self.frame_times: list[float] = []  # monotonic time each caller frame arrived, by index
        self.timings: list[TurnTiming] = []
        self._pending_reply_clock: tuple[float, TurnTiming] | None = None
        self.taken = False  # staff are taking the call from the page (telephony/commands.py)

    # ---- the run ----

    async def run(self) -> str:
        loop = asyncio.get_running_loop()
        self.line.on_dtmf(lambda digit: loop.call_soon_threadsafe(self.keys.put_nowait, digit))
        reader = asyncio.create_task(self._read())
        self._emit("call-answered")
        try:
            line = self.conversation.start()
            await self._say(line)
            while not self._over(line):
                heard = await self._listen(line.expects)
                if heard is None:
                    break
                line = await self._think(heard)
                await self._say(line)
            await self._finish(line)
        except Exception as err:  # a failure on a live call is logged with a code, and the call still ends cleanly
            if not self.line.ended.is_set():
                log.exception("call %s failed", self.conversation.call_id)
                self._emit("error", code="call-run-failed", message=type(err).__name__)
                await self._hangup()
        finally:
            reader.cancel()
            outcome = self.conversation.hang_up()
        return outcome

    def _over(self, line: BoxLine) -> bool:
        return line.expects == "nothing" or self.line.ended.is_set()

    def take_over(self) -> None:
        """Staff take the call from the page: the box falls silent while telephony/commands.py transfers it."""
        self.taken = True
        self.line.flush_playback()

    async def _finish(self, line: BoxLine) -> None:
        if self.line.ended.is_set() or self.taken:
            return
        if line.action and line.action.get("type") == "transferred":
            target = line.action["to"]
            try:
                await self.line.transfer(target)
                self._emit("call-transferred", to=target)
                return
            except Exception as err:  # the PBX refused: the caller must not be left in silence
                log.warning("transfer of call %s failed: %s", self.conversation.call_id, err)
                self._emit("error", code="transfer-failed", message=str(err)[:200])
        await self._hangup()

    async def _hangup(self) -> None:
        if not self.line.ended.is_set():
            await asyncio.sleep(DRAIN_S)  # the last frames of the goodbye are still in the stack's buffer
            await self.line.hangup()

    # ---- listening ----

    async def _read(self) -> None:
        """Every caller frame goes through the endpointer, during the box's speech too (barge-in)."""
        try:
            while True:
                frame = await self.line.read_frame()
                self.frame_times.append(time.monotonic())
                for event in self.endpointer.feed(frame):
                    self.vad_events.put_nowait(event)
        except asyncio.CancelledError:
            raise
        except Exception:  # the line closed: the caller hung up
            if not self.line.ended.is_set():
                log.exception("reading call %s failed", self.conversation.call_id)
        finally:
            self.vad_events.put_nowait(None)

    async def _listen(self, expects: str) -> str | None:
        """The caller's next turn as text ('' = they said nothing), or None when they hung up.

        At a short pause the turn model is asked whether the caller is done while Whisper already
        transcribes what they said; a "yes" ends the turn there, otherwise the full pause decides
        (and the early transcript is used if the caller said nothing more).
        """
        self.endpointer.listen(pause_for(expects), probe_for(expects))
        early: _EarlyTurn | None = None
        waits: dict[asyncio.Task, tuple[str, _EarlyTurn | None]] = {}
        try:
            while True:
                kinds = {kind for kind, _ in waits.values()}
                if "key" not in kinds:
                    waits[asyncio.create_task(self.keys.get())] = ("key", None)
                if "vad" not in kinds:
                    waits[asyncio.create_task(self.vad_events.get())] = ("vad", None)
                done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    kind, asked = waits.pop(task)
                    if kind == "key":
                        return await self._keypad(task.result())
                    if kind == "turn":  # a verdict on a pause the caller may have talked on after
                        end = self.endpointer.end_turn(asked.last_voiced) if task.result() else None
                        if end is not None:
                            return await self._heard(end, asked)
                        continue
                    event = task.result()
                    if event is None:
                        return None
                    if event.type == "no-input":
                        return ""
                    if event.type == "speech-pause":
                        early = self._early_turn(event)
                        if early.turn_done:
                            waits[early.turn_done] = ("turn", early)
                    if event.type == "speech-end":
                        return await self._heard(event, early if early and early.last_voiced ==
                                                 event.last_voiced_frame else None)
        finally:
            for task in waits:
                task.cancel()

    def _early_turn(self, pause) -> _EarlyTurn:
        """Start transcribing at the caller's pause, and ask the turn model (if any) whether they are done."""
        samples = np.frombuffer(pause.audio, dtype=np.int16)
        transcript = asyncio.create_task(asyncio.to_thread(self._transcriber().transcribe, samples,
                                                           prompt=self._prompt()))
        done = asyncio.create_task(asyncio.to_thread(self.stages.turn.complete, samples)) if self.stages.turn else None
        return _EarlyTurn(pause.last_voiced_frame, transcript, done)

    async def _keypad(self, first: str) -> str:
        digits = first
        while True:
            try:
                digits += await asyncio.wait_for(self.keys.get(), KEYPAD_GAP_S)
            except TimeoutError:
                break
        self.endpointer.reset()
        return f"<dtmf {digits}>"

    async def _heard(self, end, early: _EarlyTurn | None) -> str:
        """The text of a finished utterance: the early transcript when it covered the same audio."""
        samples = np.frombuffer(end.audio, dtype=np.int16)
        transcribing = early.transcript if early else asyncio.to_thread(
            self._transcriber().transcribe, samples, prompt=self._prompt())
        transcript = await transcribing
        timing = TurnTiming(transcript.text, transcript.ms, 0.0, end.reason)
        heard_at = self.frame_times[min(end.last_voiced_frame, len(self.frame_times) - 1)]
        self._pending_reply_clock = (heard_at + FRAME_MS / 1000, timing)
        self.timings.append(timing)
        return transcript.text

    def _transcriber(self) -> Transcriber:
        return self.stages.transcriber_for(self.line.wire_rate)

    def _prompt(self) -> str:
        """The clinic's words, plus the names of whoever caller ID suggests (Whisper then spells them right)."""
        names = " ".join(p.full_name for p in self.conversation.candidates)
        return f"{names}. {self.stages.prompt}" if names else self.stages.prompt

    # ---- thinking and speaking ----

    async def _think(self, text: str) -> BoxLine:
        """The brain's reply; a filler plays if it takes longer than a moment."""
        started = time.monotonic()
        reply = asyncio.create_task(asyncio.to_thread(self.conversation.hear, text))
        done, _ = await asyncio.wait({reply}, timeout=FILLER_AFTER_S)
        if not done:
            await self._play(self.stages.phrases.speak(self.stages.speaker, FILLER), interruptible=False)
        line = await reply
        if self._pending_reply_clock:
            timing = self._pending_reply_clock[1]
            timing.replied_at = time.monotonic()
            timing.brain_ms = (timing.replied_at - started) * 1000
        return line

    async def _say(self, line: BoxLine) -> None:
        if not line.say or self.line.ended.is_set():
            return
        # fixed phrases (the greeting) come from the cache; the rest is synthesized sentence by sentence
        source = self.stages.phrases.speak(self.stages.speaker, line.say) if line.flow == "greeting" \
            else self.stages.speaker.speak(line.say)
        await self._play(source, interruptible=line.expects != "nothing")

    async def _play(self, sentences, interruptible: bool) -> bool:
        """Play sentence by sentence; returns False when the caller talked over the box (barge-in)."""
        self.endpointer.barge_in = interruptible
        iterator = iter(sentences)
        upcoming = asyncio.ensure_future(asyncio.to_thread(next, iterator, None))
        try:
            while True:
                chunk = await upcoming
                if chunk is None:
                    return True
                # the next sentence is synthesized while this one plays, so there is no gap between them
                upcoming = asyncio.ensure_future(asyncio.to_thread(next, iterator, None))
                for frame in to_frames(chunk[1]):
                    if self.line.ended.is_set() or self.taken:
                        return False
                    if interruptible and not await self._still_clear():
                        self.line.flush_playback()
                        return False
                    await self.line.write_frame(frame)
                    self._mark_reply_start(frame)
        finally:
            upcoming.cancel()  # a sentence no one will hear (barge-in, hang-up)

    async def _still_clear(self) -> bool:
        """False once the caller talks over the box. On a first voiced frame the box holds its next frame
        until the endpointer decides (at most 40 ms): a cough costs a tiny gap, a caller is cut off sooner."""
        while self.endpointer.maybe_speech and not self.line.ended.is_set():
            await asyncio.sleep(FRAME_MS / 2000)
        return not self.endpointer.in_speech

    def _mark_reply_start(self, frame: bytes) -> None:
        if self._pending_reply_clock and not is_silent(frame):
            heard_at, timing = self._pending_reply_clock
            now = time.monotonic()
            timing.voice_to_voice_s = now - heard_at
            timing.speak_ms = (now - timing.replied_at) * 1000 if timing.replied_at else None
            self._pending_reply_clock = None

    def _emit(self, kind: str, **payload) -> None:
        with self.store.write():
            events.emit(self.store, kind, self.conversation.call_id, **payload)


@dataclass
class _EarlyTurn:
    """Work started at the caller's pause: the transcript so far, and the turn model's verdict."""

    last_voiced: int
    transcript: asyncio.Task
    turn_done: asyncio.Task | None
