"""A larger KL coefficient keeps every online method closer to its reference: each one trained
twice on the same seed and reward, without the KL term and with a strong one, ends with a far
smaller KL with it. A swapped argument of a KL estimator, or a sign error, pushes the other way."""

from __future__ import annotations

import json

import pytest

from alignlab.config import method_config
from alignlab.config.methods import METHODS
from alignlab.layout import TrainingDir
from alignlab.tasks import load_task
from alignlab.trainers import TrainInputs, train

# PPO-GT runs PPO's trainer on the gold reward (PPO itself needs a trained reward model).
ONLINE = [name for name, method in METHODS.items() if method.online and method.compared and name != "ppo"]
# Fast drift: a high learning rate on the gold reward, 32 samples and two minibatches per iteration.
DRIFT = {"lr": 5e-4, "iterations": 4, "reward_source": "gold", "warmup_ratio": 0.0}
ROWS = 32
# The method's coefficient of its KL regularisation (online DPO's is beta), off and strong.
COEFFICIENT = {"online-dpo": ("beta", 0.02, 5.0)}


def final_kl(method: str, coefficient: float, make_config, out) -> float:
    key = COEFFICIENT.get(method, ("kl_coef", 0.0, 5.0))[0]
    group = METHODS[method].samples_per_prompt(method_config(make_config(), method))
    settings = {**DRIFT, "prompts_per_iteration": ROWS // group, "batch_size": ROWS // 2, key: coefficient}
    config = method_config(make_config(), method, settings)
    task = load_task(config.task)
    train(TrainInputs(method, config, prompts=task.train_prompts, gold_reward=task.reward), TrainingDir(out))
    history = json.loads((out / "history.json").read_text())["train"]
    return sum(row["objective/kl"] for row in history[-2:]) / 2


@pytest.mark.slow
@pytest.mark.parametrize("method", ONLINE)
def test_a_larger_kl_coefficient_gives_a_smaller_kl(method, embedded_dir, make_config, tmp_path) -> None:
    _, off, strong = COEFFICIENT.get(method, ("kl_coef", 0.0, 5.0))
    free = final_kl(method, off, make_config, tmp_path / "free")
    held = final_kl(method, strong, make_config, tmp_path / "held")
    assert held < 0.75 * free, (free, held)
