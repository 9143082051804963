"""What a task is: prompts to train on, validation prompts to choose settings on, test prompts no
choice has seen, a gold reward, and, for a preference data set, its ready-made pairs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from transformers import PreTrainedTokenizerBase

from alignlab.config import TaskConfig
from alignlab.data import PreferencePair
from alignlab.tasks.rewards import Reward


class PromptSplit(NamedTuple):
    """Disjoint prompts: to train on, to choose settings on (validation), to report on (test)."""

    train: list[str]
    validation: list[str]
    test: list[str]


@dataclass
class Task:
    name: str
    train_prompts: list[str]
    # Held out of training and of every choice: the prompts every reported number comes from.
    test_prompts: list[str]
    # The gold reward; None for a preference data set that comes without one (then the
    # comparison needs ``task.reward=module:function``; training on the pairs does not).
    reward: Reward | None
    language: str = "en"
    # Tasks built from a preference data set bring their pairs; the others sample them from the base.
    preference_pairs: list[PreferencePair] | None = None
    # Held out of training: the prompts a tuning search chooses settings on (none: no tuning).
    validation_prompts: list[str] = field(default_factory=list)

    def prompts(self, split: str) -> list[str]:
        """The held-out prompts of ``split``: "test" or "validation"."""
        return {"test": self.test_prompts, "validation": self.validation_prompts}[split]


# (task config, the policy's tokenizer for tasks that apply its chat template) -> task
TaskBuilder = Callable[[TaskConfig, PreTrainedTokenizerBase | None], Task]
