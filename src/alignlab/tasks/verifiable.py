"""Verifiable rewards: a completion is right or wrong (a math answer, a passing test), and the
reward says why as well as how much. A reward that can (``VerifiableReward``) lets the
evaluation report accuracy, format and pass@k apart from the reward's mean, and the online
trainers log the lengths of right and wrong answers as they train."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Verdict:
    """How one completion fared: ``format_ok`` (its answer is where and as the task expects it),
    ``correct`` (that answer is the right one; never without ``format_ok``) and the answer read."""

    format_ok: bool
    correct: bool
    answer: int | None


@runtime_checkable
class VerifiableReward(Protocol):
    """A gold reward that can also judge each completion right or wrong, and well-formed or not."""

    name: str

    def __call__(self, prompts: Sequence[str], completions: Sequence[str]) -> list[float]: ...

    def verdicts(self, prompts: Sequence[str], completions: Sequence[str]) -> list[Verdict]: ...


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased estimate of pass@k from ``n`` samples of which ``c`` are correct (Chen et al.
    2021, "Evaluating Large Language Models Trained on Code", eq. 1): the probability that ``k`` of
    the ``n`` samples, drawn without replacement, hold at least one correct one,
    1 - C(n - c, k) / C(n, k). Exact integer binomials, so no overflow or cancellation."""
    if not 0 <= c <= n:
        raise ValueError(f"pass@k: the correct count c must be in [0, n] = [0, {n}], got {c}")
    if not 1 <= k <= n:
        raise ValueError(f"pass@k: k must be in [1, n] = [1, {n}], got {k}")
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def mean_pass_at_k(correct_counts: Sequence[int], n: int, k: int) -> float:
    """pass@k averaged over prompts, each with ``n`` samples and ``correct_counts[i]`` correct."""
    if not correct_counts:
        raise ValueError("pass@k: no prompts")
    return sum(pass_at_k(n, c, k) for c in correct_counts) / len(correct_counts)
