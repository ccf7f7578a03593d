"""What every bench shares: percentiles, the machine's description, and merging into bench/results.json."""

from __future__ import annotations

import json
import os
import platform
import re
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results.json"


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


def machine() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu_model": model or platform.processor(), "python": platform.python_version()}


def merge_results(path: Path, figures: dict, replace: re.Pattern | None = None) -> None:
    """Update the flat results object in place, keeping keys that other benches wrote.

    Keys matching `replace` are dropped first: a bench whose key set varies between runs (one key
    per concurrency level, say) must not leave an older run's figures beside the new ones.
    """
    try:
        current = json.loads(path.read_text())
        if not isinstance(current, dict):
            current = {}
    except (OSError, ValueError):
        current = {}
    if replace is not None:
        current = {k: v for k, v in current.items() if not replace.match(k)}
    current.update(figures)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(current, indent=2) + "\n")
    tmp.replace(path)
