"""What the SIP edge shares and what needs no stack: codec names, errors, registration status, the password."""

from __future__ import annotations

import os
import stat
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from appliance.config import SipSettings
from appliance.errors import AppError

# Config names -> the stack's codec specs (rates other than 8 kHz must be spelled out).
CODECS = {"g722": "g722/16000/1", "pcmu": "pcmu", "pcma": "pcma", "opus": "opus/48000/2"}
# The stack hands audio over in buffers we poll; 5 ms keeps the added delay well under a frame.
POLL_S = 0.005
# Frames queued ahead in the stack's transmit buffer: enough to ride out a late wakeup, few enough
# that barge-in (flush_playback) and the end of a sentence stay prompt.
TX_DEPTH_FRAMES = 3
TRANSFER_OK = "Call transfered"  # the stack's own spelling


class SipError(AppError):
    """The telephony edge failed; codes: sip-start-failed, sip-password-missing, sip-password-file-invalid,
    sip-register-failed, sip-answer-failed, sip-dial-failed, sip-transfer-failed, sip-call-ended."""

    code = "sip-error"


class CallEnded(SipError):
    """The call is over (either side hung up, or it was transferred): no more audio either way."""

    code = "sip-call-ended"


@dataclass(frozen=True)
class SipStatus:
    """What the status page shows: registration `state` (unregistered, registering, registered, failed)."""

    state: str
    since: datetime
    last_error: str = ""
    attempts: int = 0  # failed attempts in a row
    retry_at: datetime | None = None
    registrar: str = ""  # empty: no PBX, direct calls on `listen`
    extension: str = ""
    listen: str = ""

    def to_dict(self) -> dict:
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(self).items()}


def load_password(settings: SipSettings, environ: dict | None = None, file: str | Path | None = None) -> str:
    """The SIP password from the variable named by `password_env`, else from a 0600 `file`."""
    env = os.environ if environ is None else environ
    if env.get(settings.password_env):
        return env[settings.password_env]
    if file:
        path = Path(file)
        try:
            mode = path.stat().st_mode
            text = path.read_text().strip()
        except OSError as exc:
            raise SipError(f"cannot read the SIP password file {path}: {exc.strerror}",
                           "sip-password-file-invalid") from exc
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SipError(f"the SIP password file {path} is readable by others; run `chmod 600 {path}`",
                           "sip-password-file-invalid")
        if text:
            return text
    raise SipError(f"no SIP password: set ${settings.password_env} (sip.password_env) for extension "
                   f"{settings.extension} on {settings.registrar}", "sip-password-missing")


def host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)
