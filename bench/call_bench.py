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
from appliance.voice.demo_models import base_dir, joe_voice  # noqa: E402
from appliance.voice.stt import Transcriber, vocabulary_prompt  # noqa: E402
from appliance.voice.tts import Speaker  # noqa: E402
from appliance.voice.turns import VoiceStages  # noqa: E402
from tests.telephony.lab import PASSWORD, Kamailio, Peer  # noqa: E402
from tests.telephony.voice_caller import booking_call, prepare_clinic  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3, help="booking calls to place (about 7 turns each)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    os.environ["DENTRA_TEST_SIP_PASSWORD"] = PASSWORD
    config = load_config(defaults.EXAMPLE_CONFIG)
    stages = VoiceStages(Transcriber.load(base_dir()), Speaker.load(joe_voice()), vocabulary_prompt(config))
    stages.warm([])
    latencies, outcomes = [], []
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
                latencies += [t.voice_to_voice_s for t in run.timings if t.voice_to_voice_s is not None]
                outcomes.append(run.conversation.outcome())
    figures = {"voice_to_voice_p50_s": round(percentile(latencies, 50), 2),
               "voice_to_voice_p95_s": round(percentile(latencies, 95), 2),
               "voice_to_voice_turns": len(latencies)}
    print(f"voice to voice over {len(latencies)} turns in {args.calls} calls ({', '.join(outcomes)}): "
          f"p50 {figures['voice_to_voice_p50_s']} s, p95 {figures['voice_to_voice_p95_s']} s "
          "(goals: p50 <= 1.0 s, p95 <= 1.8 s)")
    merge_results(args.results, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
