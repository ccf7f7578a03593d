"""The SIP agent on loopback: kamailio as the clinic PBX, peer user agents as callers and the front desk
(tests appliance/telephony/sip/)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import numpy as np
import pytest

from appliance.telephony.sip import CallEnded, SipAgent, SipError, load_password
from appliance.voice.audio import read_wav, resample
from tests.telephony import lab
from tests.telephony.lab import (
    ASSERTED_PREFIX,
    box_settings,
    dominant_hz,
    run,
    similarity,
    sipp,
    tone_frames,
    voiced_seconds,
)

# How closely the waveform the box receives must match what was sent (measured on loopback:
# 0.9999 PCMU, 0.997 G.722, 0.998 Opus).
MIN_SIMILARITY = {"pcmu": 0.98, "g722": 0.97, "opus": 0.95}
TONE_HZ = 700


@contextlib.asynccontextmanager
async def _running_agent(settings, **options):
    """A started agent (registered, when there is a PBX) and the queue its ringing calls arrive on."""
    agent = SipAgent(settings, **options)
    rings: asyncio.Queue = asyncio.Queue()
    agent.on_call(rings.put_nowait)
    await agent.start()
    try:
        if settings.registrar:
            await agent.wait_status("registered", timeout=10)
        yield agent, rings
    finally:
        await agent.stop()


async def _collect(call, frames: list[bytes], enough: asyncio.Event, wanted: int) -> None:
    """Read the caller's audio until the call ends; `enough` once `wanted` frames are in."""
    try:
        while True:
            frames.append(await call.read_frame())
            if len(frames) >= wanted:
                enough.set()
    except CallEnded:
        enough.set()


@pytest.mark.parametrize("codec", ["pcmu", "g722", "opus"])
def test_a_call_through_the_pbx_carries_caller_id_speech_both_ways_dtmf_and_remote_hang_up(
        pbx, peers, speech, sip_password, codec):
    sent, rate = read_wav(speech)
    spoken_s = len(sent) / rate - 3  # the WAV ends in 3 s of silence

    async def scenario():
        async with _running_agent(box_settings(pbx, codecs=(codec,))) as (agent, rings):
            status = agent.status
            assert (status.state, status.registrar, status.extension, status.last_error) == \
                ("registered", pbx.address, "250", "")
            caller = await asyncio.to_thread(peers, "200", registrar=pbx, codecs=(codec,), play=speech)
            caller.send("dial", uri=f"sip:250@{pbx.address}")
            call = await asyncio.wait_for(rings.get(), 10)
            # Known while it rings, before answering: the number the PBX asserted, and who delivered the call.
            assert (call.caller.number, call.caller.header) == (ASSERTED_PREFIX + "200", "P-Asserted-Identity")
            assert call.caller.raw == f'"Lab Caller" <sip:{ASSERTED_PREFIX}200@127.0.0.1>'
            assert call.peer_address == pbx.address and call.direction == "inbound"
            digits: list[str] = []
            both_digits = asyncio.Event()
            call.on_dtmf(lambda d: (digits.append(d), len(digits) == 2 and both_digits.set()))

            await call.answer()
            await caller.wait("established")
            frames: list[bytes] = []
            enough = asyncio.Event()
            reader = asyncio.create_task(_collect(call, frames, enough, int((spoken_s + 1) * 50)))
            await asyncio.wait_for(enough.wait(), spoken_s + 10)
            for frame in tone_frames(TONE_HZ, 1.0) + [bytes(640)] * 10:
                await call.write_frame(frame)

            caller.send("dtmf", digits="5#")
            await asyncio.wait_for(both_digits.wait(), 5)
            assert digits == ["5", "#"]

            caller.send("hangup")
            hung_up = time.monotonic()
            await asyncio.wait_for(call.ended.wait(), 5)
            assert time.monotonic() - hung_up < 1.0 and call.ended_by == "remote"
            await reader
            with pytest.raises(CallEnded):
                await call.read_frame()
            with pytest.raises(CallEnded):
                await call.write_frame(bytes(640))
            heard = await caller.wait("closed")
        assert agent.status.state == "unregistered"
        return np.frombuffer(b"".join(frames), "<i2"), heard

    received, heard = run(scenario())
    # The box heard the patient: speech for about as long as it was spoken, matching what was sent
    # (over G.711 it can only match the sentence as an 8 kHz line carries it).
    assert voiced_seconds(received, 16000) > 0.6 * spoken_s
    expected = resample(resample(sent, 16000, 8000), 8000, 16000) if codec == "pcmu" else sent
    assert similarity(received, expected[: int(spoken_s * 16000)]) > MIN_SIMILARITY[codec]
    # The caller heard the box's tone, a second of it without gaps.
    recording, rec_rate = read_wav(heard["recording"])
    assert 0.9 <= voiced_seconds(recording, rec_rate) <= 1.2
    assert abs(dominant_hz(recording, rec_rate) - TONE_HZ) < 5


