"""Text to speech: a reply in, 16 kHz int16 audio out sentence by sentence, so playback starts early.

piper-tts (an ONNX VITS voice, 22,050 Hz) behind a small adapter. The first sentence is
synthesized and handed to playback while the rest waits, so the caller hears the box after one
sentence's synthesis (~0.1 s) rather than the whole reply's. Fixed phrases (the greeting, "one
moment", "let me check that") are synthesized once into a `PhraseCache`.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from appliance.errors import ModelCorrupt, ModelMissing
from appliance.voice.audio import SAMPLE_RATE, resample

MISSING_HINT = "run `dentra models fetch` (or `dentra models import DIR`), or fix [models] tts"
CORRUPT_HINT = "run `dentra models verify` to see which file is damaged, then `dentra models fetch` to replace it"
# Piper scales every sentence to full scale; a little headroom keeps the resampler's overshoot
# and the G.711 encoder from clipping the loudest syllables.
VOLUME = 0.8
# A sentence longer than this is cut at a comma or semicolon: the caller waits for the whole
# first piece before hearing anything.
MAX_SENTENCE_CHARS = 160
# The caller hears nothing until the first piece is synthesized (about 0.1 s per second of speech
# under load), so a long first sentence is cut at its first comma; the rest is synthesized while
# the first piece plays.
FIRST_PIECE_CHARS = 50
SOUNDING_PEAK = 100  # about -50 dBFS: Piper's silence is near -96 dBFS, its softest consonants far above this
LEAD_SAMPLES, TRAIL_SAMPLES = SAMPLE_RATE * 20 // 1000, SAMPLE_RATE * 200 // 1000

# Words whose period does not end a sentence ("Dr. Chen", "e.g. a crown").
_ABBREVIATIONS = {"dr", "mr", "mrs", "ms", "st", "jr", "sr", "vs", "etc", "e.g", "i.e", "approx", "ave", "prof"}
_TIME_WORDS = {"a.m", "p.m"}
_NOT_AFTER_TIME = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "january",
                   "february", "march", "april", "may", "june", "july", "august", "september", "october",
                   "november", "december", "today", "tomorrow"}
_END = re.compile(r"([.!?]+[\"')\]]*)(\s+)")


def sentences(text: str) -> list[str]:
    """Split a reply into sentences to synthesize one at a time; "Dr. Chen", "9:30 a.m." and "$1,200.50" stay whole."""
    pieces: list[str] = []
    for block in re.split(r"\s*\n\s*", text.strip()):
        start = 0
        for m in _END.finditer(block):
            before = block[start:m.start(1)].split()
            after = block[m.end():]
            if not before or not after or not _ends_sentence(before[-1], m.group(1), after):
                continue
            pieces.append(block[start:m.end(1)].strip())
            start = m.end()
        if block[start:].strip():
            pieces.append(block[start:].strip())
    return [short for piece in pieces for short in _cut_long(piece)]


def _ends_sentence(word: str, mark: str, after: str) -> bool:
    if mark.startswith(("!", "?")) or mark.startswith(".."):
        return not after[0].islower()
    last = word.lower().rstrip(".").lstrip("(\"'")
    nxt = re.match(r"[\w']+", after)
    if last in _ABBREVIATIONS or re.fullmatch(r"[a-z]", last):  # "Dr." or an initial: "Anne B. Cole"
        return False
    if last in _TIME_WORDS:  # "at 9:30 a.m. Thursday" goes on; "at 9:30 a.m. See you then" ends
        return bool(nxt) and after[0].isupper() and nxt.group(0).lower() not in _NOT_AFTER_TIME
    return not after[0].islower()


def _cut_long(sentence: str) -> list[str]:
    if len(sentence) <= MAX_SENTENCE_CHARS:
        return [sentence]
    cut = max(sentence.rfind(sep, 0, MAX_SENTENCE_CHARS) for sep in (", ", "; ", ": "))
    if cut < MAX_SENTENCE_CHARS // 3:
        return [sentence]  # no good place: one long piece sounds better than a cut mid-phrase
    return [sentence[:cut + 1].strip(), *_cut_long(sentence[cut + 1:].strip())]


def _trimmed(audio: np.ndarray) -> np.ndarray:
    """Cut Piper's silence before a sentence (up to 0.4 s, which the caller would wait through) to 20 ms,
    and after it to 200 ms: one natural pause between sentences, never a gap that sounds like the end."""
    loud = np.flatnonzero(np.abs(audio.astype(np.int32)) > SOUNDING_PEAK)
    if not len(loud):
        return audio[:0]
    return audio[max(0, loud[0] - LEAD_SAMPLES): loud[-1] + 1 + TRAIL_SAMPLES]


def _quick_start(pieces: list[str]) -> list[str]:
    """Cut a long first sentence at its first comma, if a few words stand before it."""
    if not pieces or len(pieces[0]) <= FIRST_PIECE_CHARS:
        return pieces
    first = pieces[0]
    cut = first.find(", ", 10)
    if cut < 0 or len(first) - cut < 20:
        return pieces
    return [first[:cut + 1], first[cut + 2:], *pieces[1:]]


def _money(m: re.Match) -> str:
    dollars, cents = m.group(1), m.group(2)
    whole = dollars.replace(",", "")
    parts = []
    if int(whole) or not cents:
        parts.append(f"{dollars} dollar{'' if whole == '1' else 's'}")
    if cents and int(cents):
        parts.append(f"{int(cents)} cent{'' if int(cents) == 1 else 's'}")
    return " and ".join(parts)


_TITLES = {"Dr.": "Doctor", "Mr.": "Mister", "Mrs.": "Missus", "Ms.": "Miz", "Jr.": "Junior", "Sr.": "Senior"}


def spoken_form(sentence: str) -> str:
    """What Piper should read: titles and money written out (espeak says "dollar one thousand..." for "$1,000")."""
    text = re.sub(r"\$(\d{1,3}(?:,\d{3})*|\d+)(?:\.(\d{2}))?\b", _money, sentence)
    return re.sub(r"\b(Dr|Mrs|Mr|Ms|Jr|Sr)\.(?=\s|$)", lambda m: _TITLES[m.group(0)], text)


class Speaker:
    """A loaded Piper voice; `speak` yields (sentence, 16 kHz int16 samples) one sentence at a time."""

    def __init__(self, voice: Any, path: Path):
        self._voice, self.path = voice, path
        self.voice_rate = int(voice.config.sample_rate)
        # Names the voice in cache keys: its file and size, so audio of another voice never matches.
        self.voice_id = f"{path.name}:{path.stat().st_size}"

    @classmethod
    def load(cls, voice_onnx_path: str | Path) -> Speaker:
        """Load a Piper voice (.onnx with its .onnx.json beside it); ModelMissing / ModelCorrupt name the file."""
        from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors
        from piper import PiperVoice

        path = Path(voice_onnx_path)
        config = path.with_name(path.name + ".json")
        for p in (path, config):
            if not p.is_file():
                raise ModelMissing(f"{p}: voice file not found; {MISSING_HINT}")
        try:
            json.loads(config.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise ModelCorrupt(f"{config}: unreadable voice settings ({e}); {CORRUPT_HINT}") from None
        try:
            voice = PiperVoice.load(path, config_path=config)
        except (OSError, ValueError, KeyError, RuntimeError, ort_errors.Fail, ort_errors.InvalidProtobuf,
                ort_errors.InvalidGraph, ort_errors.NoSuchFile) as e:
            raise ModelCorrupt(f"{path}: Piper cannot load the voice, the file is damaged or incomplete ({e}); "
                               f"{CORRUPT_HINT}") from None
        return cls(voice, path)

    @classmethod
    def from_config(cls, config: Any, data_dir: str | Path) -> Speaker | None:
        """The voice `[models] tts` names, under the models dir; None when it is empty."""
        from appliance import models

        if not config.models.tts:
            return None
        return cls.load(models.resolve(config.models.tts, "tts", models.models_dir(config, data_dir)))

    def synthesize(self, sentence: str) -> np.ndarray:
        """One sentence as 16 kHz int16 samples (empty when there is nothing to say)."""
        from piper import SynthesisConfig

        chunks = [c.audio_int16_array for c in self._voice.synthesize(spoken_form(sentence),
                                                                      SynthesisConfig(volume=VOLUME))]
        if not chunks:
            return np.zeros(0, np.int16)
        return _trimmed(resample(np.concatenate(chunks), self.voice_rate, SAMPLE_RATE))

    def speak(self, text: str) -> Iterator[tuple[str, np.ndarray]]:
        """(sentence, 16 kHz int16 samples) for each sentence of `text`, each synthesized only when asked for.

        A caller who barges in stops the iteration; the sentences not yet reached cost nothing.
        """
        for sentence in _quick_start(sentences(text)):
            audio = self.synthesize(sentence)
            if len(audio):
                yield sentence, audio


class PhraseCache:
    """Audio of fixed phrases, synthesized once per (voice, text) and replayed (oldest dropped past `max_phrases`)."""

    def __init__(self, max_phrases: int = 64):
        self.max_phrases = max_phrases
        self._audio: OrderedDict[tuple[str, str], list[tuple[str, np.ndarray]]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, speaker: Speaker, text: str) -> list[tuple[str, np.ndarray]]:
        """The phrase's (sentence, audio) list, from the cache or synthesized now and kept."""
        key = (speaker.voice_id, text.strip())
        with self._lock:
            if key in self._audio:
                self._audio.move_to_end(key)
                self.hits += 1
                return self._audio[key]
        spoken = list(speaker.speak(text))
        for _sentence, audio in spoken:
            audio.setflags(write=False)  # shared by every call that plays it
        with self._lock:
            self.misses += 1
            self._audio[key] = spoken
            while len(self._audio) > self.max_phrases:
                self._audio.popitem(last=False)
        return spoken

    def speak(self, speaker: Speaker, text: str) -> Iterator[tuple[str, np.ndarray]]:
        """Like `Speaker.speak`, from the cache."""
        yield from self.get(speaker, text)

    def warm(self, speaker: Speaker, phrases: Iterable[str]) -> None:
        """Synthesize the phrases now (at start-up), so the first call does not wait for them."""
        for phrase in phrases:
            self.get(speaker, phrase)

    def __contains__(self, key: tuple[Speaker, str]) -> bool:
        speaker, text = key
        with self._lock:
            return (speaker.voice_id, text.strip()) in self._audio
