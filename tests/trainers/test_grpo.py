"""GRPO and RLOO: learning on the gold reward, and the KL placement options."""

from __future__ import annotations

import json
import math

import pytest

from alignlab.tasks import load_task
from alignlab.trainers.grpo import train_grpo, train_rloo


@pytest.mark.parametrize(
    ("trainer", "settings"),
    [
        (train_grpo, ["grpo.kl_in_reward=true", "grpo.scale_rewards=false"]),
        (train_rloo, ["rloo.objective=reinforce", "rloo.update_epochs=1"]),
    ],
)
def test_variants_run(embedded_dir, make_config, tmp_path, trainer, settings) -> None:
    section = settings[0].split(".")[0]
    config = make_config(f"{section}.reward_source=gold", f"{section}.iterations=2", *settings)
    task = load_task(config.task)
    trainer(config, task.train_prompts, task.reward, tmp_path, seed=0)
    history = json.loads((tmp_path / "history.json").read_text())["train"]
    assert len(history) == 2 and all(math.isfinite(v) for row in history for v in row.values())


@pytest.mark.slow
@pytest.mark.parametrize("method", ["grpo", "rloo"])
def test_value_free_methods_raise_the_gold_reward(
    embedded_dir, make_config, evaluate, base_metrics, tmp_path, method
) -> None:
    config = make_config(
        f"{method}.reward_source=gold",
        f"{method}.iterations=16",
        f"{method}.prompts_per_iteration=16",
        f"{method}.group_size=4",
        f"{method}.batch_size=32",
        f"{method}.lr=3e-4",
    )
    task = load_task(config.task)
    (train_grpo if method == "grpo" else train_rloo)(config, task.train_prompts, task.reward, tmp_path, seed=0)
    metrics = evaluate(config, tmp_path / "model")
    assert metrics["gold_reward"] > base_metrics["gold_reward"] + 0.1
