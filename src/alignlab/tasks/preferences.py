"""Preference pairs sampled from the base policy and labelled by the gold reward.

Every method learns from the same pairs: DPO directly, the reward model (and so PPO) through them.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from alignlab.config import GenerationConfig, PreferenceConfig
from alignlab.data import PreferencePair
from alignlab.rollout import decode_responses, sample, tokenize_prompts
from alignlab.tasks.rewards import Reward


def label_pairs(
    prompt: str,
    completions: Sequence[str],
    rewards: Sequence[float],
    config: PreferenceConfig,
    rng: random.Random,
) -> list[PreferencePair]:
    """Draw up to ``pairs_per_prompt`` distinct pairs of different completions of one prompt and
    label each: deterministically (the larger gold reward wins; ties are dropped) or by sampling
    the Bradley-Terry model P(a > b) = sigmoid((r_a - r_b) / temperature). Empty completions are
    never paired (a preference file must not hold empty responses)."""
    usable = [i for i, text in enumerate(completions) if text.strip()]
    candidates = [
        (i, j)
        for i, j in itertools.combinations(usable, 2)
        if completions[i] != completions[j] and abs(rewards[i] - rewards[j]) >= config.min_reward_gap
    ]
    if config.labeling == "deterministic":
        candidates = [(i, j) for i, j in candidates if rewards[i] != rewards[j]]
    rng.shuffle(candidates)
    pairs = []
    for i, j in candidates[: config.pairs_per_prompt]:
        if config.labeling == "deterministic":
            i_wins = rewards[i] > rewards[j]
        else:
            i_wins = rng.random() < 1.0 / (1.0 + math.exp(-(rewards[i] - rewards[j]) / config.temperature))
        win, lose = (i, j) if i_wins else (j, i)
        pairs.append(PreferencePair(prompt, completions[win], completions[lose], rewards[win], rewards[lose]))
    return pairs


def sample_completions(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    samples_per_prompt: int,
    generation: GenerationConfig,
    max_prompt_tokens: int,
) -> list[list[str]]:
    """``samples_per_prompt`` completions of every prompt from ``model``, as text."""
    ids, mask = tokenize_prompts(tokenizer, prompts, max_prompt_tokens)
    rollout = sample(
        model,
        tokenizer,
        ids.repeat_interleave(samples_per_prompt, dim=0),
        mask.repeat_interleave(samples_per_prompt, dim=0),
        generation,
    )
    texts = decode_responses(tokenizer, rollout.response_ids, rollout.response_mask)
    return [texts[i : i + samples_per_prompt] for i in range(0, len(texts), samples_per_prompt)]


def make_preferences(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    reward: Reward,
    config: PreferenceConfig,
    generation: GenerationConfig,
    max_prompt_tokens: int,
    seed: int,
) -> list[PreferencePair]:
    """Sample completions of each prompt from the base policy, score them with the gold reward
    and label pairs. Deterministic for a given seed."""
    torch.manual_seed(seed)
    completions = sample_completions(
        model, tokenizer, prompts, config.completions_per_prompt, generation, max_prompt_tokens
    )
    flat_prompts = [p for p, group in zip(prompts, completions) for _ in group]
    flat_rewards = reward(flat_prompts, [c for group in completions for c in group])
    rng = random.Random(seed)
    pairs = []
    k = config.completions_per_prompt
    for n, (prompt, group) in enumerate(zip(prompts, completions)):
        pairs += label_pairs(prompt, group, flat_rewards[n * k : (n + 1) * k], config, rng)
    return pairs
