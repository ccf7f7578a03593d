"""Where the embedded defaults live: the example (demo) clinic config and the demo CSVs in the checkout."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = PROJECT_ROOT / "config" / "clinic.example.toml"
DEMO_DIR = PROJECT_ROOT / "config" / "demo"
SYSTEM_CONFIG = Path("/etc/dentra/clinic.toml")
# `dentra run` with no arguments keeps the demo store here, beside the checkout, not in /var/lib
DEMO_DATA_DIR = PROJECT_ROOT / "demo-data"


def config_path(explicit: str | None) -> Path:
    """--config, else $DENTRA_CONFIG, else /etc/dentra/clinic.toml when present, else the example."""
    if explicit:
        return Path(explicit)
    if os.environ.get("DENTRA_CONFIG"):
        return Path(os.environ["DENTRA_CONFIG"])
    return SYSTEM_CONFIG if SYSTEM_CONFIG.exists() else EXAMPLE_CONFIG
