"""The seed task: the notebook's 15 prompts split 10/5, its reward script-aware, Chinese model."""

from __future__ import annotations

from pathlib import Path

import pytest

from alignlab.config import TaskConfig, load_config
from alignlab.tasks import load_task
from alignlab.tasks.seed import seed_prompts, split_seed_prompts

REPO = Path(__file__).resolve().parents[2]


def test_prompts_are_the_notebooks_fifteen_in_its_order() -> None:
    prompts = seed_prompts()
    assert len(prompts) == len(set(prompts)) == 15
    assert prompts[:3] == ("今天天气很", "我真的很喜欢", "在我看来，") and prompts[-1] == "文化多样性意味着"


def test_split_is_fixed_disjoint_and_complete() -> None:
    train, held_out = split_seed_prompts(1234)
    assert len(train) == 10 and len(held_out) == 5
    assert set(train) | set(held_out) == set(seed_prompts()) and not set(train) & set(held_out)
    assert split_seed_prompts(1234) == (train, held_out)
    # The split every seed run so far has used, in the notebook's order.
    assert held_out == ["今天天气很", "我真的很喜欢", "深度强化学习", "科技的影响", "文化多样性意味着"]
    assert train[:3] == ["在我看来，", "最棒的是", "我认为"] and train[-1] == "数字时代的教育"


def test_task_uses_the_script_aware_reward() -> None:
    task = load_task(TaskConfig(name="seed"))
    assert task.language == "zh" and task.reward.name == "seed_heuristic"
    fluent, repetitive = task.reward(
        ["今天天气很"] * 2, ["好，阳光明媚，所以我们决定去公园散步。", "好好好好好好好好好好好好"]
    )
    assert fluent > repetitive


def test_seed_preset_runs_on_the_chinese_model() -> None:
    config = load_config(REPO / "configs" / "seed.yaml")
    assert config.model.name_or_path == "embedded-zh" and config.task.name == "seed"
    assert {m.method for m in config.methods} >= {"dpo", "ppo", "ppo-gt", "best-of-n"}


def test_the_seed_task_has_no_prompts_to_spare_for_validation() -> None:
    from alignlab.errors import ConfigError

    with pytest.raises(ConfigError, match="num_validation_prompts"):
        load_task(TaskConfig(name="seed", num_validation_prompts=2))
