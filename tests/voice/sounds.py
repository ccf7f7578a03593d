"""Test audio made on the spot: espeak-ng speech, silence, noise, tones and clicks, all 16 kHz int16."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import numpy as np

from appliance.voice.audio import FRAME_SAMPLES, SAMPLE_RATE, read_wav, resample, write_wav


def ms_to_samples(ms: float, rate: int = SAMPLE_RATE) -> int:
    """Return the number of samples in `ms` milliseconds."""
    return int(round(ms * rate / 1000))


def _to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def silence(ms: float) -> np.ndarray:
    """Return digital silence."""
    return np.zeros(ms_to_samples(ms), np.int16)


def tone(ms: float, hz: float = 1000.0, dbfs: float = -20.0, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Return a sine whose RMS level is `dbfs` (a full-scale sine is -3.01 dBFS)."""
    t = np.arange(ms_to_samples(ms, rate)) / rate
    return _to_int16(np.sqrt(2) * 32768 * 10 ** (dbfs / 20) * np.sin(2 * np.pi * hz * t))


def noise(ms: float, dbfs: float, color: str = "white", seed: int = 0) -> np.ndarray:
    """Return white or pink (1/f power) Gaussian noise with RMS level `dbfs`."""
    n = ms_to_samples(ms)
    if n == 0:
        return np.zeros(0, np.int16)
    x = np.random.default_rng(seed).standard_normal(n)
    if color == "pink":
        spectrum = np.fft.rfft(x)
        hz = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
        # 1/f power from 100 Hz up: a phone line passes nothing lower, and sub-audio drift would make
        # the "noise" swing in level like speech does.
        spectrum[hz < 100] = 0
        spectrum[hz >= 100] /= np.sqrt(hz[hz >= 100])
        x = np.fft.irfft(spectrum, n)
    elif color != "white":
        raise ValueError(f"noise color {color!r}: use white or pink")
    return _to_int16(x / np.sqrt(np.mean(x**2)) * 32768 * 10 ** (dbfs / 20))


def click(peak: float = 0.5) -> np.ndarray:
    """Return a 3 ms decaying broadband click (a handset knock, a line hit) at `peak` of full scale."""
    n = ms_to_samples(3)
    burst = np.random.default_rng(7).standard_normal(n) * np.exp(-np.arange(n) / (n / 4))
    return _to_int16(burst / np.abs(burst).max() * peak * 32767)


def active_level(x: np.ndarray) -> float:
    """Return the RMS level in dBFS over the 20 ms frames within 30 dB of the loudest (a rough P.56)."""
    frames = x[: len(x) // FRAME_SAMPLES * FRAME_SAMPLES].astype(np.float64).reshape(-1, FRAME_SAMPLES)
    power = np.mean(frames**2, axis=1)
    active = power[power >= power.max() * 10 ** (-30 / 10)]
    return float(10 * np.log10(np.mean(active) / 32768**2))


def at_level(x: np.ndarray, dbfs: float) -> np.ndarray:
    """Return speech scaled so its active level is `dbfs` (callers on a phone line sit near -20..-30)."""
    return _to_int16(x.astype(np.float64) * 10 ** ((dbfs - active_level(x)) / 20))


def trim(x: np.ndarray, threshold_dbfs: float = -50.0) -> np.ndarray:
    """Return x without leading and trailing samples quieter than `threshold_dbfs` of full scale."""
    loud = np.nonzero(np.abs(x.astype(np.int32)) > 32768 * 10 ** (threshold_dbfs / 20))[0]
    return x[loud[0] : loud[-1] + 1] if len(loud) else x[:0]


def mix(*parts: np.ndarray) -> np.ndarray:
    """Return the sum of signals (shorter ones padded with silence), clipped to int16."""
    out = np.zeros(max(len(p) for p in parts))
    for p in parts:
        out[: len(p)] += p
    return _to_int16(out)


class Speaker:
    """espeak-ng speech at 16 kHz, trimmed of espeak's own edge silence, cached in one directory."""

    def __init__(self, cache_dir: Path, voice: str = "en-us", words_per_minute: int = 160):
        if shutil.which("espeak-ng") is None:
            raise RuntimeError("espeak-ng is not installed (Debian package espeak-ng; scripts/dev.sh installs it)")
        self.cache_dir, self.voice, self.wpm = Path(cache_dir), voice, words_per_minute

    def say(self, text: str, dbfs: float = -20.0) -> np.ndarray:
        """Return `text` spoken, trimmed so the first and last samples are voice, at active level `dbfs`."""
        key = hashlib.sha1(f"{self.voice}/{self.wpm}/{text}".encode()).hexdigest()[:16]
        cached = self.cache_dir / f"{key}.wav"
        if not cached.exists():
            raw = self.cache_dir / f"{key}.espeak.wav"
            subprocess.run(["espeak-ng", "-v", self.voice, "-s", str(self.wpm), "-w", str(raw), text],
                           check=True, capture_output=True, timeout=30)
            samples, rate = read_wav(raw)
            write_wav(cached, trim(resample(samples, rate, SAMPLE_RATE)))
        samples, _ = read_wav(cached)
        return at_level(samples, dbfs)

    def with_pause(self, first: str, second: str, pause_ms: float, dbfs: float = -20.0) -> np.ndarray:
        """Return two phrases with exactly `pause_ms` of silence between them, as in a caller's hesitation."""
        a, b = self.say(first), self.say(second)
        # Scale the pair together so both halves keep espeak's relative loudness.
        return at_level(np.concatenate([a, silence(pause_ms), b]), dbfs)
