"""Voice test fixtures: an espeak-ng speaker (caching what it said) and the real speech models, once per session."""

from __future__ import annotations

import pytest

from tests.voice.sounds import Speaker


@pytest.fixture(scope="session")
def speaker(tmp_path_factory) -> Speaker:
    """espeak-ng speech at 16 kHz; each phrase is synthesized once per test session."""
    return Speaker(tmp_path_factory.mktemp("espeak"))


# ---- real speech models (Piper voice, Whisper tiny.en and base), each loaded once per session ----
# The models come from PyPI packages (appliance/voice/demo_models.py); a missing package is an error.

VOICE_REPORT: list[str] = []  # figures the STT/TTS tests measured, printed after the run as information


def pytest_terminal_summary(terminalreporter):
    if VOICE_REPORT:
        terminalreporter.section("voice figures (information, not asserted)")
        for line in VOICE_REPORT:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def piper_speaker():
    from appliance.voice.demo_models import joe_voice
    from appliance.voice.tts import Speaker as PiperSpeaker

    return PiperSpeaker.load(joe_voice())


@pytest.fixture(scope="session")
def tiny_stt():
    from appliance.voice.demo_models import tiny_en_dir
    from appliance.voice.stt import Transcriber

    return Transcriber.load(tiny_en_dir())


@pytest.fixture(scope="session")
def base_stt():
    from appliance.voice.demo_models import base_dir
    from appliance.voice.stt import Transcriber

    return Transcriber.load(base_dir())
