"""TOTP as authenticator apps compute it: the RFC 6238 test vectors, drift, replay, input forms."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from appliance.web import second_factor

# RFC 6238 appendix B: SHA-1, the 20-byte ASCII secret "12345678901234567890", 8 digits
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()


@pytest.mark.parametrize("unix, code", [
    (59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"),
    (1234567890, "89005924"), (2000000000, "69279037"), (20000000000, "65353130"),
])
def test_rfc_6238_vectors(unix, code):
    at = datetime.fromtimestamp(unix, UTC)
    assert second_factor.code_at(RFC_SECRET, at, digits=8) == code
    assert second_factor.accepted_step(RFC_SECRET, code, at, 0, digits=8) == unix // 30
    # the 6-digit code apps show is the last 6 digits of the same value
    assert second_factor.code_at(RFC_SECRET, at) == code[-6:]


def test_one_step_of_drift_either_way_and_no_more():
    secret = second_factor.new_secret()
    now = datetime(2026, 12, 1, 15, 0, 10, tzinfo=UTC)
    step = second_factor.time_step(now)
    for offset, accepted in ((-2, False), (-1, True), (0, True), (1, True), (2, False)):
        code = second_factor.code_at(secret, now + timedelta(seconds=30 * offset))
        found = second_factor.accepted_step(secret, code, now, 0)
        assert (found == step + offset) is accepted, offset


def test_a_used_step_and_older_ones_are_refused():
    secret = second_factor.new_secret()
    now = datetime(2026, 12, 1, 15, 0, 10, tzinfo=UTC)
    step = second_factor.time_step(now)
    code = second_factor.code_at(secret, now)
    assert second_factor.accepted_step(secret, code, now, step) is None
    earlier = second_factor.code_at(secret, now - timedelta(seconds=30))
    assert second_factor.accepted_step(secret, earlier, now, step) is None


@pytest.mark.parametrize("typed, ok", [("{c}", True), ("{c3} {c4}", True), (" {c} ", True), ("{c5}", False),
                                       ("{c}0", False), ("abcdef", False), ("", False)])
def test_typed_forms(typed, ok):
    secret = second_factor.new_secret()
    now = datetime(2026, 12, 1, 15, 0, 10, tzinfo=UTC)
    code = second_factor.code_at(secret, now)
    text = typed.format(c=code, c3=code[:3], c4=code[3:], c5=code[:5])
    assert (second_factor.accepted_step(secret, text, now, 0) is not None) is ok


def test_enrolment_uri_and_qr_code():
    secret = "JBSWY3DPEHPK3PXP" * 2
    uri = second_factor.provisioning_uri(secret, "anna", "Bright Smile Dental (Dentra)")
    assert uri.startswith(f"otpauth://totp/Bright%20Smile%20Dental%20%28Dentra%29:anna?secret={secret}")
    svg = second_factor.qr_svg(uri)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "style=" not in svg and "<script" not in svg and "href" not in svg
    assert second_factor.grouped("JBSWY3DPEHPK3PXP") == "JBSW Y3DP EHPK 3PXP"
    assert len(second_factor.new_secret()) == 32
