"""Preference labels agree with the gold reward: always when deterministic, at the
Bradley-Terry rate when sampled; ties, near-ties and empty completions are never paired."""

from __future__ import annotations

import math
import random

import pytest

from alignlab.config import PreferenceConfig
from alignlab.data import PreferencePair
from alignlab.tasks.preferences import flip_labels, label_pairs


def test_deterministic_labels_follow_the_gold_reward() -> None:
    config = PreferenceConfig(completions_per_prompt=4, pairs_per_prompt=6, labeling="deterministic")
    completions, rewards = ["a", "b", "c", "d"], [0.3, -0.2, 0.3, 0.9]
    pairs = label_pairs("p", completions, rewards, [True] * 4, config, random.Random(0))
    assert len(pairs) == 5  # six pairs minus the tie (a, c)
    for pair in pairs:
        assert pair.chosen_reward > pair.rejected_reward
        assert rewards[completions.index(pair.chosen)] == pair.chosen_reward


def test_bradley_terry_labels_agree_at_the_model_rate() -> None:
    config = PreferenceConfig(completions_per_prompt=2, pairs_per_prompt=1, labeling="bradley_terry", temperature=0.5)
    rng = random.Random(0)
    agree = sum(
        label_pairs("p", ["x", "y"], [0.4, 0.0], [True, True], config, rng)[0].chosen == "x" for _ in range(20000)
    )
    expected = 1 / (1 + math.exp(-0.4 / 0.5))  # 0.690
    assert agree / 20000 == pytest.approx(expected, abs=0.01)


def test_gaps_duplicates_and_empty_completions_are_skipped() -> None:
    config = PreferenceConfig(
        completions_per_prompt=4, pairs_per_prompt=6, labeling="deterministic", min_reward_gap=0.25
    )
    pairs = label_pairs("p", ["same", "same", "", "other"], [0.9, 0.1, -1.0, 0.0], [True] * 4, config, random.Random(0))
    # Candidates: (same, same) is a duplicate, anything with "" is empty, (same 0.1, other 0.0) is too close.
    assert [(p.chosen, p.rejected) for p in pairs] == [("same", "other")]
    assert pairs[0].chosen_reward == 0.9


def test_unfinished_completions_are_recorded_as_such() -> None:
    config = PreferenceConfig(completions_per_prompt=2, pairs_per_prompt=1, labeling="deterministic")
    (pair,) = label_pairs("p", ["cut off", "done."], [0.9, 0.1], [False, True], config, random.Random(0))
    assert (pair.chosen, pair.chosen_ended, pair.rejected_ended) == ("cut off", False, True)


def test_label_noise_flips_nested_fractions_and_only_labels() -> None:
    pairs = [PreferencePair("p", f"good {i}", f"bad {i}", 0.5, 0.1, True, False) for i in range(5000)]
    light, heavy = flip_labels(pairs, 0.1, seed=0), flip_labels(pairs, 0.3, seed=0)
    flipped_light = {i for i, p in enumerate(light) if p.chosen.startswith("bad")}
    flipped_heavy = {i for i, p in enumerate(heavy) if p.chosen.startswith("bad")}
    assert len(flipped_light) / 5000 == pytest.approx(0.1, abs=0.015)
    assert len(flipped_heavy) / 5000 == pytest.approx(0.3, abs=0.02)
    assert flipped_light <= flipped_heavy
    # A flipped pair carries its completions' own rewards and ended flags.
    first = heavy[min(flipped_heavy)]
    assert (first.chosen_reward, first.rejected_reward, first.chosen_ended, first.rejected_ended) == (
        0.1,
        0.5,
        False,
        True,
    )
    assert flip_labels(pairs, 0.0, seed=0) == pairs


def test_data_size_subsets_are_seeded_and_nested() -> None:
    from alignlab.tasks.preferences import subset_pairs

    pairs = [PreferencePair(f"p{i}", f"c{i}", f"r{i}") for i in range(40)]
    small, large = subset_pairs(pairs, 10, 3), subset_pairs(pairs, 25, 3)
    assert len(small) == 10 and len(large) == 25 and set(map(id, small)) <= set(map(id, large))
    assert subset_pairs(pairs, 10, 3) == small and subset_pairs(pairs, 10, 4) != small
    assert subset_pairs(pairs, 0, 3) == pairs and subset_pairs(pairs, 99, 3) == pairs
    # In the pairs' own order.
    assert [pairs.index(p) for p in small] == sorted(pairs.index(p) for p in small)
