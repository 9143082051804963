"""The trainers, and the one dispatch from a method to its trainer (used by the CLI, the
comparison and the Python API).

Every trainer has one signature, ``train_x(inputs: TrainInputs, run: TrainingDir) -> summary``;
which one a method uses is its ``trainer`` in the registry (``config.methods``). Offline, on
preference pairs: ``dpo.py`` (DPO family, SimPO, ORPO), ``kto.py``; ``reward.py`` (the reward
model) and ``sft.py``. Online, on prompts: ``ppo.py``, ``policy_gradient.py`` (GRPO and its
variants, RLOO, REINFORCE++), ``online_dpo.py``. Shared loops: ``offline.py``, ``online.py``,
``minibatches.py``; run plumbing: ``checkpoints.py``, ``costs.py``, ``outputs.py``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignlab.config.methods import METHODS, Method
from alignlab.errors import AlignlabError
from alignlab.files import read_json
from alignlab.layout import TrainingDir
from alignlab.log import logger

if TYPE_CHECKING:
    from alignlab.config import ExperimentConfig
    from alignlab.data import PreferencePair
    from alignlab.models import ModelSource
    from alignlab.tasks.rewards import Reward


@dataclass(frozen=True)
class TrainInputs:
    """What one training run learns from. ``config`` already holds the method's settings in its
    section (``config.method_config``); a trainer reads the inputs its method needs."""

    method: str
    config: ExperimentConfig
    seed: int = 0
    # Offline methods, the reward model and SFT (its demonstrations are the chosen responses).
    pairs: Sequence[PreferencePair] | None = None
    # Online methods (and the reward model's normalisation samples).
    prompts: Sequence[str] | None = None
    # The task's reward: what PPO-GT and friends optimise, and every online method reports.
    gold_reward: Reward | None = None
    # A trained reward model (directory, hub id or model) for methods that optimise one.
    reward_model: ModelSource | None = None
    # Start from this model instead of the configured base (also the reference).
    init: ModelSource | None = None
    # Where the DPO family's reference log-probs are shared between runs.
    reference_cache: Path | None = None

    @property
    def spec(self) -> Method:
        return method_of(self.method)

    def require_pairs(self) -> Sequence[PreferencePair]:
        if self.pairs is None:
            raise AlignlabError(f"{self.method} trains on preference pairs; give --data or a task that makes them")
        return self.pairs

    def require_prompts(self) -> Sequence[str]:
        if self.prompts is None:
            raise AlignlabError(f"{self.method} needs the task's prompts")
        return self.prompts

    def require_gold_reward(self) -> Reward:
        if self.gold_reward is None:
            raise AlignlabError(f"{self.method} trains on prompts and needs a gold reward for its metrics")
        return self.gold_reward


Trainer = Callable[[TrainInputs, TrainingDir], dict[str, Any]]


def method_of(name: str) -> Method:
    if name not in METHODS:
        raise AlignlabError(f"unknown method '{name}'; known: {', '.join(METHODS)}")
    return METHODS[name]


def trainer_of(name: str) -> Trainer:
    """The training function of method ``name`` (imported on first use: the CLI stays light)."""
    method = method_of(name)
    if method.trainer is None:
        raise AlignlabError(f"{name} is not trained (it samples from the base policy)")
    module, _, function = method.trainer.partition(":")
    return getattr(importlib.import_module(module), function)


def train(inputs: TrainInputs, run: TrainingDir) -> dict[str, Any]:
    """Train ``inputs.method`` into ``run``; the trainer's summary (a finished run's own, when it is
    resumed: it keeps no checkpoints, see ``outputs.write_run_files``, and has nothing to train)."""
    if run.resume and run.trained:
        logger.info("%s: '%s' has finished training; nothing to resume", inputs.method, run.path)
        return read_json(run.summary)
    trainer = trainer_of(inputs.method)
    method = inputs.spec
    if method.inputs in ("pairs", "demonstrations"):
        inputs.require_pairs()
    if method.online:
        inputs.require_prompts()
        inputs.require_gold_reward()
    return trainer(inputs, run)
