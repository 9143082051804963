"""The seed task: the notebook's 15 prompts split 10/5, its reward script-aware, Chinese model."""

from __future__ import annotations

from pathlib import Path

from alignlab.base.corpus_zh import ZH_PROMPTS
from alignlab.config import TaskConfig, load_config
from alignlab.tasks import load_task
from alignlab.tasks.seed import split_seed_prompts

REPO = Path(__file__).resolve().parents[2]


def test_split_is_fixed_disjoint_and_complete() -> None:
    train, held_out = split_seed_prompts(1234)
    assert len(train) == 10 and len(held_out) == 5
    assert set(train) | set(held_out) == set(ZH_PROMPTS) and not set(train) & set(held_out)
    assert split_seed_prompts(1234) == (train, held_out)


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
