"""The seed notebook's own experiment: its 15 Chinese prompts and its heuristic text-quality
reward, rewritten to count Chinese by characters (``seed_reward.py``), as the gold reward.

The notebook trained and tested on the same prompts. Here 10 prompts train and the other 5 are
held out for evaluation (a fixed split, drawn once with ``split_seed``), so the evaluation
measures what the methods learned rather than what they memorised.

The prompts are stored with the Chinese corpus's data (``alignlab/base/data/zh_prompts.yaml``),
since the embedded-zh model was pretrained to continue them.
"""

from __future__ import annotations

import random

from transformers import PreTrainedTokenizerBase

from alignlab.base.corpus_data import load_data
from alignlab.config import TaskConfig
from alignlab.errors import ConfigError
from alignlab.tasks.prompts import render_prompts, uses_chat_template
from alignlab.tasks.seed_reward import SeedHeuristicReward
from alignlab.tasks.task import Task

NUM_TEST_PROMPTS = 5


def seed_prompts() -> tuple[str, ...]:
    """The notebook's 15 prompts, in the notebook's order."""
    return tuple(load_data("zh_prompts")["prompts"])


def split_seed_prompts(seed: int) -> tuple[list[str], list[str]]:
    """(train prompts, held-out prompts) of the notebook's 15, in the notebook's order."""
    prompts = seed_prompts()
    held_out = set(random.Random(seed).sample(range(len(prompts)), NUM_TEST_PROMPTS))
    train = [p for i, p in enumerate(prompts) if i not in held_out]
    return train, [p for i, p in enumerate(prompts) if i in held_out]


def seed_task(config: TaskConfig, tokenizer: PreTrainedTokenizerBase | None = None) -> Task:
    """The split prompts; on a chat model (a tokenizer with a chat template, ``task.chat_template``
    auto) each prompt is one user turn rendered by the model's own template, as the notebook's
    instruct model expects."""
    if config.num_validation_prompts:
        raise ConfigError(
            "task.num_validation_prompts: the seed task has the notebook's 15 prompts (10 to train on, "
            f"{NUM_TEST_PROMPTS} to test on) and none to spare for validation; set it to 0"
        )
    train, held_out = split_seed_prompts(config.split_seed)
    if uses_chat_template(config, tokenizer, "seed"):
        train = render_prompts(train, config, tokenizer, "seed task")
        held_out = render_prompts(held_out, config, tokenizer, "seed task")
    return Task(name="seed", train_prompts=train, test_prompts=held_out, reward=SeedHeuristicReward(), language="zh")
