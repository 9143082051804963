"""Reward-model over-optimisation (Gao, Schulman and Hilton 2023): least-squares fits of gold
reward and proxy score against d = sqrt(KL), and whether the gold reward peaks inside the explored
range while the proxy the policy optimises still rises."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from alignlab.evaluation import best_of_n_kl
from alignlab.report.statistics.records import (
    base_by_seed,
    checkpoints_by_index,
    finite,
    group_records,
    mean_of,
    run_name,
    setting_label,
)

# Methods that, when their record has a proxy score, optimise the learned reward model (and so
# can over-optimise it).
REWARD_MODEL_METHODS = (
    "ppo",
    "grpo",
    "dr-grpo",
    "dapo",
    "gspo",
    "rloo",
    "reinforce++",
    "online-dpo",
    "best-of-n",
)
BEST_OF_N = "best-of-n"
FORM_BEST_OF_N = "best-of-n"
FORM_RL = "rl"
GAO_FORMULAS = {FORM_BEST_OF_N: "d(α − β d)", FORM_RL: "d(α − β log d)"}


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


def _relative(value: Any, reference: float | None) -> float | None:
    return float(value) - reference if finite(value) and reference is not None else None


def _relative_to_base(
    entry: Mapping[str, Any], seed: Any, base_gold: Mapping[Any, float], base_proxy: Mapping[Any, float]
) -> tuple[Any, float | None, float | None]:
    """(KL, gold reward, proxy score) of a record or checkpoint, the last two relative to the same
    seed's base policy (the mean base gold reward for a seed without one)."""
    gold_ref = base_gold.get(seed, mean_of(base_gold.values()))
    # The reward model is standardised on base-policy samples: its base score is 0 unless measured.
    proxy_ref = base_proxy.get(seed, 0.0)
    return (
        entry.get("kl"),
        _relative(entry.get("gold_reward"), gold_ref),
        _relative(entry.get("proxy_score"), proxy_ref),
    )


def _point(label: str, extra: Mapping[str, Any], kl: float, gold: float, proxy: float | None) -> dict[str, Any]:
    return {"label": label, **extra, "kl": kl, "d": math.sqrt(max(kl, 0.0)), "gold": gold, "proxy": proxy}


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
        kl = mean_of(v[0] for v in values)
        gold = mean_of(v[1] for v in values)
        if kl is None or gold is None:
            continue
        step = mean_of(step for _, _, step in entries)
        points.append(_point(label, {"step": step}, kl, gold, mean_of(v[2] for v in values)))
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
    gold = mean_of(v[1] for v in values)
    if kl is None or gold is None:
        return None
    return setting_label(params), _point(f"n={n}", {"n": n}, kl, gold, mean_of(v[2] for v in values))


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
    # Over-optimisation: the gold reward turns down inside the explored KL range while the proxy
    # the policy optimises is still rising there.
    entry["overoptimized"] = bool(
        entry["gold_peak_observed"]
        and entry["proxy_slope_at_gold_peak"] is not None
        and entry["proxy_slope_at_gold_peak"] > 0
    )
    return entry


def overoptimization(records: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Gao et al.'s fits of gold reward and proxy score against d = sqrt(KL), for every method and
    setting that optimised the learned reward model (one of ``REWARD_MODEL_METHODS`` whose records
    have a proxy score): RL methods along their checkpoints and final policy, best-of-n along its
    sweep of n (one fit per setting of its other parameters, KL from the record or
    log n - (n - 1)/n). Keyed by run name; {} without a base policy to measure R against."""
    base_gold = base_by_seed(records, "gold_reward")
    if not base_gold:
        return {}
    base_proxy = base_by_seed(records, "proxy_score")
    out: dict[str, dict[str, Any]] = {}
    bon: dict[str, list[dict[str, Any]]] = {}
    for (method, setting), group in group_records(records).items():
        if method not in REWARD_MODEL_METHODS or not any(finite(r.get("proxy_score")) for r in group):
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
