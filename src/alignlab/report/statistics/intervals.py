"""Intervals of a mean: Student's t over independent values, and the standard error of a mean over
clustered values (the samples of one prompt)."""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence

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


def clustered_mean_and_stderr(values: Sequence[float], clusters: Sequence[Hashable]) -> tuple[float, float]:
    """The mean of ``values`` and its standard error when the values of one cluster (``clusters[i]``
    labels value i: the samples of one prompt) are not independent.

    With G clusters of sums S_g and sizes n_g, N values and mean m, the cluster-robust variance of
    m is ``G / (G - 1) * sum_g (S_g - n_g m)^2 / N^2`` (Cameron and Miller 2015, eq. 11, with its
    small-sample factor). For clusters of equal size it is the variance of the cluster means over
    G, i.e. the standard error is std(cluster means, ddof=1) / sqrt(G); for singleton clusters it
    is the usual std(values, ddof=1) / sqrt(N). The standard error is 0 with one cluster (nothing
    to estimate it from). Raises ValueError without values or with labels of another length.
    """
    xs = np.asarray(values, dtype=float)
    if xs.size == 0 or len(clusters) != xs.size:
        raise ValueError("clustered_mean_and_stderr needs one cluster label per value, and values")
    ids: dict[Hashable, int] = {}
    index = np.array([ids.setdefault(c, len(ids)) for c in clusters])
    mean = float(xs.mean())
    groups = len(ids)
    if groups < 2:
        return mean, 0.0
    residual_sums = np.bincount(index, weights=xs - mean)
    variance = groups / (groups - 1) * float(residual_sums @ residual_sums) / xs.size**2
    return mean, math.sqrt(variance)
