"""Fixtures for the trainer tests: a reward model trained as the default preset trains it."""

from __future__ import annotations

from pathlib import Path

import pytest

from alignlab.tasks import load_task


@pytest.fixture(scope="session")
def reward_model_dir(embedded_dir, pairs, make_config, built_once) -> Path:
    """A reward model trained on the session's pairs as the default preset trains it, a fifth of
    the prompts held out (its model directory; the run's summary.json is in the parent)."""
    from alignlab.layout import TrainingDir
    from alignlab.trainers import TrainInputs, train

    config = make_config(
        "reward_model.epochs=2", "reward_model.batch_size=32", "reward_model.lr=1e-3", "reward_model.eval_fraction=0.2"
    )

    def train_on_pairs(out: Path) -> None:
        train(TrainInputs("rm", config, pairs=pairs, prompts=load_task(config.task).train_prompts), TrainingDir(out))

    return built_once("reward_model", train_on_pairs) / "model"
