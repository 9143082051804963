"""Paired comparisons against a baseline: per-prompt differences of gold reward on the same
prompts, a prompt-clustered bootstrap of their mean and Holm-Bonferroni over the comparisons."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from alignlab.report.statistics.records import BASE_METHOD, group_records, mean_of, run_name, samples

BOOTSTRAP_SEED = 20230601
DEFAULT_RESAMPLES = 2000
BASELINE_METHOD = "dpo"


def holm_bonferroni(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error control), in the input's order:
    the i-th smallest p is multiplied by (m - i + 1), made monotone and capped at 1."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def prompt_means(sample_values: Sequence[float], samples_per_prompt: int) -> np.ndarray:
    """Per-prompt means of per-sample values, sample i belonging to prompt i // samples_per_prompt
    (a trailing incomplete prompt is averaged over the samples it has)."""
    values = np.asarray(sample_values, dtype=float)
    k = max(1, int(samples_per_prompt))
    prompts = np.arange(values.size) // k
    return np.bincount(prompts, weights=values) / np.bincount(prompts)


def paired_bootstrap(
    differences: Sequence[Sequence[float]],
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = 0.95,
) -> dict[str, float | int]:
    """Cluster bootstrap of a mean paired difference.

    ``differences[s][p]`` is the difference (method - baseline) on prompt ``p`` of seed ``s``. The
    statistic is the mean over seeds of each seed's mean over prompts; a resample draws, within
    every seed, its prompts with replacement (prompts are the clusters: the samples of one prompt
    are not independent). The interval is the percentile interval; the two-sided p-value is that
    of the null-centred bootstrap, ``(1 + #{|t* - t| >= |t|}) / (B + 1)``.
    """
    strata = [np.asarray(d, dtype=float) for d in differences if len(d)]
    if not strata:
        raise ValueError("paired_bootstrap needs at least one non-empty stratum")
    rng = np.random.default_rng(seed)
    observed = float(np.mean([d.mean() for d in strata]))
    boot = np.zeros(resamples)
    for d in strata:
        idx = rng.integers(0, d.size, size=(resamples, d.size))
        boot += d[idx].mean(axis=1)
    boot /= len(strata)
    alpha = 1 - confidence
    low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    extreme = int(np.sum(np.abs(boot - observed) >= abs(observed) - 1e-12))
    return {
        "difference": observed,
        "ci_low": float(low),
        "ci_high": float(high),
        "p_value": (1 + extreme) / (resamples + 1),
        "n_seeds": len(strata),
        "n_prompts": int(sum(d.size for d in strata)),
    }


def choose_baseline(
    groups: Mapping[tuple[str, str], Sequence[Mapping[str, Any]]], preferred: str | None = None
) -> tuple[str, str] | None:
    """The (method, setting) others are compared with: the best setting (by mean gold reward) of
    ``preferred`` (default dpo) if it was run, else the first trained method's; only groups with
    per-sample gold rewards qualify."""
    usable = {key: group for key, group in groups.items() if any(samples(r) for r in group)}

    def best_of(method: str) -> tuple[str, str] | None:
        keys = [key for key in usable if key[0] == method]
        if not keys:
            return None
        return max(keys, key=lambda k: mean_of(r.get("gold_reward") for r in usable[k]) or -math.inf)

    for method in (preferred, BASELINE_METHOD):
        if method and (key := best_of(method)):
            return key
    first = next((key[0] for key in usable if key[0] != BASE_METHOD), None)
    return best_of(first) if first else None


def paired_comparisons(
    records: Sequence[Mapping[str, Any]],
    samples_per_prompt: int = 1,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    baseline: str | None = None,
) -> dict[str, Any] | None:
    """Every method and setting against the baseline (:func:`choose_baseline`): per seed shared
    with the baseline, the per-prompt difference of mean gold reward on the same prompts, then
    :func:`paired_bootstrap` and Holm-Bonferroni over all comparisons. None when no baseline has
    per-sample gold rewards."""
    groups = group_records(records)
    chosen = choose_baseline(groups, baseline)
    if chosen is None:
        return None
    reference = {r.get("seed"): samples(r) for r in groups[chosen] if samples(r)}
    rows = []
    for (method, setting), group in groups.items():
        if (method, setting) == chosen:
            continue
        differences = []
        for record in group:
            ours, theirs = samples(record), reference.get(record.get("seed"))
            if ours and theirs and len(ours[0]) == len(theirs[0]):
                differences.append(
                    prompt_means(ours[0], samples_per_prompt) - prompt_means(theirs[0], samples_per_prompt)
                )
        row: dict[str, Any] = {"method": method, "setting": setting, "name": run_name(method, setting)}
        if differences:
            row.update(paired_bootstrap(differences, resamples, seed))
        else:
            row.update(difference=None, ci_low=None, ci_high=None, p_value=None, n_seeds=0, n_prompts=0)
        rows.append(row)
    tested = [row for row in rows if row["p_value"] is not None]
    for row, adjusted in zip(tested, holm_bonferroni([row["p_value"] for row in tested])):
        row["p_holm"] = adjusted
        row["significant"] = adjusted < 0.05
    for row in rows:
        row.setdefault("p_holm", None)
        row.setdefault("significant", None)
    return {
        "baseline": {"method": chosen[0], "setting": chosen[1], "name": run_name(*chosen)},
        "metric": "gold_reward",
        "resamples": resamples,
        "bootstrap_seed": seed,
        "samples_per_prompt": samples_per_prompt,
        "confidence": 0.95,
        "correction": "holm-bonferroni",
        "rows": rows,
    }
