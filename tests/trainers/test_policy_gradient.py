"""The critic-free family (GRPO and its variants, RLOO, REINFORCE++) and online DPO: groups
without signal are left out, and settings that would change the objective are refused (that
every variant runs and learns: test_learning.py)."""

from __future__ import annotations

import json

import pytest

from alignlab.config import method_config
from alignlab.config.methods import METHODS
from alignlab.errors import ConfigError
from alignlab.layout import TrainingDir
from alignlab.tasks import load_task
from alignlab.tasks.rewards import FunctionReward
from alignlab.trainers import TrainInputs, train

SMALL = {"iterations": 2, "prompts_per_iteration": 8, "batch_size": 16, "reward_source": "gold"}


def _train(method, config, out, **settings):
    config = method_config(config, method, {**SMALL, **settings})
    group = METHODS[method].samples_per_prompt(config)
    config = method_config(config, method, {**SMALL, "batch_size": 8 * group, **settings})
    task = load_task(config.task)
    return train(TrainInputs(method, config, prompts=task.train_prompts, gold_reward=task.reward), TrainingDir(out))


def test_dapo_leaves_out_groups_without_signal(embedded_dir, make_config, tmp_path) -> None:
    # A reward that is constant within every group: nothing to learn, every group left out.
    config = method_config(make_config(), "dapo", SMALL)
    task = load_task(config.task)
    constant = FunctionReward(lambda p, c: [1.0] * len(c), "constant")
    train(TrainInputs("dapo", config, prompts=task.train_prompts, gold_reward=constant), TrainingDir(tmp_path))
    history = json.loads((tmp_path / "history.json").read_text())["train"]
    assert all(row["rollout/informative_fraction"] == 0.0 for row in history)
    assert all(row["loss/total"] == 0.0 for row in history)


@pytest.mark.parametrize(
    ("overrides", "settings", "message"),
    [
        (["generation.top_k=5"], {}, "top_k/top_p"),
        ([], {"prompts_per_iteration": 6, "batch_size": 16}, "minibatches of batch_size=16"),
        ([], {"batch_size": 16, "grad_accum_steps": 3}, "divisible by grad_accum_steps"),
    ],
)
def test_settings_that_change_the_objective_are_refused(
    embedded_dir, make_config, tmp_path, overrides, settings, message
) -> None:
    with pytest.raises(ConfigError, match=message):
        _train("grpo", make_config(*overrides), tmp_path, **settings)
