"""Audio inside the box: 16 kHz mono signed 16-bit little-endian PCM in 20 ms frames, and its helpers."""

from __future__ import annotations

import math
import wave
from functools import lru_cache
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000  # 320
FRAME_BYTES = FRAME_SAMPLES * 2  # 640
# Level reported for digital silence: a finite floor keeps event payloads JSON-safe (no -inf).
MIN_DBFS = -100.0

# Filter design for resample(): a windowed sinc with 32 zero crossings per side and a Kaiser window
# of beta 8.6 stops about 75 dB. At 16 kHz it is flat (within 0.1 dB) to 7 kHz and -6 dB at 7.5 kHz;
# what folds back from just above 8 kHz is at least 50 dB down, in a band speech barely uses and
# no telephone codec carries (G.722 stops at 7 kHz). Fewer crossings cost less but alias more.
_ZERO_CROSSINGS = 32
_KAISER_BETA = 8.6
_ROLLOFF = 0.94
# Output samples computed per block, so a long recording never builds a huge index matrix.
_BLOCK = 16384


def as_samples(audio: bytes | np.ndarray) -> np.ndarray:
    """Return int16 samples for PCM bytes (s16le) or an int16 array (passed through)."""
    if isinstance(audio, bytes | bytearray | memoryview):
        return np.frombuffer(audio, dtype="<i2")
    return np.asarray(audio, dtype=np.int16)


