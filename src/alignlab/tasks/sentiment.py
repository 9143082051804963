"""The default task: continue a movie-review prefix; the gold reward is VADER on the continuation.

This is the controlled-sentiment experiment of the DPO paper (Rafailov et al. 2023, sec. 6.1)
with a generated corpus in place of IMDb, so it runs offline in minutes.
"""

from __future__ import annotations

import random

import yaml

from alignlab.base.corpus import generate_reviews, split_prompt
from alignlab.config import BaseBuildConfig, TaskConfig, from_dict
from alignlab.tasks import Task
from alignlab.tasks.rewards import VaderSentiment

# Prompt reviews come from their own seed stream, far from any pretraining seed.
PROMPT_SEED_OFFSET = 7_919_000


def pretraining_reviews() -> set[str]:
    """The reviews the embedded base model was pretrained on (to hold prompts out of them)."""
    from alignlab.base import ASSETS_DIR

    build_config = ASSETS_DIR / "embedded" / "build_config.yaml"
    config = (
        from_dict(BaseBuildConfig, yaml.safe_load(build_config.read_text()), str(build_config))
        if build_config.is_file()
        else BaseBuildConfig()
    )
    return set(generate_reviews(config.num_reviews, config.seed))


def review_prompts(num_prompts: int, seed: int, exclude: set[str]) -> list[str]:
    """Distinct review prefixes cut from reviews that are not in ``exclude``."""
    rng = random.Random(seed)
    prompts: dict[str, None] = {}
    batch = 4 * num_prompts
    offset = 0
    while len(prompts) < num_prompts:
        for review in generate_reviews(batch, seed + PROMPT_SEED_OFFSET + offset):
            if review not in exclude:
                prompts.setdefault(split_prompt(review, rng)[0], None)
                if len(prompts) == num_prompts:
                    break
        offset += 1
    return list(prompts)


def sentiment_task(config: TaskConfig, tokenizer: object = None) -> Task:
    prompts = review_prompts(
        config.num_train_prompts + config.num_eval_prompts, config.split_seed, pretraining_reviews()
    )
    return Task(
        name="sentiment",
        train_prompts=prompts[: config.num_train_prompts],
        eval_prompts=prompts[config.num_train_prompts :],
        reward=VaderSentiment(),
    )
