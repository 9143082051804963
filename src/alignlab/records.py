"""A comparison's records: one flat dict per evaluated policy (a method at one setting and seed,
or the base policy), built in one place so that every record has the same keys.

A record is the run's identity (``method``, ``params``, ``seed``) and its training ``signal``
(what it learned from: ``preferences``, ``reward_model`` or ``gold``; None for the base policy),
its held-out metrics (see ``evaluation.py``; ``checkpoints`` holds the same metrics along
training) and its cost (``RunCost``). ``metrics.json`` stores them as its ``results`` (``report/results.py`` adds
``run_dir`` and the length-controlled reward).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class RunCost:
    """What producing one policy cost. None where the quantity does not apply: the base policy
    was not trained; best-of-n trains nothing, so it has no trained tokens or FLOPs."""

    # Gold-reward calls consumed: the preference labels it learned from, or its own calls.
    gold_queries: int | None
    # Sequences through a forward and backward pass with gradient (``budget.sequences``' unit).
    trained_sequences: int | None
    # Training (or, for best-of-n, sampling and scoring) wall time.
    wall_time_s: float | None
    # The same plus its share of the shared stages it needed (its seed's reward model).
    pipeline_time_s: float | None
    # Tokens through a forward with gradient, per second of training.
    tokens_per_s: float | None
    # 6 x parameters x trained tokens (``trainers.costs.Cost``).
    train_flops: float | None
    # Memory the run needed above what the process already held.
    peak_mem_mb: float | None
    models_in_memory: int
    trainable_params: int
    total_params: int | None

    @classmethod
    def of_training(cls, cost: Mapping[str, Any], gold_queries: int, shared_time_s: float) -> RunCost:
        """The cost of a trained run from its summary's ``cost`` (``trainers.costs.Cost.as_dict``)."""
        return cls(
            gold_queries=gold_queries,
            trained_sequences=cost["sequences"],
            wall_time_s=cost["wall_time_s"],
            pipeline_time_s=cost["wall_time_s"] + shared_time_s,
            tokens_per_s=cost["tokens_per_s"],
            train_flops=cost.get("train_flops"),
            peak_mem_mb=cost["peak_mem_mb"],
            models_in_memory=cost["models_in_memory"],
            trainable_params=cost["trainable_params"],
            total_params=cost.get("total_params"),
        )

    @classmethod
    def untrained(cls, total_params: int) -> RunCost:
        """The base policy: nothing was trained, nothing to time."""
        return cls(None, None, None, None, None, None, None, 1, 0, total_params)


def run_record(
    method: str,
    params: Mapping[str, Any],
    seed: int,
    signal: str | None,
    metrics: Mapping[str, Any],
    cost: RunCost,
) -> dict[str, Any]:
    """The record of one evaluated policy: identity, metrics (``checkpoints`` [] when it has
    none), cost."""
    identity = {"method": method, "params": dict(params), "seed": seed, "signal": signal}
    return {**identity, "checkpoints": [], **metrics, **asdict(cost)}