@lru_cache(maxsize=16)
def _polyphase_filter(up: int, down: int) -> np.ndarray:
    """Windowed-sinc low-pass for rate up/down, as an (up, taps) matrix: row p is phase p."""
    factor = max(up, down)
    half = _ZERO_CROSSINGS * factor
    n = np.arange(-half, half + 1)
    cutoff = _ROLLOFF / factor  # as a fraction of the upsampled Nyquist frequency
    h = np.sinc(cutoff * n) * np.kaiser(len(n), _KAISER_BETA)
    # Zero-stuffing by `up` divides the level by `up`; a DC gain of `up` gives it back.
    h *= up / h.sum()
    taps = -(-len(h) // up)
    padded = np.zeros(taps * up)
    padded[: len(h)] = h
    # padded[p + k*up] is tap k of phase p.
    return padded.reshape(taps, up).T.copy()


class Resampler:
    """Streaming rate converter: chunk by chunk it gives exactly what resample() gives for the whole."""

    def __init__(self, from_rate: int, to_rate: int):
        if from_rate <= 0 or to_rate <= 0:
            raise ValueError(f"sample rates must be positive, got {from_rate} -> {to_rate}")
        g = math.gcd(from_rate, to_rate)
        self.up, self.down = to_rate // g, from_rate // g
        self._bank = _polyphase_filter(self.up, self.down)
        self._taps = self._bank.shape[1]
        self._half = _ZERO_CROSSINGS * max(self.up, self.down)  # filter delay, in zero-stuffed samples
        # Input history; the samples before the first chunk count as silence.
        self._x = np.zeros(self._taps)
        self._x0 = -self._taps  # stream index of self._x[0]
        self._n = 0  # stream index of the next output sample
        self._total_in = 0

    def process(self, samples: bytes | np.ndarray) -> np.ndarray:
        """Add input samples; return the int16 output samples that are now fully determined."""
        x = as_samples(samples)
        if self.up == self.down:
            return x.copy()
        self._x = np.concatenate([self._x, x.astype(np.float64)])
        self._total_in += len(x)
        # Output n needs input up to index (n*down + half) // up; only emit what the input covers.
        ready = max(self._n, -(-(self._total_in * self.up - self._half) // self.down))
        return self._emit(ready)

    def flush(self) -> np.ndarray:
        """Return the remaining output, as if silence followed the last input."""
        if self.up == self.down:
            return np.zeros(0, np.int16)
        self._x = np.concatenate([self._x, np.zeros(self._taps + 1)])
        return self._emit(-(-self._total_in * self.up // self.down))

    def _emit(self, n_end: int) -> np.ndarray:
        k = np.arange(self._taps)
        out = np.empty(max(0, n_end - self._n))
        for start in range(0, len(out), _BLOCK):
            n = np.arange(self._n + start, min(self._n + start + _BLOCK, n_end))
            q = n * self.down + self._half
            phase, base = q % self.up, q // self.up
            window = self._x[base[:, None] - k[None, :] - self._x0]
            out[start : start + len(n)] = np.einsum("ij,ij->i", window, self._bank[phase])
        self._n = max(self._n, n_end)
        # Keep only the history that the next output still reaches back to.
        keep_from = (self._n * self.down + self._half) // self.up - self._taps + 1
        if keep_from > self._x0:
            self._x = self._x[keep_from - self._x0 :]
            self._x0 = keep_from
        return np.clip(np.rint(out), -32768, 32767).astype(np.int16)


def resample(samples: bytes | np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Return int16 samples converted from `from_rate` to `to_rate` Hz (polyphase windowed-sinc FIR)."""
    r = Resampler(from_rate, to_rate)
    return np.concatenate([r.process(samples), r.flush()])


class Framer:
    """Cut a stream of arbitrary-size PCM byte chunks into whole frames, keeping the remainder."""

    def __init__(self, frame_bytes: int = FRAME_BYTES):
        self.frame_bytes = frame_bytes
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> list[bytes]:
        """Add a chunk; return every whole frame now available (possibly none)."""
        self._buffer += chunk
        whole = len(self._buffer) // self.frame_bytes * self.frame_bytes
        frames = [bytes(self._buffer[i : i + self.frame_bytes]) for i in range(0, whole, self.frame_bytes)]
        del self._buffer[:whole]
        return frames

    @property
    def pending(self) -> int:
        """Return how many bytes wait for the next frame."""
        return len(self._buffer)

    def flush(self) -> bytes | None:
        """Return the remainder padded with silence to a whole frame (None if empty), and clear it."""
        if not self._buffer:
            return None
        # An odd trailing byte is half a sample: drop it rather than invent a sample from it.
        rest = bytes(self._buffer[: len(self._buffer) // 2 * 2])
        self._buffer.clear()
        return rest + bytes(self.frame_bytes - len(rest))


def to_frames(samples: bytes | np.ndarray) -> list[bytes]:
    """Return 20 ms frames of s16le bytes; the last frame is padded with silence."""
    data = as_samples(samples).astype("<i2").tobytes()
    if len(data) % FRAME_BYTES:
        data += bytes(FRAME_BYTES - len(data) % FRAME_BYTES)
    return [data[i : i + FRAME_BYTES] for i in range(0, len(data), FRAME_BYTES)]


def level_dbfs(frame: bytes | np.ndarray) -> float:
    """Return the RMS level in dBFS (full-scale square wave = 0, full-scale sine = -3.01; floor MIN_DBFS)."""
    x = as_samples(frame).astype(np.float64)
    if len(x) == 0:
        return MIN_DBFS
    rms = math.sqrt(float(np.dot(x, x)) / len(x))
    if rms <= 0:
        return MIN_DBFS
    return max(MIN_DBFS, 20 * math.log10(rms / 32768.0))


def is_silent(frame: bytes | np.ndarray, threshold_dbfs: float = -50.0) -> bool:
    """Return True if the frame's RMS level is below `threshold_dbfs`."""
    return level_dbfs(frame) < threshold_dbfs


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Return (int16 mono samples, sample rate) from a PCM WAV file; stereo is mixed down."""
    with wave.open(str(path), "rb") as w:
        width, channels, rate = w.getsampwidth(), w.getnchannels(), w.getframerate()
        raw = w.readframes(w.getnframes())
    if width == 1:  # 8-bit WAV is unsigned
        x = (np.frombuffer(raw, dtype=np.uint8).astype(np.int32) - 128) << 8
    elif width == 2:
        x = np.frombuffer(raw, dtype="<i2").astype(np.int32)
    elif width == 4:
        x = np.frombuffer(raw, dtype="<i4").astype(np.int64) >> 16
    else:
        raise ValueError(f"{path}: {8 * width}-bit WAV is not supported (use 8, 16 or 32-bit PCM)")
    if channels > 1:
        # Averaging rather than summing cannot clip; a phone line carries one voice anyway.
        x = x.reshape(-1, channels).mean(axis=1).round()
    return np.clip(x, -32768, 32767).astype(np.int16), rate


def write_wav(path: str | Path, samples: bytes | np.ndarray, rate: int = SAMPLE_RATE) -> None:
    """Write int16 mono samples (or s16le bytes) to a 16-bit PCM WAV file."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(as_samples(samples).astype("<i2").tobytes())
