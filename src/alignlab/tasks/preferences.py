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

from alignlab.config import PreferenceConfig, SamplingConfig
from alignlab.data import PreferencePair
from alignlab.rollout import decode_responses, generate
from alignlab.tasks.rewards import Reward


def label_pairs(
    prompt: str,
    completions: Sequence[str],
    rewards: Sequence[float],
    ended: Sequence[bool],
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
        pairs.append(
            PreferencePair(
                prompt, completions[win], completions[lose], rewards[win], rewards[lose], ended[win], ended[lose]
            )
        )
    return pairs


def sample_completions(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    samples_per_prompt: int,
    generation: SamplingConfig,
    max_prompt_tokens: int,
) -> tuple[list[list[str]], list[list[bool]]]:
    """``samples_per_prompt`` completions of every prompt from ``model``, as text, and whether
    each one ended (rather than being cut at ``max_new_tokens``)."""
    rollout = generate(model, tokenizer, prompts, samples_per_prompt, generation, max_prompt_tokens)
    texts = decode_responses(tokenizer, rollout)
    ended = rollout.ended.tolist()
    k = samples_per_prompt
    return [texts[i : i + k] for i in range(0, len(texts), k)], [ended[i : i + k] for i in range(0, len(ended), k)]


def make_preferences(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    reward: Reward,
    config: PreferenceConfig,
    generation: SamplingConfig,
    max_prompt_tokens: int,
    seed: int,
) -> list[PreferencePair]:
    """Sample completions of each prompt from the base policy, score them with the gold reward
    and label pairs. Deterministic for a given seed."""
    torch.manual_seed(seed)
    completions, ended = sample_completions(
        model, tokenizer, prompts, config.completions_per_prompt, generation, max_prompt_tokens
    )
    flat_prompts = [p for p, group in zip(prompts, completions) for _ in group]
    flat_rewards = reward(flat_prompts, [c for group in completions for c in group])
    rng = random.Random(seed)
    pairs = []
    k = config.completions_per_prompt
    for n, (prompt, group) in enumerate(zip(prompts, completions)):
        pairs += label_pairs(prompt, group, flat_rewards[n * k : (n + 1) * k], ended[n], config, rng)
    return pairs


def subset_pairs(pairs: Sequence[PreferencePair], count: int, seed: int) -> list[PreferencePair]:
    """A seeded random ``count`` of the pairs (all of them for 0), in their order: the data-size
    control. The draw is one fixed permutation, so a smaller subset is part of every larger one
    (a curve over data sizes adds data, never swaps it)."""
    if not count or count >= len(pairs):
        return list(pairs)
    keep = set(random.Random(seed + 2).sample(range(len(pairs)), len(pairs))[:count])
    return [pair for i, pair in enumerate(pairs) if i in keep]


def vary_pairs(pairs: Sequence[PreferencePair], preferences: PreferenceConfig, seed: int) -> list[PreferencePair]:
    """The pairs as the experiment controls of ``preferences`` vary them: the ``max_pairs`` subset,
    then ``label_noise`` of their labels flipped."""
    return flip_labels(subset_pairs(pairs, preferences.max_pairs, seed), preferences.label_noise, seed)


def flip_labels(pairs: Sequence[PreferencePair], eps: float, seed: int) -> list[PreferencePair]:
    """Preference label noise as an experimental control: swap chosen and rejected in a seeded
    fraction ``eps`` of the pairs (with their rewards and ended flags, so the recorded gold
    rewards stay true to each completion). Pair i flips when u_i < eps for one fixed uniform u_i
    per pair, so a larger eps flips a superset of the pairs a smaller one flips."""
    if eps <= 0:
        return list(pairs)
    rng = random.Random(seed + 1)
    out = []
    for pair in pairs:
        if rng.random() < eps:
            pair = PreferencePair(
                pair.prompt,
                pair.rejected,
                pair.chosen,
                pair.rejected_reward,
                pair.chosen_reward,
                pair.rejected_ended,
                pair.chosen_ended,
            )
        out.append(pair)
    return out
