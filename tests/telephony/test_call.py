"""Caller ID from INVITE headers and the wire <-> box audio conversion (appliance/telephony/call.py)."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.telephony.call import BoxToWire, StreamResampler, WireToBox, caller_id, check_frame, mask_number
from appliance.voice.audio import resample


def test_caller_id_prefers_the_asserted_identity_and_keeps_the_raw_header():
    c = caller_id({"P-Asserted-Identity": '"Ann Lee" <sip:+12175550125@pbx.clinic;user=phone>',
                   "From": "<sip:201@pbx.clinic>;tag=abc"})
    assert (c.number, c.display_name, c.header) == ("+12175550125", "Ann Lee", "P-Asserted-Identity")
    assert c.raw == '"Ann Lee" <sip:+12175550125@pbx.clinic;user=phone>'
    assert "5550125" not in repr(c) and c.masked == "…0125"


def test_caller_id_falls_back_to_from_and_takes_the_first_of_two_identities():
    assert caller_id({"From": "Bob <sip:2175550188@10.0.0.5>;tag=1"}).number == "2175550188"
    assert caller_id({"From": "Bob <sip:2175550188@10.0.0.5>;tag=1"}).display_name == "Bob"
    two = caller_id({"p-asserted-identity": '"Lee, Ann" <sip:+12175550125@pbx>, <tel:+12175550125>'})
    assert (two.number, two.display_name) == ("+12175550125", "Lee, Ann")
    assert caller_id({"P-Asserted-Identity": "", "From": '"Anonymous" <sip:anonymous@anonymous.invalid>'}).number \
        == "anonymous"
    assert caller_id({}).number == "" and caller_id({}).masked == "(none)"


def test_mask_number_keeps_four_characters():
    assert mask_number("+12175550125") == "…0125"
    assert mask_number("") == "(none)"


@pytest.mark.parametrize(("src", "dst"), [(8000, 16000), (16000, 8000), (48000, 16000), (16000, 48000)])
def test_stream_resampler_matches_one_pass_over_the_whole(src, dst):
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(src) * 4000).astype(np.int16)  # one second of noise
    whole = resample(x, src, dst)
    stream = StreamResampler(src, dst)
    pieces, i = [], 0
    while i < len(x):
        n = int(rng.integers(1, src // 25))  # chunks of up to 40 ms, as the stack hands them over
        pieces.append(stream.feed(x[i : i + n]))
        i += n
    out = np.concatenate(pieces)
    assert len(whole) - len(out) < dst // 100  # at most a few ms held back for the filter's lookahead
    assert np.array_equal(out, whole[: len(out)])


def test_wire_and_box_conversions_keep_20_ms_framing():
    stereo48 = np.repeat((np.sin(np.arange(48000) / 10) * 8000).astype("<i2"), 2).tobytes()
    from_opus = WireToBox(48000, 2)
    out = b"".join(from_opus.convert(stereo48[i : i + 3840]) for i in range(0, len(stereo48), 3840))
    assert 32000 - 640 < len(out) <= 32000
    to_pcmu = BoxToWire(8000, 1)
    assert to_pcmu.frame_bytes == 320
    sent = b"".join(to_pcmu.convert(bytes(640)) for _ in range(10))
    assert 0 < len(sent) <= 3200 and not any(sent)
    assert BoxToWire(48000, 2).frame_bytes == 3840


def test_check_frame_refuses_half_samples():
    check_frame(bytes(640))
    with pytest.raises(ValueError, match="640 bytes per 20 ms"):
        check_frame(bytes(641))
    with pytest.raises(ValueError):
        check_frame(b"")
