"""Glue between tasks, data and trainers, shared by the CLI and the comparison."""

from __future__ import annotations

from pathlib import Path

import torch

from alignlab.config import ExperimentConfig
from alignlab.data import PreferencePair, read_preferences, write_preferences
from alignlab.errors import DataError
from alignlab.models import load_causal_lm, load_tokenizer
from alignlab.tasks import Task, load_task
from alignlab.tasks.preferences import make_preferences, vary_pairs


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def task_for(config: ExperimentConfig) -> Task:
    """The configured task, given the policy's tokenizer (conversational tasks format prompts
    with its chat template)."""
    return load_task(config.task, load_tokenizer(config.model))


def sample_preferences(config: ExperimentConfig, task: Task) -> list[PreferencePair]:
    """The task's own pairs if it has them, else pairs sampled from the base policy and labelled
    by the gold reward, with ``task.split_seed``: the same pairs for every method and run seed."""
    if task.preference_pairs is not None:
        return task.preference_pairs
    tokenizer = load_tokenizer(config.model)
    policy = load_causal_lm(config.model, device(), trainable=False)
    pairs = make_preferences(
        policy,
        tokenizer,
        task.train_prompts,
        task.reward,
        config.preferences,
        config.generation,
        config.task.max_prompt_tokens,
        config.task.split_seed,
    )
    if not pairs:
        raise DataError("no preference pairs could be made: every prompt's completions were identical or empty")
    return pairs


def varied(config: ExperimentConfig, pairs: list[PreferencePair]) -> list[PreferencePair]:
    """The pairs with ``preferences.max_pairs`` and ``label_noise`` applied (seeded by the split seed)."""
    return vary_pairs(pairs, config.preferences, config.task.split_seed)


def make_preference_file(config: ExperimentConfig, out: Path) -> list[PreferencePair]:
    pairs = varied(config, sample_preferences(config, task_for(config)))
    write_preferences(out, pairs)
    return pairs


def load_preferences(config: ExperimentConfig, data: Path | None) -> list[PreferencePair]:
    """Pairs from ``--data``, else from ``preferences.path``, else made from the task."""
    path = data or (Path(config.preferences.path) if config.preferences.path else None)
    pairs = read_preferences(path) if path is not None else sample_preferences(config, task_for(config))
    return varied(config, pairs)
