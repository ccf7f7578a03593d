"""Screen pop latency in a real browser (`screenpop_p50_ms`, `screenpop_p95_ms`).

`dentra web` (gunicorn over TLS) on a demo store, a receptionist signed in with password + TOTP in
headless Debian Chromium, and calls rung the way the voice side rings them (recognition and
`call-ringing` in one write). Latency runs from the write's commit to the frame after the card
entered the page: the page stamps `performance.timeOrigin + performance.now()` in a
requestAnimationFrame callback, which is wall-clock time on the same machine as the writer.

    .venv/bin/python bench/screenpop_bench.py [--pops 50]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))  # for tests.web

from common import RESULTS, merge_results, percentile  # noqa: E402

from appliance import defaults  # noqa: E402
from appliance.config import load_config  # noqa: E402
from tests.web.front_desk import Browser, demo_clinic, front_desk  # noqa: E402
from tests.web.ringing import ring  # noqa: E402

# a known patient, a household phone, a new caller: cards of every size
CALLERS = ("+12175550103", "+12175550100", "+12175559876", "+12175550104", "+12175550108")


def measure(browser: Browser, store, number: str) -> tuple[float, float]:
    """(ms to the card in the DOM, ms to the next frame) for one ringing call."""
    call_id, _ = ring(store, number)
    written_ms = time.time() * 1000  # the commit has returned: the event is in the outbox
    card = browser.page.wait_for_selector(f'.pop[data-call-id="{call_id}"][data-painted-at]', timeout=5000)
    shown, painted = (float(card.get_attribute(a)) for a in ("data-shown-at", "data-painted-at"))
    card.query_selector(".pop-close").click()  # the receptionist dismisses it; the page stays small
    return shown - written_ms, painted - written_ms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pops", type=int, default=50, help="ringing calls to time")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    config = load_config(defaults.EXAMPLE_CONFIG)
    with tempfile.TemporaryDirectory(prefix="dentra-screenpop-") as work:
        data_dir = demo_clinic(config, Path(work) / "data")
        with front_desk(data_dir) as (_server, browser, store):
            browser.wait_live()
            measure(browser, store, CALLERS[0])  # warm-up: first layout, fonts, the hub's first card
            shown, painted = [], []
            rng = random.Random(5)
            for i in range(args.pops):
                time.sleep(rng.uniform(0.05, 0.25))  # calls arrive at no fixed phase of the tailer's poll
                dom_ms, frame_ms = measure(browser, store, CALLERS[i % len(CALLERS)])
                shown.append(dom_ms)
                painted.append(frame_ms)
    figures = {
        "screenpop_p50_ms": round(percentile(painted, 50), 1),
        "screenpop_p95_ms": round(percentile(painted, 95), 1),
        "screenpop_max_ms": round(max(painted), 1),
        "screenpop_dom_p50_ms": round(percentile(shown, 50), 1),
        "screenpop_pops": len(painted),
    }
    for key, value in figures.items():
        print(f"{key}: {value}")
    merge_results(args.results, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
