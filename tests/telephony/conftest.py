"""The SIP lab on loopback: kamailio as the clinic PBX, peer user agents, a spoken WAV, the box's settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.telephony.lab import PASSWORD, Kamailio, Peer, speech_wav

SPOKEN = "Hello, I would like to book a cleaning on Tuesday, please."


@pytest.fixture
def pbx(tmp_path) -> Kamailio:
    """Kamailio on a free loopback port: registrar with digest auth, asserting callers' identity."""
    k = Kamailio(tmp_path)
    k.start()
    yield k
    k.stop()


@pytest.fixture
def peers(tmp_path):
    """Start peers with `peers(user, ...)`; every one is shut down after the test."""
    started: list[Peer] = []

    def start(user: str, **options) -> Peer:
        peer = Peer(tmp_path, user, **options)
        started.append(peer)
        return peer

    yield start
    for peer in started:
        peer.close()


@pytest.fixture(scope="session")
def speech(tmp_path_factory) -> Path:
    """A 16 kHz WAV of a patient's sentence (espeak-ng) with 3 s of trailing silence."""
    return speech_wav(tmp_path_factory.mktemp("speech") / "patient.wav", SPOKEN)


@pytest.fixture
def sip_password(monkeypatch) -> str:
    monkeypatch.setenv("DENTRA_TEST_SIP_PASSWORD", PASSWORD)
    return PASSWORD
