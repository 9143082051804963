"""Reward-model over-optimisation (Gao, Schulman and Hilton 2023): whether the measured gold
reward fell after its peak, beyond the noise between seeds, while the proxy the policy optimises
still rose; and, as a description of the curve, least-squares fits of Gao et al.'s functional
forms to gold reward and proxy score against d = sqrt(KL).

The flag rests on the measured points, not on the fits: two parameters pass through any two
points, and a fitted peak inside the explored range is a property of the functional form as much
as of the data (0.25 at n = 4 and 0.26 at n = 8 fit a curve that peaks in between).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats as _stats

from alignlab.report.statistics.records import (
    base_by_seed,
    checkpoints_by_index,
    finite,
    group_records,
    mean_of,
    optimises_reward_model,
    run_name,
    setting_label,
)

BEST_OF_N = "best-of-n"
FORM_BEST_OF_N = "best-of-n"
FORM_RL = "rl"
GAO_FORMULAS = {FORM_BEST_OF_N: "d(α − β d)", FORM_RL: "d(α − β log d)"}
# The one-sided level at which a fall of the gold reward after its peak counts as measured.
DECLINE_ALPHA = 0.05
MIN_POINTS = 3
# Why a curve is, or is not, flagged (``evidence`` of an over-optimisation entry).
MEASURED = "measured"
FEW_POINTS = "few_points"
PEAK_IS_LAST = "peak_is_last"
PROXY_NOT_RISING = "proxy_not_rising"
ONE_SEED = "one_seed"
WITHIN_NOISE = "within_noise"


def best_of_n_kl(n: int) -> float:
    """The analytical KL of best-of-n sampling, log n - (n - 1) / n (Stiennon et al. 2020,
    appendix G.3; an upper bound, Beirami et al. 2024)."""
    return math.log(n) - (n - 1) / n


def _design(d: np.ndarray, form: str) -> np.ndarray:
    if form == FORM_BEST_OF_N:
        return np.stack([d, -(d**2)], axis=1)
    if form == FORM_RL:
        return np.stack([d, -d * np.log(d)], axis=1)
    raise ValueError(f"unknown Gao form {form!r}")


def gao_curve(d: Sequence[float] | np.ndarray, alpha: float, beta: float, form: str) -> np.ndarray:
    """R(d) = d (alpha - beta d) (best-of-n) or d (alpha - beta log d) (RL); R(0) = 0."""
    x = np.asarray(d, dtype=float)
    if form == FORM_BEST_OF_N:
        return x * (alpha - beta * x)
    safe = np.where(x > 0, x, 1.0)
    return np.where(x > 0, x * (alpha - beta * np.log(safe)), 0.0)


def gao_slope(d: float, alpha: float, beta: float, form: str) -> float:
    """dR/dd at ``d`` > 0."""
    if form == FORM_BEST_OF_N:
        return alpha - 2 * beta * d
    return alpha - beta * (math.log(d) + 1)


def gao_peak(alpha: float, beta: float, form: str) -> tuple[float, float] | None:
    """(d*, R(d*)) of the maximum of the fitted curve, None when it has none (beta <= 0)."""
    if not beta > 0:
        return None
    if form == FORM_BEST_OF_N:
        d = alpha / (2 * beta)
        return (d, alpha * alpha / (4 * beta)) if d > 0 else None
    exponent = alpha / beta - 1
    if exponent > 700:
        return None
    d = math.exp(exponent)
    return d, d * beta


def gao_fit(d: Sequence[float], r: Sequence[float], form: str) -> dict[str, float | None] | None:
    """Least-squares fit of Gao et al.'s functional form to points (d, R) with d = sqrt(KL) and R
    relative to the base policy (R(0) = 0 by construction: points at d = 0 carry no information).
    Returns alpha, beta, r2 (None if R does not vary, or with two points: two parameters pass
    through any two points, so a fit there is an interpolation, not evidence for the form), the
    peak ``peak_d``, ``peak_kl`` (= d²) and
    ``peak_reward`` (None without a maximum), and ``n_points``; None with fewer than two
    distinct d > 0."""
    x, y = np.asarray(d, dtype=float), np.asarray(r, dtype=float)
    keep = (x > 0) & np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if np.unique(x).size < 2:
        return None
    design = _design(x, form)
    (alpha, beta), *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ np.array([alpha, beta])
    total = float(((y - y.mean()) ** 2).sum())
    peak = gao_peak(float(alpha), float(beta), form)
    return {
        "alpha": float(alpha),
        "beta": float(beta),
        "r2": None if total == 0 or x.size <= 2 else 1 - float(residual @ residual) / total,
        "peak_d": None if peak is None else peak[0],
        "peak_kl": None if peak is None else peak[0] ** 2,
        "peak_reward": None if peak is None else peak[1],
        "n_points": int(x.size),
    }


def decline_after_peak(gold: Sequence[Mapping[str, float]], alpha: float = DECLINE_ALPHA) -> dict[str, Any]:
    """How far the gold reward fell from its peak to the last point, and whether beyond noise.

    ``gold[i][seed]`` is the gold reward at point i (in training order, or in order of n) of a
    seed. The peak is the point with the highest mean over its seeds; ``decline`` is the peak's
    mean minus the last point's. The noise is the seeds': on the seeds that have both points, the
    per-seed falls ``g_s(peak) - g_s(last)`` get a one-sided paired t-test of a positive mean
    (n - 1 df; p = 0 when they do not vary and are positive), whose p is multiplied by the number
    of points before the last and capped at 1 (Bonferroni): the peak was picked among them as the
    highest, which alone makes a fall from it look positive. Returns ``peak_index``, ``decline``,
    ``decline_seeds`` (seeds with both points), ``decline_p`` (None with the peak at the last
    point or fewer than two such seeds) and ``measured`` (``decline_p < alpha``).
    """
    means = [mean_of(point.values()) for point in gold]
    if not means or any(m is None for m in means):
        return {"peak_index": None, "decline": None, "decline_seeds": 0, "decline_p": None, "measured": False}
    peak = max(range(len(means)), key=lambda i: means[i])
    last = len(means) - 1
    shared = [seed for seed in gold[peak] if seed in gold[last]]
    falls = np.array([gold[peak][seed] - gold[last][seed] for seed in shared], dtype=float)
    p_value = None
    if peak != last and falls.size >= 2:
        standard_error = float(falls.std(ddof=1)) / math.sqrt(falls.size)
        mean = float(falls.mean())
        if standard_error > 0:
            one_sided = float(_stats.t.sf(mean / standard_error, falls.size - 1))
        else:
            one_sided = 0.0 if mean > 0 else 1.0
        p_value = min(1.0, one_sided * last)
    return {
        "peak_index": peak,
        "decline": means[peak] - means[last],
        "decline_seeds": int(falls.size),
        "decline_p": p_value,
        "measured": p_value is not None and p_value < alpha,
    }


def _relative(value: Any, reference: float | None) -> float | None:
    return float(value) - reference if finite(value) and reference is not None else None


def _relative_to_base(
    entry: Mapping[str, Any], seed: Any, base_gold: Mapping[Any, float], base_proxy: Mapping[Any, float]
) -> tuple[Any, Any, float | None, float | None]:
    """(seed, KL, gold reward, proxy score) of a record or checkpoint, the last two relative to
    the same seed's base policy (the mean base gold reward for a seed without one)."""
    gold_ref = base_gold.get(seed, mean_of(base_gold.values()))
    # The reward model is standardised on base-policy samples: its base score is 0 unless measured.
    proxy_ref = base_proxy.get(seed, 0.0)
    return (
        seed,
        entry.get("kl"),
        _relative(entry.get("gold_reward"), gold_ref),
        _relative(entry.get("proxy_score"), proxy_ref),
    )


