"""Talking to systemd from a long-running command: readiness and status over $NOTIFY_SOCKET.

The sd_notify protocol is one datagram of `KEY=value` lines to the Unix socket systemd names in
`$NOTIFY_SOCKET` (a leading `@` means the abstract namespace). Nine lines of socket code, so no
dependency on python-systemd. Outside systemd (a terminal, the tests) there is no socket and the
calls do nothing.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger("dentra.service")


def notify(**fields: str) -> bool:
    """Send `KEY=value` lines (READY="1", STATUS="...") to systemd; False when not run by systemd."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    message = "\n".join(f"{key}={value}" for key, value in fields.items()).encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message)
    except OSError as err:
        # a lost notification is not worth stopping calls for; systemd's start timeout will tell
        log.warning("could not notify systemd at %s: %s", os.environ["NOTIFY_SOCKET"], err)
        return False
    return True


def ready(status: str) -> bool:
    """Tell systemd this service is ready (a Type=notify unit then counts as started) with a status line."""
    return notify(READY="1", STATUS=status)


def status(text: str) -> bool:
    """Update the one-line status `systemctl status` shows."""
    return notify(STATUS=text)


def stopping() -> bool:
    """Tell systemd a stop is under way (no restart is expected)."""
    return notify(STOPPING="1")
