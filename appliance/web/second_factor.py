"""The second factor: TOTP codes (RFC 6238, 30 s, 6 digits, SHA-1, what every authenticator app does).

A code is accepted one step early or late (clocks drift), and never twice: the step of the last
accepted code is stored, so a code seen over a shoulder cannot be replayed. The enrolment QR code
is drawn here as SVG (segno), so the secret never leaves the box.
"""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp
import segno

STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1


def new_secret() -> str:
    """A fresh base32 secret (160 bits, as RFC 4226 recommends)."""
    return pyotp.random_base32(32)


def time_step(at: datetime) -> int:
    return int(at.timestamp()) // STEP_SECONDS


def accepted_step(secret: str, code: str, at: datetime, last_step: int, digits: int = DIGITS) -> int | None:
    """The time step `code` is valid for (within drift, newer than `last_step`), else None."""
    code = "".join(code.split())
    if len(code) != digits or not code.isdigit():
        return None
    otp = pyotp.TOTP(secret, digits=digits, interval=STEP_SECONDS)
    now = time_step(at)
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if step > last_step and hmac.compare_digest(otp.generate_otp(step), code):
            return step
    return None


def code_at(secret: str, at: datetime, digits: int = DIGITS) -> str:
    """The code an authenticator app shows at `at` (tests and the enrolment check use it)."""
    return pyotp.TOTP(secret, digits=digits, interval=STEP_SECONDS).generate_otp(time_step(at))


def provisioning_uri(secret: str, username: str, issuer: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(name=username,
                                                                                     issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The URI as an inline SVG QR code (no script, no style attribute: fits the page's CSP)."""
    qr = segno.make(uri, error="m", micro=False)
    return qr.svg_inline(scale=5, border=2, dark="#000", light="#fff", title="Scan with your authenticator app")


def grouped(secret: str) -> str:
    """The secret in groups of four, for typing into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
