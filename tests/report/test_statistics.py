"""The report's statistics against hand-worked values and scipy."""

from __future__ import annotations

import ast
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from synthetic import (
    BON_GOLD,
    BON_NS,
    BON_PROXY,
    NOISE_GOLD,
    PPO_GOLD,
    PPO_PROXY,
    build_records,
    ppo_history,
)

import alignlab.report.statistics
from alignlab.report.statistics import (
    best_of_n_kl,
    checkpoint_path,
    clustered_mean_and_stderr,
    data_size_curves,
    decline_after_peak,
    gao_curve,
    gao_fit,
    gao_peak,
    holm_bonferroni,
    kl_jumps,
    label_noise_curves,
    length_control,
    length_controlled_mean,
    ols_slope,
    overoptimization,
    paired_bootstrap,
    prompt_means,
    report_settings,
    stability,
    t_interval,
    t_quantile,
)

# --------------------------------------------------------------------------------------------
# Student t
# --------------------------------------------------------------------------------------------


def test_t_interval_matches_scipy_and_the_textbook() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    summary = t_interval(values)
    assert summary["mean"] == 2.5 and summary["n"] == 4
    assert summary["std"] == pytest.approx(math.sqrt(5 / 3))
    low, high = stats.t.interval(0.95, 3, loc=2.5, scale=stats.sem(values))
    assert summary["ci95"] == pytest.approx((high - low) / 2)
    assert summary["ci95"] == pytest.approx(3.182446 * math.sqrt(5 / 3) / 2, rel=1e-6)
    assert t_quantile(1) == pytest.approx(12.7062, abs=1e-4)
    assert t_quantile(30) == pytest.approx(2.0423, abs=1e-4)


def test_t_interval_degrades_with_few_values() -> None:
    assert t_interval([]) == {"mean": None, "std": None, "ci95": None, "n": 0}
    assert t_interval([0.3, None, math.nan]) == {"mean": 0.3, "std": 0.0, "ci95": None, "n": 1}


# --------------------------------------------------------------------------------------------
# Holm-Bonferroni
# --------------------------------------------------------------------------------------------


