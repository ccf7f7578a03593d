"""The tiny random Llama the brain tests load through the real llama-cpp-python code."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.brain.llm import LocalModel
from tests.brain.tiny_gguf import write_tiny_llama

# The tiny model's vocabulary is mostly single characters, so its fixed prompt is ~2,400 tokens.
TINY_CTX = 4096


@pytest.fixture(scope="session")
def tiny_path(tmp_path_factory) -> Path:
    return write_tiny_llama(tmp_path_factory.mktemp("models") / "tiny-llama.gguf")


@pytest.fixture(scope="session")
def model(tiny_path) -> LocalModel:
    return LocalModel.load(tiny_path, n_ctx=TINY_CTX, n_threads=2)
