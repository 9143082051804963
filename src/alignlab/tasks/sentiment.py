"""The default task: continue a movie-review prefix; the gold reward is VADER on the continuation.

This is the controlled-sentiment experiment of the DPO paper (Rafailov et al. 2023, sec. 6.1)
with a generated corpus in place of IMDb, so it runs offline in minutes.

The prompts are prefixes of generated reviews that the embedded model never saw in pretraining
(``review_prompts``). Drawing them means generating the model's 24,000 pretraining reviews to hold
them out, so the prompts of the usual split are stored instead, in ``data/sentiment_prompts.json``:
the first ``POOL_SIZE`` prompts for ``split_seed`` 1234 (the default), with the hash of the review
generator they came from and the pretraining corpus they were held out of.

- With ``split_seed`` 1234 and at most ``POOL_SIZE`` prompts in all, a task takes the pool's first
  ``num_train_prompts + num_test_prompts + num_validation_prompts``: training, test, validation. They are exactly what
  ``review_prompts`` draws: for every n up to the pool's size, ``review_prompts(n)`` is the pool's
  first n, which ``prompt_pool`` checks as it builds the pool. So every preset gets the prompts it
  always had, in the same order.
- Any other ``split_seed``, more prompts than stored, a review generator that has changed since the
  pool was stored, or an embedded model pretrained on another corpus than the pool was held out
  of: the prompts are drawn afresh (about a second), and a note is logged.

``python -m alignlab.tasks.sentiment`` rewrites the file; a test checks that it matches the code.

On a chat model (``task.chat_template`` auto with a template, or always) each prefix becomes one
user turn that asks for the review to be continued (``CHAT_INSTRUCTION``), rendered in the model's
own template: an instruction-tuned model answers a turn rather than continuing raw text. The gold
reward is still VADER on the response alone. The embedded model has no chat template, so its
prompts are the raw prefixes.
"""

from __future__ import annotations

import json
import random
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from transformers import PreTrainedTokenizerBase

from alignlab.base.corpus import generate_reviews
from alignlab.base.corpus_data import generator_hash
from alignlab.base.review_prompts import split_prompt
from alignlab.config import BaseBuildConfig, TaskConfig, from_dict
from alignlab.log import logger
from alignlab.tasks.prompts import render_prompts, uses_chat_template
from alignlab.tasks.rewards import VaderSentiment
from alignlab.tasks.task import Task

# Prompt reviews come from their own seed stream, far from any pretraining seed.
PROMPT_SEED_OFFSET = 7_919_000
POOL_FILE = Path(__file__).parent / "data" / "sentiment_prompts.json"
POOL_SEED = 1234  # TaskConfig.split_seed's default
# Over three times the most prompts that any preset asks for (TaskConfig's default 512 + 128).
POOL_SIZE = 2048
# What a chat model is asked, before the prefix; its answer is the continuation VADER scores.
CHAT_INSTRUCTION = "Continue this movie review:"


def pretraining_config() -> BaseBuildConfig:
    """The build config of the shipped English embedded model (the default one if not shipped)."""
    from alignlab.base import ASSETS_DIR

    build_config = ASSETS_DIR / "embedded" / "build_config.yaml"
    if not build_config.is_file():
        return BaseBuildConfig()
    return from_dict(BaseBuildConfig, yaml.safe_load(build_config.read_text()), str(build_config))


def pretraining_reviews() -> set[str]:
    """The reviews the embedded base model was pretrained on (to hold prompts out of them)."""
    config = pretraining_config()
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


