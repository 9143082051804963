"""Glue between tasks, data and trainers, shared by the CLI and the comparison."""

from __future__ import annotations

from pathlib import Path

import torch

from alignlab.config import ExperimentConfig
from alignlab.data import PreferencePair, read_preferences, write_preferences
from alignlab.errors import DataError
from alignlab.models import load_causal_lm, load_tokenizer
from alignlab.tasks import Task, load_task
from alignlab.tasks.preferences import make_preferences


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


def make_preference_file(config: ExperimentConfig, out: Path) -> list[PreferencePair]:
    pairs = sample_preferences(config, task_for(config))
    write_preferences(out, pairs)
    return pairs


def load_preferences(config: ExperimentConfig, data: Path | None) -> list[PreferencePair]:
    """Pairs from ``--data``, else from ``preferences.path``, else made from the task."""
    path = data or (Path(config.preferences.path) if config.preferences.path else None)
    if path is not None:
        return read_preferences(path)
    return sample_preferences(config, task_for(config))


def train_online(
    method: str,
    config: ExperimentConfig,
    task: Task,
    out: Path,
    seed: int,
    resume: bool,
    reward_model_dir: str | None,
    init_path: str | None,
) -> dict:
    """Run PPO, GRPO or RLOO on the task's training prompts."""
    if method == "ppo":
        from alignlab.trainers.ppo import train_ppo

        return train_ppo(config, task.train_prompts, task.reward, out, seed, resume, reward_model_dir, init_path)
    if method == "grpo":
        from alignlab.trainers.grpo import train_grpo

        return train_grpo(config, task.train_prompts, task.reward, out, seed, resume, reward_model_dir, init_path)
    from alignlab.trainers.grpo import train_rloo

    return train_rloo(config, task.train_prompts, task.reward, out, seed, resume, reward_model_dir, init_path)
