"""What a task is: prompts to train on and to hold out (for validation, some tasks, and for the
reported evaluation), a gold reward, and, for a preference data set, its ready-made pairs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from transformers import PreTrainedTokenizerBase

from alignlab.config import TaskConfig
from alignlab.data import PreferencePair
from alignlab.tasks.rewards import Reward


@dataclass
class Task:
    name: str
    train_prompts: list[str]
    eval_prompts: list[str]
    # The gold reward; None for a preference data set that comes without one (then the
    # comparison needs ``task.reward=module:function``; training on the pairs does not).
    reward: Reward | None
    language: str = "en"
    # Tasks built from a preference data set bring their pairs; the others sample them from the base.
    preference_pairs: list[PreferencePair] | None = None
    # Held-out prompts for choices (hyperparameters, checkpoints), disjoint from both the training
    # prompts and ``eval_prompts``, which are then the test set of the numbers reported. Empty for
    # the tasks that hold out one set only.
    validation_prompts: list[str] = field(default_factory=list)


# (task config, the policy's tokenizer for tasks that apply its chat template) -> task
TaskBuilder = Callable[[TaskConfig, PreTrainedTokenizerBase | None], Task]
