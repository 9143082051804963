"""The report's statistics, as pure functions of plain data (numpy and scipy, no I/O).

Two layers:

* numeric functions of arrays: Student-t intervals (:func:`t_interval`), Holm-Bonferroni
  (:func:`holm_bonferroni`), the prompt-clustered paired bootstrap (:func:`paired_bootstrap`),
  the length regression (:func:`ols_slope`, :func:`length_controlled_mean`), Gao et al.'s
  over-optimisation fits (:func:`gao_fit`) and KL jumps (:func:`kl_jumps`);
* functions of ``metrics.json`` records (plain dicts) that apply them: :func:`length_control`,
  :func:`checkpoint_path`, :func:`paired_comparisons`, :func:`overoptimization`,
  :func:`label_noise_curves`, :func:`stability`, and :func:`analyze`, which returns them all
  as the keys that ``metrics.json`` stores.

Every record-level function tolerates missing fields (an older ``metrics.json``, runs without
checkpoints or proxy scores, a single seed): it leaves the affected entry out or sets it to None.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats as _stats

BASE_METHOD = "base"
# Methods that, when their record has a proxy score, optimise the learned reward model (and so
# can over-optimise it, Gao et al. 2023).
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
LABEL_NOISE_KEY = "preferences.label_noise"
BOOTSTRAP_SEED = 20230601
DEFAULT_RESAMPLES = 2000
DEFAULT_KL_JUMP_FACTOR = 2.0
# KL below this many nats counts as this many when looking for jumps: the first iterations of
# every run multiply a near-zero KL many times over, which is start-up, not instability.
KL_JUMP_FLOOR = 0.01
BASELINE_METHOD = "dpo"
FORM_BEST_OF_N = "best-of-n"
FORM_RL = "rl"
GAO_FORMULAS = {FORM_BEST_OF_N: "d(α − β d)", FORM_RL: "d(α − β log d)"}


# --------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------


def setting_label(params: Mapping[str, Any] | None) -> str:
    """{'beta': 0.1} -> 'beta=0.1'; 'default' without parameters."""
    return ",".join(f"{k}={v}" for k, v in (params or {}).items()) or "default"


def run_name(method: str, setting: str) -> str:
    """'dpo (beta=0.1)', or just 'dpo' for the default setting."""
    return method if setting == "default" else f"{method} ({setting})"


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _float_or_none(value: Any) -> float | None:
    return float(value) if _finite(value) else None


# --------------------------------------------------------------------------------------------
# Intervals and multiple testing
# --------------------------------------------------------------------------------------------


def t_quantile(dof: int, confidence: float = 0.95) -> float:
    """The two-sided ``confidence`` quantile of Student's t with ``dof`` degrees of freedom."""
    return float(_stats.t.ppf(0.5 + confidence / 2, dof))


def t_interval(values: Iterable[float | None], confidence: float = 0.95) -> dict[str, float | int | None]:
    """Mean, sample std (n - 1) and the half-width of the Student-t ``confidence`` interval of the
    mean over ``values`` (Nones and non-finite values dropped); ``ci95`` is None below two values."""
    xs = np.array([v for v in values if _finite(v)], dtype=float)
    n = int(xs.size)
    if n == 0:
        return {"mean": None, "std": None, "ci95": None, "n": 0}
    mean = float(xs.mean())
    if n == 1:
        return {"mean": mean, "std": 0.0, "ci95": None, "n": 1}
    std = float(xs.std(ddof=1))
    return {"mean": mean, "std": std, "ci95": t_quantile(n - 1, confidence) * std / math.sqrt(n), "n": n}


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


# --------------------------------------------------------------------------------------------
# Paired bootstrap over prompts
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Length control
# --------------------------------------------------------------------------------------------


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


