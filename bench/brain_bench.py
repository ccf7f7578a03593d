"""Brain figures: turn latency on the rule path (`brain_rule_turn_p99_ms`) and turns per public call.

Plays every scripted call (tests/scenarios and ../shared/acceptance/scenarios) in-process through
the real brain, store and scheduler, timing each caller turn from words in to reply out (store
writes included). Prints the figures and merges them into bench/results.json.

    .venv/bin/python bench/brain_bench.py [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(ROOT))  # for tests.brain.scripted_caller

from common import RESULTS, merge_results, percentile  # noqa: E402

from appliance import defaults  # noqa: E402
from appliance.brain.conversation import BrainContext, Conversation  # noqa: E402
from appliance.config import load_config  # noqa: E402
from appliance.recognition import recognize_call  # noqa: E402
from appliance.runner import init_store  # noqa: E402
from tests.brain.scripted_caller import persona_answer  # noqa: E402

PUBLIC = ROOT.parent / "shared" / "acceptance" / "scenarios"


def timed_call(config, store, scenario: dict) -> tuple[list[float], int]:
    """Hold one scripted call; returns (ms per caller turn, caller turns)."""
    now = datetime.fromisoformat(scenario.get("now") or "2026-12-01T09:00")
    ctx = BrainContext.create(config, store)
    call_id, recognition = recognize_call(store, scenario.get("caller", "anonymous"), ctx.region, channel="bench")
    conversation = Conversation(ctx, call_id, recognition, now)
    line, state, times = conversation.start(), {}, []
    while not conversation.ended and len(times) < 24:
        reply = persona_answer(scenario["persona"], line.expects, state)
        if reply is None:
            break
        started = time.perf_counter()
        line = conversation.hear(reply)
        times.append((time.perf_counter() - started) * 1000)
    conversation.hang_up()
    return times, len(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="times each scenario is played")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    config = load_config(defaults.EXAMPLE_CONFIG)
    own = sorted((ROOT / "tests" / "scenarios").glob("*.json"))
    public = sorted(PUBLIC.glob("*.json")) if PUBLIC.is_dir() else []
    if not public:
        print(f"note: {PUBLIC} is not here; turns per public call are not measured")
    turn_ms, public_turns = [], {}
    with tempfile.TemporaryDirectory(prefix="brain-bench-") as work:
        for round_no in range(args.rounds):
            for path in own + public:
                scenario = json.loads(path.read_text())
                store, _code = init_store(config, Path(work) / f"{round_no}-{path.stem}", None, defaults.DEMO_DIR)
                with store:
                    for before in scenario.get("before", []):
                        timed_call(config, store, {**before, "now": scenario.get("now")})
                    times, turns = timed_call(config, store, scenario)
                turn_ms += times
                if path in public:
                    public_turns[path.stem] = turns
    figures = {
        "brain_rule_turn_p50_ms": round(percentile(turn_ms, 50), 2),
        "brain_rule_turn_p99_ms": round(percentile(turn_ms, 99), 2),
        "brain_rule_turns_measured": len(turn_ms),
    }
    if public_turns:
        figures["public_turns_per_call_mean"] = round(sum(public_turns.values()) / len(public_turns), 2)
        figures["public_turns_per_call"] = public_turns
    print(f"brain turn on the rule path: p50 {figures['brain_rule_turn_p50_ms']} ms, "
          f"p99 {figures['brain_rule_turn_p99_ms']} ms over {len(turn_ms)} turns (goal p99 <= 10 ms)")
    for name, turns in public_turns.items():
        print(f"  {name}: {turns} caller turns")
    if public_turns:
        print(f"  mean {figures['public_turns_per_call_mean']} caller turns per public call")
    merge_results(args.results, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
