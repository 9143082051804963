"""Evaluation metrics against hand-worked values and plain reference computations."""

from __future__ import annotations

import math
import random

import pytest
import torch

from alignlab.evaluation import EvalSamples, best_of_n, win_rate
from alignlab.rollout import Rollout
from alignlab.text import bleu, distinct_n, self_bleu, text_units


def test_distinct_n_by_hand() -> None:
    texts = ["the cat the cat", "a dog"]
    # unigrams: the, cat, the, cat, a, dog -> 4 distinct of 6; bigrams: (the cat), (cat the), (the cat), (a dog) -> 3 of 4.
    assert distinct_n(texts, 1) == pytest.approx(4 / 6)
    assert distinct_n(texts, 2) == pytest.approx(3 / 4)
    # Chinese counts characters: 好好学习 -> 好, 好, 学, 习: 3 distinct of 4.
    assert distinct_n(["好好学习"], 1) == pytest.approx(3 / 4)


def test_bleu_by_hand() -> None:
    hypothesis = "the cat sat on the mat".split()
    assert bleu(hypothesis, [hypothesis]) == pytest.approx(1.0)
    # Against "the cat sat on a mat", up to bigrams: unigram precision 5/6, bigram 3/5,
    # equal lengths (no brevity penalty): sqrt(5/6 * 3/5) = sqrt(1/2).
    reference = "the cat sat on a mat".split()
    assert bleu(hypothesis, [reference], max_n=2) == pytest.approx(math.sqrt(0.5))
    # Brevity penalty: hypothesis of 3 against a reference of 6 -> exp(1 - 2).
    assert bleu("the cat sat".split(), [reference], max_n=1) == pytest.approx(math.exp(-1.0))


def test_fast_self_bleu_equals_the_plain_definition() -> None:
    rng = random.Random(0)
    words = "good bad film plot actors music slow fast 很 好 电影".split()
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 12))) for _ in range(40)] + [""]
    units = [text_units(t) for t in texts]
    plain = [bleu(units[i], units[:i] + units[i + 1 :]) for i in range(len(units)) if units[i]]
    assert self_bleu(texts) == pytest.approx(sum(plain) / len(plain))


def test_win_rate_counts_ties_half() -> None:
    assert win_rate([1.0, 0.0, 0.5, 0.2], [0.0, 1.0, 0.5, 0.1]) == pytest.approx((1 + 0 + 0.5 + 1) / 4)


def test_best_of_n_keeps_the_best_of_each_block() -> None:
    rows = 6
    ids = torch.arange(rows).view(rows, 1)
    rollout = Rollout(ids, torch.ones_like(ids), ids, torch.ones_like(ids), torch.ones(rows, dtype=torch.bool))
    samples = EvalSamples(["p"] * 3 + ["q"] * 3, ["a", "b", "c", "d", "e", "f"], rollout)
    chosen = best_of_n(samples, torch.tensor([0.1, 0.9, 0.5, 0.3, 0.2, 0.8]), n=3)
    assert chosen.texts == ["b", "f"] and chosen.prompts == ["p", "q"]
    assert chosen.rollout.response_ids.flatten().tolist() == [1, 5]
