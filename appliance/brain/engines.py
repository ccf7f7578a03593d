"""Which understanding engines this box runs: the local model and the cloud fallback, when configured."""

from __future__ import annotations

from pathlib import Path

from appliance.config import Config


def local_model(config: Config, data_dir: Path):
    """The GGUF named in [models].llm, loaded once; None when no model is configured (rules only)."""
    if not config.models.llm:
        return None
    from appliance.brain.llm import LocalModel

    models_dir = Path(config.models.dir)
    if not models_dir.is_absolute():
        models_dir = Path(data_dir) / models_dir
    name = config.models.llm
    path = Path(name) if Path(name).is_absolute() else models_dir / name
    return LocalModel.load(path)


def cloud_model(config: Config):
    """The OpenAI-compatible fallback, only when the clinic enabled it."""
    if not config.cloud_llm.enabled:
        return None
    from appliance.brain.cloud import CloudModel

    return CloudModel.from_config(config)
