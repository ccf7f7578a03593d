"""Speech to text: one endpointed caller utterance (16 kHz int16) in, a `Transcript` out.

faster-whisper (CTranslate2, int8 on CPU) behind one lock, loaded once per process. The
endpointer sends only audio it judged to be speech, so there is no second VAD here; but noise
that slips through must not come back as words ("thank you for watching"): a segment Whisper
itself thinks holds no speech, and that it decoded without confidence, is dropped.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from appliance.errors import ModelCorrupt, ModelError, ModelMissing

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
LANGUAGE = "en"
# Whisper's own rule (openai/whisper transcribe.py): a segment is silence when no_speech_prob is
# above 0.6 AND the decoded tokens average below -1.0 log-probability. On silence and line noise
# tiny.en and base give ("you" or ".", 0.78-0.97, -1.1 to -1.6); real speech gives (< 0.1, > -0.5).
NO_SPEECH_THRESHOLD = 0.6
LOGPROB_THRESHOLD = -1.0
# The prompt is the text "before" the utterance; Whisper keeps at most 223 of its tokens, and a
# long prompt costs decode time on every turn. About 4 characters a token.
PROMPT_MAX_CHARS = 600
REQUIRED_FILES = ("model.bin", "config.json", "tokenizer.json")
MISSING_HINT = "run `dentra models fetch` (or `dentra models import DIR`), or fix [models] stt"
CORRUPT_HINT = "run `dentra models verify` to see which file is damaged, then `dentra models fetch` to replace it"


@dataclass(frozen=True)
class Transcript:
    """What the caller said: `text` is "" when Whisper heard no speech."""

    text: str
    no_speech_prob: float  # Whisper's probability that the audio holds no speech (highest over segments)
    avg_logprob: float  # mean token log-probability of the kept text (0.0 when nothing was decoded)
    duration_s: float  # length of the audio
    ms: float  # decode time, milliseconds

    @property
    def rtf(self) -> float:
        """Real-time factor: decode time over audio length."""
        return self.ms / 1000 / self.duration_s if self.duration_s else 0.0


def check_model_dir(model_dir: Path) -> None:
    """Raise ModelMissing / ModelCorrupt unless `model_dir` looks like a CTranslate2 Whisper folder."""
    if not model_dir.is_dir():
        raise ModelMissing(f"{model_dir}: speech recognition model folder not found; {MISSING_HINT}")
    missing = [n for n in REQUIRED_FILES if not (model_dir / n).is_file()]
    if not any((model_dir / n).is_file() for n in ("vocabulary.txt", "vocabulary.json")):
        missing.append("vocabulary.txt")
    if missing:
        # Without tokenizer.json faster-whisper would try to download one: never from a clinic box.
        raise ModelMissing(f"{model_dir}: speech recognition model is incomplete, missing {', '.join(missing)}; "
                           f"{MISSING_HINT}")
    try:
        json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ModelCorrupt(f"{model_dir / 'config.json'}: unreadable ({e}); {CORRUPT_HINT}") from None


class Transcriber:
    """A loaded Whisper model; `transcribe` is safe to call from several call threads (one runs at a time)."""

    def __init__(self, model: Any, model_dir: Path, beam_size: int, temperature: float):
        self._model, self.model_dir = model, model_dir
        self.beam_size, self.temperature = beam_size, temperature
        self._lock = threading.Lock()

    @classmethod
    def load(cls, model_dir: str | Path, *, compute_type: str = "int8", beam_size: int = 1,
             cpu_threads: int | None = None, temperature: float = 0.0) -> Transcriber:
        """Load a faster-whisper model folder on the CPU; ModelMissing / ModelCorrupt name the folder.

        Greedy decoding (beam 1) at one temperature: Whisper's fallback to higher temperatures
        re-decodes the same audio up to five times, which a caller waiting for an answer hears.
        """
        from faster_whisper import WhisperModel

        model_dir = Path(model_dir)
        check_model_dir(model_dir)
        threads = cpu_threads or min(4, os.cpu_count() or 1)
        try:
            model = WhisperModel(str(model_dir), device="cpu", compute_type=compute_type, cpu_threads=threads,
                                 local_files_only=True)
        except (RuntimeError, ValueError, OSError) as e:
            raise ModelCorrupt(f"{model_dir}: faster-whisper cannot load it, a file is damaged or incomplete "
                               f"({e}); {CORRUPT_HINT}") from None
        return cls(model, model_dir, beam_size, temperature)

    @classmethod
    def from_config(cls, config: Any, data_dir: str | Path, key: str = "stt", **kw: Any) -> Transcriber | None:
        """The model `[models] stt` (or `key`, e.g. "stt_wideband") names, under the models dir; None when empty."""
        from appliance import models

        name = getattr(config.models, key)
        if not name:
            return None
        return cls.load(models.resolve(name, "stt", models.models_dir(config, data_dir)), **kw)

    def transcribe(self, samples16k: np.ndarray | bytes, *, prompt: str = "") -> Transcript:
        """The words in one utterance of 16 kHz mono int16 audio (or s16le bytes); "" for no speech."""
        audio = _as_float(samples16k)
        duration = len(audio) / SAMPLE_RATE
        if len(audio) == 0:
            return Transcript("", 1.0, 0.0, 0.0, 0.0)
        with self._lock:
            started = time.perf_counter()
            try:
                segments, _info = self._model.transcribe(
                    audio, language=LANGUAGE, beam_size=self.beam_size, temperature=self.temperature,
                    initial_prompt=prompt or None, condition_on_previous_text=False, without_timestamps=True,
                    vad_filter=False, no_speech_threshold=None)  # the no-speech rule is applied below
                segments = list(segments)
            except RuntimeError as e:
                raise ModelError(f"{self.model_dir}: speech recognition failed ({e})", code="stt-failed") from None
            ms = (time.perf_counter() - started) * 1000
        return _transcript(segments, duration, ms)


def _as_float(samples: np.ndarray | bytes) -> np.ndarray:
    if isinstance(samples, bytes | bytearray | memoryview):
        samples = np.frombuffer(samples, dtype="<i2")
    samples = np.asarray(samples)
    if samples.dtype.kind == "f":
        return samples.astype(np.float32, copy=False)
    return samples.astype(np.float32) / 32768.0


def is_silence(no_speech_prob: float, avg_logprob: float) -> bool:
    """Whisper's rule: it thinks there is no speech AND it was unsure of what it decoded."""
    return no_speech_prob > NO_SPEECH_THRESHOLD and avg_logprob < LOGPROB_THRESHOLD


