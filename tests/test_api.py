"""The Python API: train a method on data or prompts in memory, evaluate a policy, and read a
comparison's results as tables and figures."""

from __future__ import annotations

import pytest
import torch

import alignlab
from alignlab.config import default_config_path, load_config
from alignlab.errors import ConfigError

SMALL = {"task": {"num_train_prompts": 32, "num_eval_prompts": 8}, "evaluation": {"samples_per_prompt": 1}}


def test_train_dpo_on_pairs_in_memory_and_evaluate(embedded_dir, prefs_jsonl, tmp_path) -> None:
    from alignlab.data import read_preferences

    pairs = read_preferences(prefs_jsonl)
    policy = alignlab.train(
        "dpo", data=pairs[:64], out=tmp_path / "dpo", dpo={"max_steps": 2, "batch_size": 16}, **SMALL
    )
    assert len(policy.history) == 2 and "train/loss" in policy.history.columns
    assert policy.summary["steps"] == 2
    metrics = alignlab.evaluate(policy)
    assert 0.0 <= metrics["eos_fraction"] <= 1.0 and metrics["kl"] >= 0
    saved = policy.save(tmp_path / "saved")
    assert (saved / "config.json").is_file()


def test_train_grpo_with_a_python_reward_and_a_model_in_memory(embedded_dir, tmp_path) -> None:
    from alignlab.config import ModelConfig
    from alignlab.models import load_causal_lm

    model = load_causal_lm(ModelConfig(), torch.device("cpu"), trainable=False)

    def short_is_good(prompts, completions):
        return [-len(c) / 100 for c in completions]

    policy = alignlab.train(
        "grpo",
        model=model,
        prompts=["I watched this film", "The story follows", "As a fan of", "It was"] * 2,
        reward=short_is_good,
        out=tmp_path / "grpo",
        grpo={"reward_source": "gold", "iterations": 1, "prompts_per_iteration": 4, "batch_size": 16},
    )
    assert policy.history["reward/gold"].notna().all()
    # The model given stays as it was: training works on a copy.
    assert all(not p.requires_grad for p in model.parameters())


def test_unknown_settings_are_one_clear_error(embedded_dir, tmp_path) -> None:
    with pytest.raises(ConfigError, match="dpo.bta"):
        alignlab.train("dpo", data=[], out=tmp_path / "x", dpo={"bta": 1.0})


def test_settings_of_matches_the_loaded_config() -> None:
    settings = alignlab.settings_of(None)
    assert settings["dpo"] == load_config(default_config_path()).dpo.__dict__ | settings["dpo"]
    assert settings["name"] == "default"
