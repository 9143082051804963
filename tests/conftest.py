"""Shared fixtures: offline hub, the embedded base model, and a micro model built on the fly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

from alignlab.config import BaseBuildConfig  # noqa: E402


@pytest.fixture(scope="session")
def embedded_dir() -> Path:
    from alignlab.base import embedded_model_dir

    return embedded_model_dir()


MICRO_BUILD = {
    "num_reviews": 400,
    "num_eval_docs": 20,
    "vocab_size": 600,
    "hidden_size": 32,
    "num_layers": 2,
    "num_heads": 2,
    "num_kv_heads": 1,
    "intermediate_size": 64,
    "block_size": 64,
    "epochs": 1,
    "batch_size": 8,
}


@pytest.fixture(scope="session")
def micro_build_config() -> BaseBuildConfig:
    return BaseBuildConfig(**MICRO_BUILD)


@pytest.fixture(scope="session")
def micro_model_dir(micro_build_config: BaseBuildConfig, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A very small Qwen3 and tokenizer from the real build code (seconds, not minutes)."""
    from alignlab.base.pretrain import build_base_model

    out = tmp_path_factory.mktemp("micro") / "model"
    build_base_model(micro_build_config, out)
    return out


# Fields that measure time or memory, not results: they differ between identical runs.
TIMING_KEYS = ("tokens_per_s", "time/", "perf/", "_time", "timing", "peak_mem", "created")


def _strip_timing(value):
    if isinstance(value, dict):
        return {k: _strip_timing(v) for k, v in value.items() if not any(t in k for t in TIMING_KEYS)}
    if isinstance(value, (list, tuple)):
        return type(value)(_strip_timing(v) for v in value)
    return value


@pytest.fixture(scope="session")
def strip_timing():
    """Drops every timing or memory field from nested dicts and lists."""
    return _strip_timing


@pytest.fixture(scope="session")
def prefs_jsonl(tmp_path_factory, embedded_dir) -> Path:
    """96 preference pairs of the smoke preset, as a JSONL file (for CLI runs)."""
    from alignlab.config import load_config
    from alignlab.data import write_preferences
    from alignlab.pipeline import sample_preferences
    from alignlab.tasks import load_task

    config = load_config(Path(__file__).resolve().parents[1] / "configs" / "smoke.yaml")
    path = tmp_path_factory.mktemp("prefs") / "prefs.jsonl"
    write_preferences(path, sample_preferences(config, load_task(config.task))[:96])
    return path
