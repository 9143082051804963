"""Reward model: Bradley-Terry training on the task's pairs, and the saved normalisation."""

from __future__ import annotations

import json

from scipy.stats import binomtest

from alignlab.models import load_reward_normalization


def test_reward_model_ranks_held_out_pairs(reward_model_dir) -> None:
    # The session's reward model: the default preset's settings on the default task's pairs,
    # judged on the pairs of held-out prompts (about 300, at an accuracy near 0.63). A one-sided
    # binomial test against chance, at a level a few pairs more or less (floating point on another
    # CPU) cannot cross.
    summary = json.loads((reward_model_dir.parent / "summary.json").read_text())
    n = summary["eval_pairs"]
    correct = round(summary["final_eval"]["eval/accuracy"] * n)
    assert binomtest(correct, n, 0.5, alternative="greater").pvalue < 1e-3, correct / n
    mean, std = load_reward_normalization(reward_model_dir)
    assert std > 0 and (mean, std) == (summary["normalization"]["mean"], summary["normalization"]["std"])
    assert (reward_model_dir / "config.json").is_file()
