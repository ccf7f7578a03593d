"""Concurrent calls (`concurrent_calls_held`, `cpu_per_call_percent`): N booking calls at once on one box.

Kamailio on loopback; the box is this process, as `dentra run` is in production: one SipAgent as
extension 250, one AnsweringService and one VoiceStages (demo_models.demo_stages) shared by every call.
N caller processes (tests/telephony/voice_caller.py) dial at the same moment and each books a
cleaning by voice as a different patient, for N = 1, 2, 3, ... until voice to voice p95 passes 2 s
or a call does not end booked. Box CPU is this process's own (getrusage: Whisper, Piper, the brain,
the SIP stack, and a few milliseconds a turn of the callers' scripting); the callers run in other
processes and are counted apart. Their lines are synthesized before the first call, so none of the
callers' speech is made on the box's CPU.

    .venv/bin/python bench/concurrency_bench.py [--max-calls N] [--min-calls N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))  # for tests.telephony

from common import RESULTS, machine, merge_results, percentile  # noqa: E402

from appliance import defaults  # noqa: E402
from appliance.brain.understanding import Understander  # noqa: E402
from appliance.clock import Clock  # noqa: E402
from appliance.config import load_config  # noqa: E402
from appliance.store import Store  # noqa: E402
from appliance.telephony.answering import AnsweringService  # noqa: E402
from appliance.telephony.sip import SipAgent  # noqa: E402
from appliance.voice.demo_models import demo_stages  # noqa: E402
from appliance.voice.turns import VoiceStages  # noqa: E402
from tests.conftest import DEMO_NOW  # noqa: E402
from tests.telephony.lab import ASSERTED_PREFIX, PASSWORD, Kamailio, Peer, box_settings  # noqa: E402
from tests.telephony.voice_caller import converse, prepare_clinic, spoken  # noqa: E402

P95_LIMIT_S = 2.0  # the bar: calls are held while voice to voice p95 stays within 2 s
# One patient per caller, each asking for a different day, so calls at once never contend for a slot.
PATIENTS = [
    ("P1002", "James Smith", "April 18th, 1972", "Thursday afternoon"),
    ("P1004", "Robert Johnson", "January 14th, 1966", "Friday morning"),
    ("P1009", "David Brown", "September 19th, 1966", "Wednesday afternoon"),
    ("P1011", "Noah Wilson", "July 25th, 1950", "Tuesday afternoon"),
    ("P1016", "Grace Kim", "February 26th, 2000", "Thursday morning"),
    ("P1018", "Hannah Clark", "December 25th, 1960", "Wednesday morning"),
    ("P1013", "Liam Miller", "October 15th, 1952", "Monday afternoon"),
    ("P1014", "Olivia Taylor", "September 7th, 2000", "Friday afternoon"),
]
# What persona_answer (tests/brain/scripted_caller.py) says when the box asks something off the script.
OFF_SCRIPT = ["Yes, that's right.", "The first one works for me.", "I'm not sure.", "That's all, thank you."]


def persona(i: int) -> dict:
    _patient, name, birth_date, when = PATIENTS[i]
    return {"opening": "Hi, I'd like to book a cleaning please.",
            "answers": {"name": name, "date_of_birth": birth_date, "preferred_time": when,
                        "slot_choice": "The first one please.", "confirmation": "Yes please.",
                        "anything_else": "No, that's all. Thank you."}}


def caller_voices(stages: VoiceStages, folder: Path, count: int):
    """Every line the callers may say, as WAVs made now; the returned lookup makes a missing one late."""
    texts = {persona(i)["opening"] for i in range(count)} | set(OFF_SCRIPT)
    texts |= {answer for i in range(count) for answer in persona(i)["answers"].values()}
    made = {text: spoken(stages, text, folder, n) for n, text in enumerate(sorted(texts))}

    def voice(text: str) -> Path:
        if text not in made:  # made on the box's CPU: say so, the figure is a little high
            print(f"note: caller line {text!r} synthesized during the calls", file=sys.stderr)
            made[text] = spoken(stages, text, folder, len(made))
        return made[text]
    return voice


def box_cpu_s() -> float:
    """CPU seconds this process (the box: all its threads) has used."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu_s(pid: int) -> float:
    """CPU seconds another live process has used (/proc/PID/stat utime + stime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Round:
    """N calls at once: their voice-to-voice latencies, outcomes and the CPU they took."""

    calls: int
    latencies: list[float]
    outcomes: list[str]
    box_cpu_s: float
    callers_cpu_s: float
    call_s: float  # the calls' durations added up
    wall_s: float

    def p(self, q: float) -> float:
        return percentile(self.latencies, q) if self.latencies else float("inf")

    @property
    def held(self) -> bool:
        return self.outcomes.count("booked") == self.calls and self.p(95) <= P95_LIMIT_S


async def timed(coro) -> float:
    started = time.monotonic()
    await coro
    return time.monotonic() - started


async def one_round(n: int, config, stages: VoiceStages, voice, pbx: Kamailio, work: Path, box: dict) -> Round:
    """Place n booking calls at the same moment and hold them to their end."""
    folder = work / f"calls-{n}"
    folder.mkdir()
    users = [str(200 + i) for i in range(n)]
    clinic = prepare_clinic(config, folder / "data", {ASSERTED_PREFIX + u: PATIENTS[i][0] for i, u in enumerate(users)})
    service = box["service"] = AnsweringService(config, clinic, None, stages, Understander(config),
                                                clock=Clock(config.tz, fixed=DEMO_NOW))
    callers = []
    try:
        for user in users:
            callers.append(await asyncio.to_thread(Peer, folder, user, registrar=pbx, codecs=("g722", "pcmu"),
                                                   interactive=True))
        cpu, callers_cpu, started = box_cpu_s(), [process_cpu_s(c.proc.pid) for c in callers], time.monotonic()
        for caller in callers:
            caller.send("dial", uri=f"sip:250@{pbx.address}")
        durations = await asyncio.gather(*(timed(converse(c, service, clinic, persona(i), voice))
                                           for i, c in enumerate(callers)), return_exceptions=True)
        await _calls_closed(clinic, n)
        wall, cpu = time.monotonic() - started, box_cpu_s() - cpu
        callers_cpu = sum(process_cpu_s(c.proc.pid) - c0 for c, c0 in zip(callers, callers_cpu, strict=True))
    finally:
        for caller in callers:
            await asyncio.to_thread(caller.close)
    for failure in (d for d in durations if isinstance(d, BaseException)):
        print(f"a call failed: {failure!r}"[:300], file=sys.stderr)
    runs = list(service.runs.values())
    for r in runs:
        if r.conversation.outcome() != "booked":  # what the box heard tells a misheard caller from a slow box
            print(f"a call ended {r.conversation.outcome()}; the box heard {[t.heard_text for t in r.timings]}",
                  file=sys.stderr)
    return Round(n, [t.voice_to_voice_s for r in runs for t in r.timings if t.voice_to_voice_s is not None],
                 [r.conversation.outcome() for r in runs], cpu, callers_cpu,
                 sum(d for d in durations if isinstance(d, float)), wall)


async def _calls_closed(clinic: Path, n: int, timeout: float = 10.0) -> None:
    """Wait until the box has closed its record of every call (its last writes count as its CPU)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with Store.open(clinic) as store:
            if store.conn.execute("SELECT COUNT(*) FROM calls WHERE ended_at IS NOT NULL").fetchone()[0] >= n:
                return
        await asyncio.sleep(0.1)