def checkpoints_of(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A record's checkpoints, [] when it has none (or something that is not a list of dicts)."""
    checkpoints = record.get("checkpoints")
    if not isinstance(checkpoints, list):
        return []
    return [c for c in checkpoints if isinstance(c, Mapping)]


def _samples(entry: Mapping[str, Any]) -> tuple[list[float], list[float]] | None:
    gold, length = entry.get("sample_gold"), entry.get("sample_length")
    if not isinstance(gold, list) or not isinstance(length, list) or not gold or len(gold) != len(length):
        return None
    if not all(_finite(g) for g in gold) or not all(_finite(n) for n in length):
        return None
    return gold, length


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
        base = next((r for r in group if r.get("method") == BASE_METHOD and _samples(r)), None)
        pooled = [s for s in (_samples(r) for r in group) if s]
        if base is None or not pooled:
            continue
        slope = ols_slope([x for _, n in pooled for x in n], [y for g, _ in pooled for y in g])
        reference = float(np.mean(_samples(base)[1]))
        out["slopes"][str(seed)] = slope
        out["base_lengths"][str(seed)] = reference
        for record in group:
            samples = _samples(record)
            if samples and "run_dir" in record:
                out["records"][record["run_dir"]] = length_controlled_mean(*samples, slope, reference)
            checkpoints = checkpoints_of(record)
            if checkpoints and "run_dir" in record:
                values = []
                for checkpoint in checkpoints:
                    s = _samples(checkpoint)
                    values.append(length_controlled_mean(*s, slope, reference) if s else None)
                out["checkpoints"][record["run_dir"]] = values
    return out


# --------------------------------------------------------------------------------------------
# Checkpoint paths
# --------------------------------------------------------------------------------------------


def _mean_of(values: Iterable[Any]) -> float | None:
    xs = [float(v) for v in values if _finite(v)]
    return sum(xs) / len(xs) if xs else None


def checkpoint_path(
    records: Sequence[Mapping[str, Any]], lc_checkpoints: Mapping[str, Sequence[float | None]] | None = None
) -> list[dict[str, Any]]:
    """The mean training trajectory of one method and setting: per checkpoint index, the mean over
    seeds of step, KL, gold reward, mean length, proxy score (and length-controlled gold, given
    ``lc_checkpoints`` from :func:`length_control`); [] when no record has checkpoints. The final
    policies (the records themselves) are not part of it."""
    lists = [(r, checkpoints_of(r)) for r in records]
    depth = max((len(c) for _, c in lists), default=0)
    path = []
    for j in range(depth):
        at = [(r, c[j]) for r, c in lists if len(c) > j]
        point = {
            "index": j,
            "n_seeds": len(at),
            "step": _mean_of(c.get("step") for _, c in at),
            "kl": _mean_of(c.get("kl") for _, c in at),
            "gold_reward": _mean_of(c.get("gold_reward") for _, c in at),
            "mean_length": _mean_of(c.get("mean_length") for _, c in at),
            "proxy_score": _mean_of(c.get("proxy_score") for _, c in at),
        }
        if lc_checkpoints is not None:
            lcs = [lc_checkpoints.get(r.get("run_dir", "")) or [] for r, _ in at]
            point["lc_gold_reward"] = _mean_of(values[j] for values in lcs if len(values) > j)
        path.append(point)
    return path


# --------------------------------------------------------------------------------------------
# Groups of records
# --------------------------------------------------------------------------------------------


def group_records(records: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], list[Mapping[str, Any]]]:
    """(method, setting) -> its records, both in first-seen order."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for record in records:
        groups.setdefault((record["method"], setting_label(record.get("params"))), []).append(record)
    return groups


def _base_by_seed(records: Sequence[Mapping[str, Any]], key: str) -> dict[Any, float]:
    return {r.get("seed"): float(r[key]) for r in records if r.get("method") == BASE_METHOD and _finite(r.get(key))}


# --------------------------------------------------------------------------------------------
# Paired comparisons against a baseline
# --------------------------------------------------------------------------------------------


def choose_baseline(
    groups: Mapping[tuple[str, str], Sequence[Mapping[str, Any]]], preferred: str | None = None
) -> tuple[str, str] | None:
    """The (method, setting) others are compared with: the best setting (by mean gold reward) of
    ``preferred`` (default dpo) if it was run, else the first trained method's; only groups with
    per-sample gold rewards qualify."""
    usable = {key: group for key, group in groups.items() if any(_samples(r) for r in group)}

    def best_of(method: str) -> tuple[str, str] | None:
        keys = [key for key in usable if key[0] == method]
        if not keys:
            return None
        return max(keys, key=lambda k: _mean_of(r.get("gold_reward") for r in usable[k]) or -math.inf)

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
    reference = {r.get("seed"): _samples(r) for r in groups[chosen] if _samples(r)}
    rows = []
    for (method, setting), group in groups.items():
        if (method, setting) == chosen:
            continue
        differences = []
        for record in group:
            ours, theirs = _samples(record), reference.get(record.get("seed"))
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


# --------------------------------------------------------------------------------------------
# Over-optimisation (Gao, Schulman and Hilton 2023)
# --------------------------------------------------------------------------------------------


def best_of_n_kl(n: float) -> float:
    """The analytical KL of best-of-n sampling, log n - (n - 1) / n."""
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
    Returns alpha, beta, r2 (None if R does not vary), the peak ``peak_d``, ``peak_kl`` (= d²) and
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
        "r2": None if total == 0 else 1 - float(residual @ residual) / total,
        "peak_d": None if peak is None else peak[0],
        "peak_kl": None if peak is None else peak[0] ** 2,
        "peak_reward": None if peak is None else peak[1],
        "n_points": int(x.size),
    }


def _relative(value: Any, reference: float | None) -> float | None:
    return float(value) - reference if _finite(value) and reference is not None else None


def _rl_points(
    group: Sequence[Mapping[str, Any]], base_gold: Mapping[Any, float], base_proxy: Mapping[Any, float]
) -> list[dict[str, Any]]:
    """Mean over seeds, per checkpoint index and for the final policy, of KL and of gold reward and
    proxy score relative to the same seed's base policy."""
    fallback_gold = _mean_of(base_gold.values())

    def rel_point(entry: Mapping[str, Any], seed: Any) -> tuple[Any, Any, Any]:
        gold_ref = base_gold.get(seed, fallback_gold)
        # The reward model is standardised on base-policy samples: its base score is 0 unless measured.
        proxy_ref = base_proxy.get(seed, 0.0)
        return (
            entry.get("kl"),
            _relative(entry.get("gold_reward"), gold_ref),
            _relative(entry.get("proxy_score"), proxy_ref),
        )

    lists = [(r, checkpoints_of(r)) for r in group]
    depth = max((len(c) for _, c in lists), default=0)
    stages: list[tuple[str, list[tuple[Any, Any, Any]], list[Any]]] = []
    for j in range(depth):
        at = [(r, c[j]) for r, c in lists if len(c) > j]
        stages.append(
            (
                f"checkpoint {j + 1}",
                [rel_point(c, r.get("seed")) for r, c in at],
                [c.get("step") for _, c in at],
            )
        )
    stages.append(("final", [rel_point(r, r.get("seed")) for r in group], [None for _ in group]))
    points = []
    for label, values, steps in stages:
        kl = _mean_of(v[0] for v in values)
        gold = _mean_of(v[1] for v in values)
        if kl is None or gold is None:
            continue
        points.append(
            {
                "label": label,
                "step": _mean_of(steps),
                "kl": kl,
                "d": math.sqrt(max(kl, 0.0)),
                "gold": gold,
                "proxy": _mean_of(v[2] for v in values),
            }
        )
    return points


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
    base_gold = _base_by_seed(records, "gold_reward")
    if not base_gold:
        return {}
    base_proxy = _base_by_seed(records, "proxy_score")
    out: dict[str, dict[str, Any]] = {}
    bon: dict[str, list[dict[str, Any]]] = {}
    for (method, setting), group in group_records(records).items():
        if method not in REWARD_MODEL_METHODS or not any(_finite(r.get("proxy_score")) for r in group):
            continue
        if method == BEST_OF_N:
            params = dict(group[0].get("params") or {})
            n = params.pop("n", None)
            kl = _mean_of(r.get("kl") for r in group)
            if kl is None and _finite(n) and n >= 1:
                kl = best_of_n_kl(n)
            fallback = _mean_of(base_gold.values())
            gold = _mean_of(_relative(r.get("gold_reward"), base_gold.get(r.get("seed"), fallback)) for r in group)
            proxy = _mean_of(_relative(r.get("proxy_score"), base_proxy.get(r.get("seed"), 0.0)) for r in group)
            if kl is not None and gold is not None:
                point = {
                    "label": f"n={n}",
                    "n": n,
                    "kl": kl,
                    "d": math.sqrt(max(kl, 0.0)),
                    "gold": gold,
                    "proxy": proxy,
                }
                bon.setdefault(setting_label(params), []).append(point)
            continue
        points = _rl_points(group, base_gold, base_proxy)
        if points:
            out[run_name(method, setting)] = _fit_entry(method, setting, FORM_RL, points)
    for setting, points in bon.items():
        points.sort(key=lambda p: p["d"])
        out[run_name(BEST_OF_N, setting)] = _fit_entry(BEST_OF_N, setting, FORM_BEST_OF_N, points)
    return out


