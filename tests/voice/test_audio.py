"""Audio helpers: resampling keeps frequency and level, framing, levels and WAV files."""

from __future__ import annotations

import wave

import numpy as np
import pytest

from appliance.voice.audio import (
    FRAME_BYTES,
    FRAME_SAMPLES,
    MIN_DBFS,
    Framer,
    Resampler,
    is_silent,
    level_dbfs,
    read_wav,
    resample,
    to_frames,
    write_wav,
)
from tests.voice.sounds import active_level, noise, tone

RATES = [(8000, 16000), (16000, 8000), (22050, 16000), (48000, 16000), (16000, 48000), (44100, 16000)]


def spectrum_peak(x: np.ndarray, rate: int) -> tuple[float, float]:
    """Return (frequency of the strongest component, RMS level in dBFS) of the middle half of x."""
    mid = x[len(x) // 4 : -len(x) // 4].astype(np.float64)
    mag = np.abs(np.fft.rfft(mid * np.hanning(len(mid))))
    freqs = np.fft.rfftfreq(len(mid), 1 / rate)
    return float(freqs[mag.argmax()]), level_dbfs(mid.astype(np.int16))


def level_at(x: np.ndarray, rate: int, hz: float) -> float:
    """Return the level in dB of the component at `hz` relative to the strongest one (middle half of x)."""
    mid = x[len(x) // 4 : -len(x) // 4].astype(np.float64)
    mag = np.abs(np.fft.rfft(mid * np.hanning(len(mid))))
    freqs = np.fft.rfftfreq(len(mid), 1 / rate)
    near = np.abs(freqs - hz) < 20
    return float(20 * np.log10(mag[near].max() / mag.max() + 1e-12))


def test_frame_constants():
    assert (FRAME_SAMPLES, FRAME_BYTES) == (320, 640)


@pytest.mark.parametrize(("from_rate", "to_rate"), RATES)
def test_resample_keeps_a_1khz_sine_at_its_frequency_and_level(from_rate, to_rate):
    x = tone(1000, 1000, -12.0, rate=from_rate)
    y = resample(x, from_rate, to_rate)
    assert y.dtype == np.int16
    assert len(y) == -(-len(x) * to_rate // from_rate)
    freq, level = spectrum_peak(y, to_rate)
    assert abs(freq - 1000) <= 2  # the FFT bin is 2 Hz wide on the 0.5 s middle
    assert level == pytest.approx(-12.0, abs=0.05)


@pytest.mark.parametrize(("from_rate", "to_rate"), RATES)
def test_resample_of_a_near_full_scale_sine_does_not_clip(from_rate, to_rate):
    x = tone(1000, 1000, -3.2, rate=from_rate)  # peak 0.977 of full scale
    peak_in = int(np.abs(x.astype(np.int32)).max())
    y = resample(x, from_rate, to_rate)[100:-100]  # the first and last ms hold the cut's own ringing
    peak_out = int(np.abs(y.astype(np.int32)).max())
    assert peak_out < 32767
    assert abs(peak_out - peak_in) <= 0.001 * peak_in


@pytest.mark.parametrize(("from_rate", "to_rate", "hz"), [(48000, 16000, 10000), (22050, 16000, 9000),
                                                          (16000, 8000, 5000)])
def test_downsampling_removes_what_the_new_rate_cannot_carry(from_rate, to_rate, hz):
    # Without the low-pass these tones would fold back as loud audible aliases.
    x = tone(1000, hz, -6.0, rate=from_rate)
    assert level_dbfs(resample(x, from_rate, to_rate)[200:-200]) < -6.0 - 70


def test_upsampling_from_8khz_leaves_no_image():
    y = resample(tone(1000, 3000, -6.0, rate=8000), 8000, 16000)
    # Zero-stuffing mirrors 3 kHz to 5 kHz; the filter must take the mirror out.
    assert level_at(y, 16000, 5000) < -70
    assert spectrum_peak(y, 16000)[0] == pytest.approx(3000, abs=2)


def test_telephone_round_trip_16k_8k_16k_is_transparent_for_speech_band():
    x = tone(1000, 440, -10.0) // 2 + tone(1000, 2500, -10.0) // 2
    back = resample(resample(x, 16000, 8000), 8000, 16000)
    err = back[200:-200].astype(np.int32) - x[200:-200]
    assert len(back) == len(x)
    assert np.abs(err).max() <= 3


def test_resample_round_trip_through_piper_rate_keeps_the_speech_band():
    # Four tones across the band Whisper listens to; the filter's pass band reaches 7 kHz.
    x = sum(tone(500, hz, -16.0).astype(np.int32) for hz in (300, 1000, 3000, 6000)).astype(np.int16)
    back = resample(resample(x, 16000, 22050), 22050, 16000)[400:-400].astype(np.float64)
    ref = x[400:-400].astype(np.float64)
    snr = 10 * np.log10(np.sum(ref**2) / np.sum((ref - back) ** 2))
    assert snr > 35


def test_resample_pass_band_and_edge_for_piper_audio():
    def gain(hz: float) -> float:
        return level_dbfs(resample(tone(500, hz, -10.0, rate=22050), 22050, 16000)[2000:-2000]) + 10.0

    assert gain(7000) > -0.1  # flat to 7 kHz, all that G.722 wideband carries
    assert -7.0 < gain(7520) < -5.0  # the roll-off sits just under the new 8 kHz Nyquist frequency
    assert gain(8100) < -50  # folds back to 7.9 kHz
    assert gain(8300) < -70


@pytest.mark.parametrize(("from_rate", "to_rate"), [(8000, 16000), (22050, 16000), (48000, 16000)])
def test_streaming_resampler_matches_one_shot_resample(from_rate, to_rate):
    x = noise(700, -20.0, seed=1)
    whole = resample(x, from_rate, to_rate)
    r = Resampler(from_rate, to_rate)
    sizes = np.random.default_rng(2).integers(1, 400, size=200)
    pieces, start = [], 0
    for size in sizes:
        pieces.append(r.process(x[start : start + size]))
        start += size
    pieces += [r.process(x[start:]), r.flush()]
    assert np.array_equal(np.concatenate(pieces), whole)


def test_resample_same_rate_and_empty_input():
    x = tone(20, 1000, -20.0)
    assert np.array_equal(resample(x, 16000, 16000), x)
    assert len(resample(np.zeros(0, np.int16), 8000, 16000)) == 0
    with pytest.raises(ValueError):
        resample(x, 0, 16000)


def test_framer_cuts_odd_chunks_into_whole_frames_and_keeps_the_rest():
    data = noise(205, -20.0).tobytes()  # 6560 bytes: 10 frames and 160 bytes
    framer = Framer()
    frames, pos = [], 0
    for size in [1, 7, 333, 641, 639, 1280, 3, 2000]:
        frames += framer.feed(data[pos : pos + size])
        pos += size
    frames += framer.feed(data[pos:])
    assert [len(f) for f in frames] == [FRAME_BYTES] * 10
    assert b"".join(frames) == data[: 10 * FRAME_BYTES]
    assert framer.pending == 160
    last = framer.flush()
    assert last == data[10 * FRAME_BYTES :] + bytes(FRAME_BYTES - 160)
    assert framer.pending == 0 and framer.flush() is None


def test_framer_drops_half_a_sample_when_flushing():
    framer = Framer()
    assert framer.feed(b"\x01\x02\x03") == []
    assert framer.flush() == b"\x01\x02" + bytes(FRAME_BYTES - 2)


def test_to_frames_pads_the_last_frame_with_silence():
    x = np.arange(1, 801, dtype=np.int16)  # 2.5 frames
    frames = to_frames(x)
    assert len(frames) == 3
    last = np.frombuffer(frames[2], "<i2")
    assert list(last[:160]) == list(range(641, 801))
    assert not last[160:].any()
    assert len(to_frames(x[:640])) == 2
    assert to_frames(np.zeros(0, np.int16)) == []


def test_levels_in_dbfs():
    assert level_dbfs(tone(20, 1000, -20.0)) == pytest.approx(-20.0, abs=0.02)
    full_scale_sine = np.rint(32767 * np.sin(2 * np.pi * 1000 * np.arange(320) / 16000)).astype(np.int16)
    assert level_dbfs(full_scale_sine.tobytes()) == pytest.approx(-3.01, abs=0.01)
    assert level_dbfs(bytes(FRAME_BYTES)) == MIN_DBFS
    assert is_silent(noise(20, -60.0).tobytes())
    assert not is_silent(noise(20, -40.0).tobytes())
    assert is_silent(noise(20, -45.0).tobytes(), threshold_dbfs=-40)


def test_wav_round_trip(tmp_path):
    x = tone(300, 1000, -10.0)
    write_wav(tmp_path / "a.wav", x, 16000)
    y, rate = read_wav(tmp_path / "a.wav")
    assert rate == 16000 and np.array_equal(x, y)


def test_read_wav_mixes_stereo_down_and_reads_8_bit(tmp_path):
    left, right = tone(100, 1000, -10.0), tone(100, 400, -10.0)
    with wave.open(str(tmp_path / "stereo.wav"), "wb") as w:
        w.setnchannels(2), w.setsampwidth(2), w.setframerate(22050)
        w.writeframes(np.stack([left, right], axis=1).astype("<i2").tobytes())
    y, rate = read_wav(tmp_path / "stereo.wav")
    assert rate == 22050 and len(y) == len(left)
    assert np.abs(y.astype(np.int32) - (left.astype(np.int32) + right) / 2).max() <= 1

    with wave.open(str(tmp_path / "u8.wav"), "wb") as w:
        w.setnchannels(1), w.setsampwidth(1), w.setframerate(8000)
        w.writeframes(bytes([128, 255, 0, 192]))
    y, rate = read_wav(tmp_path / "u8.wav")
    assert rate == 8000 and list(y) == [0, 127 << 8, -128 << 8, 64 << 8]


def test_espeak_speech_is_made_at_16k_and_at_the_asked_level(speaker):
    x = speaker.say("I'd like to book a cleaning", dbfs=-24.0)
    assert x.dtype == np.int16
    assert 0.8 < len(x) / 16000 < 3.0  # espeak at 160 words a minute, edge silence trimmed
    assert active_level(x) == pytest.approx(-24.0, abs=0.1)
    assert not is_silent(x[:FRAME_SAMPLES].tobytes(), -60) and not is_silent(x[-FRAME_SAMPLES:].tobytes(), -70)
