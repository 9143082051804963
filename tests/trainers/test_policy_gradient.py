"""The critic-free family (GRPO and its variants, RLOO, REINFORCE++) and online DPO: groups
without signal are left out, and settings that would change the objective are refused (that
every variant runs and learns: test_learning.py)."""

from __future__ import annotations

import json

import pytest

from alignlab.config import method_config
from alignlab.errors import ConfigError
from alignlab.tasks import load_task
from alignlab.trainers import section_of, train_method

SMALL = {"iterations": 2, "prompts_per_iteration": 8, "batch_size": 16, "reward_source": "gold"}


def _train(method, config, out, **settings):
    section = section_of(method)
    group = {"reinforce_pp": 1, "online_dpo": 2}.get(section, 4)
    small = {**SMALL, "batch_size": 8 * group} if group != 4 else dict(SMALL)
    config = method_config(config, method, {**small, **settings})
    task = load_task(config.task)
    return train_method(method, config, out, 0, prompts=task.train_prompts, gold_reward=task.reward)


def test_dapo_leaves_out_groups_without_signal(embedded_dir, make_config, tmp_path) -> None:
    # A reward that is constant within every group: nothing to learn, every group left out.
    config = method_config(make_config(), "dapo", SMALL)
    task = load_task(config.task)
    train_method("dapo", config, tmp_path, 0, prompts=task.train_prompts, gold_reward=lambda p, c: [1.0] * len(c))
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
