"""The seed task: the notebook's 15 prompts split 10/5, its reward script-aware, Chinese model."""

from __future__ import annotations

from pathlib import Path

import pytest

from alignlab.config import TaskConfig, load_config
from alignlab.tasks import load_task
from alignlab.tasks.seed import seed_prompts, split_seed_prompts, topic_prompts

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


def test_topic_prompts_add_training_prompts_on_the_notebooks_topics_and_leave_the_held_out_unseen() -> None:
    from alignlab.tasks.prompts import prompt_language

    plain = load_task(TaskConfig(name="seed"))
    task = load_task(TaskConfig(name="seed", seed_topic_prompts=200))
    assert task.test_prompts == plain.test_prompts and task.train_prompts[:10] == plain.train_prompts
    topics = task.train_prompts[10:]
    assert len(topics) == len(set(topics)) == 200
    assert not set(topics) & set(seed_prompts())
    assert not [p for p in topics if any(held_out in p for held_out in task.test_prompts)]
    # Openings of the corpus's texts: Chinese, each ending where the corpus goes on.
    assert prompt_language(topics) == "zh" and all(p[-1] in "，。！？：；" for p in topics)
    # Drawn with split_seed: the same again, nested in longer draws, another set for another seed.
    assert topic_prompts(50, 1234, task.test_prompts) == topics[:50]
    _, other_held_out = split_seed_prompts(7)
    other = topic_prompts(50, 7, other_held_out)
    assert other != topics[:50] and not [p for p in other if any(h in p for h in other_held_out)]


def test_topic_prompts_that_the_grammar_cannot_give_are_refused(monkeypatch) -> None:
    from alignlab.errors import ConfigError
    from alignlab.tasks import seed

    # Every draw opens with a held-out prompt: none may be used.
    monkeypatch.setattr(seed, "fluent_text", lambda rng: "今天天气很好，我们去公园散步。")
    with pytest.raises(ConfigError, match="seed_topic_prompts: the Chinese grammar gave only 0"):
        load_task(TaskConfig(name="seed", seed_topic_prompts=3))
