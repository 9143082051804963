"""Shared fixtures: offline hub, the embedded base model, and a micro model built on the fly."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
if os.environ.get("PYTEST_XDIST_WORKER"):
    # pytest -n N: N workers share the cores, one torch thread each.
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)

from alignlab.config import BaseBuildConfig, ExperimentConfig, load_config  # noqa: E402
from alignlab.data import PreferencePair, read_preferences, write_preferences  # noqa: E402
from alignlab.pipeline import sample_preferences  # noqa: E402
from alignlab.tasks import load_task  # noqa: E402


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


@pytest.fixture
def alignlab_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """``caplog`` with alignlab's logger at INFO, captured even after ``setup_logging`` has
    stopped it propagating to the root logger."""
    import logging

    from alignlab.log import logger

    caplog.set_level(logging.INFO, logger="alignlab")
    logger.addHandler(caplog.handler)
    yield caplog
    logger.removeHandler(caplog.handler)


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


REPO = Path(__file__).resolve().parents[1]
# The default experiment's preference data (4 completions, up to 4 pairs with a gold gap of 0.1
# per prompt) at its size; smaller budgets elsewhere.
TEST_SETTINGS = [
    # Each test sets its own steps and iterations.
    "budget.sequences=0",
    "task.num_train_prompts=384",
    "task.num_test_prompts=64",
    "preferences.pairs_per_prompt=4",
    "preferences.min_reward_gap=0.1",
    "evaluation.samples_per_prompt=2",
    "generation.max_new_tokens=32",
    "evaluation.generation.max_new_tokens=32",
]


def make_test_config(*overrides: str) -> ExperimentConfig:
    return load_config(REPO / "configs" / "smoke.yaml", TEST_SETTINGS + list(overrides))


@pytest.fixture(scope="session")
def make_config() -> Callable[..., ExperimentConfig]:
    """The smoke preset at test scale, with ``key=value`` overrides."""
    return make_test_config


def _built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    path = root / name
    with FileLock(f"{path}.lock"):
        if not path.is_dir():
            partial = root / f"{name}.partial"
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir()
            build(partial)
            partial.rename(path)
    return path


@pytest.fixture(scope="session")
def built_once(tmp_path_factory) -> Callable[[str, Callable[[Path], None]], Path]:
    """``built_once(name, build)``: the directory ``name`` that ``build(directory)`` fills, built
    by the first pytest-xdist worker that asks for it and read by the others (they share the
    parent of their temporary roots), so that what a session fixture trains or samples is paid
    for once, not once per worker."""
    return lambda name, build: _built_once(tmp_path_factory, name, build)


@pytest.fixture(scope="session")
def pairs(embedded_dir, built_once) -> list[PreferencePair]:
    """The default experiment's kind of preference pairs (about 1,500), sampled once per session."""

    def sample(directory: Path) -> None:
        config = make_test_config()
        write_preferences(directory / "pairs.jsonl", sample_preferences(config, load_task(config.task)))

    return read_preferences(built_once("pairs", sample) / "pairs.jsonl")