# --------------------------------------------------------------------------------------------
# Label noise
# --------------------------------------------------------------------------------------------


def label_noise_curves(records: Sequence[Mapping[str, Any]], default_noise: float = 0.0) -> list[dict[str, Any]]:
    """Gold reward (mean and Student-t 95 % interval over seeds) against the label-noise rate eps,
    per method and setting of its other parameters; only for methods with some record that swept
    ``preferences.label_noise`` (their other records count at ``default_noise``). [] if none did."""
    swept = {r["method"] for r in records if LABEL_NOISE_KEY in (r.get("params") or {})}
    curves: dict[tuple[str, str], dict[float, list[float]]] = {}
    for record in records:
        if record["method"] not in swept:
            continue
        params = dict(record.get("params") or {})
        eps = params.pop(LABEL_NOISE_KEY, default_noise)
        if not _finite(eps):
            continue
        values = curves.setdefault((record["method"], setting_label(params)), {}).setdefault(float(eps), [])
        if _finite(record.get("gold_reward")):
            values.append(float(record["gold_reward"]))
    out = []
    for (method, setting), by_eps in curves.items():
        points = []
        for eps in sorted(by_eps):
            summary = t_interval(by_eps[eps])
            if summary["mean"] is not None:
                points.append({"eps": eps, "n_seeds": summary["n"], "mean": summary["mean"], "ci95": summary["ci95"]})
        if points:
            out.append({"method": method, "setting": setting, "name": run_name(method, setting), "points": points})
    return out


