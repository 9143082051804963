"""Length control: the gold reward each run would have had at the base policy's response length,
under a linear length effect pooled over the runs of a seed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from alignlab.report.statistics.records import BASE_METHOD, checkpoints_of, samples


def ols_slope(x: Sequence[float], y: Sequence[float]) -> float:
    """The least-squares slope of y on x (with an intercept); 0 when x does not vary."""
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    dx = xs - xs.mean()
    denominator = float(dx @ dx)
    return 0.0 if denominator == 0 else float(dx @ (ys - ys.mean()) / denominator)


def length_controlled_mean(
    gold: Sequence[float], length: Sequence[float], slope: float, reference_length: float
) -> float:
    """mean_i(gold_i - slope * (length_i - reference_length)): the gold reward the samples would
    have had at the reference length, under the pooled linear length effect ``slope``."""
    g, n = np.asarray(gold, dtype=float), np.asarray(length, dtype=float)
    return float(np.mean(g - slope * (n - reference_length)))


def length_control(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Length-controlled gold reward of every record (and of its checkpoints).

    Per seed, gold is regressed on response length over the samples of all that seed's records
    (OLS, one pooled slope b); each record is then read at the base policy's mean length L0:
    ``lc_gold = mean(gold_i - b (len_i - L0))``. Seeds without a base record with samples get no
    values. Returns ``{"records": {run_dir: lc}, "checkpoints": {run_dir: [lc or None, ...]},
    "slopes": {seed: b}, "base_lengths": {seed: L0}}`` (seeds as strings, as in JSON).
    """
    out: dict[str, Any] = {"records": {}, "checkpoints": {}, "slopes": {}, "base_lengths": {}}
    by_seed: dict[Any, list[Mapping[str, Any]]] = {}
    for record in records:
        by_seed.setdefault(record.get("seed"), []).append(record)
    for seed, group in by_seed.items():
        base = next((r for r in group if r.get("method") == BASE_METHOD and samples(r)), None)
        pooled = [s for s in (samples(r) for r in group) if s]
        if base is None or not pooled:
            continue
        slope = ols_slope([x for _, n in pooled for x in n], [y for g, _ in pooled for y in g])
        reference = float(np.mean(samples(base)[1]))
        out["slopes"][str(seed)] = slope
        out["base_lengths"][str(seed)] = reference
        for record in group:
            own = samples(record)
            if own and "run_dir" in record:
                out["records"][record["run_dir"]] = length_controlled_mean(*own, slope, reference)
            checkpoints = checkpoints_of(record)
            if checkpoints and "run_dir" in record:
                values = []
                for checkpoint in checkpoints:
                    s = samples(checkpoint)
                    values.append(length_controlled_mean(*s, slope, reference) if s else None)
                out["checkpoints"][record["run_dir"]] = values
    return out
