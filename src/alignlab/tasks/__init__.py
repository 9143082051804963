"""Tasks: prompts (train and held-out), a gold reward, and, for some, ready-made preference data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

from alignlab.config import TaskConfig
from alignlab.data import PreferencePair
from alignlab.errors import ConfigError
from alignlab.tasks.rewards import Reward, load_reward


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


# (task config, the policy's tokenizer for tasks that apply its chat template) -> task
TaskBuilder = Callable[[TaskConfig, PreTrainedTokenizerBase | None], Task]


def _builders() -> dict[str, TaskBuilder]:
    from alignlab.tasks.hub import hh_rlhf_task, imdb_task, ultrafeedback_task, user_preference_task
    from alignlab.tasks.prompts import prompts_task
    from alignlab.tasks.seed import seed_task
    from alignlab.tasks.sentiment import sentiment_task

    return {
        "sentiment": sentiment_task,
        "seed": seed_task,
        "hh-rlhf": hh_rlhf_task,
        "ultrafeedback": ultrafeedback_task,
        "imdb": imdb_task,
        "jsonl": user_preference_task,
        "prompts": prompts_task,
    }


def load_task(config: TaskConfig, tokenizer: PreTrainedTokenizerBase | None = None) -> Task:
    """Build the configured task; a non-default ``config.reward`` replaces its gold reward.
    ``tokenizer`` is needed by conversational tasks, which format prompts with its chat template."""
    builders = _builders()
    if config.name not in builders:
        raise ConfigError(f"task.name: unknown task '{config.name}'; known: {', '.join(builders)}")
    task = builders[config.name](config, tokenizer)
    if config.reward != "default":
        task.reward = load_reward(config.reward)
    return task
