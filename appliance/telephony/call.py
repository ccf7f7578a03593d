"""What one phone call carries, apart from the SIP stack: the caller as the PBX presented them, and
the conversion between the codec's audio on the wire and the box's 16 kHz mono 20 ms frames."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from appliance.phones import caller_part, last_digits
from appliance.voice.audio import FRAME_BYTES, SAMPLE_RATE, resample

# Caller ID headers in order of trust: the PBX asserts P-Asserted-Identity after its own checks,
# while From is whatever the calling device wrote.
CALLER_ID_HEADERS = ("P-Asserted-Identity", "From")


@dataclass(frozen=True)
class CallerId:
    """The caller's number (user part) and display name, and the header value they came from, verbatim."""

    number: str
    display_name: str
    header: str
    raw: str

    @property
    def masked(self) -> str:
        """The number safe for logs: only its last four characters."""
        return mask_number(self.number)

    def __repr__(self) -> str:
        return f"CallerId(number={self.masked!r}, header={self.header!r})"


def mask_number(number: str) -> str:
    """`…0125` for `+12175550125`: logs and status lines never carry a whole phone number."""
    return last_digits(number) if number else "(none)"


def caller_id(headers: dict[str, str]) -> CallerId:
    """The caller from an INVITE's exposed headers: P-Asserted-Identity first, then From."""
    lowered = {name.lower(): value for name, value in headers.items()}
    for name in CALLER_ID_HEADERS:
        raw = lowered.get(name.lower(), "").strip()
        if not raw:
            continue
        # A PBX may assert a sip: and a tel: identity in one header; the first is the primary one.
        first = _first_address(raw)
        number = caller_part(first)
        if number:
            return CallerId(number=number, display_name=_display_name(first), header=name, raw=raw)
    return CallerId(number="", display_name="", header="", raw="")


def _first_address(value: str) -> str:
    depth, quoted = 0, False
    for i, ch in enumerate(value):
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            depth += 1
        elif not quoted and ch == ">":
            depth -= 1
        elif not quoted and depth == 0 and ch == ",":
            return value[:i]
    return value


def _display_name(address: str) -> str:
    m = re.match(r'\s*"((?:[^"\\]|\\.)*)"\s*<', address) or re.match(r"\s*([^<\"]+?)\s*<", address)
    return m.group(1).strip() if m else ""


class StreamResampler:
    """Resample an endless stream chunk by chunk, giving exactly what one pass over the whole would.

    Each chunk is resampled together with a little audio on either side (the filter's reach), and
    only the samples that the edges cannot affect are returned; the cost is a few milliseconds of
    delay. The box's one `resample()` (appliance/voice/audio.py) does the filtering.
    """

    # Input samples of context on either side, per output/input ratio: enough for a windowed-sinc
    # filter of up to 32 zero crossings (audio.resample uses 16).
    _REACH_ZERO_CROSSINGS = 32

    def __init__(self, from_rate: int, to_rate: int):
        self.from_rate, self.to_rate = from_rate, to_rate
        g = math.gcd(from_rate, to_rate)
        self._up, self._down = to_rate // g, from_rate // g
        reach = self._REACH_ZERO_CROSSINGS * max(self._up, self._down) // self._up + 2
        self._context = -(-reach // self._down) * self._down  # a multiple of `down`: whole outputs
        # Silence before the first sample, as a one-pass resample assumes.
        self._buffer = np.zeros(self._context, np.int16)
        self._start = -self._context  # input index of _buffer[0]
        self._emitted = 0  # output samples returned so far

    def feed(self, samples: np.ndarray) -> np.ndarray:
        """Return the int16 output samples that `samples` (int16) completes."""
        if self.from_rate == self.to_rate:
            return np.asarray(samples, np.int16)
        self._buffer = np.concatenate([self._buffer, np.asarray(samples, np.int16)])
        safe = (len(self._buffer) - self._context) // self._down * self._down  # input offset with lookahead
        first = self._emitted - self._start * self._up // self._down
        last = safe * self._up // self._down
        if last <= first:
            return np.zeros(0, np.int16)
        out = resample(self._buffer, self.from_rate, self.to_rate)[first:last]
        self._emitted += len(out)
        drop = safe - self._context
        if drop > 0:
            self._buffer = self._buffer[drop:]
            self._start += drop
        return out


def _mono(pcm: bytes, channels: int) -> np.ndarray:
    x = np.frombuffer(pcm[: len(pcm) // (2 * channels) * 2 * channels], "<i2")
    if channels == 1:
        return x
    # Averaging cannot clip; a phone line carries one voice in both channels anyway.
    return x.reshape(-1, channels).mean(axis=1).round().astype(np.int16)


class WireToBox:
    """Received audio at the codec's rate and channels -> 16 kHz mono s16le bytes."""

    def __init__(self, rate: int, channels: int):
        self.rate, self.channels = rate, channels
        self._resampler = StreamResampler(rate, SAMPLE_RATE)

    def convert(self, pcm: bytes) -> bytes:
        return self._resampler.feed(_mono(pcm, self.channels)).astype("<i2").tobytes()


class BoxToWire:
    """16 kHz mono s16le frames -> the codec's rate and channels; `frame_bytes` is 20 ms on the wire."""

    def __init__(self, rate: int, channels: int):
        self.rate, self.channels = rate, channels
        self.frame_bytes = rate * 20 // 1000 * channels * 2
        self._resampler = StreamResampler(SAMPLE_RATE, rate)

    def convert(self, frame: bytes) -> bytes:
        out = self._resampler.feed(np.frombuffer(frame[: len(frame) // 2 * 2], "<i2"))
        if self.channels > 1:
            out = np.repeat(out, self.channels)
        return out.astype("<i2").tobytes()


def check_frame(frame: bytes) -> None:
    """Refuse anything but whole 16-bit samples; 20 ms (640 bytes) is the norm, shorter is fine."""
    if len(frame) % 2 or not 0 < len(frame) <= 50 * FRAME_BYTES:
        raise ValueError(f"a frame is 16 kHz mono s16le audio of whole samples (640 bytes per 20 ms), "
                         f"got {len(frame)} bytes")
