"""Student-t intervals of a mean."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from scipy import stats as _stats

from alignlab.report.statistics.records import finite


def t_quantile(dof: int, confidence: float = 0.95) -> float:
    """The two-sided ``confidence`` quantile of Student's t with ``dof`` degrees of freedom."""
    return float(_stats.t.ppf(0.5 + confidence / 2, dof))


def t_interval(values: Iterable[float | None], confidence: float = 0.95) -> dict[str, float | int | None]:
    """Mean, sample std (n - 1) and the half-width of the Student-t ``confidence`` interval of the
    mean over ``values`` (Nones and non-finite values dropped); ``ci95`` is None below two values."""
    xs = np.array([v for v in values if finite(v)], dtype=float)
    n = int(xs.size)
    if n == 0:
        return {"mean": None, "std": None, "ci95": None, "n": 0}
    mean = float(xs.mean())
    if n == 1:
        return {"mean": mean, "std": 0.0, "ci95": None, "n": 1}
    std = float(xs.std(ddof=1))
    return {"mean": mean, "std": std, "ci95": t_quantile(n - 1, confidence) * std / math.sqrt(n), "n": n}
