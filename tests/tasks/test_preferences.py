"""Preference labels agree with the gold reward: always when deterministic, at the
Bradley-Terry rate when sampled; ties, near-ties and empty completions are never paired."""

from __future__ import annotations

import math
import random

import pytest

from alignlab.config import PreferenceConfig
from alignlab.tasks.preferences import label_pairs


def test_deterministic_labels_follow_the_gold_reward() -> None:
    config = PreferenceConfig(completions_per_prompt=4, pairs_per_prompt=6, labeling="deterministic")
    completions, rewards = ["a", "b", "c", "d"], [0.3, -0.2, 0.3, 0.9]
    pairs = label_pairs("p", completions, rewards, config, random.Random(0))
    assert len(pairs) == 5  # six pairs minus the tie (a, c)
    for pair in pairs:
        assert pair.chosen_reward > pair.rejected_reward
        assert rewards[completions.index(pair.chosen)] == pair.chosen_reward


def test_bradley_terry_labels_agree_at_the_model_rate() -> None:
    config = PreferenceConfig(completions_per_prompt=2, pairs_per_prompt=1, labeling="bradley_terry", temperature=0.5)
    rng = random.Random(0)
    agree = sum(label_pairs("p", ["x", "y"], [0.4, 0.0], config, rng)[0].chosen == "x" for _ in range(20000))
    expected = 1 / (1 + math.exp(-0.4 / 0.5))  # 0.690
    assert agree / 20000 == pytest.approx(expected, abs=0.01)


def test_gaps_duplicates_and_empty_completions_are_skipped() -> None:
    config = PreferenceConfig(
        completions_per_prompt=4, pairs_per_prompt=6, labeling="deterministic", min_reward_gap=0.25
    )
    pairs = label_pairs("p", ["same", "same", "", "other"], [0.9, 0.1, -1.0, 0.0], config, random.Random(0))
    # Candidates: (same, same) is a duplicate, anything with "" is empty, (same 0.1, other 0.0) is too close.
    assert [(p.chosen, p.rejected) for p in pairs] == [("same", "other")]
    assert pairs[0].chosen_reward == 0.9
