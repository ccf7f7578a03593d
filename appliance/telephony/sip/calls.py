"""One SIP call (baresip-python): the box's 16 kHz mono 20 ms frames in and out, DTMF, transfer, hang-up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import baresip

from appliance.telephony.call import BoxToWire, CallerId, WireToBox, check_frame
from appliance.telephony.sip.common import POLL_S, TRANSFER_OK, TX_DEPTH_FRAMES, CallEnded, SipError
from appliance.voice.audio import FRAME_BYTES

if TYPE_CHECKING:
    from appliance.telephony.sip.agent import SipAgent

log = logging.getLogger("appliance.telephony.sip")

class SipCall:
    """One call in either direction: 16 kHz mono 20 ms frames in and out, DTMF, transfer, hang-up."""

    def __init__(self, agent: SipAgent, call, party: CallerId, peer_address: str, direction: str):
        self._agent, self._call = agent, call
        self.party, self.peer_address, self.direction = party, peer_address, direction
        self.call_id: str = call.call_id or ""
        self.ended = asyncio.Event()  # set the moment the call is over, whoever ended it
        self.end_reason = ""
        self._local_hangup = False
        self._rx = bytearray()
        self._rx_conv: WireToBox | None = None
        self._tx_conv: BoxToWire | None = None
        self._dtmf: list[Callable[[str], object]] = []
        call.on(self._on_stack_event)
        call.on_dtmf(self._on_digit)
        if call.state is baresip.CallState.CLOSED:
            self._mark_ended("closed before the box saw it")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.direction} party={self.party.masked} ended={self.ended.is_set()}>"

    @property
    def ended_by(self) -> str:
        """`transfer`, `local` (the box hung up) or `remote` (the other side hung up or vanished); '' while live."""
        if not self.ended.is_set():
            return ""
        if self.end_reason == TRANSFER_OK:
            return "transfer"
        return "local" if self._local_hangup else "remote"

    def _on_stack_event(self, event) -> None:
        if event.event is baresip.Event.CALL_CLOSED:
            self._mark_ended(event.text or "")

    def _mark_ended(self, reason: str) -> None:
        if self.ended.is_set():
            return
        self.end_reason = reason
        self.ended.set()
        self._agent._forget(self)
        log.info("%s call with %s ended (%s): %s", self.direction, self.party.masked, self.ended_by, reason)

    def _on_digit(self, digit_event) -> None:
        for callback in list(self._dtmf):
            try:
                callback(digit_event.digit)
            except Exception:
                log.exception("a DTMF callback raised; the call goes on")

    def on_dtmf(self, callback: Callable[[str], object]) -> None:
        """Call `callback(digit)` for each key the other side presses (`0-9`, `*`, `#`, `A-D`)."""
        self._dtmf.append(callback)

    @property
    def wire_rate(self) -> int | None:
        """The sample rate of the caller's audio on the wire (8000 for G.711, 16000 for G.722), once it flows."""
        return self._rx_conv.rate if self._rx_conv else None

    async def read_frame(self) -> bytes:
        """The next 20 ms of what the other side says: 640 bytes of 16 kHz mono s16le. Raises CallEnded."""
        while len(self._rx) < FRAME_BYTES:
            if self.ended.is_set():
                raise CallEnded(f"the call has ended: {self.end_reason}")
            if not self._pull():
                await asyncio.sleep(POLL_S)
        frame = bytes(self._rx[:FRAME_BYTES])
        del self._rx[:FRAME_BYTES]
        return frame

    def _pull(self) -> bool:
        audio = self._call.audio
        try:
            info = audio.info()
            if not info.rx_ready:
                return False
            conv = self._rx_conv
            if conv is None or (conv.rate, conv.channels) != (info.rx_sample_rate, info.rx_channels):
                conv = self._rx_conv = WireToBox(info.rx_sample_rate, info.rx_channels)
            pcm = audio.read(max(info.rx_capacity, 4096))
        except baresip.AudioRestarted:
            # The stack re-INVITEs right after answering (and on any renegotiation): rebind and go on.
            log.debug("receive audio of a call with %s renegotiated; rebinding", self.party.masked)
            self._rx_conv = None
            return True
        except baresip.AudioNotActive:
            return False
        if not pcm:
            return False
        self._rx += conv.convert(pcm)
        return True

    async def write_frame(self, frame: bytes) -> None:
        """Queue 20 ms of 16 kHz mono s16le to say; waits while the stack holds ~3 frames. Raises CallEnded."""
        check_frame(frame)
        audio = self._call.audio
        while True:
            if self.ended.is_set():
                raise CallEnded(f"the call has ended: {self.end_reason}")
            try:
                info = audio.info()
                if info.tx_ready:
                    conv = self._tx_conv
                    if conv is None or (conv.rate, conv.channels) != (info.tx_sample_rate, info.tx_channels):
                        conv = self._tx_conv = BoxToWire(info.tx_sample_rate, info.tx_channels)
                    if info.tx_buffered <= (TX_DEPTH_FRAMES - 1) * conv.frame_bytes:
                        audio.write(conv.convert(frame))
                        return
            except baresip.AudioRestarted:
                log.debug("transmit audio of a call with %s renegotiated; rebinding", self.party.masked)
                self._tx_conv = None
                continue
            except baresip.AudioNotActive:
                pass
            await asyncio.sleep(POLL_S)

    def flush_playback(self) -> None:
        """Drop what is queued to say (barge-in): at most one frame already with the encoder still plays."""
        try:
            self._call.audio.flush_tx()
        except (baresip.AudioRestarted, baresip.AudioNotActive):
            pass

    async def send_dtmf(self, digits: str) -> None:
        """Press keys towards the other side (RTP telephone events), e.g. to work a reminder line's menu."""
        try:
            await self._call.send_dtmf(digits)
        except baresip.StaleHandleError as exc:
            raise CallEnded(f"the call has ended: {self.end_reason}") from exc

    async def transfer(self, extension: str, *, timeout: float = 30.0) -> None:
        """Blind-transfer the other side to `extension` (REFER); returns once they are connected there.

        On failure the call stays up with the box and SipError(sip-transfer-failed) says why.
        """
        uri = self._agent._uri_for(extension, via=self.peer_address)
        try:
            await self._call.transfer(uri, timeout=timeout)
        except baresip.TransferFailed as exc:
            outcome = f"{exc.status} {exc.reason}" if exc.status else str(exc)
            raise SipError(f"transfer to {extension} failed: {outcome} (the call stays with the box)",
                           "sip-transfer-failed") from exc
        except baresip.StaleHandleError as exc:
            raise CallEnded(f"the call ended before the transfer: {self.end_reason}") from exc
        except baresip.BaresipError as exc:
            raise SipError(f"transfer to {extension} could not start: {exc}", "sip-transfer-failed") from exc
        await self._wait_ended("transferred")
        log.info("call with %s transferred to %s", self.party.masked, extension)

    async def hangup(self) -> None:
        """End the call from the box's side; returns once the stack confirms (or after 5 s)."""
        if self.ended.is_set():
            return
        self._local_hangup = True
        try:
            await self._call.hangup()
        except baresip.StaleHandleError:
            pass  # crossed with the other side's own hang-up
        except baresip.BaresipError as exc:
            log.warning("hang-up of a call with %s: %s", self.party.masked, exc)
        await self._wait_ended("hung up by the box")

    async def _wait_ended(self, reason: str) -> None:
        try:
            async with asyncio.timeout(5):
                await self.ended.wait()
        except TimeoutError:
            self._mark_ended(reason + " (the stack never confirmed)")


class IncomingCall(SipCall):
    """A ringing inbound call: `caller` is known before answering (`answer()` or `reject()` next)."""

    @property
    def caller(self) -> CallerId:
        return self.party

    async def answer(self, *, timeout: float = 10.0) -> None:
        """Pick up and wait until the media is flowing. Raises CallEnded if the caller already gave up."""
        try:
            await self._call.answer()
            await self._call.wait_established(timeout=timeout)
        except (baresip.StaleHandleError, baresip.CallFailed) as exc:
            if self.ended.is_set() or isinstance(exc, baresip.StaleHandleError):
                raise CallEnded(f"the caller hung up before the box answered: {self.end_reason or exc}") from exc
            raise SipError(f"answering {self.caller.masked} failed: {exc}", "sip-answer-failed") from exc
        except baresip.BaresipError as exc:
            raise SipError(f"answering {self.caller.masked} failed: {exc}", "sip-answer-failed") from exc
        log.info("answered %s from %s", self.caller.masked, self.peer_address)

    async def reject(self) -> None:
        """Decline the call (the stack answers 486 Busy Here)."""
        self._local_hangup = True
        try:
            await self._call.reject()
        except baresip.BaresipError:
            pass  # already gone
        await self._wait_ended("declined by the box")
