"""Gold rewards: functions that score a batch of (prompt, completion) strings.

A reward is anything that satisfies the ``Reward`` protocol. Users plug their own in with
``module:function`` (see ``load_reward``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from alignlab.errors import AlignlabError


@runtime_checkable
class Reward(Protocol):
    """Scores completions of prompts; higher is better. One float per pair."""

    name: str

    def __call__(self, prompts: Sequence[str], completions: Sequence[str]) -> list[float]: ...


class VaderSentiment:
    """VADER's compound sentiment of the completion alone, in [-1, 1] (the prompt is ignored so
    a positive prefix earns nothing)."""

    name = "vader"

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._analyzer = SentimentIntensityAnalyzer()

    def __call__(self, prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        return [float(self._analyzer.polarity_scores(text)["compound"]) for text in completions]


class FunctionReward:
    """Adapts a plain function ``f(prompts, completions) -> list[float]`` to the protocol."""

    def __init__(self, fn: Callable[[Sequence[str], Sequence[str]], Sequence[float]], name: str) -> None:
        self.fn, self.name = fn, name

    def __call__(self, prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        scores = [float(s) for s in self.fn(prompts, completions)]
        if len(scores) != len(completions):
            raise AlignlabError(
                f"reward '{self.name}' returned {len(scores)} scores for {len(completions)} completions"
            )
        return scores


def load_reward(spec: str) -> Reward:
    """A built-in reward by name ('vader', 'seed_heuristic') or a user's ``module:function``."""
    if spec == "vader":
        return VaderSentiment()
    if spec == "seed_heuristic":
        from alignlab.tasks.seed_reward import SeedHeuristicReward

        return SeedHeuristicReward()
    if ":" not in spec:
        raise AlignlabError(f"reward '{spec}': expected 'vader', 'seed_heuristic' or module:function")
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # any import-time failure of user code is the user's to see
        raise AlignlabError(f"reward '{spec}': cannot import module '{module_name}': {err}") from None
    fn = getattr(module, attr, None)
    if fn is None or not callable(fn):
        raise AlignlabError(f"reward '{spec}': module '{module_name}' has no callable '{attr}'")
    return fn if isinstance(fn, Reward) else FunctionReward(fn, spec)
