"""Shared fixtures: the example clinic config and fresh real SQLite stores per test."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from appliance import defaults
from appliance.config import Config, load_config
from appliance.runner import init_store
from appliance.store import Store

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
# A Tuesday morning in the demo clinic's calendar (the demo appointments start that day).
DEMO_NOW = datetime(2026, 12, 1, 9, 0)


@pytest.fixture(scope="session")
def shared_demo_clinic() -> Path:
    """../shared/demo/clinic.toml, the reference clinic (present beside every checkout CI makes)."""
    path = SHARED / "demo" / "clinic.toml"
    if not path.exists():
        pytest.skip(f"{path} is not here: this checkout has no ../shared beside it")
    return path


@pytest.fixture(scope="session")
def config() -> Config:
    return load_config(defaults.EXAMPLE_CONFIG)


@pytest.fixture
def store(tmp_path, config) -> Store:
    """A fresh, empty store (catalog synced from the example config)."""
    s, _code = init_store(config, tmp_path / "data", None, None)
    yield s
    s.close()


@pytest.fixture
def demo_store(tmp_path, config) -> Store:
    """A fresh store holding the demo clinic's 30 patients and 25 appointments."""
    s, _code = init_store(config, tmp_path / "data", None, defaults.DEMO_DIR)
    yield s
    s.close()