def prompt_pool(size: int, seed: int, exclude: set[str]) -> list[str]:
    """``review_prompts(size, seed, exclude)``, checked to hold ``review_prompts(n, seed,
    exclude)`` as its first n prompts for every n up to ``size``.

    ``review_prompts(n)`` reads the first 4n reviews of its stream and only then moves on to
    another; so its prompts are the pool's first n exactly when the pool's k-th prompt comes from
    one of the stream's first 4k reviews, for every k. Raises ``ValueError`` where that fails.
    """
    rng = random.Random(seed)
    pool: dict[str, None] = {}
    for position, review in enumerate(generate_reviews(4 * size, seed + PROMPT_SEED_OFFSET)):
        if len(pool) == size:
            break
        if review in exclude:
            continue
        prefix = split_prompt(review, rng)[0]
        if prefix not in pool:
            if position >= 4 * (len(pool) + 1):
                raise ValueError(f"review_prompts({len(pool) + 1}) is not a prefix of longer draws; store fewer")
            pool[prefix] = None
    return list(pool)


def write_prompt_pool(path: Path = POOL_FILE) -> dict[str, Any]:
    """Draw the stored pool afresh and write it to ``path``; returns what was written."""
    config = pretraining_config()
    stored = {
        "about": "Held-out prompts of the sentiment task (alignlab/tasks/sentiment.py). Written by "
        "`python -m alignlab.tasks.sentiment`: do not edit.",
        "generator_hash": generator_hash(["en"]),
        "split_seed": POOL_SEED,
        "pretraining": {"num_reviews": config.num_reviews, "seed": config.seed},
        "prompts": prompt_pool(POOL_SIZE, POOL_SEED, pretraining_reviews()),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stored, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return stored


@cache
def stored_pool() -> dict[str, Any]:
    """The stored pool, read once per process."""
    return json.loads(POOL_FILE.read_text(encoding="utf-8"))


def _why_not_stored(num_prompts: int, split_seed: int) -> str | None:
    """Why the stored pool cannot serve a request, or None if it can."""
    pool = stored_pool()
    if split_seed != pool["split_seed"]:
        return f"split_seed is {split_seed}, not {pool['split_seed']}"
    if num_prompts > len(pool["prompts"]):
        return f"{num_prompts} prompts asked for, {len(pool['prompts'])} stored"
    if pool["generator_hash"] != generator_hash(["en"]):
        return "the review generator has changed since they were stored (`python -m alignlab.tasks.sentiment`)"
    config = pretraining_config()
    if pool["pretraining"] != {"num_reviews": config.num_reviews, "seed": config.seed}:
        return "the embedded model was pretrained on another corpus than the one they were held out of"
    return None


def task_prompts(num_prompts: int, split_seed: int) -> list[str]:
    """The first ``num_prompts`` held-out prompts for ``split_seed``: stored where they can be,
    drawn afresh otherwise (see the module docstring)."""
    why = _why_not_stored(num_prompts, split_seed)
    if why is None:
        return stored_pool()["prompts"][:num_prompts]
    logger.info("drawing the sentiment prompts afresh rather than using the stored ones: %s", why)
    return review_prompts(num_prompts, split_seed, pretraining_reviews())


def chat_prompt(prefix: str) -> str:
    """The user turn of a chat model for one review prefix."""
    return f"{CHAT_INSTRUCTION}\n\n{prefix}"


def sentiment_task(config: TaskConfig, tokenizer: PreTrainedTokenizerBase | None = None) -> Task:
    """The pool's first prompts: training, then test, then validation (so that asking for
    validation prompts leaves the training and test prompts as they were); on a chat model each
    is a user turn in its template (see the module docstring)."""
    n_train, n_test = config.num_train_prompts, config.num_test_prompts
    prompts = task_prompts(n_train + n_test + config.num_validation_prompts, config.split_seed)
    if uses_chat_template(config, tokenizer, "sentiment"):
        prompts = render_prompts([chat_prompt(p) for p in prompts], config, tokenizer, "sentiment task")
    return Task(
        name="sentiment",
        train_prompts=prompts[:n_train],
        test_prompts=prompts[n_train : n_train + n_test],
        validation_prompts=prompts[n_train + n_test :],
        reward=VaderSentiment(),
    )


if __name__ == "__main__":
    written = write_prompt_pool()
    print(f"wrote {len(written['prompts'])} prompts to {POOL_FILE}")