def test_holm_on_known_p_values() -> None:
    # Sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> 0.06 (monotone).
    assert holm_bonferroni([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm_bonferroni([0.5, 0.6]) == [1.0, 1.0]
    assert holm_bonferroni([0.02]) == [0.02]
    assert holm_bonferroni([]) == []


# --------------------------------------------------------------------------------------------
# Paired bootstrap
# --------------------------------------------------------------------------------------------


def test_prompt_means() -> None:
    assert prompt_means([1, 2, 3, 4, 5, 6], 2).tolist() == [1.5, 3.5, 5.5]
    assert prompt_means([1, 2, 3], 2).tolist() == [1.5, 3.0]


def test_paired_bootstrap_edge_cases() -> None:
    constant = paired_bootstrap([[0.2] * 10], resamples=200)
    assert constant["difference"] == pytest.approx(0.2)
    assert (constant["ci_low"], constant["ci_high"]) == pytest.approx((0.2, 0.2))
    assert constant["p_value"] == pytest.approx(1 / 201)
    # A difference of exactly zero is as likely as it gets.
    assert paired_bootstrap([[1.0, -1.0] * 5], resamples=200)["p_value"] == 1.0
    # Seeds are strata weighted equally: (mean 1 + mean 3) / 2.
    two = paired_bootstrap([[1.0, 1.0], [3.0, 3.0, 3.0, 3.0]], resamples=50)
    assert two["difference"] == pytest.approx(2.0) and two["n_seeds"] == 2 and two["n_prompts"] == 6
    with pytest.raises(ValueError):
        paired_bootstrap([[]])


def test_paired_bootstrap_is_seeded_and_matches_the_normal_interval() -> None:
    diffs = np.random.default_rng(1).normal(0.1, 1.0, 400)
    first, second = paired_bootstrap([diffs], 2000, seed=7), paired_bootstrap([diffs], 2000, seed=7)
    assert first == second
    half = (first["ci_high"] - first["ci_low"]) / 2
    assert half == pytest.approx(1.96 * diffs.std(ddof=1) / 20, rel=0.1)
    z = diffs.mean() / (diffs.std(ddof=1) / 20)
    assert first["p_value"] == pytest.approx(2 * stats.norm.sf(abs(z)), abs=0.03)


# --------------------------------------------------------------------------------------------
# Length control
# --------------------------------------------------------------------------------------------


BASE_SAMPLES = {"method": "base", "seed": 0, "run_dir": "b", "sample_gold": [1.0, 2.0], "sample_length": [10, 30]}
DPO_SAMPLES = {"method": "dpo", "seed": 0, "run_dir": "p", "sample_gold": [2.0, 3.0], "sample_length": [20, 40]}
# Long and bad where short and good: pooled with the others it would pull the slope negative.
ODD_SAMPLES = {"method": "ipo", "seed": 0, "run_dir": "o", "sample_gold": [5.0, 1.0], "sample_length": [10, 100]}


def test_length_controlled_reward_on_four_samples() -> None:
    # The base policy's OLS of gold [1, 2] on length [10, 30]: slope 1 / 20 = 0.05; mean length 20.
    assert ols_slope([10, 30], [1, 2]) == pytest.approx(0.05)
    control = length_control([BASE_SAMPLES, DPO_SAMPLES])
    assert control["slopes"] == {"0": pytest.approx(0.05)}
    assert control["base_lengths"] == {"0": 20.0}
    # base: its raw mean 1.5; dpo: mean(2 - 0.05 x 0, 3 - 0.05 x 20) = 2.0 (raw 2.5).
    assert control["records"] == {"b": pytest.approx(1.5), "p": pytest.approx(2.0)}
    assert length_controlled_mean([2.0, 3.0], [20, 40], 0.05, 20.0) == pytest.approx(2.0)


def test_a_runs_length_controlled_reward_does_not_depend_on_the_other_methods() -> None:
    # By hand: with or without the odd method, dpo reads 2.0. (A slope pooled over all samples
    # would be 0.06 without it, dpo 1.9, and negative with it, dpo above its raw 2.5.)
    alone = length_control([BASE_SAMPLES, DPO_SAMPLES])["records"]
    crowded = length_control([BASE_SAMPLES, DPO_SAMPLES, ODD_SAMPLES])["records"]
    assert alone["p"] == crowded["p"] == pytest.approx(2.0)
    assert crowded["o"] == pytest.approx(3.0 - 0.05 * (55 - 20))
    # On the synthetic comparison: every run and checkpoint keeps its value when methods go.
    records = build_records()
    full = length_control(records)
    fewer = length_control([r for r in records if r["method"] not in ("ipo", "ppo")])
    assert fewer["slopes"] == full["slopes"] and fewer["base_lengths"] == full["base_lengths"]
    assert set(fewer["records"]) < set(full["records"])
    for run, value in fewer["records"].items():
        assert value == full["records"][run], run
    for run, values in fewer["checkpoints"].items():
        assert values == full["checkpoints"][run], run


def test_length_control_degrades() -> None:
    assert ols_slope([5, 5, 5], [1, 2, 3]) == 0.0
    policy = {"method": "dpo", "seed": 0, "run_dir": "p", "sample_gold": [2.0, 3.0], "sample_length": [20, 40]}
    assert length_control([policy])["records"] == {}  # no base policy to read the length at
    ragged = {"method": "base", "seed": 0, "run_dir": "b", "sample_gold": [1.0], "sample_length": [1, 2]}
    assert length_control([ragged, policy])["records"] == {}


def test_length_control_of_checkpoints_and_paths() -> None:
    records = build_records()
    control = length_control(records)
    ppo = [r for r in records if r["method"] == "ppo"]
    assert len(control["checkpoints"][ppo[0]["run_dir"]]) == 3
    path = checkpoint_path(ppo, control["checkpoints"])
    assert [p["index"] for p in path] == [0, 1, 2]
    assert [p["kl"] for p in path] == pytest.approx([0.5, 1.5, 3.0])
    assert path[0]["gold_reward"] == pytest.approx(np.mean([r["checkpoints"][0]["gold_reward"] for r in ppo]))
    assert all(p["lc_gold_reward"] is not None for p in path)
    assert checkpoint_path([{"checkpoints": "oops"}, {}]) == []


# --------------------------------------------------------------------------------------------
# Gao et al. over-optimisation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("form", "alpha", "beta"), [("rl", 0.5, 0.4), ("best-of-n", 0.6, 0.3)])
def test_gao_fit_recovers_exact_coefficients(form: str, alpha: float, beta: float) -> None:
    d = np.array([0.0, 0.4, 0.9, 1.3, 1.8, 2.5])
    fit = gao_fit(d, gao_curve(d, alpha, beta, form), form)
    assert fit["alpha"] == pytest.approx(alpha) and fit["beta"] == pytest.approx(beta)
    assert fit["r2"] == pytest.approx(1.0) and fit["n_points"] == 5  # d = 0 carries no information
    assert fit["peak_kl"] == pytest.approx(fit["peak_d"] ** 2)


def test_gao_peaks_by_hand() -> None:
    # RL: dR/dd = alpha - beta (log d + 1) = 0 at d = exp(alpha / beta - 1), where R = beta d.
    d, r = gao_peak(0.5, 0.4, "rl")
    assert d == pytest.approx(math.exp(0.25)) and r == pytest.approx(0.4 * math.exp(0.25))
    # Best-of-n: d = alpha / (2 beta), R = alpha^2 / (4 beta).
    assert gao_peak(0.6, 0.3, "best-of-n") == pytest.approx((1.0, 0.3))
    assert gao_peak(0.6, -0.1, "best-of-n") is None and gao_peak(0.6, 0.0, "rl") is None
    assert gao_fit([0.0, 1.0], [0.0, 0.5], "rl") is None  # one informative point
    assert best_of_n_kl(1) == 0.0 and best_of_n_kl(4) == pytest.approx(math.log(4) - 0.75)


def test_overoptimization_of_ppo_checkpoints_and_the_best_of_n_sweep() -> None:
    fits = overoptimization(build_records())
    assert set(fits) == {"ppo (kl_coef=0.05)", "best-of-n"}  # dpo and ipo have no proxy score
    ppo = fits["ppo (kl_coef=0.05)"]
    assert ppo["form"] == "rl" and ppo["n_points"] == 4
    assert (ppo["alpha"], ppo["beta"]) == pytest.approx(PPO_GOLD)
    assert (ppo["proxy_alpha"], ppo["proxy_beta"]) == pytest.approx(PPO_PROXY)
    assert ppo["gold_peak_d"] == pytest.approx(math.exp(0.25))
    # Measured: of the points at KL 0.5, 1.5, 3 and 5, R(d) = d (0.5 - 0.4 log d) is highest at
    # 1.5 and falls 0.115 to the last, on both seeds alike, while the proxy rises.
    curve = gao_curve(np.sqrt([1.5, 5.0]), *PPO_GOLD, "rl")
    assert ppo["measured_peak_kl"] == pytest.approx(1.5) and ppo["decline"] == pytest.approx(curve[0] - curve[1])
    assert ppo["decline_seeds"] == 2 and ppo["proxy_rise"] > 0
    assert ppo["evidence"] == "measured" and ppo["overoptimized"] is True
    bon = fits["best-of-n"]
    assert bon["form"] == "best-of-n" and [p["n"] for p in bon["points"]] == list(BON_NS)
    assert (bon["alpha"], bon["beta"]) == pytest.approx(BON_GOLD)
    assert (bon["proxy_alpha"], bon["proxy_beta"]) == pytest.approx(BON_PROXY)
    assert bon["gold_peak_kl"] == pytest.approx(1.0)
    assert bon["measured_peak_label"] == "n=8" and bon["overoptimized"] is True


def test_overoptimization_degrades() -> None:
    records = build_records()
    assert overoptimization([r for r in records if r["method"] != "base"]) == {}
    no_proxy = [{k: v for k, v in r.items() if k != "proxy_score"} for r in records]
    assert overoptimization(no_proxy) == {}
    # Best-of-n without a recorded KL falls back to log n - (n - 1)/n.
    bon = [dict(r, kl=None) if r["method"] == "best-of-n" else r for r in records]
    assert overoptimization(bon)["best-of-n"]["alpha"] == pytest.approx(BON_GOLD[0])
    # A single best-of-n point and a PPO without checkpoints: points, but no fit.
    single = [r for r in records if r["method"] in ("base", "ppo") or r["params"] == {"n": 4}]
    single = [dict(r, checkpoints=[]) if r["method"] == "ppo" else r for r in single]
    fits = overoptimization(single)
    assert fits["best-of-n"]["alpha"] is None and fits["ppo (kl_coef=0.05)"]["n_points"] == 1
    assert not fits["best-of-n"]["overoptimized"] and fits["best-of-n"]["evidence"] == "few_points"


def _sweep(gold: dict[int, list[float]], proxy: dict[int, float]) -> list[dict]:
    """A best-of-n sweep over n with one gold reward per seed (relative to a base policy at 0)."""
    seeds = range(len(next(iter(gold.values()))))
    records = [{"method": "base", "params": {}, "seed": s, "gold_reward": 0.0, "proxy_score": 0.0} for s in seeds]
    for n, values in gold.items():
        records += [
            {"method": "best-of-n", "params": {"n": n}, "seed": s, "signal": "reward_model", "gold_reward": g}
            | {"proxy_score": proxy[n]}
            for s, g in zip(seeds, values)
        ]
    return records


def _ppo(gold: list[list[float]], proxy: list[float]) -> list[dict]:
    """PPO runs whose checkpoints and final policy (the last column) have these gold rewards per
    seed (rows) and these proxy scores, at KL 0.5, 1, 2, ... (relative to a base policy at 0)."""
    records = []
    for seed, values in enumerate(gold):
        stages = [
            {"step": 10 * (j + 1), "kl": 0.5 * 2**j, "gold_reward": g, "proxy_score": proxy[j]}
            for j, g in enumerate(values)
        ]
        final = {k: v for k, v in stages[-1].items() if k != "step"}
        records += [
            {"method": "base", "params": {}, "seed": seed, "gold_reward": 0.0},
            {
                "method": "ppo",
                "params": {},
                "seed": seed,
                "signal": "reward_model",
                **final,
                "checkpoints": stages[:-1],
            },
        ]
    return records


def test_two_points_never_flag_over_optimisation() -> None:
    # Gold 0.25 at n = 4, 0.26 at n = 8: the fit through the two points peaks in between and the
    # proxy's fit rises there (what used to raise the flag); two points show no decline.
    (entry,) = overoptimization(_sweep({4: [0.25], 8: [0.26]}, {4: 0.5, 8: 0.8})).values()
    assert entry["gold_peak_observed"] is True and entry["proxy_slope_at_gold_peak"] > 0 and entry["r2"] is None
    assert entry["evidence"] == "few_points" and entry["overoptimized"] is False
    (three_seeds,) = overoptimization(_sweep({4: [0.25] * 3, 8: [0.26] * 3}, {4: 0.5, 8: 0.8})).values()
    assert three_seeds["overoptimized"] is False


def test_a_flat_noisy_curve_is_not_over_optimisation() -> None:
    gold = {
        2: [0.20, 0.21, 0.19],
        4: [0.23, 0.18, 0.21],
        8: [0.19, 0.22, 0.20],
        16: [0.22, 0.20, 0.18],
        32: [0.20, 0.19, 0.22],
    }
    (entry,) = overoptimization(_sweep(gold, {2: 0.2, 4: 0.4, 8: 0.6, 16: 0.8, 32: 1.0})).values()
    # The highest mean is n = 4 (0.2067); its fall to n = 32 per seed is 0.03, -0.01, -0.01:
    # one-sided p = 0.413 before the factor 4 for the points it was picked from.
    assert entry["measured_peak_label"] == "n=4" and entry["decline"] == pytest.approx(0.01 / 3)
    one_sided = stats.ttest_rel(gold[4], gold[32], alternative="greater").pvalue
    assert one_sided == pytest.approx(0.4130, abs=1e-4)
    assert entry["decline_p"] == min(1.0, 4 * one_sided) == 1.0
    assert entry["evidence"] == "within_noise" and entry["overoptimized"] is False


def test_a_clear_fall_after_the_peak_is_over_optimisation() -> None:
    gold = [[0.10, 0.30, 0.25, 0.05], [0.12, 0.28, 0.20, 0.08], [0.09, 0.33, 0.24, 0.02]]
    (entry,) = overoptimization(_ppo(gold, [0.2, 0.5, 0.9, 1.4])).values()
    # Peak at checkpoint 2 (KL 1, mean 0.3033); falls to the final policy 0.25, 0.20, 0.31:
    # t = 7.96 on 2 df, one-sided p = 0.0077, times 3 points before the last = 0.023.
    peak, last = [row[1] for row in gold], [row[3] for row in gold]
    one_sided = stats.ttest_rel(peak, last, alternative="greater").pvalue
    assert entry["measured_peak_label"] == "checkpoint 2" and entry["measured_peak_kl"] == 1.0
    assert entry["decline"] == pytest.approx(0.76 / 3) and entry["decline_seeds"] == 3
    assert entry["decline_p"] == pytest.approx(3 * one_sided) == pytest.approx(0.0231, abs=1e-4)
    assert entry["proxy_rise"] == pytest.approx(0.9)
    assert entry["evidence"] == "measured" and entry["overoptimized"] is True
    # The same fall with one seed is not tested, and no fall without a rising proxy is flagged.
    (one,) = overoptimization(_ppo(gold[:1], [0.2, 0.5, 0.9, 1.4])).values()
    assert one["evidence"] == "one_seed" and one["decline_p"] is None and not one["overoptimized"]
    (falling,) = overoptimization(_ppo(gold, [0.2, 0.5, 0.4, 0.3])).values()
    assert falling["evidence"] == "proxy_not_rising" and not falling["overoptimized"]
    (rising,) = overoptimization(_ppo([row[:2] + [0.35, 0.4] for row in gold], [0.2, 0.5, 0.9, 1.4])).values()
    assert rising["evidence"] == "peak_is_last" and rising["decline"] == 0.0


def test_decline_after_peak_by_hand() -> None:
    # Means 0.1, 0.4, 0.2; the peak (1) falls 0.3 and 0.1 on the two seeds: mean 0.2, se 0.1,
    # t = 2 on 1 df, one-sided p = 0.1476, times 2 points before the last.
    decline = decline_after_peak([{"0": 0.1, "1": 0.1}, {"0": 0.5, "1": 0.3}, {"0": 0.2, "1": 0.2}])
    assert decline["peak_index"] == 1 and decline["decline"] == pytest.approx(0.2)
    assert decline["decline_p"] == pytest.approx(2 * stats.t.sf(2.0, 1)) and decline["measured"] is False
    # Only the seeds with both points count.
    partial = decline_after_peak([{"0": 0.5, "1": 0.5, "2": 0.4}, {"0": 0.1, "1": 0.2}])
    assert partial["decline_seeds"] == 2 and partial["decline_p"] == pytest.approx(stats.t.sf(0.35 / 0.05, 1))


# --------------------------------------------------------------------------------------------
# The clustered standard error of one run; the package's imports
# --------------------------------------------------------------------------------------------


def test_clustered_standard_error_by_hand() -> None:
    # Singleton clusters: the usual sd / sqrt(n) = sqrt(5/3) / 2.
    assert clustered_mean_and_stderr([1.0, 2.0, 3.0, 4.0], [0, 1, 2, 3]) == pytest.approx((2.5, math.sqrt(5 / 3) / 2))
    # Two samples of each of three prompts, alike within a prompt: the prompt means 1.1, 3.1,
    # 5.2 are the data (sd 2.0502, se 1.1837), not six independent values (se 0.7037).
    gold = [1.0, 1.2, 3.0, 3.2, 5.0, 5.4]
    prompts = ["a", "a", "b", "b", "c", "c"]
    mean, se = clustered_mean_and_stderr(gold, prompts)
    assert mean == pytest.approx(3.1333333) and se == pytest.approx(stats.sem([1.1, 3.1, 5.2]))
    assert se == pytest.approx(1.1837, abs=1e-4) and stats.sem(gold) == pytest.approx(0.7513, abs=1e-4)
    # Unequal clusters: G / (G - 1) x sum_g (S_g - n_g m)^2 / N^2 with m = 2, sums 3 and 3.
    assert clustered_mean_and_stderr([1.0, 2.0, 3.0], ["a", "a", "b"])[1] == pytest.approx(math.sqrt(2 * 2 / 9))
    assert clustered_mean_and_stderr([0.3, 0.5], ["a", "a"]) == (0.4, 0.0)
    with pytest.raises(ValueError):
        clustered_mean_and_stderr([1.0, 2.0], ["a"])


def test_the_statistics_import_only_numpy_and_scipy() -> None:
    # What each module of the package imports, read from its source: the standard library, numpy,
    # scipy, the package itself, and the run layout's names (pure pathlib).
    package = Path(alignlab.report.statistics.__file__).parent
    imported = set()
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
    outside = {m for m in imported if m.split(".")[0] not in (*sys.stdlib_module_names, "numpy", "scipy")}
    assert outside and all(m.startswith("alignlab.report.statistics") or m == "alignlab.layout" for m in outside)
    # And in a fresh interpreter, with a bare stand-in for the alignlab.report package (whose
    # __init__ loads the report's plots and HTML), importing the statistics loads neither torch nor
    # transformers nor another alignlab module.
    source = package.parents[1]
    code = f"""
import sys, types
package = types.ModuleType("alignlab.report")
package.__path__ = [{str(source / "report")!r}]
sys.modules["alignlab.report"] = package
import alignlab.report.statistics
ours = sorted(m for m in sys.modules if m.startswith("alignlab") and not m.startswith("alignlab.report.statistics"))
print("torch" in sys.modules, "transformers" in sys.modules, ",".join(ours))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "alignlab,alignlab.layout,alignlab.report"]


# --------------------------------------------------------------------------------------------
# Label noise, stability, settings
# --------------------------------------------------------------------------------------------


def test_label_noise_curves() -> None:
    (curve,) = label_noise_curves(build_records())
    assert curve["name"] == "dpo (beta=0.1)"
    assert [p["x"] for p in curve["points"]] == [0.0, 0.1, 0.3]  # the run without the key is at eps 0
    jittered = [gold + 0.005 for gold in NOISE_GOLD.values()]  # seeds 0 and 1 add 0 and 0.01
    assert [p["mean"] for p in curve["points"]] == pytest.approx(jittered)
    # Two seeds 0.01 apart: std 0.01 / sqrt(2), half-width t(0.975, 1) x std / sqrt(2).
    assert curve["points"][0]["ci95"] == pytest.approx(stats.t.ppf(0.975, 1) * 0.01 / 2)
    assert label_noise_curves([r for r in build_records() if "preferences.label_noise" not in r["params"]]) == []


def test_data_size_curves_place_the_configured_runs_at_the_configured_size() -> None:
    records = [
        {"method": "dpo", "seed": s, "params": params, "gold_reward": gold + 0.01 * s}
        for s in (0, 1)
        for params, gold in (({}, 0.3), ({"preferences.max_pairs": 256}, 0.2), ({"preferences.max_pairs": 4096}, 0.4))
    ]
    (curve,) = data_size_curves(records, 1024.0)
    assert [p["x"] for p in curve["points"]] == [256.0, 1024.0, 4096.0]
    assert [p["mean"] for p in curve["points"]] == pytest.approx([0.205, 0.305, 0.405])
    # All the pairs (max_pairs 0): a count the config does not say, so those runs are off the curve.
    (curve,) = data_size_curves(records, None)
    assert [p["x"] for p in curve["points"]] == [256.0, 4096.0]


def test_kl_jumps() -> None:
    kls = ppo_history(0)["train"]
    series = [row["objective/kl"] for row in kls]
    assert kl_jumps(series, 2.0) == (1, 5)  # 0.025 -> 0.2 only; 0.004 -> 0.015 stays under 2 x the floor
    assert kl_jumps(series, 1.5) == (2, 5)  # plus 0.015 -> 0.025
    assert kl_jumps([], 2.0) == (0, 0) and kl_jumps([0.3], 2.0) == (0, 0)


def test_stability_rows() -> None:
    records = build_records()
    histories = {r["run_dir"]: ppo_history(r["seed"]) for r in records if r["method"] == "ppo"}
    rows = {row["name"]: row for row in stability(records, histories, 2.0)}
    assert "base" not in rows
    ppo = rows["ppo (kl_coef=0.05)"]
    assert (ppo["kl_jumps"], ppo["kl_steps"], ppo["kl_jump_fraction"]) == (2, 10, 0.2)
    assert ppo["explained_variance"] == pytest.approx(0.65)  # last rows: 0.6 and 0.7
    assert ppo["gold_std"] == pytest.approx(np.std([0.0, 0.01], ddof=1), abs=1e-9)
    assert rows["ipo"]["kl_jump_fraction"] is None and rows["ipo"]["explained_variance"] is None
    one_seed = {row["name"]: row for row in stability([r for r in records if r["seed"] == 0])}
    assert one_seed["ipo"]["gold_std"] is None


def test_report_settings_defaults() -> None:
    assert report_settings(None) == {
        "language": "auto",
        "bootstrap_resamples": 2000,
        "kl_jump_factor": 2.0,
        "label_noise": 0.0,
        "max_pairs": None,
        "samples_per_prompt": 1,
        "baseline": None,
    }
    settings = report_settings({"report": {"bootstrap_resamples": 500}, "evaluation": {"samples_per_prompt": 4}})
    assert settings["bootstrap_resamples"] == 500 and settings["samples_per_prompt"] == 4


def test_a_two_point_fit_reports_no_r2() -> None:
    # Two parameters pass through any two points: the fit interpolates and proves nothing.
    fit = gao_fit([1.0, 2.0], [0.3, 0.4], "rl")
    assert fit is not None and fit["r2"] is None and fit["n_points"] == 2


def test_training_reward_fluctuation_over_the_last_half() -> None:
    from alignlab.report.statistics.stability import late_fluctuation, stability

    # The last half of 1, 9, 2, 4, 6: (2,) 4, 6 -> std of [2, 4, 6] = 2 (an odd count keeps the middle).
    assert late_fluctuation([1.0, 9.0, 2.0, 4.0, 6.0]) == pytest.approx(2.0)
    assert late_fluctuation([3.0]) is None
    records = [{"method": "grpo", "params": {}, "seed": s, "gold_reward": 0.1 * s, "run_dir": f"r{s}"} for s in (0, 1)]
    histories = {
        "r0": {"train": [{"step": i, "reward/score": v} for i, v in enumerate([0.0, 0.0, 1.0, 3.0])]},
        "r1": {"train": [{"step": i, "reward/score": v} for i, v in enumerate([5.0, 5.0, 2.0, 2.0])]},
    }
    (row,) = stability(records, histories)
    assert row["training_reward_std"] == pytest.approx((2**0.5 + 0.0) / 2)
