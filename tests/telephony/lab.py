"""The SIP lab on loopback: free ports, kamailio as the PBX, peer processes, espeak-ng speech, audio checks."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from appliance.config import SipSettings
from appliance.voice.audio import read_wav, resample, write_wav

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
KAMAILIO_CFG = HERE / "kamailio.cfg"
PEER_SCRIPT = HERE / "peer_process.py"
PASSWORD = "lab-secret-250"
# What the PBX presents for extension 200: kamailio asserts +1617555 0 + the From user.
ASSERTED_PREFIX = "+16175550"


# The box's codec names (sip.codecs) -> baresip codec specs; a spec passes through unchanged.
CODEC_SPECS = {"g722": "g722/16000/1", "opus": "opus/48000/2", "pcmu": "pcmu", "pcma": "pcma"}


def free_port(host: str = "127.0.0.1") -> int:
    """A UDP port nothing listens on right now (bind to port 0 and let the kernel choose)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def kamailio_binary() -> str:
    """Debian's kamailio (in /usr/sbin, which a user's PATH may lack); a clear failure when it is missing."""
    binary = shutil.which("kamailio") or shutil.which("kamailio", path="/usr/sbin:/usr/local/sbin")
    if binary is None:
        raise RuntimeError("kamailio is not installed: the SIP tests need Debian's `kamailio` package "
                           "(scripts/dev.sh installs it; or `apt-get install kamailio`)")
    return binary


