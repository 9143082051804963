"""Paired comparisons of methods, at two levels that answer different questions.

* **Between training runs (seeds)**: does method A reach a higher gold reward than method B?
  The unit of replication is the training run. Every method is trained on the same seeds and
  evaluated on the same prompts with the same sampling stream per seed, so the per-seed difference
  of mean gold reward pairs the runs; the paired t-test over seeds (n_seeds - 1 df) tests whether
  its mean is zero, Holm's step-down method controls the family-wise error over every comparison
  the report makes, and :mod:`~alignlab.report.statistics.power` says what the design could
  detect. With one seed there is no test between runs.
* **Within fixed checkpoints (prompts)**: how precisely were these particular trained models
  measured? The prompt-clustered bootstrap resamples prompts within each seed, the checkpoints
  held fixed. Its interval covers the evaluation noise only, not the variation between training
  runs, so it says nothing about which *method* is better: three seeds whose differences are
  +0.30, -0.02 and +0.01 come out p ~ 0.0005 here and p ~ 0.44 between runs.

No bootstrap over seeds: with the three to five seeds of a comparison, resampling seeds has too
few distinct resamples and its percentile interval is narrower than Student's t (Davison and
Hinkley 1997, sec. 2.5), while the t-test over seeds is exact for normal run-to-run variation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats as _stats

from alignlab.report.statistics.intervals import t_quantile
from alignlab.report.statistics.power import DEFAULT_ALPHA, DEFAULT_POWER, detectable_difference, seeds_needed
from alignlab.report.statistics.records import BASE_METHOD, finite, group_records, mean_of, run_name, samples

BOOTSTRAP_SEED = 20230601
DEFAULT_RESAMPLES = 2000
BASELINE_METHOD = "dpo"
# How the baseline was chosen: named by the caller (e.g. the setting chosen on validation
# prompts), or picked on the very data the report tests (which favours it).
CHOSEN_BY_CALLER = "given"
CHOSEN_ON_REPORTED_DATA = "reported_data"
# The outcome of a comparison between runs.
BETTER, WORSE, NOT_DISTINGUISHABLE = "better", "worse", "not_distinguishable"
ONE_SEED, NO_SHARED_SEED = "one_seed", "no_shared_seed"
PROMPT_LEVEL_SCOPE = "evaluation noise of fixed checkpoints"


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


def paired_t_over_seeds(
    differences: Sequence[float],
    alpha: float = DEFAULT_ALPHA,
    power: float = DEFAULT_POWER,
    confidence: float = 0.95,
) -> dict[str, float | int | None]:
    """The paired t-test over seeds of per-seed differences ``differences[s]`` (method minus
    reference, each the difference of the two runs' mean gold reward on seed s).

    Returns the mean ``difference``, the sample ``std`` (n - 1) of the differences, ``n_seeds``,
    ``df`` = n - 1, the Student-t ``confidence`` interval ``ci_low``/``ci_high``, ``t`` and the
    two-sided ``p_value`` (scipy.stats.ttest_1samp's), the ``detectable_difference`` at level
    ``alpha`` with ``power`` and the ``seeds_needed`` to detect the observed difference, both
    with the observed std (:mod:`~alignlab.report.statistics.power`). Below two seeds only the
    difference and the count. Differences that do not vary (std 0) have p = 0, or 1 when they
    are all zero, and no t.
    """
    values = np.array([d for d in differences if finite(d)], dtype=float)
    n = int(values.size)
    out: dict[str, float | int | None] = {
        "difference": float(values.mean()) if n else None,
        "n_seeds": n,
        "df": n - 1 if n > 1 else None,
        "std": None,
        "ci_low": None,
        "ci_high": None,
        "t": None,
        "p_value": None,
        "detectable_difference": None,
        "seeds_needed": None,
    }
    if n < 2:
        return out
    mean, std = float(values.mean()), float(values.std(ddof=1))
    standard_error = std / math.sqrt(n)
    if standard_error > 0:
        t = mean / standard_error
        p_value = float(2 * _stats.t.sf(abs(t), n - 1))
    else:
        t, p_value = None, 1.0 if mean == 0 else 0.0
    half_width = t_quantile(n - 1, confidence) * standard_error
    out.update(
        std=std,
        ci_low=mean - half_width,
        ci_high=mean + half_width,
        t=t,
        p_value=p_value,
        detectable_difference=detectable_difference(std, n, alpha, power),
        seeds_needed=seeds_needed(mean, std, alpha, power),
    )
    return out


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
    """Cluster bootstrap of a mean paired difference over prompts, the trained checkpoints fixed:
    its interval is the evaluation noise of these checkpoints, not a statement about methods.

    ``differences[s][p]`` is the difference (method - baseline) on prompt ``p`` of seed ``s``. The
    statistic is the mean over seeds of each seed's mean over prompts; a resample draws, within
    every seed, its prompts with replacement (prompts are the clusters: the samples of one prompt
    are not independent; seeds are fixed strata). The interval is the percentile interval; the
    two-sided p-value is that of the null-centred bootstrap, ``(1 + #{|t* - t| >= |t|}) / (B + 1)``.
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
    groups: Mapping[tuple[str, str], Sequence[Mapping[str, Any]]], requested: str | None = None
) -> tuple[tuple[str, str], str] | None:
    """The (method, setting) the others are compared with, and how it was chosen.

    ``requested`` is a run name (``run_name(method, setting)``, e.g. "dpo (beta=0.1)": the setting
    chosen on validation prompts) and is taken as given (``CHOSEN_BY_CALLER``); or a method name,
    whose best setting by mean gold reward on these records is taken. Without one, the best
    setting of dpo if it ran, else of the first trained method. A setting picked by its gold
    reward on the reported records is ``CHOSEN_ON_REPORTED_DATA``: the comparisons then favour
    it. Only groups with a gold reward qualify; None when none does. Raises ValueError for a
    requested name that matches no run with a gold reward.
    """
    usable = {key: group for key, group in groups.items() if any(finite(r.get("gold_reward")) for r in group)}

    def best_of(method: str) -> tuple[str, str] | None:
        keys = [key for key in usable if key[0] == method]
        if not keys:
            return None
        return max(keys, key=lambda k: mean_of(r.get("gold_reward") for r in usable[k]) or -math.inf)

    if requested is not None:
        named = next((key for key in usable if run_name(*key) == requested), None)
        if named is not None:
            return named, CHOSEN_BY_CALLER
        best = best_of(requested)
        if best is None:
            raise ValueError(f"baseline {requested!r} matches no run with a gold reward")
        return best, CHOSEN_ON_REPORTED_DATA
    first = next((key[0] for key in usable if key[0] != BASE_METHOD), None)
    for method in (BASELINE_METHOD, first):
        if method and (key := best_of(method)):
            return key, CHOSEN_ON_REPORTED_DATA
    return None


def _gold_by_seed(group: Sequence[Mapping[str, Any]]) -> dict[Any, float]:
    return {r.get("seed"): float(r["gold_reward"]) for r in group if finite(r.get("gold_reward"))}


def _seed_level_rows(
    groups: Mapping[tuple[str, str], Sequence[Mapping[str, Any]]],
    pairs: Sequence[tuple[tuple[str, str], tuple[str, str]]],
    alpha: float,
    power: float,
) -> list[dict[str, Any]]:
    """One row per (method, reference) pair: :func:`paired_t_over_seeds` of the per-seed
    differences of the records' ``gold_reward`` (each run's mean over the same prompts, so no
    per-sample data is needed) on the seeds both ran, Holm over the pairs with two seeds or more,
    and the outcome. The detectable difference and the seeds needed are at the Bonferroni level alpha / m
    (m tested pairs): the level Holm holds the smallest p-value to, so a difference that size is
    found with ``power`` whichever comparison it is in."""
    per_seed = {key: _gold_by_seed(group) for key, group in groups.items()}
    differences = []
    for method, reference in pairs:
        ours, theirs = per_seed[method], per_seed[reference]
        differences.append([ours[seed] - theirs[seed] for seed in ours if seed in theirs])
    tested = sum(1 for d in differences if len(d) > 1)
    level = alpha / max(tested, 1)
    rows: list[dict[str, Any]] = [
        {
            "method": method[0],
            "setting": method[1],
            "name": run_name(*method),
            "reference_method": reference[0],
            "reference_setting": reference[1],
            "reference": run_name(*reference),
            **paired_t_over_seeds(d, level, power),
        }
        for (method, reference), d in zip(pairs, differences)
    ]
    with_p = [row for row in rows if row["p_value"] is not None]
    for row, adjusted in zip(with_p, holm_bonferroni([row["p_value"] for row in with_p])):
        row["p_holm"] = adjusted
    for row in rows:
        row.setdefault("p_holm", None)
        if row["n_seeds"] == 0:
            row["outcome"] = NO_SHARED_SEED
        elif row["p_holm"] is None:
            row["outcome"] = ONE_SEED
        elif row["p_holm"] < alpha:
            row["outcome"] = BETTER if row["difference"] > 0 else WORSE
        else:
            row["outcome"] = NOT_DISTINGUISHABLE
    return rows


def _prompt_level_rows(
    groups: Mapping[tuple[str, str], Sequence[Mapping[str, Any]]],
    baseline: tuple[str, str],
    samples_per_prompt: int,
    resamples: int,
    seed: int,
) -> list[dict[str, Any]]:
    """Every other setting against the baseline, per seed both ran with per-sample gold rewards
    of equal length: the per-prompt differences, :func:`paired_bootstrap` and Holm over the rows."""
    reference = {r.get("seed"): samples(r) for r in groups[baseline] if samples(r)}
    rows = []
    for key, group in groups.items():
        if key == baseline or key[0] == BASE_METHOD:
            continue
        differences = []
        for record in group:
            ours, theirs = samples(record), reference.get(record.get("seed"))
            if ours and theirs and len(ours[0]) == len(theirs[0]):
                differences.append(
                    prompt_means(ours[0], samples_per_prompt) - prompt_means(theirs[0], samples_per_prompt)
                )
        if differences:
            rows.append({"method": key[0], "setting": key[1], "name": run_name(*key)})
            rows[-1].update(paired_bootstrap(differences, resamples, seed))
    for row, adjusted in zip(rows, holm_bonferroni([row["p_value"] for row in rows])):
        row["p_holm"] = adjusted
    return rows


def paired_comparisons(
    records: Sequence[Mapping[str, Any]],
    samples_per_prompt: int = 1,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    baseline: str | None = None,
    alpha: float = DEFAULT_ALPHA,
    power: float = DEFAULT_POWER,
) -> dict[str, Any] | None:
    """The report's comparisons of methods, as ``metrics.json``'s ``paired_tests``.

    ``seed_level``: between training runs, every trained setting against the baseline
    (:func:`choose_baseline` of ``baseline``) and against the base policy, one Holm family over
    all of them (:func:`_seed_level_rows`). ``prompt_level``: every trained setting against the
    baseline within the fixed checkpoints (:func:`_prompt_level_rows`), labelled
    ``PROMPT_LEVEL_SCOPE``; None without per-sample gold rewards. None when no baseline has a gold
    reward.
    """
    groups = group_records(records)
    chosen = choose_baseline(groups, baseline)
    if chosen is None:
        return None
    key, how = chosen
    trained = [k for k, group in groups.items() if k[0] != BASE_METHOD and _gold_by_seed(group)]
    pairs = [(k, key) for k in trained if k != key]
    base = next((k for k in groups if k[0] == BASE_METHOD and _gold_by_seed(groups[k])), None)
    if base is not None and base != key:
        pairs += [(k, base) for k in trained]
    seed_rows = _seed_level_rows(groups, pairs, alpha, power)
    tested = sum(1 for row in seed_rows if row["p_value"] is not None)
    prompt_rows = _prompt_level_rows(groups, key, samples_per_prompt, resamples, seed)
    return {
        "metric": "gold_reward",
        "baseline": {"method": key[0], "setting": key[1], "name": run_name(*key), "chosen_by": how},
        "confidence": 0.95,
        "alpha": alpha,
        "power": power,
        "seed_level": {
            "test": "paired t over seeds",
            "correction": "holm",
            "comparisons": tested,
            "detectable_alpha": alpha / max(tested, 1),
            "rows": seed_rows,
        },
        "prompt_level": (
            {
                "scope": PROMPT_LEVEL_SCOPE,
                "resamples": resamples,
                "bootstrap_seed": seed,
                "samples_per_prompt": samples_per_prompt,
                "correction": "holm",
                "rows": prompt_rows,
            }
            if prompt_rows
            else None
        ),
    }
