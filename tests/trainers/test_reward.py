"""Reward model: Bradley-Terry training on the task's pairs, and the saved normalisation."""

from __future__ import annotations

import pytest

from alignlab.models import load_reward_normalization
from alignlab.tasks import load_task
from alignlab.trainers.reward import train_reward_model


@pytest.mark.slow
def test_reward_model_ranks_held_out_pairs(embedded_dir, pairs, make_config, tmp_path) -> None:
    config = make_config("reward_model.epochs=2", "reward_model.batch_size=32", "reward_model.lr=1e-3")
    summary = train_reward_model(config, pairs, load_task(config.task).train_prompts, tmp_path, seed=0)
    assert summary["final_eval"]["eval/accuracy"] > 0.7
    mean, std = load_reward_normalization(tmp_path / "model")
    assert std > 0 and (mean, std) == (summary["normalization"]["mean"], summary["normalization"]["std"])
    assert (tmp_path / "model" / "config.json").is_file()
