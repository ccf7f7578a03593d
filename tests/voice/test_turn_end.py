"""Smart Turn v3.2 on real speech: finished sentences end the turn, a trailing-off one does not; bad files are named."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.errors import ModelCorrupt, ModelMissing
from appliance.voice.turn_end import TurnModel, features
from tests.voice.sounds import silence


@pytest.fixture(scope="session")
def turn_model() -> TurnModel:
    from appliance.voice.demo_models import smart_turn

    return TurnModel.load(smart_turn())


def spoken(piper_speaker, text: str) -> np.ndarray:
    """Piper speech followed by the 200 ms of silence the endpointer has seen when it asks."""
    return np.concatenate([*(audio for _s, audio in piper_speaker.speak(text)), silence(200)])


def test_features_are_the_last_eight_seconds_padded_at_the_start_and_scale_free():
    rng = np.random.default_rng(3)
    short = (rng.standard_normal(16000 * 2) * 3000).astype(np.int16)
    f = features(short)
    assert f.shape == (80, 800) and f.dtype == np.float32
    assert np.allclose(f, features(short.astype(np.float32) / 32768.0 * 0.25), atol=1e-3)  # level does not matter
    # 6 s of zero padding first (every column the same), then the sound at the end
    assert np.ptp(f[:, 10:590], axis=1).max() < 1e-6 < np.ptp(f[:, 610:], axis=1).min()
    long = np.concatenate([(rng.standard_normal(16000 * 9) * 3000).astype(np.int16), short])
    assert np.array_equal(features(long), features(long[-16000 * 8:]))  # only the last 8 s of a long turn count


@pytest.mark.parametrize("text", ["I'd like to book a cleaning.", "Yes.", "Next Tuesday in the morning, please.",
                                  "Ana Rivera."])
def test_a_finished_sentence_is_complete(turn_model, piper_speaker, text):
    assert turn_model.complete(spoken(piper_speaker, text))


@pytest.mark.parametrize("text", ["Um, I was wondering if", "I need to, uh"])
def test_a_sentence_that_trails_off_is_not_complete(turn_model, piper_speaker, text):
    assert turn_model.probability(spoken(piper_speaker, text)) < 0.5


def test_a_missing_file_and_a_wrong_onnx_are_named_with_what_to_do(tmp_path):
    from appliance.voice.demo_models import joe_voice

    with pytest.raises(ModelMissing, match=r"end-of-turn model not found; run `dentra models fetch`"):
        TurnModel.load(tmp_path / "smart-turn-v3.2-cpu.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07not a model")
    with pytest.raises(ModelCorrupt, match=r"junk.onnx: onnxruntime cannot load"):
        TurnModel.load(junk)
    with pytest.raises(ModelCorrupt, match=r"not a Smart Turn v3 model"):
        TurnModel.load(joe_voice())  # a Piper voice is an .onnx too