# --------------------------------------------------------------------------------------------
# Stability
# --------------------------------------------------------------------------------------------


def kl_jumps(
    kls: Sequence[float], factor: float = DEFAULT_KL_JUMP_FACTOR, floor: float = KL_JUMP_FLOOR
) -> tuple[int, int]:
    """(jumps, transitions): how many consecutive pairs of logged KLs have KL_t > factor x
    max(KL_{t-1}, floor), out of how many pairs."""
    values = [float(v) for v in kls if _finite(v)]
    jumps = sum(1 for prev, cur in zip(values, values[1:]) if cur > factor * max(prev, floor))
    return jumps, max(len(values) - 1, 0)


def stability(
    records: Sequence[Mapping[str, Any]],
    histories: Mapping[str, Mapping[str, Any]] | None = None,
    factor: float = DEFAULT_KL_JUMP_FACTOR,
) -> list[dict[str, Any]]:
    """Per trained method and setting: the std over seeds of the final gold reward (None with one
    seed), the fraction of logged training steps whose ``objective/kl`` jumped (:func:`kl_jumps`,
    pooled over seeds; None without such histories) and the last ``value/explained_variance``
    (mean over seeds; PPO only)."""
    histories = histories or {}
    rows = []
    for (method, setting), group in group_records(records).items():
        if method == BASE_METHOD:
            continue
        gold = t_interval(r.get("gold_reward") for r in group)
        jumps = transitions = 0
        explained = []
        for record in group:
            train = (histories.get(record.get("run_dir", "")) or {}).get("train") or []
            j, t = kl_jumps([row.get("objective/kl") for row in train if row.get("objective/kl") is not None], factor)
            jumps, transitions = jumps + j, transitions + t
            last = next(
                (
                    row["value/explained_variance"]
                    for row in reversed(train)
                    if _finite(row.get("value/explained_variance"))
                ),
                None,
            )
            if last is not None:
                explained.append(last)
        rows.append(
            {
                "method": method,
                "setting": setting,
                "name": run_name(method, setting),
                "n_seeds": gold["n"],
                "gold_std": gold["std"] if gold["n"] > 1 else None,
                "kl_jumps": jumps if transitions else None,
                "kl_steps": transitions if transitions else None,
                "kl_jump_fraction": jumps / transitions if transitions else None,
                "explained_variance": _mean_of(explained),
            }
        )
    return rows


