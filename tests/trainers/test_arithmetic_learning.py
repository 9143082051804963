"""The online trainers learn the verifiable-reward task. Trained on embedded-arith with the exact
reward at configs/arithmetic.yaml's settings (its learning rates, chosen on validation prompts),
a policy's accuracy on 128 test prompts is above the base policy's: a one-sided paired t-test over
the prompts (each prompt's share of right answers among its 8 samples, the policy's against the
base policy's), p < 1e-4, as in test_learning.py.

Tested here: the three ways the online trainers form their signal, a group baseline (GRPO), a
critic (PPO-GT) and pairs of the policy's own samples (online DPO). Every other online method was
measured with this test once (seed 0, 8 iterations, 16 for CISPO): Dr. GRPO +0.105 (p 4e-8), DAPO
+0.141 (2e-12), GSPO +0.107 (1e-12), CISPO +0.117 (7e-9), SAPO +0.109 (1e-7), RLOO +0.110 (2e-12),
REINFORCE++ +0.105 (3e-8), RFT +0.144 (2e-13). They are left out of the suite for its time (about
20 s each); the preset's run has each of them above the base policy in each of its 3 seeds. DPO
on right-versus-wrong pairs does not beat the base policy over seeds at the preset's budget."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from alignlab.config import load_config, method_config
from alignlab.experiment import Experiment
from alignlab.layout import ComparisonDir, TrainingDir
from alignlab.tasks import load_task
from alignlab.trainers import TrainInputs, train
from tests.trainers.test_learning import gain_over_base, sample_gold

PRESET = Path(__file__).resolve().parents[2] / "configs" / "arithmetic.yaml"
SETTINGS = [
    "seeds=[0]",
    "budget.sequences=0",
    "task.num_test_prompts=128",
    "evaluation.samples_per_prompt=8",
    "report.findings=[]",
]
# Measured here (seed 0): GRPO +0.132 (p 5e-13), PPO-GT +0.107 (3e-8), online DPO +0.093 (2e-7).
# 8 iterations (GRPO's 8 are the preset's budget); online DPO's 8 left its effect too close to the
# level to hold on another CPU (p 1e-3), so it has 16.
ITERATIONS = {"grpo": 8, "ppo-gt": 8, "online-dpo": 16}


@pytest.fixture(scope="module")
def held_out(tmp_path_factory):
    """(config, evaluator, the base policy's reward on every evaluation sample)."""
    config = load_config(PRESET, SETTINGS)
    evaluator = Experiment(config, ComparisonDir(tmp_path_factory.mktemp("arithmetic"))).evaluator
    return config, evaluator, sample_gold(evaluator, evaluator.reference)


@pytest.mark.slow
@pytest.mark.parametrize("method", list(ITERATIONS))
def test_method_raises_the_test_accuracy(method, held_out, tmp_path: Path) -> None:
    config, evaluator, base_right = held_out
    iterations = ITERATIONS[method]
    cfg = method_config(config, method, {"iterations": iterations})
    task = load_task(cfg.task)
    summary = train(
        TrainInputs(method, cfg, prompts=task.train_prompts, gold_reward=task.reward), TrainingDir(tmp_path)
    )
    assert summary["cost"]["sequences"] > 0
    history = json.loads((tmp_path / "history.json").read_text())["train"]
    assert len(history) == iterations and all(math.isfinite(v) for row in history for v in row.values())
    gain, p = gain_over_base(evaluator, base_right, tmp_path / "model", cfg)
    assert p < 1e-4, (gain, p)