class Kamailio:
    """Debian's kamailio as the clinic PBX/registrar on a free loopback port, stopped by PID."""

    def __init__(self, workdir: Path, port: int | None = None):
        self.binary = kamailio_binary()
        self.workdir = workdir
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.log = workdir / f"kamailio-{self.port}.log"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        cfg = self.workdir / f"kamailio-{self.port}.cfg"
        text = KAMAILIO_CFG.read_text().replace("@PORT@", str(self.port)).replace("@PASSWORD@", PASSWORD)
        cfg.write_text(text)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([self.binary, "-f", str(cfg), "-DD", "-E", "-Y", str(self.workdir)],
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # ready when the SIP port answers an OPTIONS
            if self.proc.poll() is not None:
                raise RuntimeError(f"kamailio exited at start ({self.proc.returncode}); see {self.log}:\n"
                                   + self.log.read_text()[-2000:])
            if _options_ping(self.port):
                return
        raise RuntimeError(f"kamailio did not answer on {self.address} within 10 s; see {self.log}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)  # its own session: the children go with it
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


def _options_ping(port: int) -> bool:
    """True when something answers a SIP OPTIONS on 127.0.0.1:port within 0.2 s."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(0.2)
        me = s.getsockname()[1]
        msg = (f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK{me}{time.time_ns()}\r\n"
               f"Max-Forwards: 70\r\nTo: <sip:127.0.0.1:{port}>\r\nFrom: <sip:probe@127.0.0.1>;tag=p{me}\r\n"
               f"Call-ID: probe-{time.time_ns()}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
        try:
            s.sendto(msg.encode(), ("127.0.0.1", port))
            s.recvfrom(4096)
            return True
        except OSError:
            return False


class Peer:
    """One peer process (tests/telephony/peer_process.py): send commands, await its events."""

    def __init__(self, workdir: Path, user: str, *, host: str = "127.0.0.1", registrar: Kamailio | None = None,
                 codecs: tuple[str, ...] = ("pcmu",), play: Path | None = None, auto_answer: bool = False,
                 interactive: bool = False,
                 transfer_policy: str = "auto", register: bool = True):
        self.user, self.host, self.port = user, host, free_port(host)
        self.record_dir = workdir / f"peer-{user}-{self.port}"
        self.record_dir.mkdir(parents=True)
        self.events: queue.Queue[dict] = queue.Queue()
        self.seen: list[dict] = []
        self._stderr = open(self.record_dir / "stderr.log", "wb")  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen([sys.executable, str(PEER_SCRIPT)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._stderr,
                                     cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        codecs = tuple(CODEC_SPECS.get(c, c) for c in codecs)
        self.send("start", user=user, host=host, port=self.port, password=PASSWORD if registrar else "",
                  domain=registrar.address if registrar else host, register=register and registrar is not None,
                  codecs=list(codecs), play=str(play) if play else None, auto_answer=auto_answer,
                  interactive=interactive,
                  record_dir=str(self.record_dir), transfer_policy=transfer_policy)
        self.expect("ready", timeout=15)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                self.events.put(json.loads(line))
            except ValueError:
                self.events.put({"event": "noise", "line": line})
        self.events.put({"event": "exited"})

    def send(self, cmd: str, **fields) -> None:
        self.proc.stdin.write(json.dumps({"cmd": cmd, **fields}) + "\n")
        self.proc.stdin.flush()

    def expect(self, event: str, timeout: float = 10, **match) -> dict:
        """The next event named `event` (with the given fields); an `error` event fails at once."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                got = self.events.get(timeout=max(left, 0))
            except queue.Empty:
                raise AssertionError(f"peer {self.user}: no {event!r} within {timeout} s; saw {self.seen}; "
                                     f"stderr: {(self.record_dir / 'stderr.log').read_text()[-1500:]}") from None
            self.seen.append(got)
            if got["event"] in ("error", "exited") and event not in ("error", "exited"):
                raise AssertionError(f"peer {self.user}: {got} while waiting for {event!r}")
            if got["event"] == event and all(got.get(k) == v for k, v in match.items()):
                return got

    def expect_any(self, names: tuple[str, ...], timeout: float = 10) -> dict:
        """The next event whose name is one of `names`."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.expect_next(deadline - time.monotonic())
            if got["event"] in names:
                return got

    def expect_next(self, timeout: float) -> dict:
        try:
            got = self.events.get(timeout=max(timeout, 0))
        except queue.Empty:
            raise AssertionError(f"peer {self.user}: no event within the time left; saw {self.seen[-20:]}") from None
        self.seen.append(got)
        if got["event"] in ("error", "exited"):
            raise AssertionError(f"peer {self.user}: {got}")
        return got

    async def wait_any(self, names: tuple[str, ...], timeout: float = 10) -> dict:
        return await asyncio.to_thread(self.expect_any, names, timeout)

    async def wait(self, event: str, timeout: float = 10, **match) -> dict:
        """`expect` for async tests: the blocking wait runs in a worker thread."""
        return await asyncio.to_thread(self.expect, event, timeout, **match)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(5)
        for stream in (self.proc.stdin, self.proc.stdout, self._stderr):
            try:
                stream.close()
            except OSError:
                pass


def speech_wav(path: Path, text: str, rate: int = 16000, silence_s: float = 3.0) -> Path:
    """A WAV of `text` spoken by espeak-ng at `rate` Hz, padded with trailing silence."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise RuntimeError("espeak-ng is not installed: the SIP audio tests need Debian's `espeak-ng` package")
    raw = path.with_suffix(".raw.wav")
    subprocess.run([espeak, "-w", str(raw), text], check=True, capture_output=True)
    samples, src_rate = read_wav(raw)
    speech = resample(samples, src_rate, rate)
    write_wav(path, np.concatenate([speech, np.zeros(int(rate * silence_s), np.int16)]), rate)
    return path


def box_settings(pbx: Kamailio | None, codecs=("pcmu",), allowed=("127.0.0.1",)) -> SipSettings:
    """The box as extension 250 on a free port, registering with `pbx` (None: direct calls only)."""
    return SipSettings(registrar=pbx.address if pbx else "", extension="250", password_env="DENTRA_TEST_SIP_PASSWORD",
                       listen=f"127.0.0.1:{free_port()}", allowed_peers=tuple(allowed), codecs=tuple(codecs))


def run(coro, timeout: float = 60):
    """Run one async test body with an overall deadline, so a hung call fails instead of stalling CI."""
    async def bounded():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


def similarity(received: np.ndarray, sent: np.ndarray) -> float:
    """Peak normalized cross-correlation of two recordings (1.0: the same waveform, at some delay)."""
    a = received.astype(np.float64) - received.mean()
    b = sent.astype(np.float64) - sent.mean()
    n = 1 << (len(a) + len(b)).bit_length()
    corr = np.fft.irfft(np.fft.rfft(a, n) * np.conj(np.fft.rfft(b, n)), n)
    lag = int(np.argmax(np.abs(corr)))
    shift = lag if lag < n // 2 else lag - n  # received[i + shift] lines up with sent[i]
    if shift >= 0:
        a, b = a[shift:], b
    else:
        a, b = a, b[-shift:]
    m = min(len(a), len(b))
    a, b = a[:m], b[:m]
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9))