def _point(
    label: str,
    extra: Mapping[str, Any],
    kl: float | None,
    values: Sequence[tuple[Any, Any, float | None, float | None]],
) -> dict[str, Any] | None:
    """A measured point from its seeds' (seed, KL, gold, proxy): means over seeds (the KL given in
    ``kl``, else theirs), and each seed's gold reward (keyed by the seed as a string, as in JSON).
    None without a KL or a gold reward."""
    kl_mean = mean_of(v[1] for v in values) if kl is None else kl
    gold = mean_of(v[2] for v in values)
    if kl_mean is None or gold is None:
        return None
    return {
        "label": label,
        **extra,
        "kl": kl_mean,
        "d": math.sqrt(max(kl_mean, 0.0)),
        "gold": gold,
        "proxy": mean_of(v[3] for v in values),
        "gold_per_seed": {str(seed): g for seed, _, g, _ in values if g is not None},
    }


def _rl_points(
    group: Sequence[Mapping[str, Any]], base_gold: Mapping[Any, float], base_proxy: Mapping[Any, float]
) -> list[dict[str, Any]]:
    """Mean over seeds, per checkpoint index and for the final policy, of KL and of gold reward and
    proxy score relative to the same seed's base policy."""
    stages = [
        (f"checkpoint {j + 1}", [(c, r.get("seed"), c.get("step")) for r, c in at])
        for j, at in enumerate(checkpoints_by_index(group))
    ]
    stages.append(("final", [(r, r.get("seed"), None) for r in group]))
    points = []
    for label, entries in stages:
        values = [_relative_to_base(entry, seed, base_gold, base_proxy) for entry, seed, _ in entries]
        point = _point(label, {"step": mean_of(step for _, _, step in entries)}, None, values)
        if point is not None:
            points.append(point)
    return points


def _best_of_n_point(
    group: Sequence[Mapping[str, Any]], base_gold: Mapping[Any, float], base_proxy: Mapping[Any, float]
) -> tuple[str, dict[str, Any]] | None:
    """(setting of the parameters other than n, the point of this n), KL from the records or else
    log n - (n - 1)/n; None without a KL or a gold reward."""
    params = dict(group[0].get("params") or {})
    n = params.pop("n", None)
    kl = mean_of(r.get("kl") for r in group)
    if kl is None and finite(n) and n >= 1:
        kl = best_of_n_kl(n)
    values = [_relative_to_base(r, r.get("seed"), base_gold, base_proxy) for r in group]
    point = _point(f"n={n}", {"n": n}, kl, values) if kl is not None else None
    return None if point is None else (setting_label(params), point)


