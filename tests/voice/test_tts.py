"""Text to speech with the real Piper voice: sentence splitting, 16 kHz audio, the phrase cache, bad voice files."""

from __future__ import annotations

import shutil
import time

import numpy as np
import pytest

from appliance.errors import ModelCorrupt, ModelMissing
from appliance.voice.audio import FRAME_MS, SAMPLE_RATE, level_dbfs, to_frames
from appliance.voice.demo_models import joe_voice
from appliance.voice.tts import PhraseCache, Speaker, sentences, spoken_form
from tests.voice.conftest import VOICE_REPORT


@pytest.mark.parametrize("text, expected", [
    ("Thanks for calling. How can I help?", ["Thanks for calling.", "How can I help?"]),
    ("Dr. Chen can see you Thursday. Does that work?", ["Dr. Chen can see you Thursday.", "Does that work?"]),
    ("I have 9:30 a.m. on Monday. Shall I book it?", ["I have 9:30 a.m. on Monday.", "Shall I book it?"]),
    ("Is 9:30 a.m. Thursday okay?", ["Is 9:30 a.m. Thursday okay?"]),
    ("See you at 9:30 a.m. Goodbye!", ["See you at 9:30 a.m.", "Goodbye!"]),
    ("A crown is $1,200.50. Want one?", ["A crown is $1,200.50.", "Want one?"]),
    ("I have 10:30 AM, 1 PM, or 3 PM. Which one?", ["I have 10:30 AM, 1 PM, or 3 PM.", "Which one?"]),
    ("Hi! How can I help?", ["Hi!", "How can I help?"]),
    ("No. That time is taken.", ["No.", "That time is taken."]),
    ("Mrs. Smith and Anne B. Cole are booked.", ["Mrs. Smith and Anne B. Cole are booked."]),
    ("Bring an ID, e.g. a license. Thanks.", ["Bring an ID, e.g. a license.", "Thanks."]),
    ("Hmm... let me see. Okay.", ["Hmm... let me see.", "Okay."]),
    ("Wait... what? Okay.", ["Wait... what?", "Okay."]),
    ("He said \"yes.\" Then he left.", ["He said \"yes.\"", "Then he left."]),
    ("Line one.\nLine two", ["Line one.", "Line two"]),
    ("no period at the end", ["no period at the end"]),
    ("  ", []),
    # a long first sentence is cut at a comma so the caller is not kept waiting for all of it
    ("We are in network with Delta Dental, MetLife, Cigna, Aetna and Guardian, and we file claims for you, "
     "and for other plans we give you a receipt that you can send to your insurer yourself.",
     ["We are in network with Delta Dental, MetLife, Cigna, Aetna and Guardian, and we file claims for you,",
      "and for other plans we give you a receipt that you can send to your insurer yourself."]),
])
def test_sentences(text, expected):
    assert sentences(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("With Dr. Okafor.", "With Doctor Okafor."),
    ("A crown is $1,200.", "A crown is 1,200 dollars."),
    ("It is $1,200.50 in all.", "It is 1,200 dollars and 50 cents in all."),
    ("Only $1.", "Only 1 dollar."),
    ("Just $0.50 more.", "Just 50 cents more."),
    ("Mrs. Smith, Mr. Jones and Ms. Lee.", "Missus Smith, Mister Jones and Miz Lee."),
    ("Drive to Dr.Who street", "Drive to Dr.Who street"),  # not a title: left alone
])
def test_spoken_form(text, expected):
    assert spoken_form(text) == expected


def test_speak_yields_16k_sentences_one_at_a_time(piper_speaker, monkeypatch):
    made = []
    synthesize = piper_speaker.synthesize
    monkeypatch.setattr(piper_speaker, "synthesize", lambda s: made.append(s) or synthesize(s))
    reply = "Thanks for calling Bright Smile Dental. Dr. Chen can see you at 9:30 a.m. on Thursday. Does that work?"
    speech = piper_speaker.speak(reply)
    started = time.perf_counter()
    first_sentence, first_audio = next(speech)
    first_ms = (time.perf_counter() - started) * 1000
    assert made == ["Thanks for calling Bright Smile Dental."]  # the rest waits until playback asks for it
    rest = list(speech)
    assert [first_sentence] + [s for s, _ in rest] == sentences(reply)
    total_s = 0.0
    for _sentence, audio in [(first_sentence, first_audio), *rest]:
        assert audio.dtype == np.int16 and audio.ndim == 1
        seconds = len(audio) / SAMPLE_RATE
        assert 0.5 < seconds < 6
        assert level_dbfs(audio) > -30  # speech, not silence
        assert np.abs(audio.astype(np.int32)).max() < 32767  # headroom kept: no clipping
        total_s += seconds
    VOICE_REPORT.append(f"Piper first audio {first_ms:.0f} ms for {first_sentence!r} "
                        f"({len(first_audio) / SAMPLE_RATE:.2f} s of audio); whole reply {total_s:.2f} s")


