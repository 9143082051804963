"""Every online method learns the verifiable-reward task. Trained on embedded-arith with the exact
reward at configs/arithmetic.yaml's settings (its learning rates, chosen on validation prompts),
each policy's accuracy on 128 test prompts is above the base policy's: a one-sided paired t-test
over the prompts (each prompt's share of right answers among its 8 samples, the policy's against
the base policy's), p < 1e-4, as in test_learning.py. Measured here (seed 0): +0.09 to +0.14, p
between 2e-7 (online DPO) and 2e-13 (RFT). DPO on right-versus-wrong pairs is not here: at the
preset's budget it does not beat the base policy over seeds (the README's arithmetic table)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from scipy.stats import ttest_1samp

from alignlab.config import METHODS as REGISTRY
from alignlab.config import load_config, method_config
from alignlab.experiment import Experiment
from alignlab.layout import ComparisonDir, TrainingDir
from alignlab.models import load_causal_lm
from alignlab.tasks import load_task
from alignlab.trainers import TrainInputs, train
from tests.trainers.test_learning import sample_gold

PRESET = Path(__file__).resolve().parents[2] / "configs" / "arithmetic.yaml"
SETTINGS = [
    "seeds=[0]",
    "budget.sequences=0",
    "task.num_test_prompts=128",
    "evaluation.samples_per_prompt=8",
    "report.findings=[]",
]
# 8 iterations (for the GRPO family the preset's budget), twice that where 8 left the effect too
# close to the level to hold on another CPU (CISPO p = 2e-5, online DPO 1e-3).
ITERATIONS = {"cispo": 16, "online-dpo": 16}
METHODS = ["grpo", "dr-grpo", "dapo", "gspo", "cispo", "sapo", "rloo", "reinforce++", "ppo-gt", "online-dpo", "rft"]


def test_every_online_method_has_an_arithmetic_learning_test() -> None:
    # PPO on a learned reward model is not run on this task (nor in its preset): the reward is
    # exact, and PPO-GT is PPO on it.
    assert set(METHODS) == {name for name, m in REGISTRY.items() if m.online and m.compared and name != "ppo"}


@pytest.fixture(scope="module")
def held_out(tmp_path_factory):
    """(config, evaluator, the base policy's reward on every evaluation sample)."""
    config = load_config(PRESET, SETTINGS)
    evaluator = Experiment(config, ComparisonDir(tmp_path_factory.mktemp("arithmetic"))).evaluator
    return config, evaluator, sample_gold(evaluator, evaluator.reference)


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_method_raises_the_test_accuracy(method, held_out, tmp_path: Path) -> None:
    config, evaluator, base_right = held_out
    iterations = ITERATIONS.get(method, 8)
    cfg = method_config(config, method, {"iterations": iterations})
    task = load_task(cfg.task)
    summary = train(
        TrainInputs(method, cfg, prompts=task.train_prompts, gold_reward=task.reward), TrainingDir(tmp_path)
    )
    assert summary["cost"]["sequences"] > 0
    history = json.loads((tmp_path / "history.json").read_text())["train"]
    assert len(history) == iterations and all(math.isfinite(v) for row in history for v in row.values())
    policy = load_causal_lm(cfg.model, torch.device("cpu"), str(tmp_path / "model"), trainable=False)
    right = torch.tensor(sample_gold(evaluator, policy)) - torch.tensor(base_right)
    per_prompt = right.view(-1, cfg.evaluation.samples_per_prompt).mean(-1)
    test = ttest_1samp(per_prompt.numpy(), 0.0, alternative="greater")
    assert test.pvalue < 1e-4, (float(per_prompt.mean()), test)
