"""The critic-free family (GRPO and its variants, RLOO, REINFORCE++) and online DPO: groups
without signal are left out, and settings that would change the objective are refused (that
every variant runs and learns: test_learning.py)."""

from __future__ import annotations

import json
import zlib

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


def test_dapo_samples_up_to_its_limit_and_leaves_out_groups_without_signal(embedded_dir, make_config, tmp_path) -> None:
    # A reward that is constant within every group: nothing to learn, every round wasted.
    config = method_config(make_config(), "dapo", {**SMALL, "max_sampling_rounds": 3})
    task = load_task(config.task)
    constant = FunctionReward(lambda p, c: [1.0] * len(c), "constant")
    train(TrainInputs("dapo", config, prompts=task.train_prompts, gold_reward=constant), TrainingDir(tmp_path))
    history = json.loads((tmp_path / "history.json").read_text())["train"]
    assert all(row["rollout/sampling_rounds"] == 3 and row["rollout/zero_variance_fraction"] == 1.0 for row in history)
    assert all(row["rollout/informative_fraction"] == 0.0 for row in history)
    assert all(row["loss/total"] == 0.0 for row in history)


def half_the_prompts_without_signal(prompts: list[str], completions: list[str]) -> list[float]:
    """No signal for the prompts of even checksum (reward 0), the completion's length for the others."""
    return [float(len(c)) if zlib.crc32(p.encode()) % 2 else 0.0 for p, c in zip(prompts, completions)]


def test_dapo_refills_the_batch_with_groups_that_have_signal(embedded_dir, make_config, tmp_path) -> None:
    """Dynamic sampling replaces the groups without signal by sampling more prompts, so the batch
    trains on full groups, where GRPO would leave half its batch without signal."""
    config = method_config(make_config(), "dapo", {**SMALL, "max_sampling_rounds": 6})
    task = load_task(config.task)
    reward = FunctionReward(half_the_prompts_without_signal, "half")
    train(TrainInputs("dapo", config, prompts=task.train_prompts, gold_reward=reward), TrainingDir(tmp_path))
    history = json.loads((tmp_path / "history.json").read_text())["train"]
    assert all(0.0 < row["rollout/zero_variance_fraction"] < 1.0 for row in history)
    assert all(row["rollout/sampling_rounds"] > 1 for row in history)
    assert all(row["rollout/informative_fraction"] == 1.0 for row in history)


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


@pytest.mark.parametrize(("method", "policy_passes"), [("grpo", 0), ("online-dpo", 0), ("rloo", 1)])
def test_one_step_an_iteration_takes_log_pi_old_from_the_update(
    method, policy_passes, embedded_dir, make_config, tmp_path, monkeypatch
) -> None:
    """With one optimizer step an iteration the policy has not moved when the update's forward
    runs, so its log-probs, detached, are log pi_old (TRL's num_iterations=1): the policy's
    no-grad pass is skipped, to the training and logged KL the pass gives. RLOO's KL in the
    reward needs log pi_old before the update, so it keeps the pass."""
    from safetensors.torch import load_file

    from alignlab.trainers import online

    passes = []
    score = online.score_in_chunks
    monkeypatch.setattr(online, "score_in_chunks", lambda *args: passes.append(1) or score(*args))
    runs = {}
    for name in ("skipped", "made"):
        if name == "made":
            monkeypatch.setattr(online.OnlineRun, "update_sees_sampling_policy", property(lambda self: False))
        passes.clear()
        summary = _train(method, make_config(), tmp_path / name, update_epochs=1)
        runs[name] = summary["final"], load_file(str(tmp_path / name / "model" / "model.safetensors")), len(passes)
    (skipped, skipped_weights, skipped_passes), (made, made_weights, made_passes) = runs["skipped"], runs["made"]
    # Two iterations: the reference's pass in each, and the policy's where it is made.
    assert (skipped_passes, made_passes) == (2 * (1 + policy_passes), 2 * 2)
    assert skipped["reward/gold"] == made["reward/gold"]
    assert skipped["objective/kl"] == pytest.approx(made["objective/kl"], rel=1e-4, abs=1e-6)
    assert max(float((skipped_weights[k] - made_weights[k]).abs().max()) for k in made_weights) < 1e-5