def voiced_seconds(samples: np.ndarray, rate: int, threshold_dbfs: float = -40.0) -> float:
    """How many seconds of 20 ms frames are louder than `threshold_dbfs`."""
    frame = rate // 50
    x = samples[: len(samples) // frame * frame].astype(np.float64).reshape(-1, frame)
    rms = np.sqrt((x**2).mean(axis=1)) / 32768.0
    return float((20 * np.log10(rms + 1e-12) > threshold_dbfs).sum() * 0.02)


def dominant_hz(samples: np.ndarray, rate: int) -> float:
    """The strongest frequency in the loud stretch of a recording."""
    loud = np.flatnonzero(np.abs(samples) > 1000)
    samples = samples[loud[0] : loud[-1] + 1] if len(loud) else samples
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


def tone_frames(hz: float, seconds: float, level: float = 0.3) -> list[bytes]:
    """A sine tone as the box's 16 kHz 20 ms frames."""
    t = np.arange(int(16000 * seconds)) / 16000
    x = (level * 32767 * np.sin(2 * np.pi * hz * t)).astype("<i2").tobytes()
    return [x[i : i + 640] for i in range(0, len(x), 640)]


def sipp(scenario: str, target: str, workdir: Path, host: str = "127.0.0.1") -> subprocess.CompletedProcess:
    """Run one sipp (Debian `sip-tester`) scenario from tests/telephony/sipp/ against `target`, once."""
    binary = shutil.which("sipp")
    if binary is None:
        raise RuntimeError("sipp is not installed: the SIP robustness tests need Debian's `sip-tester` package")
    return subprocess.run([binary, target, "-sf", str(HERE / "sipp" / f"{scenario}.xml"), "-s", "250",
                           "-i", host, "-p", str(free_port(host)), "-m", "1", "-timeout", "15s", "-timeout_error",
                           "-nostdin", "-trace_msg", "-message_file", str(workdir / f"sipp-{scenario}.log")],
                          cwd=workdir, capture_output=True, text=True, timeout=30)


def sound_left_at(closed: dict, after: float, gap_s: float = 0.4, threshold_dbfs: float = -80.0) -> float | None:
    """When the other side's audio, still playing at `after` (time.monotonic()), stopped leaving it, per the peer.

    From a peer's `closed` event: each received 20 ms frame is dated by the read that first returned
    it (at most one poll late), the last frame carrying any of their audio before `gap_s` of line
    silence is found, and the peer's jitter-buffer playout delay is taken off: on loopback that
    delay is all that lies between their send and the peer's read. Any audio counts, not only loud
    frames: a word's fading end is -50 to -70 dBFS, while the codec's rendering of silence is below
    -85. None: their audio had already stopped.
    """
    timeline = json.loads(Path(closed["timeline"]).read_text())
    samples, rate = read_wav(closed["recording"])
    marks = np.array(timeline["marks"], dtype=np.float64).reshape(-1, 2)
    frame = rate // 50
    ends = np.arange(frame, len(samples) + 1, frame)  # samples received by the end of each frame
    read_at = marks[np.minimum(np.searchsorted(marks[:, 1], ends), len(marks) - 1), 0]
    x = samples[: len(ends) * frame].astype(np.float64).reshape(-1, frame)
    sounding = 20 * np.log10(np.sqrt((x**2).mean(axis=1)) / 32768 + 1e-12) > threshold_dbfs
    last, quiet_since = None, after
    for i in np.flatnonzero(read_at >= after):
        if sounding[i]:
            last, quiet_since = i, read_at[i]
        elif read_at[i] - quiet_since > gap_s:
            break
    if last is None:
        return None
    return float(read_at[last]) - (timeline["jbuf_delay_ms"] or 0) / 1000
