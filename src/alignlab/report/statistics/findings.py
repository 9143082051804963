"""Published claims checked at this scale: each finding names two groups of runs, a measurement
and the direction the paper found, and is tested over training runs (seeds), Holm-corrected over
the findings of the report, with what the design could detect.

A finding (one entry of a config's ``report.findings``) is one of three kinds:

* ``difference``: per seed, the measurement of side ``a`` minus side ``b`` (runs of one seed
  share their data and evaluation stream); a paired t-test over seeds. The claim is "a is higher"
  or, with a ``margin``, "a is at least as good" (non-inferiority: a - b > -margin).
* ``trend``: per seed, the slope of (a - b) against log2 of the control ``sweep`` that both sides
  were swept over (e.g. the number of preference pairs); a t-test of the slopes over seeds. The
  claim is "a gains on b as the control grows".
* ``overoptimization``: side ``a``'s gold reward falls, beyond the noise between seeds, after a
  peak along its training, while its proxy score still rises (the measured flag of
  ``overoptimization``); there is no contrast to test, so the verdict is that flag.

The verdict says no more than the test: *reproduced* where the Holm-corrected test finds the
claimed direction, *contradicted* where it finds the opposite (for non-inferiority: a worse than
b by more than the margin), and *inconclusive at this power* otherwise, with the smallest
difference the design could detect at 80 % power.

A measurement is a record's key (dotted for nested values, e.g. ``pass_at_k.8``), ``late:KEY``
(the mean of a logged training metric over the last quarter of the run's history, e.g.
``late:policy/entropy``), ``fluctuation:KEY`` (its standard deviation over the last half of the
run: how much it moves from iteration to iteration), or ``gold_at_kl`` (the gold reward read along each side's KL path, its
checkpoints and final policy, or best-of-n's sweep of n, at the largest KL both sides reach).
A side is a method (its runs at the configured or tuned setting, none of the swept values) with,
optionally, ``where``: the values of swept settings that pick a point of a sweep.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats as _stats

from alignlab.report.statistics.controls import CONTROL_KEYS
from alignlab.report.statistics.overoptimization import BEST_OF_N
from alignlab.report.statistics.paired import holm_bonferroni
from alignlab.report.statistics.power import DEFAULT_ALPHA, DEFAULT_POWER, detectable_difference, seeds_needed
from alignlab.report.statistics.records import BASE_METHOD, checkpoints_of, finite, run_name, setting_label
from alignlab.report.statistics.stability import late_fluctuation

REPRODUCED, CONTRADICTED, INCONCLUSIVE = "reproduced", "contradicted", "inconclusive"


# ------------------------------------------------------------------ sides and measurements


def _swept_keys(config: Mapping[str, Any] | None, method: str) -> set[str]:
    """The settings ``method``'s sweep varies, less best-of-n's n: its n is its budget, and its
    side is its whole sweep of n (a path of KL and gold reward), as in the report's frontier."""
    for spec in (config or {}).get("methods") or []:
        if spec.get("method") == method:
            return set(spec.get("sweep") or {}) - ({"n"} if method == BEST_OF_N else set())
    return set()


def side_records(
    records: Sequence[Mapping[str, Any]], side: Mapping[str, Any], config: Mapping[str, Any] | None
) -> list[Mapping[str, Any]]:
    """The records of ``side``: its method's runs whose swept settings are those of ``where``
    (absent from ``where``: at their configured value, i.e. not among the record's parameters;
    a run without a swept experiment control is at that control's configured value)."""
    where = dict(side.get("where") or {})
    swept = _swept_keys(config, side["method"]) | set(where)
    chosen = []
    for record in records:
        params = record.get("params") or {}
        if record.get("method") != side["method"]:
            continue
        if all(
            params.get(key, _control_value(config, key)) == where[key] if key in where else key not in params
            for key in swept
        ):
            chosen.append(record)
    return chosen


