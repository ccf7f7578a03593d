"""Voice to voice on a real SIP call (`voice_to_voice_p50_s`, `voice_to_voice_p95_s`).

Kamailio on loopback, the box as extension 250 (Whisper base, the brain, Piper), and a caller
process that books a cleaning by voice, as in tests/telephony/test_answering.py. Latency is taken
from the caller's last voiced frame to the first sounding frame of the box's reply.

    .venv/bin/python bench/call_bench.py [--calls N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))  # for tests.telephony

from common import RESULTS, merge_results, percentile  # noqa: E402

from appliance import defaults  # noqa: E402
from appliance.config import load_config  # noqa: E402
from appliance.voice.demo_models import demo_stages  # noqa: E402
from tests.telephony.lab import PASSWORD, Kamailio, Peer  # noqa: E402
from tests.telephony.voice_caller import booking_call, prepare_clinic  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3, help="booking calls to place (about 7 turns each)")
    parser.add_argument("--fixed-pauses", action="store_true", help="without the Smart Turn model (for comparison)")
    parser.add_argument("--base-only", action="store_true", help="Whisper base on wideband calls too")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    os.environ["DENTRA_TEST_SIP_PASSWORD"] = PASSWORD
    config = load_config(defaults.EXAMPLE_CONFIG)
    stages = demo_stages(config, turn=not args.fixed_pauses, wideband=not args.base_only)
    latencies, outcomes, turns = [], [], []
    with tempfile.TemporaryDirectory(prefix="call-bench-") as work:
        for n in range(args.calls):
            folder = Path(work) / f"call-{n}"
            folder.mkdir()
            pbx, started = Kamailio(folder), []
            pbx.start()

            def start_peer(user, folder=folder, started=started, **options):
                peer = Peer(folder, user, **options)
                started.append(peer)
                return peer

            try:
                _closed, service = asyncio.run(booking_call(config, prepare_clinic(config, folder / "data"), stages,
                                                            pbx, start_peer, folder))
            finally:
                for peer in started:
                    peer.close()
                pbx.stop()
            for run in service.runs.values():
                turns += [t for t in run.timings if t.voice_to_voice_s is not None]
                latencies += [t.voice_to_voice_s for t in run.timings if t.voice_to_voice_s is not None]
                outcomes.append(run.conversation.outcome())
    figures = {"voice_to_voice_p50_s": round(percentile(latencies, 50), 2),
               "voice_to_voice_p95_s": round(percentile(latencies, 95), 2),
               "voice_to_voice_turns": len(latencies)}
    print(f"voice to voice over {len(latencies)} turns in {args.calls} calls ({', '.join(outcomes)}): "
          f"p50 {figures['voice_to_voice_p50_s']} s, p95 {figures['voice_to_voice_p95_s']} s "
          "(goals: p50 <= 1.0 s, p95 <= 1.8 s)")
    for t in turns:
        print(f"  {t.voice_to_voice_s:5.2f} s  ended by {t.ended_by:10}  stt {t.stt_ms:4.0f} ms  "
              f"brain {t.brain_ms:4.0f} ms  speak {t.speak_ms or 0:4.0f} ms  {len(t.heard_text):3} chars heard")
        if os.environ.get("CALL_BENCH_SHOW_TEXT"):  # the lab caller is a demo persona: no real PHI
            print(f"       heard: {t.heard_text!r}")
    by_model = [t for t in turns if t.ended_by == "turn-model"]
    figures["voice_to_voice_turn_model_share"] = round(len(by_model) / len(turns), 2) if turns else 0.0
    figures["voice_to_voice_stt_p50_ms"] = round(percentile([t.stt_ms for t in turns], 50), 1)
    merge_results(args.results, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