def test_transfer_to_the_front_desk(pbx, peers, sip_password):
    async def scenario():
        async with _running_agent(box_settings(pbx)) as (agent, rings):
            desk = await asyncio.to_thread(peers, "101", registrar=pbx, auto_answer=True)
            caller = await asyncio.to_thread(peers, "200", registrar=pbx)
            caller.send("dial", uri=f"sip:250@{pbx.address}")
            call = await asyncio.wait_for(rings.get(), 10)
            await call.answer()
            await caller.wait("established")
            # Nobody at 109: the caller reports the failure and stays on the line with the box.
            with pytest.raises(SipError) as failed:
                await call.transfer("109")
            assert failed.value.code == "sip-transfer-failed" and "404" in failed.value.message
            assert not call.ended.is_set()
            await call.write_frame(bytes(640))
            await call.transfer("101")
            assert call.ended.is_set() and call.ended_by == "transfer"
            await caller.wait("transfer-call", peer=f"sip:101@{pbx.address}")
            await desk.wait("established")

    run(scenario())


def test_refuses_callers_outside_allowed_peers_and_takes_direct_calls_without_a_registrar(peers, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    settings = box_settings(None, allowed=("127.0.0.1",))

    async def scenario():
        async with _running_agent(settings) as (agent, rings):
            assert agent.status.state == "unregistered" and agent.status.registrar == ""
            # A stranger at 127.0.0.2 (sipp) sends a well-formed INVITE and is told 486 Busy Here.
            stranger = await asyncio.to_thread(sipp, "stranger", settings.listen, tmp_path, host="127.0.0.2")
            assert stranger.returncode == 0, stranger.stdout[-2000:]
            assert rings.empty()
            # Allowed address, no PBX in between: dialed straight at sip:250@<listen>.
            neighbour = await asyncio.to_thread(peers, "200")
            neighbour.send("dial", uri=f"sip:250@{settings.listen}")
            call = await asyncio.wait_for(rings.get(), 10)
            assert (call.caller.number, call.caller.header) == ("200", "From")
            assert call.peer_address == neighbour.address
            await call.answer()
            await neighbour.wait("established")
            await call.hangup()
            assert call.ended_by == "local"
            await neighbour.wait("closed")

    run(scenario())
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert any("127.0.0.2" in m and "…0199" in m for m in refusals), refusals
    assert "2175550199" not in caplog.text  # PHI: only the last four digits reach the logs


def test_malformed_invites_do_not_crash_the_box(pbx, peers, tmp_path, sip_password):
    async def scenario():
        async with _running_agent(box_settings(pbx)) as (agent, rings):
            garbage = await asyncio.to_thread(sipp, "malformed", agent.settings.listen, tmp_path)
            assert garbage.returncode == 0, garbage.stdout[-2000:]
            assert rings.empty() and agent.status.state == "registered"
            caller = await asyncio.to_thread(peers, "200", registrar=pbx)
            caller.send("dial", uri=f"sip:250@{pbx.address}")
            call = await asyncio.wait_for(rings.get(), 10)
            await call.answer()
            await caller.wait("established")
            await call.write_frame(bytes(640))
            await call.hangup()

    run(scenario())


def test_refuses_an_unsupported_codec_offer_cleanly(pbx, peers, sip_password, caplog):
    caplog.set_level(logging.INFO)

    async def scenario():
        async with _running_agent(box_settings(pbx, codecs=("pcmu",))) as (agent, rings):
            wideband_only = await asyncio.to_thread(peers, "200", registrar=pbx, codecs=("g722",))
            wideband_only.send("dial", uri=f"sip:250@{pbx.address}")
            refused = await wideband_only.wait("failed")
            assert refused["status"] == 488
            assert rings.empty() and agent.status.state == "registered"
            # The box is unharmed: the next caller rings through.
            ordinary = await asyncio.to_thread(peers, "201", registrar=pbx, codecs=("pcmu",))
            ordinary.send("dial", uri=f"sip:250@{pbx.address}")
            call = await asyncio.wait_for(rings.get(), 10)
            await call.reject()
            assert (await ordinary.wait("failed"))["status"] == 486

    run(scenario())
    assert "refused before ringing" in caplog.text


def test_registers_with_digest_auth_and_a_wrong_password_fails_clearly_with_backoff(pbx):
    async def scenario():
        async with SipAgent(box_settings(pbx), password="not-the-password", backoff=(0.2, 0.8)) as agent:
            tries: list[float] = []
            fourth = asyncio.Event()

            def watch(status):
                if status.state == "registering":
                    tries.append(time.monotonic())
                if status.attempts >= 5:
                    fourth.set()

            agent.on_status(watch)
            failed = await agent.wait_status("failed", timeout=10)
            assert failed.last_error.startswith("sip-register-failed:")
            assert "401" in failed.last_error and "250" in failed.last_error and "password" in failed.last_error
            assert failed.retry_at is not None
            await asyncio.wait_for(fourth.wait(), 10)
        gaps = np.diff(tries)
        # 0.4, 0.8, 0.8 s apart after the first retry (0.2 s): doubling, capped at 0.8 s.
        assert all(g > 0.3 for g in gaps[1:]) and all(g < 1.6 for g in gaps), gaps
        assert gaps[-1] > gaps[0]

    run(scenario())


def test_the_registrar_going_away_and_coming_back_leads_to_re_registration(pbx, peers, sip_password):
    async def scenario():
        async with _running_agent(box_settings(pbx), register_interval=2) as (agent, rings):
            # Started now so that it can call the moment the box is back (a restarted kamailio has forgotten
            # every binding, but an INVITE only needs the caller's password).
            caller = await asyncio.to_thread(peers, "200", registrar=pbx, register=False)
            await asyncio.to_thread(pbx.stop)
            lost = await agent.wait_status("failed", timeout=10)
            assert pbx.address in lost.last_error and "no answer" in lost.last_error
            await asyncio.to_thread(pbx.start)  # same port, no memory of anyone
            await agent.wait_status("registered", timeout=15)
            caller.send("dial", uri=f"sip:250@{pbx.address}")
            call = await asyncio.wait_for(rings.get(), 10)
            assert call.caller.number == ASSERTED_PREFIX + "200"
            await call.reject()

    run(scenario())


def test_dials_out_and_hangs_up(pbx, peers, sip_password):
    async def scenario():
        async with _running_agent(box_settings(pbx)) as (agent, _rings):
            patient = await asyncio.to_thread(peers, "200", registrar=pbx, auto_answer=True)
            with pytest.raises(SipError) as nobody:
                await agent.dial("299", timeout=10)
            assert nobody.value.code == "sip-dial-failed"
            call = await agent.dial("200", timeout=10)
            assert call.direction == "outbound" and call.party.number == "200"
            await patient.wait("established")
            for frame in tone_frames(TONE_HZ, 0.5) + [bytes(640)] * 10:
                await call.write_frame(frame)
            await call.hangup()
            assert call.ended_by == "local"
            heard = await patient.wait("closed")
            return heard

    heard = run(scenario())
    recording, rate = read_wav(heard["recording"])
    assert 0.4 <= voiced_seconds(recording, rate) <= 0.7
    assert abs(dominant_hz(recording, rate) - TONE_HZ) < 5


def test_a_missing_kamailio_fails_the_run_with_a_clear_message(monkeypatch):
    monkeypatch.setattr(lab.shutil, "which", lambda *args, **kwargs: None)
    with pytest.raises(RuntimeError, match="kamailio is not installed.*apt-get install kamailio"):
        lab.kamailio_binary()


def test_the_password_comes_from_the_environment_or_a_private_file(tmp_path):
    settings = box_settings(None)
    assert load_password(settings, {settings.password_env: "from-env"}) == "from-env"
    secret = tmp_path / "sip-password"
    secret.write_text("from-file\n")
    secret.chmod(0o600)
    assert load_password(settings, {}, secret) == "from-file"
    secret.chmod(0o644)
    with pytest.raises(SipError) as too_open:
        load_password(settings, {}, secret)
    assert too_open.value.code == "sip-password-file-invalid" and "chmod 600" in too_open.value.message
    with pytest.raises(SipError) as missing:
        load_password(settings, {})
    assert missing.value.code == "sip-password-missing" and settings.password_env in missing.value.message


def test_start_refuses_a_registrar_without_password_and_an_unknown_codec(pbx, monkeypatch):
    monkeypatch.delenv("DENTRA_TEST_SIP_PASSWORD", raising=False)

    async def scenario():
        with pytest.raises(SipError) as missing:
            await SipAgent(box_settings(pbx)).start()
        assert missing.value.code == "sip-password-missing"
        with pytest.raises(SipError, match="unknown codec 'gsm'"):
            SipAgent(box_settings(pbx, codecs=("gsm",)))
        # Nothing was left running: the next agent starts (one SIP stack per process).
        async with _running_agent(box_settings(None)) as (agent, _rings):
            assert agent.status.state == "unregistered"

    run(scenario())