async def bench(config, stages: VoiceStages, voice, pbx: Kamailio, work: Path, max_calls: int,
                min_calls: int) -> list[Round]:
    box: dict = {}
    rounds: list[Round] = []
    async with SipAgent(box_settings(pbx, codecs=("g722", "pcmu")), max_calls=max_calls + 1) as agent:
        await agent.wait_status("registered", timeout=15)
        agent.on_call(lambda call: box["service"].handle(call))
        for n in range(1, max_calls + 1):
            rounds.append(await one_round(n, config, stages, voice, pbx, work, box))
            print_row(rounds[-1])
            if not rounds[-1].held and n >= min_calls:
                break
    return rounds


HEADER = "calls  booked  turns  v2v p50  v2v p95  box CPU s/call-min  box CPU %/call  callers CPU s/call-min  wall"


def print_row(r: Round) -> None:
    if r.calls == 1:
        print(HEADER)
    minutes = r.call_s / 60 or float("nan")  # nan: no call got through at all
    print(f"{r.calls:5d}  {r.outcomes.count('booked'):>3d}/{r.calls:<2d}  {len(r.latencies):5d}  {r.p(50):6.2f} s"
          f"  {r.p(95):6.2f} s  {r.box_cpu_s / minutes:18.1f}  {r.box_cpu_s / minutes / 60 * 100:13.1f}%"
          f"  {r.callers_cpu_s / minutes:21.1f}  {r.wall_s:4.0f} s", flush=True)


def figures(rounds: list[Round]) -> dict:
    held = 0
    for r in rounds:
        if not r.held:
            break
        held = r.calls
    out = {"concurrent_calls_held": held,
           "cpu_per_call_percent": round(rounds[0].box_cpu_s / max(rounds[0].call_s, 1e-9) * 100, 1)}
    for r in rounds:
        key = f"concurrent_{r.calls}"
        p50, p95 = (round(r.p(50), 2), round(r.p(95), 2)) if r.latencies else (None, None)
        out |= {f"{key}_voice_to_voice_p50_s": p50, f"{key}_voice_to_voice_p95_s": p95,
                f"{key}_box_cpu_s_per_call_min": round(r.box_cpu_s / max(r.call_s / 60, 1e-9), 1),
                f"{key}_booked_calls": r.outcomes.count("booked"), f"{key}_measured_turns": len(r.latencies)}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-calls", type=int, default=len(PATIENTS), choices=range(1, len(PATIENTS) + 1),
                        metavar=f"1..{len(PATIENTS)}", help="most calls at once to try")
    parser.add_argument("--min-calls", type=int, default=1,
                        help="keep adding calls up to this many even past the p95 limit (to see how it scales)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    os.environ["DENTRA_TEST_SIP_PASSWORD"] = PASSWORD
    config = load_config(defaults.EXAMPLE_CONFIG)
    stages = demo_stages(config)  # what the box answers with: Smart Turn, Whisper by bandwidth, Piper
    print(f"{machine()}; load average {os.getloadavg()[0]:.2f} before the calls", flush=True)
    with tempfile.TemporaryDirectory(prefix="concurrency-bench-") as work:
        lines = Path(work) / "caller-lines"
        lines.mkdir()
        voice = caller_voices(stages, lines, args.max_calls)
        pbx = Kamailio(Path(work))
        pbx.start()
        try:
            rounds = asyncio.run(bench(config, stages, voice, pbx, Path(work), args.max_calls, args.min_calls))
        finally:
            pbx.stop()
    result = figures(rounds)
    print(f"concurrent calls held with voice to voice p95 <= {P95_LIMIT_S:g} s and every call booked: "
          f"{result['concurrent_calls_held']}; box CPU per call at 1 call: {result['cpu_per_call_percent']}% of a core")
    merge_results(args.results, result, replace=re.compile(r"concurrent_\d+_"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
