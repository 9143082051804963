"""The seed notebook's own experiment: its 15 Chinese prompts and its heuristic text-quality
reward, rewritten to count Chinese by characters (``seed_reward.py``), as the gold reward.

The notebook trained and tested on the same prompts. Here 10 prompts train and the other 5 are
held out for evaluation (a fixed split, drawn once with ``split_seed``), so the evaluation
measures what the methods learned rather than what they memorised.

The prompts are stored with the Chinese corpus's data (``alignlab/base/data/zh_prompts.yaml``),
since the embedded-zh model was pretrained to continue them.

Ten prompts are few for a model with many parameters to learn from. ``task.seed_topic_prompts``
adds training prompts on the notebook's topics (``topic_prompts``): the opening clause of fluent
texts of the Chinese corpus's grammar (``zh_grammar.py``). None is one of the notebook's 15 prompts
or contains a held-out one, so the held-out prompts and their continuations stay unseen.
"""

from __future__ import annotations

import random
import re
from collections.abc import Collection

from transformers import PreTrainedTokenizerBase

from alignlab.base.corpus_data import load_data
from alignlab.base.zh_grammar import fluent_text
from alignlab.config import TaskConfig
from alignlab.errors import ConfigError
from alignlab.log import logger
from alignlab.tasks.prompts import render_prompts, uses_chat_template
from alignlab.tasks.seed_reward import SeedHeuristicReward
from alignlab.tasks.task import Task

NUM_TEST_PROMPTS = 5
# Topic prompts are drawn from their own stream, apart from the split's.
TOPIC_SEED_OFFSET = 5_381_000
# A text's opening clause, with the mark that ends it: the model goes on where the corpus does.
_OPENING_CLAUSE = re.compile(r"[^，。！？：；]+[，。！？：；]")


def seed_prompts() -> tuple[str, ...]:
    """The notebook's 15 prompts, in the notebook's order."""
    return tuple(load_data("zh_prompts")["prompts"])


def split_seed_prompts(seed: int) -> tuple[list[str], list[str]]:
    """(train prompts, held-out prompts) of the notebook's 15, in the notebook's order."""
    prompts = seed_prompts()
    held_out = set(random.Random(seed).sample(range(len(prompts)), NUM_TEST_PROMPTS))
    train = [p for i, p in enumerate(prompts) if i not in held_out]
    return train, [p for i, p in enumerate(prompts) if i in held_out]


def topic_prompts(count: int, seed: int, held_out: Collection[str]) -> list[str]:
    """``count`` distinct openings on the notebook's topics, drawn from ``seed``: the opening
    clause of fluent texts of the Chinese grammar, with its closing mark (说实话，; 气候变化是一场考验：;
    可再生能源的成本在过去十年里大幅下降了。). None is one of the notebook's prompts or contains one
    of ``held_out``; the first n of a longer draw are the draw of n. A ConfigError if the grammar
    has fewer such openings than asked for."""
    rng = random.Random(seed + TOPIC_SEED_OFFSET)
    notebook = set(seed_prompts())
    openings: dict[str, None] = {}
    clauses: set[str] = set()
    # The grammar has thousands of distinct openings; the budget only stops an endless loop.
    for _ in range(50 * count + 1000):
        if len(openings) == count:
            break
        opening = _OPENING_CLAUSE.match(fluent_text(rng)).group(0)
        # One clause once, whichever mark ends it (。 or ！).
        clause = opening[:-1]
        if clause in clauses or opening in notebook or any(prompt in opening for prompt in held_out):
            continue
        clauses.add(clause)
        openings[opening] = None
    if len(openings) < count:
        raise ConfigError(
            f"task.seed_topic_prompts: the Chinese grammar gave only {len(openings)} distinct openings of the "
            f"{count} asked for; ask for fewer"
        )
    return list(openings)


def seed_task(config: TaskConfig, tokenizer: PreTrainedTokenizerBase | None = None) -> Task:
    """The split prompts, with ``config.seed_topic_prompts`` topic prompts after the notebook's
    training prompts; on a chat model (a tokenizer with a chat template, ``task.chat_template``
    auto) each prompt is one user turn rendered by the model's own template, as the notebook's
    instruct model expects."""
    if config.num_validation_prompts:
        raise ConfigError(
            "task.num_validation_prompts: the seed task has the notebook's 15 prompts (10 to train on, "
            f"{NUM_TEST_PROMPTS} to test on) and none to spare for validation; set it to 0"
        )
    train, held_out = split_seed_prompts(config.split_seed)
    if config.seed_topic_prompts:
        train += topic_prompts(config.seed_topic_prompts, config.split_seed, held_out)
        logger.info(
            "seed task: %d training prompts (%d on the notebook's topics)", len(train), config.seed_topic_prompts
        )
    if uses_chat_template(config, tokenizer, "seed"):
        train = render_prompts(train, config, tokenizer, "seed task")
        held_out = render_prompts(held_out, config, tokenizer, "seed task")
    return Task(name="seed", train_prompts=train, test_prompts=held_out, reward=SeedHeuristicReward(), language="zh")
