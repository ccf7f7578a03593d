"""The stack's SIP trace, read for what its events do not say (an INVITE's source, the granted expiry)."""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict


class SipTrace(logging.Handler):
    """What the stack's SIP trace tells and its events do not: each INVITE's real source address, and
    the registration expiry the PBX granted (the stack refreshes at 90% of that, not of what it asked).

    Caller URIs and headers are written by the sender; the trace line `RX UDP 10.0.0.5:5060 -> ...`
    is what the socket saw.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, contact: str):
        super().__init__(logging.DEBUG)
        self._loop, self._contact = loop, contact
        self._seen: OrderedDict[str, str] = OrderedDict()
        self._waiting: dict[str, list[asyncio.Future]] = {}
        self.granted_expiry: int | None = None

    def emit(self, record: logging.LogRecord) -> None:  # the stack's log thread
        text = record.getMessage()
        if not text.startswith("RX "):
            return
        head, _, message = text.partition("\n")
        message = message.lstrip()
        if message.startswith("INVITE "):
            m = re.search(r"(?im)^(?:call-id|i)[ \t]*:[ \t]*(\S+)", message)
            parts = head.split()
            if m and len(parts) >= 3:
                self._loop.call_soon_threadsafe(self._record, m.group(1), parts[2])
        elif message.startswith("SIP/2.0 200") and re.search(r"(?im)^cseq:.*\bREGISTER\b", message):
            ours = [line for line in message.splitlines()
                    if re.match(r"(?i)(contact|m)\s*:", line) and self._contact in line]
            m = re.search(r"(?i);\s*expires=(\d+)", " ".join(ours)) or re.search(r"(?im)^expires:\s*(\d+)", message)
            if m and int(m.group(1)) > 0:
                self.granted_expiry = int(m.group(1))  # a plain attribute store, atomic under the GIL

    def _record(self, call_id: str, source: str) -> None:
        self._seen[call_id] = source
        while len(self._seen) > 256:
            self._seen.popitem(last=False)
        for future in self._waiting.pop(call_id, []):
            if not future.done():
                future.set_result(source)

    async def source_of(self, call_id: str, timeout: float) -> str | None:
        if call_id in self._seen:
            return self._seen[call_id]
        future = self._loop.create_future()
        self._waiting.setdefault(call_id, []).append(future)
        try:
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            return None
        finally:
            self._waiting.pop(call_id, None)