def _fit_entry(method: str, setting: str, form: str, points: list[dict[str, Any]]) -> dict[str, Any]:
    gold_fit = gao_fit([p["d"] for p in points], [p["gold"] for p in points], form)
    proxy_points = [p for p in points if p["proxy"] is not None]
    proxy_fit = gao_fit([p["d"] for p in proxy_points], [p["proxy"] for p in proxy_points], form)
    max_d = max((p["d"] for p in points), default=0.0)
    entry: dict[str, Any] = {
        "method": method,
        "setting": setting,
        "name": run_name(method, setting),
        "form": form,
        "formula": GAO_FORMULAS[form],
        "n_points": len(points),
        "max_d": max_d,
        "points": points,
    }
    for prefix, fit in (("", gold_fit), ("proxy_", proxy_fit)):
        for key in ("alpha", "beta", "r2"):
            entry[prefix + key] = None if fit is None else fit[key]
        entry[prefix + "peak_d"] = None if fit is None else fit["peak_d"]
        entry[prefix + "peak_kl"] = None if fit is None else fit["peak_kl"]
    entry["gold_peak_d"] = entry.pop("peak_d")
    entry["gold_peak_kl"] = entry.pop("peak_kl")
    entry["gold_peak_reward"] = None if gold_fit is None else gold_fit["peak_reward"]
    peak = entry["gold_peak_d"]
    entry["gold_peak_observed"] = peak is not None and 0 < peak <= max_d
    entry["proxy_slope_at_gold_peak"] = (
        gao_slope(peak, proxy_fit["alpha"], proxy_fit["beta"], form) if peak and proxy_fit is not None else None
    )
    entry.update(_measured_flag(points))
    return entry


def _measured_flag(points: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Over-optimisation as measured: at least ``MIN_POINTS`` points, the gold reward's peak before
    the last point, the proxy score higher at the last point than at the peak (means over seeds)
    and the fall from the peak beyond the seeds' noise (:func:`decline_after_peak`). ``evidence``
    names the first condition that fails, ``MEASURED`` when none does."""
    decline = decline_after_peak([p["gold_per_seed"] for p in points])
    peak = None if decline["peak_index"] is None else points[decline["peak_index"]]
    proxy_peak, proxy_last = (None, None) if peak is None else (peak["proxy"], points[-1]["proxy"])
    rise = proxy_last - proxy_peak if proxy_peak is not None and proxy_last is not None else None
    if len(points) < MIN_POINTS:
        evidence = FEW_POINTS
    elif decline["peak_index"] == len(points) - 1:
        evidence = PEAK_IS_LAST
    elif rise is None or rise <= 0:
        evidence = PROXY_NOT_RISING
    elif decline["decline_p"] is None:
        evidence = ONE_SEED
    elif not decline["measured"]:
        evidence = WITHIN_NOISE
    else:
        evidence = MEASURED
    return {
        "measured_peak_label": None if peak is None else peak["label"],
        "measured_peak_kl": None if peak is None else peak["kl"],
        "measured_peak_d": None if peak is None else peak["d"],
        "decline": decline["decline"],
        "decline_seeds": decline["decline_seeds"],
        "decline_p": decline["decline_p"],
        "proxy_rise": rise,
        "evidence": evidence,
        "overoptimized": evidence == MEASURED,
    }


def overoptimization(records: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """For every method and setting that optimised the learned reward model (its records' signal)
    and has proxy scores, its measured points of gold reward
    and proxy score relative to the base policy (RL methods along their checkpoints and final
    policy; best-of-n along its sweep of n, one curve per setting of its other parameters, KL from
    the record or log n - (n - 1)/n), the measured over-optimisation flag (:func:`_measured_flag`)
    and Gao et al.'s fits against d = sqrt(KL) as a description. Keyed by run name; {} without a
    base policy to measure R against."""
    base_gold = base_by_seed(records, "gold_reward")
    if not base_gold:
        return {}
    base_proxy = base_by_seed(records, "proxy_score")
    out: dict[str, dict[str, Any]] = {}
    bon: dict[str, list[dict[str, Any]]] = {}
    for (method, setting), group in group_records(records).items():
        if not any(optimises_reward_model(r) and finite(r.get("proxy_score")) for r in group):
            continue
        if method == BEST_OF_N:
            found = _best_of_n_point(group, base_gold, base_proxy)
            if found:
                bon.setdefault(found[0], []).append(found[1])
            continue
        points = _rl_points(group, base_gold, base_proxy)
        if points:
            out[run_name(method, setting)] = _fit_entry(method, setting, FORM_RL, points)
    for setting, points in bon.items():
        points.sort(key=lambda p: p["d"])
        out[run_name(BEST_OF_N, setting)] = _fit_entry(BEST_OF_N, setting, FORM_BEST_OF_N, points)
    return out