def _control_value(config: Mapping[str, Any] | None, key: str) -> Any:
    """The configured value of an experiment control (e.g. ``preferences.max_pairs``), which a
    run that does not sweep it runs at; None for a method's own setting (its configured value
    depends on its preset and overrides)."""
    return _nested(config or {}, key) if key in CONTROL_KEYS else None


def _nested(record: Mapping[str, Any], key: str) -> Any:
    value: Any = record
    for part in key.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def late_mean(history: Mapping[str, Any] | None, key: str) -> float | None:
    """The mean of ``key`` over the last quarter (at least one row) of a run's training history."""
    rows = [row.get(key) for row in (history or {}).get("train") or []]
    values = [float(v) for v in rows if finite(v)]
    if not values:
        return None
    late = values[len(values) - max(1, len(values) // 4) :]
    return sum(late) / len(late)


def measure_of(
    record: Mapping[str, Any], measure: str, histories: Mapping[str, Mapping[str, Any]] | None
) -> float | None:
    """One run's value of ``measure`` (a record key, ``late:KEY`` or ``fluctuation:KEY``), None
    where it has none."""
    history = (histories or {}).get(record.get("run_dir", ""))
    if measure.startswith("late:"):
        return late_mean(history, measure.removeprefix("late:"))
    if measure.startswith("fluctuation:"):
        key = measure.removeprefix("fluctuation:")
        return late_fluctuation([row.get(key) for row in (history or {}).get("train") or []])
    value = _nested(record, measure)
    return float(value) if finite(value) else None


def kl_path(records: Sequence[Mapping[str, Any]]) -> list[tuple[float, float]]:
    """(KL, gold reward) points of one seed's runs of a side, by KL: a run's checkpoints and final
    policy, or, for a side of several runs (best-of-n's values of n), each run's final point."""
    points = []
    for record in records:
        for entry in [*checkpoints_of(record), record]:
            if finite(entry.get("kl")) and finite(entry.get("gold_reward")):
                points.append((float(entry["kl"]), float(entry["gold_reward"])))
    return sorted(points)


def gold_at(path: Sequence[tuple[float, float]], kl: float) -> float | None:
    """The gold reward along ``path`` at ``kl``, linearly between measured points (None outside)."""
    if not path or kl < path[0][0] - 1e-12 or kl > path[-1][0] + 1e-12:
        return None
    return float(np.interp(kl, [p[0] for p in path], [p[1] for p in path]))


def _by_seed(records: Sequence[Mapping[str, Any]]) -> dict[Any, list[Mapping[str, Any]]]:
    out: dict[Any, list[Mapping[str, Any]]] = {}
    for record in records:
        out.setdefault(record.get("seed"), []).append(record)
    return out


def paired_values(
    a: Sequence[Mapping[str, Any]],
    b: Sequence[Mapping[str, Any]],
    measure: str,
    histories: Mapping[str, Mapping[str, Any]] | None,
    base: Mapping[Any, Mapping[str, Any]],
) -> dict[Any, tuple[float, float]]:
    """Seed -> (a's value, b's value) for the seeds both sides ran and measured. ``gold_at_kl``
    reads both paths, each starting at its seed's base policy (KL 0), at the smaller of their
    largest KLs."""
    a_seeds, b_seeds = _by_seed(a), _by_seed(b)
    out = {}
    for seed in a_seeds.keys() & b_seeds.keys():
        if measure == "gold_at_kl":
            start = [(0.0, float(base[seed]["gold_reward"]))] if seed in base else []
            path_a, path_b = start + kl_path(a_seeds[seed]), start + kl_path(b_seeds[seed])
            if len(path_a) < 2 or len(path_b) < 2:
                continue
            kl = min(path_a[-1][0], path_b[-1][0])
            values = (gold_at(path_a, kl), gold_at(path_b, kl))
        else:
            values = tuple(_mean(measure_of(r, measure, histories) for r in side[seed]) for side in (a_seeds, b_seeds))
        if all(v is not None for v in values):
            out[seed] = values
    return out


def _mean(values: Any) -> float | None:
    finite_values = [v for v in values if v is not None]
    return sum(finite_values) / len(finite_values) if finite_values else None


# ------------------------------------------------------------------ the tests


def _t_test(values: Sequence[float], shift: float = 0.0) -> dict[str, Any]:
    """Mean, std and 95 % interval over seeds, and the t statistic and two-sided p of the null
    mean = -shift (the one-sided p of non-inferiority is read from ``t``, ``_claimed_p``)."""
    x = np.asarray(values, dtype=float)
    n = int(x.size)
    out: dict[str, Any] = {"n_seeds": n, "effect": float(x.mean()) if n else None}
    if n < 2:
        return {**out, "std": None, "ci_low": None, "ci_high": None, "t": None, "p_value": None}
    mean, std = float(x.mean()), float(x.std(ddof=1))
    se = std / math.sqrt(n)
    half = float(_stats.t.ppf(0.975, n - 1)) * se
    centred = mean + shift
    if se > 0:
        t, p = centred / se, float(2 * _stats.t.sf(abs(centred / se), n - 1))
    else:
        t, p = (0.0, 1.0) if centred == 0 else (math.copysign(math.inf, centred), 0.0)
    return {**out, "std": std, "ci_low": mean - half, "ci_high": mean + half, "t": float(t), "p_value": p}


def _difference(finding: Mapping[str, Any], records, histories, config, base) -> dict[str, Any]:
    a = side_records(records, finding["a"], config)
    b = side_records(records, finding["b"], config)
    pairs = paired_values(a, b, finding["measure"], histories, base)
    differences = [va - vb for va, vb in pairs.values()]
    test = _t_test(differences, finding.get("margin") or 0.0)
    return {**test, "a_mean": _mean(v[0] for v in pairs.values()), "b_mean": _mean(v[1] for v in pairs.values())}


def _configured_value(config: Mapping[str, Any] | None, key: str) -> float | None:
    """The configured value of a dotted setting of the experiment (e.g. preferences.max_pairs),
    None where it is unset or 0 (for a data size: all the data, a count the config does not say)."""
    value = _control_value(config, key)
    return float(value) if finite(value) and value > 0 else None


def _sweep_points(
    records: Sequence[Mapping[str, Any]], side: Mapping[str, Any], key: str, config: Mapping[str, Any] | None
) -> dict[float, list[Mapping[str, Any]]]:
    """Value of the swept ``key`` -> the side's method's runs at it: the points of its sweep, and
    its configured runs at the configured value where the config names one."""
    method = side["method"]
    points: dict[float, list[Mapping[str, Any]]] = {}
    for record in records:
        if record.get("method") == method and key in (record.get("params") or {}):
            points.setdefault(float(record["params"][key]), []).append(record)
    configured = _configured_value(config, key)
    if configured is not None:
        points.setdefault(configured, []).extend(side_records(records, {"method": method}, config))
    return points


def _trend(finding: Mapping[str, Any], records, histories, config, base) -> dict[str, Any]:
    """Per seed, the least-squares slope of (a - b) against log2 of the sweep's value."""
    key = finding["sweep"]
    a_points = _sweep_points(records, finding["a"], key, config)
    b_points = _sweep_points(records, finding["b"], key, config)
    values = sorted(x for x in a_points.keys() & b_points.keys() if x > 0)
    slopes = []
    for seed in {r.get("seed") for runs in a_points.values() for r in runs}:
        xs, ys = [], []
        for x in values:
            measured = [
                _mean(measure_of(r, finding["measure"], histories) for r in points[x] if r.get("seed") == seed)
                for points in (a_points, b_points)
            ]
            if all(m is not None for m in measured):
                xs.append(math.log2(x))
                ys.append(measured[0] - measured[1])
        if len(xs) >= 2:
            slopes.append(float(np.polyfit(xs, ys, 1)[0]))
    return {**_t_test(slopes), "points": values}


KINDS = {"difference": _difference, "trend": _trend}


def runs_of_finding(
    finding: Mapping[str, Any], runs: Sequence[Mapping[str, Any]], config: Mapping[str, Any] | None
) -> list[Mapping[str, Any]]:
    """The runs (records, or planned runs as {method, params, seed}) whose measurements a
    finding's test reads: both sides' runs, for a trend each side's points of the sweep."""
    if finding["kind"] == "trend":
        sides = (finding["a"], finding["b"])
        return [r for side in sides for at in _sweep_points(runs, side, finding["sweep"], config).values() for r in at]
    return [r for side in (finding["a"], finding.get("b")) if side for r in side_records(runs, side, config)]


def evaluate_findings(
    findings: Sequence[Mapping[str, Any]],
    records: Sequence[Mapping[str, Any]],
    histories: Mapping[str, Mapping[str, Any]] | None,
    config: Mapping[str, Any] | None,
    overoptimization: Mapping[str, Mapping[str, Any]] | None = None,
    alpha: float = DEFAULT_ALPHA,
    power: float = DEFAULT_POWER,
) -> list[dict[str, Any]]:
    """Every finding's test, effect with its 95 % interval, Holm-adjusted p over the findings
    tested, detectable difference and verdict (module docstring)."""
    base = {r.get("seed"): r for r in records if r.get("method") == BASE_METHOD and finite(r.get("gold_reward"))}
    rows = []
    for finding in findings:
        row = {key: finding.get(key) for key in ("id", "claim", "claim_zh", "source", "kind", "measure", "panel")}
        row.update(
            a=finding.get("a"), b=finding.get("b"), margin=finding.get("margin") or 0.0, sweep=finding.get("sweep")
        )
        if finding["kind"] == "overoptimization":
            row.update(_overoptimized(side_records(records, finding["a"], config), overoptimization or {}))
        else:
            row.update(KINDS[finding["kind"]](finding, records, histories, config, base))
        rows.append(row)
    tested = [row for row in rows if row.get("p_value") is not None]
    level = alpha / max(len(tested), 1)
    for row, adjusted in zip(tested, holm_bonferroni([_claimed_p(row) for row in tested])):
        row["p_holm"] = adjusted
        row["detectable_difference"] = detectable_difference(row["std"], row["n_seeds"], level, power)
        # The seeds the observed effect (past a non-inferiority margin) would need at that power.
        row["seeds_needed"] = seeds_needed(row["effect"] + row["margin"], row["std"], level, power)
        row["verdict"] = _verdict(row, alpha)
    for row in rows:
        row.setdefault("p_holm", None)
        row.setdefault("detectable_difference", None)
        row.setdefault("seeds_needed", None)
        row.setdefault("verdict", INCONCLUSIVE)
    return rows


def _claimed_p(row: Mapping[str, Any]) -> float:
    """The p-value of the claim's test: two-sided for a direction, one-sided (a - b > -margin)
    for non-inferiority."""
    if row["margin"]:
        return float(_stats.t.sf(row["t"], row["n_seeds"] - 1))
    return row["p_value"]


def _verdict(row: Mapping[str, Any], alpha: float) -> str:
    if row["margin"]:
        if row["p_holm"] < alpha:
            return REPRODUCED
        return CONTRADICTED if row["ci_high"] is not None and row["ci_high"] < -row["margin"] else INCONCLUSIVE
    if row["p_holm"] >= alpha:
        return INCONCLUSIVE
    return REPRODUCED if row["effect"] > 0 else CONTRADICTED


def _overoptimized(side: Sequence[Mapping[str, Any]], entries: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The measured over-optimisation flag of the side's runs (their entry of ``overoptimization``:
    the same method and setting)."""
    names = {run_name(r["method"], setting_label(r.get("params"))) for r in side}
    entry = next((e for name, e in entries.items() if name in names), None)
    if entry is None:
        return {"n_seeds": 0, "effect": None, "evidence": "no_curve"}
    return {
        "n_seeds": entry.get("decline_seeds") or 0,
        "effect": entry.get("decline"),
        "p_value": None,
        "evidence": entry.get("evidence"),
        "verdict": REPRODUCED if entry.get("overoptimized") else INCONCLUSIVE,
    }
