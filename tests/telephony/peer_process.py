"""A test peer: a second baresip-python user agent in its own process, driven by JSON lines.

Run as `python peer_process.py`; each stdin line is a command (`start`, `dial`, `dtmf`, `hangup`,
`quit`) and each stdout line an event (`ready`, `registered`, `incoming`, `established`, `dtmf`,
`closed`, ...). baresip allows one runtime per process, which is why a peer needs its own.
Audio: the peer sends `play` (a WAV file) on every established call, then silence, and records
what it hears to `<record_dir>/call-<n>.wav` at the call's receive rate. `say` (a WAV file) adds
more to send on the current call; with `barge_ms` it is held until the other side has been sounding
for that long while the peer itself is silent (a caller talking over the box), and `barged` tells
when its first sample went out. With `interactive`, the peer reports `quiet` each time the other
side has spoken and then stayed silent for a second, the cue a person waits for before answering.
Beside each recording, `call-<n>.json` holds when each received chunk was read (time.monotonic(),
which every process on the machine shares) and the jitter buffer's playout delay, so a test can
tell when the other side's audio left it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import wave
from pathlib import Path

import baresip
import numpy as np

from appliance.voice.audio import level_dbfs, read_wav, resample

POLL = 0.01
SOUNDING_DBFS = -40.0  # received audio louder than this is the other side talking


def emit(event: str, **fields) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


class Peer:
    def __init__(self):
        self.runtime: baresip.Runtime | None = None
        self.ua = None
        self.options: dict = {}
        self.calls: list = []
        self.pumps: set[asyncio.Task] = set()
        # ua.dial() returns after its call's first events: a quick 4xx can close the call before
        # the Call object listens, so closes are also caught here, by handle.
        self.closed: dict[int, str] = {}
        self.to_say: list[tuple[np.ndarray, int]] = []  # audio queued for the current call, at its own rate
        self.barge: tuple[tuple[np.ndarray, int], float] | None = None  # (audio, ms of their sound to wait for)

    async def start(self, o: dict) -> None:
        self.options = o
        self.runtime = baresip.Runtime()
        await self.runtime.start(baresip.Config(
            net_interface=o["host"], audio_driver="aumem", expose_headers=("P-Asserted-Identity", "From"),
            extra_config_text=f"sip_listen {o['host']}:{o['port']}\n"))
        account = baresip.Account(user=o["user"], domain=o["domain"], password=o.get("password", ""),
                                  reg_interval=60 if o.get("register") else 0,
                                  audio_codecs=tuple(o.get("codecs", ("pcmu",))))
        self.ua = await baresip.UserAgent.create(self.runtime, account,
                                                 transfer_policy=o.get("transfer_policy", "manual"))
        self.ua.on_incoming(self._incoming)
        self.ua.on(self._ua_event)
        self.ua.on_transfer_call(self._transfer_call)
        if o.get("register"):
            await self.ua.register()
            emit("registered")
        emit("ready")

    def _ua_event(self, event) -> None:
        if event.event is baresip.Event.CALL_CLOSED:
            self.closed[event.call] = event.text or ""

    def _incoming(self, call) -> None:
        emit("incoming", peer=call.peer, headers=call.headers)
        if self.options.get("auto_answer"):
            asyncio.get_running_loop().create_task(self._answer(call))

    async def _answer(self, call) -> None:
        await call.answer()
        self._track(call)

    def _transfer_call(self, call) -> None:
        emit("transfer-call", peer=call.peer)
        self._track(call)

    def _track(self, call) -> None:
        self.calls.append(call)
        number = len(self.calls)
        task = asyncio.get_running_loop().create_task(self._pump(call, number))
        self.pumps.add(task)
        task.add_done_callback(self.pumps.discard)
        call.on_dtmf(lambda d: emit("dtmf", call=number, digit=d.digit))

    async def dial(self, uri: str) -> None:
        try:
            call = await self.ua.dial(uri)
        except baresip.BaresipError as exc:
            emit("dial-failed", error=str(exc))
            return
        self._track(call)

    async def _pump(self, call, number: int) -> None:
        """Send the WAV then silence; record everything received until the call closes."""
        closed = asyncio.Event()
        reason: list[str | None] = [None]

        def on_event(event) -> None:
            if event.event is baresip.Event.CALL_CLOSED:
                reason[0] = event.text
                closed.set()

        call.on(on_event)
        try:
            if call.handle in self.closed:
                raise baresip.CallFailed.from_close_reason(self.closed[call.handle])
            await call.wait_established(timeout=20)
        except baresip.CallFailed as exc:
            emit("failed", call=number, status=exc.status, reason=exc.reason or str(exc))
            return
        emit("established", call=number, peer=call.peer)
        play = self.options.get("play")
        if play:
            self.to_say.append(read_wav(play))
        sent, received, rx_rate = 0, bytearray(), 0
        marks: list[tuple[float, int]] = []  # (when a chunk was read, samples received so far)
        wire = np.zeros(0, np.int16)
        listener = QuietListener(number) if self.options.get("interactive") else None
        heard_ms, barging = 0.0, False
        while not closed.is_set():
            try:
                info = call.audio.info()
                if info.rx_ready:
                    rx_rate = info.rx_sample_rate
                    chunk = call.audio.read(65536)
                    if info.rx_channels == 2:
                        chunk = np.frombuffer(chunk, "<i2")[::2].tobytes()
                    received += chunk
                    if chunk:
                        marks.append((time.monotonic(), len(received) // 2))
                    if listener:
                        listener.hear(chunk, rx_rate, speaking=sent < len(wire))
                    if self.barge and chunk and sent >= len(wire) and level_dbfs(chunk) > SOUNDING_DBFS:
                        heard_ms += len(chunk) / 2 / rx_rate * 1000
                        if heard_ms >= self.barge[1]:
                            self.to_say.append(self.barge[0])
                            self.barge, heard_ms, barging = None, 0.0, True
                if info.tx_ready:
                    while self.to_say:
                        samples, rate = self.to_say.pop(0)
                        wire = np.concatenate([wire[sent:], resample(samples, rate, info.tx_sample_rate)])
                        sent = 0
                    frame = info.tx_sample_rate // 50 * info.tx_channels * 2
                    if info.tx_buffered < 3 * frame and sent < len(wire):
                        if barging:  # its first sample leaves once what is already queued has gone out
                            ahead_s = info.tx_buffered / (2 * info.tx_channels * info.tx_sample_rate)
                            emit("barged", call=number, sent_at=time.monotonic() + ahead_s)
                            barging = False
                        samples = wire[sent : sent + info.tx_sample_rate // 50]
                        sent += len(samples)
                        if info.tx_channels == 2:
                            samples = np.repeat(samples, 2)
                        call.audio.write(samples.astype("<i2").tobytes())
            except baresip.AudioRestarted:
                continue
            except baresip.AudioNotActive:
                pass
            try:
                await asyncio.wait_for(closed.wait(), POLL)
            except TimeoutError:
                pass
        path = Path(self.options["record_dir"]) / f"call-{number}.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rx_rate or 8000)
            w.writeframes(bytes(received))
        stats = call.final_stats
        path.with_suffix(".json").write_text(json.dumps(
            {"rate": rx_rate, "marks": marks, "jbuf_delay_ms": stats.jbuf_delay_ms if stats else None}))
        emit("closed", call=number, reason=reason[0], recording=str(path), rate=rx_rate,
             timeline=str(path.with_suffix(".json")))

    async def command(self, c: dict) -> bool:
        name = c["cmd"]
        if name == "start":
            await self.start(c)
        elif name == "say" and c.get("barge_ms"):
            self.barge = (read_wav(c["wav"]), c["barge_ms"])
        elif name == "say":
            self.to_say.append(read_wav(c["wav"]))
        elif name == "dial":
            await self.dial(c["uri"])
        elif name == "dtmf":
            await self.calls[-1].send_dtmf(c["digits"])
            emit("dtmf-sent", digits=c["digits"])
        elif name == "hangup":
            await self.calls[-1].hangup()
        elif name == "quit":
            return False
        return True

    async def close(self) -> None:
        for call in self.calls:
            if call.state is not baresip.CallState.CLOSED:
                try:
                    await call.hangup()
                except baresip.BaresipError:
                    pass
        if self.pumps:
            await asyncio.wait(self.pumps, timeout=5)
        if self.runtime is not None:
            await self.runtime.close()


class QuietListener:
    """Notices when the other side has said something and then been quiet for a second."""

    QUIET_S = 1.0
    SPEECH_DBFS = -35.0

    def __init__(self, number: int):
        self.number, self.heard_speech, self.quiet_s = number, False, 0.0

    def hear(self, chunk: bytes, rate: int, speaking: bool) -> None:
        if not chunk or not rate:
            return
        if level_dbfs(chunk) > self.SPEECH_DBFS:
            self.heard_speech, self.quiet_s = True, 0.0
            return
        self.quiet_s += len(chunk) // 2 / rate
        if self.heard_speech and self.quiet_s >= self.QUIET_S and not speaking:
            self.heard_speech = False
            emit("quiet", call=self.number)


async def main() -> None:
    peer = Peer()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while line := await reader.readline():
            try:
                if not await peer.command(json.loads(line)):
                    break
            except Exception as exc:  # the test reads the error as an event, the peer keeps going
                emit("error", error=f"{type(exc).__name__}: {exc}")
    finally:
        await peer.close()
        emit("bye")


if __name__ == "__main__":
    asyncio.run(main())