def test_a_long_first_sentence_starts_with_its_first_clause(piper_speaker, monkeypatch):
    made = []
    monkeypatch.setattr(piper_speaker, "synthesize", lambda s: made.append(s) or np.ones(1600, np.int16))
    reply = "Okay Ann, I have Tuesday the 24th at 9 with Dr. Chen, or Wednesday at 2. Which one works?"
    assert [s for s, _ in piper_speaker.speak(reply)] == made == [
        "Okay Ann, I have Tuesday the 24th at 9 with Dr. Chen,", "or Wednesday at 2.", "Which one works?"]
    made.clear()
    short = "Okay, Ann. Which day works for you?"  # a short first sentence, and a comma too early to cut at
    assert [s for s, _ in piper_speaker.speak(short)] == ["Okay, Ann.", "Which day works for you?"]
    assert [s for s, _ in piper_speaker.speak("Thanks for calling Bright Smile Dental in Springfield, Ann.")] \
        == ["Thanks for calling Bright Smile Dental in Springfield, Ann."]  # too little left after the comma


def test_silence_around_a_sentence_is_trimmed_to_one_natural_pause(piper_speaker):
    # Piper puts about 0.4 s of silence before this one: the caller would wait through it
    audio = piper_speaker.synthesize("December 3rd at 1 PM with Ana Rivera at Bright Smile Downtown.")
    sounding = [level_dbfs(f) > -50 for f in to_frames(audio)]
    assert sounding.index(True) * FRAME_MS <= 40
    assert 100 <= sounding[::-1].index(True) * FRAME_MS <= 220
    assert 3.0 < len(audio) / SAMPLE_RATE < 5.0


def test_speech_energy_stays_in_the_telephone_band(piper_speaker):
    """Resampled to 16 kHz without aliasing: next to nothing above 7.6 kHz."""
    audio = piper_speaker.synthesize("Thanks for calling, how can I help you today?").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / SAMPLE_RATE)
    assert spectrum[freqs > 7600].sum() / spectrum.sum() < 1e-3


def test_nothing_to_say_is_no_audio(piper_speaker):
    assert list(piper_speaker.speak("")) == []
    assert len(piper_speaker.synthesize("")) == 0


def test_phrase_cache_synthesizes_once(piper_speaker, monkeypatch):
    cache = PhraseCache()
    first = cache.get(piper_speaker, "One moment.")
    calls = []
    monkeypatch.setattr(piper_speaker, "speak", lambda text: calls.append(text) or iter(()))
    again = cache.get(piper_speaker, "One moment. ")
    assert again is first and calls == [] and (cache.hits, cache.misses) == (1, 1)
    assert (piper_speaker, "One moment.") in cache
    sentence, audio = first[0]
    assert sentence == "One moment." and not audio.flags.writeable  # shared between calls: read-only
    assert [s for s, _ in cache.speak(piper_speaker, "One moment.")] == ["One moment."]


def test_phrase_cache_is_keyed_by_voice_and_bounded(piper_speaker):
    class OtherVoice:
        voice_id = "another-voice.onnx:1"

        def speak(self, text):
            yield text, np.ones(160, np.int16)

    cache = PhraseCache(max_phrases=2)
    cache.warm(piper_speaker, ["Let me check that."])
    other = cache.get(OtherVoice(), "Let me check that.")
    assert len(other[0][1]) == 160 and cache.misses == 2  # same text, another voice: its own audio
    cache.get(OtherVoice(), "Goodbye.")
    assert (piper_speaker, "Let me check that.") not in cache  # the oldest phrase made room


@pytest.fixture
def voice_copy(tmp_path):
    onnx = joe_voice()
    shutil.copy(onnx, tmp_path / onnx.name)
    shutil.copy(onnx.with_name(onnx.name + ".json"), tmp_path / (onnx.name + ".json"))
    return tmp_path / onnx.name


def test_missing_voice(tmp_path, voice_copy):
    with pytest.raises(ModelMissing) as err:
        Speaker.load(tmp_path / "nobody.onnx")
    assert err.value.code == "model-missing" and "nobody.onnx" in err.value.message
    voice_copy.with_name(voice_copy.name + ".json").unlink()
    with pytest.raises(ModelMissing) as err:
        Speaker.load(voice_copy)
    assert ".onnx.json" in err.value.message and "dentra models fetch" in err.value.message


def test_truncated_voice(voice_copy):
    voice_copy.write_bytes(voice_copy.read_bytes()[:1_000_000])
    with pytest.raises(ModelCorrupt) as err:
        Speaker.load(voice_copy)
    assert err.value.code == "model-corrupt" and str(voice_copy) in err.value.message


def test_garbled_voice_settings(voice_copy):
    voice_copy.with_name(voice_copy.name + ".json").write_text("{")
    with pytest.raises(ModelCorrupt) as err:
        Speaker.load(voice_copy)
    assert ".onnx.json" in err.value.message


def test_from_config(config, tmp_path, voice_copy):
    import dataclasses

    no_tts = dataclasses.replace(config, models=dataclasses.replace(config.models, tts=""))
    assert Speaker.from_config(no_tts, tmp_path) is None
    models = dataclasses.replace(config.models, tts="piper-en_US-joe-medium")
    cfg = dataclasses.replace(config, models=models)
    with pytest.raises(ModelMissing) as err:
        Speaker.from_config(cfg, tmp_path / "data")
    assert str(tmp_path / "data" / "models" / "piper" / "en_US-joe-medium.onnx") in err.value.message
    folder = tmp_path / "data" / "models" / "piper"
    folder.mkdir(parents=True)
    for f in (voice_copy, voice_copy.with_name(voice_copy.name + ".json")):
        f.rename(folder / f.name)
    assert Speaker.from_config(cfg, tmp_path / "data").path == folder / "en_US-joe-medium.onnx"
