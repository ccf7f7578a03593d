"""End of turn: does the caller's utterance so far sound finished? Smart Turn v3.2 (ONNX) says how likely.

The endpointer asks this after a short silence. "I'd like a cleaning." ends the turn at once;
"my number is two one seven ..." does not, and the endpointer keeps waiting its full pause. The
model (BSD-2, pipecat-ai's Smart Turn v3.2, 8.7 MB) takes the last 8 s of 16 kHz audio as
Whisper-style log-mel features and returns a probability; about 10-30 ms on one CPU thread.

The feature code follows pipecat's numpy port of transformers' WhisperFeatureExtractor
(chunk_length=8, do_normalize=True), which is what the model was trained on.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from appliance.errors import ModelCorrupt, ModelError, ModelMissing

SAMPLE_RATE = 16000
WINDOW_S = 8
N_FFT, HOP, N_MELS = 400, 160, 80
COMPLETE_AT = 0.5  # the model's own threshold
HINT = "run `dentra models fetch` (or `dentra models import DIR`), or set [models] turn = \"\" for fixed pauses"


def _mel_filters() -> np.ndarray:
    """Slaney-normalised triangular mel filterbank, shape (N_FFT // 2 + 1, N_MELS), as librosa builds it."""
    def to_mel(hz):
        hz = np.atleast_1d(np.asarray(hz, dtype=np.float64))
        mel = 3.0 * hz / 200.0
        log_region = hz >= 1000.0
        mel[log_region] = 15.0 + np.log(hz[log_region] / 1000.0) * (27.0 / np.log(6.4))
        return mel

    def to_hz(mel):
        hz = 200.0 * mel / 3.0
        log_region = mel >= 15.0
        hz[log_region] = 1000.0 * np.exp(np.log(6.4) / 27.0 * (mel[log_region] - 15.0))
        return hz

    edges = to_hz(np.linspace(to_mel(0.0)[0], to_mel(SAMPLE_RATE / 2)[0], N_MELS + 2))
    bins = np.linspace(0, SAMPLE_RATE // 2, N_FFT // 2 + 1)
    slopes = edges[None, :] - bins[:, None]
    widths = np.diff(edges)
    filters = np.maximum(0.0, np.minimum(-slopes[:, :-2] / widths[:-1], slopes[:, 2:] / widths[1:]))
    return filters * (2.0 / (edges[2:] - edges[:-2]))[None, :]


_FILTERS = _mel_filters()
_WINDOW = np.hanning(N_FFT + 1)[:-1]  # periodic Hann, as torch.hann_window


def features(samples16k: np.ndarray) -> np.ndarray:
    """(80, 800) float32 log-mel features of the last 8 s of 16 kHz audio, zero-padded at the start."""
    raw = np.asarray(samples16k)
    x = raw.astype(np.float32) / 32768.0 if raw.dtype.kind in "iu" else raw.astype(np.float32)
    n = SAMPLE_RATE * WINDOW_S
    x = x[-n:] if len(x) >= n else np.pad(x, (n - len(x), 0))
    x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
    padded = np.pad(x.astype(np.float64), (N_FFT // 2, N_FFT // 2), mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]
    power = np.abs(np.fft.rfft(frames * _WINDOW, axis=-1)) ** 2
    log_spec = np.log10(np.maximum(1e-10, _FILTERS.T @ power.T))[:, :-1]
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).astype(np.float32)


class TurnModel:
    """A loaded Smart Turn model; `complete` is safe from several call threads."""

    def __init__(self, session: Any, path: Path):
        self._session, self.path = session, path
        self._lock = threading.Lock()
        self.last_ms = 0.0

    @classmethod
    def load(cls, path: str | Path, threads: int = 1) -> TurnModel:
        """Load the ONNX file; ModelMissing / ModelCorrupt name it and say what to do."""
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise ModelMissing(f"{path}: end-of-turn model not found; {HINT}")
        options = ort.SessionOptions()
        options.inter_op_num_threads, options.intra_op_num_threads = 1, threads
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        try:
            session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own Fail/InvalidProtobuf types
            raise ModelCorrupt(f"{path}: onnxruntime cannot load the end-of-turn model ({e}); {HINT}") from None
        if [i.name for i in session.get_inputs()] != ["input_features"]:
            raise ModelCorrupt(f"{path}: not a Smart Turn v3 model (its input is not `input_features`); {HINT}")
        return cls(session, path)

    @classmethod
    def from_config(cls, config: Any, data_dir: str | Path) -> TurnModel | None:
        """The model `[models] turn` names under the models dir; None when it is empty (fixed pauses)."""
        from appliance import models

        name = config.models.turn
        if not name:
            return None
        return cls.load(models.resolve(name, "turn", models.models_dir(config, data_dir)))

    def probability(self, samples16k: np.ndarray | bytes) -> float:
        """How likely the caller has finished their turn, 0..1, from the utterance so far."""
        if isinstance(samples16k, bytes | bytearray | memoryview):
            samples16k = np.frombuffer(samples16k, dtype="<i2")
        started = time.perf_counter()
        batch = features(samples16k)[None, :, :]
        try:
            with self._lock:
                out = self._session.run(None, {"input_features": batch})
        except Exception as e:
            raise ModelError(f"{self.path}: end-of-turn model failed ({e})", code="turn-model-failed") from None
        self.last_ms = (time.perf_counter() - started) * 1000
        return float(np.asarray(out[0]).reshape(-1)[0])

    def complete(self, samples16k: np.ndarray | bytes) -> bool:
        """True when the utterance sounds finished."""
        return self.probability(samples16k) > COMPLETE_AT
