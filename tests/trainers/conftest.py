"""Fixtures for the trainer tests: the sentiment task on the embedded model, its preference
pairs (sampled once per session), and held-out evaluation of a trained model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from alignlab.config import ExperimentConfig, load_config
from alignlab.data import PreferencePair
from alignlab.experiment import Experiment
from alignlab.models import load_causal_lm
from alignlab.pipeline import sample_preferences
from alignlab.tasks import load_task

REPO = Path(__file__).resolve().parents[2]
# The default experiment's preference data (4 completions, up to 4 pairs with a gold gap of 0.1
# per prompt) at its size; smaller budgets elsewhere.
TEST_SETTINGS = [
    "task.num_train_prompts=384",
    "task.num_eval_prompts=64",
    "preferences.pairs_per_prompt=4",
    "preferences.min_reward_gap=0.1",
    "evaluation.samples_per_prompt=2",
    "generation.max_new_tokens=32",
    "evaluation.generation.max_new_tokens=32",
]


def _make_config(*overrides: str) -> ExperimentConfig:
    return load_config(REPO / "configs" / "smoke.yaml", TEST_SETTINGS + list(overrides))


@pytest.fixture(scope="session")
def make_config() -> Callable[..., ExperimentConfig]:
    """The smoke preset at test scale, with ``key=value`` overrides."""
    return _make_config


@pytest.fixture(scope="session")
def pairs(embedded_dir) -> list[PreferencePair]:
    config = _make_config()
    return sample_preferences(config, load_task(config.task))


def _evaluate(config: ExperimentConfig, model_dir: Path | None, workdir: Path) -> dict:
    evaluator = Experiment(config, workdir).evaluator
    if model_dir is None:
        model = evaluator.reference
    else:
        model = load_causal_lm(config.model, torch.device("cpu"), str(model_dir), trainable=False)
    return evaluator.evaluate_policy(model, seed=0)


@pytest.fixture(scope="session")
def evaluate(tmp_path_factory) -> Callable[[ExperimentConfig, Path | None], dict]:
    """Held-out metrics of the model saved in a directory (the base policy for None)."""
    return lambda config, model_dir: _evaluate(config, model_dir, tmp_path_factory.mktemp("eval"))


@pytest.fixture(scope="session")
def base_metrics(embedded_dir, evaluate) -> dict:
    return evaluate(_make_config(), None)


@pytest.fixture(scope="session")
def reward_model_dir(embedded_dir, pairs, tmp_path_factory) -> Path:
    """A reward model trained briefly on the session's pairs (its model directory)."""
    from alignlab.trainers.reward import train_reward_model

    config = _make_config("reward_model.epochs=1", "reward_model.batch_size=32")
    out = tmp_path_factory.mktemp("reward_model")
    train_reward_model(config, pairs, load_task(config.task).train_prompts, out, seed=0)
    return out / "model"
