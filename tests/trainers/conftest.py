"""Fixtures for the trainer tests: held-out evaluation of a trained model, and a reward model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from alignlab.config import ExperimentConfig
from alignlab.experiment import Experiment
from alignlab.models import load_causal_lm
from alignlab.tasks import load_task


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
def base_metrics(embedded_dir, evaluate, make_config) -> dict:
    return evaluate(make_config(), None)


@pytest.fixture(scope="session")
def reward_model_dir(embedded_dir, pairs, make_config, tmp_path_factory) -> Path:
    """A reward model trained briefly on the session's pairs (its model directory)."""
    from alignlab.trainers.reward import train_reward_model

    config = make_config("reward_model.epochs=1", "reward_model.batch_size=32")
    out = tmp_path_factory.mktemp("reward_model")
    train_reward_model(config, pairs, load_task(config.task).train_prompts, out, seed=0)
    return out / "model"
