"""Every method learns. Trained briefly on the embedded model (the default task's pairs for the
offline methods, the gold reward or the reward model for the online ones), each policy's held-out
gold reward is above the base policy's, and by a margin floating point cannot cross: a one-sided
paired t-test over the 128 test prompts (each prompt's mean over its 2 samples, the policy's
against the base policy's on the same sampling stream), p < 1e-4, a level several standard
errors past chance that the last digits of another CPU's arithmetic do not move a learning
effect across. The budgets are small and the learning rates high, so that each method shows
learning in seconds; they are not the presets' settings. Measured here on two training seeds
(32 offline steps, 12 online iterations): p between 1e-6 (online DPO) and 1e-25; at half these
budgets KTO and GSPO fell short of the level on another CPU."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from scipy.stats import ttest_1samp

from alignlab.config import METHODS, ExperimentConfig, method_config
from alignlab.evaluation import POLICY_SAMPLE_SEED, Evaluator
from alignlab.experiment import Experiment
from alignlab.layout import ComparisonDir, TrainingDir
from alignlab.models import load_causal_lm
from alignlab.tasks import load_task
from alignlab.trainers import TrainInputs, train

EVALUATION = [
    "task.num_test_prompts=128",
    "evaluation.samples_per_prompt=2",
    "evaluation.generation.max_new_tokens=24",
    "generation.max_new_tokens=24",
]
OFFLINE = {"lr": 1e-3, "batch_size": 32, "max_steps": 32, "eval_fraction": 0.0, "warmup_ratio": 0.0}
ONLINE = {"lr": 5e-4, "iterations": 12, "reward_source": "gold"}
GROUPS = {**ONLINE, "prompts_per_iteration": 8, "batch_size": 32}
BUDGETS = {
    "dpo": OFFLINE,
    "cdpo": OFFLINE,
    "ipo": OFFLINE,
    "hinge": OFFLINE,
    "rdpo": OFFLINE,
    "simpo": OFFLINE,
    "orpo": {**OFFLINE, "beta": 1.0, "max_steps": 48},
    "kto": {**OFFLINE, "beta": 0.5},
    "ppo": {**ONLINE, "lr": 1e-3, "reward_source": "reward_model", "prompts_per_iteration": 32, "batch_size": 32},
    "ppo-gt": {**ONLINE, "prompts_per_iteration": 32, "batch_size": 32},
    "grpo": GROUPS,
    "dr-grpo": GROUPS,
    "dapo": GROUPS,
    "gspo": GROUPS,
    "cispo": GROUPS,
    "sapo": GROUPS,
    # VADER's sentiment is no right-or-wrong: fine-tune on the clearly positive samples.
    "rft": {**GROUPS, "accept_reward": 0.5},
    "rloo": GROUPS,
    "reinforce++": {**ONLINE, "prompts_per_iteration": 32, "batch_size": 32},
    "online-dpo": {**ONLINE, "lr": 1e-3, "prompts_per_iteration": 16, "batch_size": 32},
}


def test_every_trained_method_has_a_learning_test() -> None:
    assert set(BUDGETS) == {name for name, m in METHODS.items() if m.compared and m.trainer}


def sample_gold(evaluator: Evaluator, policy: torch.nn.Module) -> list[float]:
    """The gold reward of each of ``policy``'s evaluation samples (the evaluation's own stream)."""
    samples = evaluator.sample(policy, seed=0, stream=POLICY_SAMPLE_SEED)
    return evaluator.task.reward(samples.prompts, samples.texts)


def gain_over_base(
    evaluator: Evaluator, base_gold: list[float], model_dir: Path, cfg: ExperimentConfig
) -> tuple[float, float]:
    """(the mean gain in gold reward of the policy in ``model_dir`` over the base policy, and its
    one-sided p: a paired t-test over the evaluation prompts, each prompt's mean over its samples,
    the policy's against the base policy's on the same sampling stream)."""
    policy = load_causal_lm(cfg.model, torch.device("cpu"), str(model_dir), trainable=False)
    gold = torch.tensor(sample_gold(evaluator, policy)) - torch.tensor(base_gold)
    per_prompt = gold.view(-1, cfg.evaluation.samples_per_prompt).mean(-1)
    return float(per_prompt.mean()), float(ttest_1samp(per_prompt.numpy(), 0.0, alternative="greater").pvalue)


@pytest.fixture(scope="module")
def held_out(make_config, tmp_path_factory, embedded_dir):
    """(config, evaluator, the base policy's gold reward of every evaluation sample, a directory
    for what the runs share)."""
    config = make_config(*EVALUATION)
    shared = tmp_path_factory.mktemp("held-out")
    evaluator = Experiment(config, ComparisonDir(shared)).evaluator
    return config, evaluator, sample_gold(evaluator, evaluator.reference), shared


# Models in memory while training: offline methods hold the policy only (reference log-probs are
# computed before training); online ones the policy and the reference, plus PPO's separate critic
# and the reward model where they use one.
MODELS_IN_MEMORY = {
    "ppo": 4,
    "ppo-gt": 3,
    **{m: 2 for m in ("grpo", "dr-grpo", "dapo", "gspo", "cispo", "sapo", "rft", "rloo")},
}
MODELS_IN_MEMORY |= {"reinforce++": 2, "online-dpo": 2}


@pytest.mark.slow
@pytest.mark.parametrize("method", list(BUDGETS))
def test_method_raises_the_held_out_gold_reward(method, held_out, request, tmp_path: Path) -> None:
    config, evaluator, base_gold, shared = held_out
    cfg = method_config(config, method, BUDGETS[method])
    task = load_task(cfg.task)
    spec = METHODS[method]
    budget = BUDGETS[method]
    # Offline: as many pairs as the steps take (KTO draws its examples from all of them); the
    # DPO family's runs share one reference pass. The pairs and the reward model are asked for
    # only where used: a worker that runs online methods alone makes neither.
    used = budget.get("max_steps", 0) * budget["batch_size"]
    optimises_reward_model = spec.optimises_reward_model(cfg)
    inputs = TrainInputs(
        method,
        cfg,
        pairs=request.getfixturevalue("pairs")[:used] if used else None,
        prompts=task.train_prompts,
        gold_reward=task.reward,
        reward_model=str(request.getfixturevalue("reward_model_dir")) if optimises_reward_model else None,
        reference_cache=shared / "reference_logps.safetensors" if spec.section == "dpo" else None,
    )
    summary = train(inputs, TrainingDir(tmp_path))
    history = json.loads((tmp_path / "history.json").read_text())["train"]
    assert all(math.isfinite(v) for row in history for v in row.values())
    assert summary["cost"]["models_in_memory"] == MODELS_IN_MEMORY.get(method, 1)
    gain, p = gain_over_base(evaluator, base_gold, tmp_path / "model", cfg)
    assert p < 1e-4, (gain, p)