# --------------------------------------------------------------------------------------------
# Everything
# --------------------------------------------------------------------------------------------


def report_settings(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The report's settings from an experiment config dict, with defaults for older configs."""
    config = config or {}
    report = config.get("report") or {}
    evaluation = config.get("evaluation") or {}
    preferences = config.get("preferences") or {}
    resamples = report.get("bootstrap_resamples")
    factor = report.get("kl_jump_factor")
    noise = preferences.get("label_noise")
    k = evaluation.get("samples_per_prompt")
    return {
        "language": report.get("language") or "auto",
        "bootstrap_resamples": int(resamples) if _finite(resamples) and resamples >= 1 else DEFAULT_RESAMPLES,
        "kl_jump_factor": float(factor) if _finite(factor) and factor > 1 else DEFAULT_KL_JUMP_FACTOR,
        "label_noise": float(noise) if _finite(noise) else 0.0,
        "samples_per_prompt": int(k) if _finite(k) and k >= 1 else 1,
        "baseline": report.get("baseline"),
    }


ANALYSIS_KEYS = ("length_control", "paired_tests", "overoptimization", "label_noise", "stability")


def analyze(
    records: Sequence[Mapping[str, Any]],
    config: Mapping[str, Any] | None = None,
    histories: Mapping[str, Mapping[str, Any]] | None = None,
    keys: Iterable[str] = ANALYSIS_KEYS,
) -> dict[str, Any]:
    """The report's analyses named in ``keys``, as the ``metrics.json`` keys that hold them:
    ``length_control`` ({slopes, base_lengths}), ``paired_tests`` (None without per-sample
    rewards), ``overoptimization``, ``label_noise`` and ``stability``."""
    settings = report_settings(config)

    def lc() -> dict[str, Any]:
        control = length_control(records)
        return {"slopes": control["slopes"], "base_lengths": control["base_lengths"]}

    builders = {
        "length_control": lc,
        "paired_tests": lambda: paired_comparisons(
            records,
            settings["samples_per_prompt"],
            settings["bootstrap_resamples"],
            BOOTSTRAP_SEED,
            settings["baseline"],
        ),
        "overoptimization": lambda: overoptimization(records),
        "label_noise": lambda: label_noise_curves(records, settings["label_noise"]),
        "stability": lambda: stability(records, histories, settings["kl_jump_factor"]),
    }
    return {key: builders[key]() for key in keys}
