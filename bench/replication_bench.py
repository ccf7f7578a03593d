"""Replication bench: seconds of writes at risk when Litestream is killed mid-write (replication_loss_s).

A writer appends to the demo store every 20 ms while `dentra replicate` ships it to a file replica;
Litestream is killed with SIGKILL, the replica is restored at once, and the gap between the kill and
the newest restored write is what a box dying at that moment would have lost. Repeated ROUNDS times.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance import defaults  # noqa: E402
from appliance.config import load_config  # noqa: E402
from appliance.ops.target import parse_target  # noqa: E402
from appliance.runner import init_store  # noqa: E402
from bench.common import RESULTS, machine, merge_results, percentile  # noqa: E402
from tests.ops.conftest import replicating, write_clinic  # noqa: E402
from tests.ops.loss import kill_litestream_mid_write, start_writer  # noqa: E402

ROUNDS = 5


def main() -> int:
    started = time.monotonic()
    at_risk, catch_up = [], []
    with tempfile.TemporaryDirectory(prefix="dentra-replication-bench-") as tmp:
        base = Path(tmp)
        clinic = write_clinic(base / "clinic.toml", url=f"file://{base / 'replica'}")
        config = load_config(clinic)
        store, _code = init_store(config, base / "data", None, defaults.DEMO_DIR)
        store.close()
        target = parse_target(config.replication)
        with replicating(clinic, base / "data"):
            writer = start_writer(base / "data", clinic)
            try:
                for i in range(ROUNDS):
                    result = kill_litestream_mid_write(base / "data", target, write_s=3.0 + 0.3 * i)
                    print(f"round {i + 1}: {result['at_risk_s']:.2f} s of writes at risk, caught up in "
                          f"{result['catch_up_s']:.1f} s", flush=True)
                    at_risk.append(result["at_risk_s"])
                    catch_up.append(result["catch_up_s"])
            finally:
                writer.kill()
                writer.communicate()
    figures = {
        "replication_loss_s": max(at_risk),
        "replication_loss_p50_s": percentile(at_risk, 50),
        "replication_catch_up_max_s": max(catch_up),
        "replication_rounds": ROUNDS,
        "replication_sync_interval_s": config.replication.sync_interval_seconds,
        "replication_bench_total_s": round(time.monotonic() - started, 1),
        "machine": machine(),
    }
    for key, value in figures.items():
        print(f"{key}: {value}")
    merge_results(RESULTS, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
