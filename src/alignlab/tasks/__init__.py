"""Tasks: prompts (train and held-out), a gold reward, and, for some, ready-made preference data.
``load_task`` builds the configured one (the ``Task`` record itself is in ``task.py``)."""

from __future__ import annotations

from transformers import PreTrainedTokenizerBase

from alignlab.config import TaskConfig
from alignlab.errors import ConfigError
from alignlab.tasks.arithmetic import arithmetic_task
from alignlab.tasks.hub import hh_rlhf_task, imdb_task, ultrafeedback_task, user_preference_task
from alignlab.tasks.prompts import prompts_task
from alignlab.tasks.rewards import load_reward
from alignlab.tasks.seed import seed_task
from alignlab.tasks.sentiment import sentiment_task
from alignlab.tasks.task import Task, TaskBuilder

BUILDERS: dict[str, TaskBuilder] = {
    "sentiment": sentiment_task,
    "seed": seed_task,
    "hh-rlhf": hh_rlhf_task,
    "ultrafeedback": ultrafeedback_task,
    "imdb": imdb_task,
    "jsonl": user_preference_task,
    "prompts": prompts_task,
    "arithmetic": arithmetic_task,
}


def load_task(config: TaskConfig, tokenizer: PreTrainedTokenizerBase | None = None) -> Task:
    """Build the configured task; a non-default ``config.reward`` replaces its gold reward.
    ``tokenizer`` is needed by conversational tasks, which format prompts with its chat template."""
    if config.name not in BUILDERS:
        raise ConfigError(f"task.name: unknown task '{config.name}'; known: {', '.join(BUILDERS)}")
    task = BUILDERS[config.name](config, tokenizer)
    if config.reward != "default":
        task.reward = load_reward(config.reward)
    return task


__all__ = ["BUILDERS", "Task", "TaskBuilder", "load_task"]