def _transcript(segments: list[Any], duration: float, ms: float) -> Transcript:
    no_speech = max((s.no_speech_prob for s in segments), default=1.0)
    kept = [s for s in segments if not is_silence(s.no_speech_prob, s.avg_logprob)]
    dropped = [s.text.strip() for s in segments if s not in kept]
    if dropped:
        log.debug("dropped as no speech: %r (no_speech_prob %.2f)", dropped, no_speech)
    text = " ".join(s.text.strip() for s in kept).strip()
    if not re.search(r"\w", text):
        text = ""  # "." or "..." alone: Whisper's way of saying it heard nothing
    tokens = sum(len(s.tokens) for s in kept)
    avg = sum(s.avg_logprob * len(s.tokens) for s in kept) / tokens if text and tokens else 0.0
    return Transcript(text, no_speech, avg if math.isfinite(avg) else 0.0, duration, ms)


# ---- the clinic's vocabulary ----


def _spoken_name(name: str) -> str:
    return name.split(",")[0].strip()  # "Ana Rivera, RDH" -> "Ana Rivera": callers never say the credential


def vocabulary_prompt(config: Any) -> str:
    """Names a caller may say, as a prompt that steers Whisper's spelling: providers, clinic, services, places.

    Most important first (names Whisper could never guess), cut to PROMPT_MAX_CHARS at a whole name.
    """
    groups = [
        [_spoken_name(p.name) for p in config.providers],
        [config.clinic.name] + [loc.name for loc in config.locations],
        [s.name for s in config.services],
        list(config.policies.insurance_accepted),
    ]
    parts: list[str] = []
    seen: set[str] = set()
    used = 0
    for group in groups:
        kept = []
        for name in (g.strip() for g in group):
            if not name or name in seen:
                continue
            if used + len(name) + 2 > PROMPT_MAX_CHARS:
                break
            seen.add(name)
            kept.append(name)
            used += len(name) + 2
        if kept:
            parts.append(", ".join(kept) + ".")
    return " ".join(parts)
