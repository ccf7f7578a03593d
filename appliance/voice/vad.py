"""The endpointer: a pure state machine fed 20 ms frames that finds where each caller turn starts and ends.

No threads, clocks or I/O: time is counted in frames, so a test can replay any audio exactly. A
frame is voiced when webrtcvad says speech AND it is loud enough (a fixed gate plus a margin over
the line's noise floor), because webrtcvad alone calls steady line noise and level steps speech.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import webrtcvad

from appliance.voice.audio import FRAME_BYTES, FRAME_MS, MIN_DBFS, SAMPLE_RATE, level_dbfs

DEFAULT_PAUSE_MS = 700
# Callers pause mid-answer when giving these (between day, month and year; between digit groups;
# while spelling a name), so the endpointer waits longer after the box has asked for them.
PAUSE_FOR_EXPECTS = {
    "date_of_birth": 1200,
    "phone": 1400,
    "name": 1000,
    "which_patient": 1000,
    "preferred_time": 1000,
}
# With a turn model the endpointer asks it after a short pause (a speech-pause event). Answers the
# box asked for have pauses inside them ("April 18th, ... 1972"; digit groups) that a finished-
# sounding fragment can precede, so for those it asks only after a longer pause.
DEFAULT_PROBE_MS = 200
PROBE_FOR_EXPECTS = {
    "date_of_birth": 600,
    "phone": 700,
    "name": 500,
    "which_patient": 500,
    "preferred_time": 500,
}
# Frames at or below this are digital silence (a muted line, silence suppression): they are never
# speech and say nothing about the line's noise floor.
_DIGITAL_SILENCE_DBFS = -90.0


def pause_for(expects: str) -> int:
    """Return the end-of-turn pause in ms for what the box just asked for (the brain's `expects`)."""
    return PAUSE_FOR_EXPECTS.get(expects, DEFAULT_PAUSE_MS)


def probe_for(expects: str) -> int:
    """Return the pause in ms after which to ask the turn model, for what the box just asked for."""
    return PROBE_FOR_EXPECTS.get(expects, DEFAULT_PROBE_MS)


@dataclass(frozen=True)
class SpeechStart:
    """The caller started talking; `frame` is where it was decided, `onset_frame` the first voiced frame."""

    frame: int
    onset_frame: int
    barge_in: bool
    type: str = field(default="speech-start", init=False)


@dataclass(frozen=True)
class SpeechEnd:
    """A whole caller utterance: s16le 16 kHz audio with preroll, ready for speech recognition."""

    frame: int
    audio: bytes = field(repr=False)
    start_frame: int  # index of the first frame in `audio` (the preroll's start)
    onset_frame: int
    last_voiced_frame: int  # voice-to-voice latency is measured from here
    duration_ms: int  # length of `audio`
    speech_ms: int  # first to last voiced frame
    pause_ms: int  # the end-of-turn pause that was in force
    reason: str  # "pause", "turn-model" or "max-length"
    type: str = field(default="speech-end", init=False)


@dataclass(frozen=True)
class SpeechPause:
    """The caller paused `probe_ms` into an utterance: the audio so far, for an early end-of-turn check.

    Ask the turn model; if it says the caller is done, `Endpointer.end_turn()` ends the turn now
    with exactly this audio, instead of waiting the full pause."""

    frame: int
    audio: bytes = field(repr=False)
    last_voiced_frame: int
    type: str = field(default="speech-pause", init=False)


@dataclass(frozen=True)
class NoInput:
    """The caller said nothing for `waited_ms` after listen()."""

    frame: int
    waited_ms: int
    type: str = field(default="no-input", init=False)


@dataclass(frozen=True)
class MaxLength:
    """The utterance reached the length limit and is cut; a speech-end with reason "max-length" follows."""

    frame: int
    utterance_ms: int
    type: str = field(default="max-length", init=False)


Event = SpeechStart | SpeechPause | SpeechEnd | NoInput | MaxLength


def _frames(ms: int) -> int:
    return max(1, -(-ms // FRAME_MS))


class Endpointer:
    """Turn 20 ms frames into speech-start / speech-pause / speech-end / no-input / max-length events."""

    def __init__(self, aggressiveness: int = 2, start_frames: int = 3, end_pause_ms: int = DEFAULT_PAUSE_MS,
                 probe_ms: int | None = None,
                 max_utterance_ms: int = 30000, no_input_ms: int = 8000, preroll_ms: int = 200,
                 tail_ms: int = 200, gate_dbfs: float = -45.0, barge_in_gate_dbfs: float = -38.0,
                 floor_margin_db: float = 8.0, floor_window_ms: int = 1500):
        self.aggressiveness = aggressiveness
        # 3 voiced frames (60 ms) keep a click from starting a turn yet let barge-in fire within 100 ms.
        self.start_frames = start_frames
        self.end_pause_ms = end_pause_ms
        # None = no speech-pause events (fixed pauses only); a turn model asks for them.
        self.probe_ms = probe_ms
        self._turn_probe_ms = probe_ms
        self.max_utterance_ms = max_utterance_ms
        self.no_input_ms = no_input_ms
        self.tail_frames = _frames(tail_ms) if tail_ms else 0
        self.gate_dbfs = gate_dbfs
        # Line echo of the box's own voice comes back quieter than a caller talking over it.
        self.barge_in_gate_dbfs = barge_in_gate_dbfs
        self.floor_margin_db = floor_margin_db
        self._preroll_frames = _frames(preroll_ms) if preroll_ms else 0
        self._floor_window = _frames(floor_window_ms)
        self.barge_in = False
        self.reset()

    def reset(self) -> None:
        """Forget any utterance in progress, the noise floor and listen(); keep the settings."""
        self._vad = webrtcvad.Vad(self.aggressiveness)
        self.frame_index = -1
        self._recent: deque[bytes] = deque(maxlen=self._preroll_frames + self.start_frames)
        self._levels: deque[float] = deque(maxlen=self._floor_window)  # recent levels, for the noise floor
        self._run = 0
        self._utterance: list[bytes] | None = None
        self._start_frame = self._onset = self._last_voiced = 0
        self._pause_ms, self._turn_probe_ms = self.end_pause_ms, self.probe_ms
        self._waited: int | None = None  # frames since listen(), while armed

    def listen(self, pause_ms: int | None = None, probe_ms: int | None = None) -> None:
        """Arm for the caller's turn: the box has stopped speaking; start the no-input wait and set the pause
        (and, when probing is on, the pause before speech-pause) for this turn."""
        self.barge_in = False
        self._pause_ms = self.end_pause_ms if pause_ms is None else pause_ms
        if self.probe_ms is not None and probe_ms is not None:
            self._turn_probe_ms = probe_ms
        # A caller who barged in is already talking: no silence to wait for, only the pause to apply.
        self._waited = None if self._utterance is not None else 0

    @property
    def in_speech(self) -> bool:
        """Return True while an utterance is in progress."""
        return self._utterance is not None

    @property
    def maybe_speech(self) -> bool:
        """Return True when the last frame was voiced but not yet enough of them to start a turn."""
        return self._utterance is None and self._run > 0

    def _voiced(self, frame: bytes) -> bool:
        if len(frame) != FRAME_BYTES:
            raise ValueError(f"the endpointer takes 20 ms frames of {FRAME_BYTES} bytes, got {len(frame)}")
        level = level_dbfs(frame)
        vad_says = self._vad.is_speech(frame, SAMPLE_RATE)
        if level <= _DIGITAL_SILENCE_DBFS:
            return False
        # The floor is the quietest recent frame: steady noise, even loud, never rises 8 dB over it,
        # while speech does between its syllables. The floor is learned from the first frame on, so
        # a noisy line from the moment of answering is never taken for a caller barging in.
        floor = min(self._levels) if self._levels else MIN_DBFS
        self._levels.append(level)
        gate = max(self.gate_dbfs, self.barge_in_gate_dbfs) if self.barge_in else self.gate_dbfs
        return vad_says and level >= max(gate, floor + self.floor_margin_db)

    def feed(self, frame: bytes) -> list[Event]:
        """Take the next 20 ms frame; return the events it completes (usually none)."""
        voiced = self._voiced(frame)
        self.frame_index = i = self.frame_index + 1
        if self._utterance is None:
            return self._while_quiet(i, frame, voiced)
        self._utterance.append(frame)
        if voiced:
            self._last_voiced = i
        silent_ms = (i - self._last_voiced) * FRAME_MS
        if silent_ms >= self._pause_ms:
            return [self._finish(i, "pause")]
        if silent_ms == self._probe_at():
            return [SpeechPause(i, self._audio_until(i), self._last_voiced)]
        utterance_ms = (i - self._onset + 1) * FRAME_MS
        if utterance_ms >= self.max_utterance_ms:
            return [MaxLength(i, utterance_ms), self._finish(i, "max-length")]
        return []

    def _while_quiet(self, i: int, frame: bytes, voiced: bool) -> list[Event]:
        self._recent.append(frame)
        self._run = self._run + 1 if voiced else 0
        if self._run >= self.start_frames:
            self._utterance = list(self._recent)
            self._start_frame = i - len(self._recent) + 1
            self._onset = self._last_voiced = i - self._run + 1
            self._waited = None
            return [SpeechStart(i, self._onset, self.barge_in)]
        # While the box is speaking silence is expected: the no-input wait counts only after listen().
        if self._waited is not None and not self.barge_in:
            self._waited += 1
            if self._waited * FRAME_MS >= self.no_input_ms:
                self._waited = None
                return [NoInput(i, self.no_input_ms)]
        return []

    def _probe_at(self) -> int | None:
        """Silence (ms, a whole number of frames) after which to emit speech-pause, or None."""
        if self._turn_probe_ms is None:
            return None
        return _frames(self._turn_probe_ms) * FRAME_MS

    def end_turn(self, last_voiced_frame: int) -> SpeechEnd | None:
        """End the utterance now (the turn model said the caller is done), if they have not spoken since
        the speech-pause for `last_voiced_frame`; None when the caller went on talking or the turn ended."""
        if self._utterance is None or self._last_voiced != last_voiced_frame:
            return None
        return self._finish(self.frame_index, "turn-model")

    def _audio_until(self, i: int) -> bytes:
        # Keep a short tail after the last voiced frame: a trailing consonant decays below the gate.
        end = min(i, self._last_voiced + self.tail_frames)
        return b"".join(self._utterance[: end - self._start_frame + 1])

    def _finish(self, i: int, reason: str) -> SpeechEnd:
        audio = b"".join(self._utterance) if reason == "max-length" else self._audio_until(i)
        event = SpeechEnd(i, audio, self._start_frame, self._onset, self._last_voiced,
                          len(audio) // (FRAME_BYTES // FRAME_MS), (self._last_voiced - self._onset + 1) * FRAME_MS,
                          self._pause_ms, reason)
        # The per-question pause was for this turn only; the next question sets its own.
        self._utterance, self._run = None, 0
        self._pause_ms, self._turn_probe_ms = self.end_pause_ms, self.probe_ms
        self._recent.clear()
        return event
