"""The report's statistics against hand-worked values and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from synthetic import BON_GOLD, BON_NS, BON_PROXY, NOISE_GOLD, PPO_GOLD, PPO_PROXY, build_records, ppo_history

from alignlab.report.statistics import (
    best_of_n_kl,
    checkpoint_path,
    choose_baseline,
    gao_curve,
    gao_fit,
    gao_peak,
    group_records,
    holm_bonferroni,
    kl_jumps,
    label_noise_curves,
    length_control,
    length_controlled_mean,
    ols_slope,
    overoptimization,
    paired_bootstrap,
    paired_comparisons,
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


def test_paired_comparisons_against_dpo_with_holm() -> None:
    records = build_records()
    tests = paired_comparisons(records, samples_per_prompt=2, resamples=300)
    assert tests["baseline"] == {"method": "dpo", "setting": "beta=0.1", "name": "dpo (beta=0.1)"}
    rows = {row["name"]: row for row in tests["rows"]}
    assert "dpo (beta=0.1)" not in rows and len(rows) == len(group_records(records)) - 1
    # Same prompts and seeds: the paired difference is the difference of the means.
    ppo = rows["ppo (kl_coef=0.05)"]
    gold = {
        (r["method"], r["seed"]): r["gold_reward"] for r in records if r["params"] in ({"beta": 0.1}, {"kl_coef": 0.05})
    }
    expected = np.mean([gold[("ppo", s)] - gold[("dpo", s)] for s in (0, 1)])
    assert ppo["difference"] == pytest.approx(expected)
    assert ppo["ci_low"] < ppo["difference"] < ppo["ci_high"]
    assert ppo["n_seeds"] == 2 and ppo["n_prompts"] == 24
    p = [row["p_value"] for row in tests["rows"]]
    assert [row["p_holm"] for row in tests["rows"]] == pytest.approx(holm_bonferroni(p))
    assert ppo["significant"] is True


def test_baseline_choice_and_missing_samples() -> None:
    records = build_records()
    groups = group_records(records)
    assert choose_baseline(groups) == ("dpo", "beta=0.1")  # dpo's best setting
    assert choose_baseline(groups, "ipo") == ("ipo", "default")
    no_dpo = [r for r in records if r["method"] != "dpo"]
    assert choose_baseline(group_records(no_dpo)) == ("ipo", "default")  # the first trained method
    stripped = [{k: v for k, v in r.items() if k != "sample_gold"} for r in records]
    assert paired_comparisons(stripped) is None
    only_base = [r for r in records if r["method"] == "base"]
    assert paired_comparisons(only_base) is None


# --------------------------------------------------------------------------------------------
# Length control
# --------------------------------------------------------------------------------------------


def test_length_controlled_reward_on_four_samples() -> None:
    # Pooled OLS of gold [1, 2, 2, 3] on length [10, 30, 20, 40]: slope 30 / 500 = 0.06;
    # the base's mean length is 20.
    base = {"method": "base", "seed": 0, "run_dir": "b", "sample_gold": [1.0, 2.0], "sample_length": [10, 30]}
    policy = {"method": "dpo", "seed": 0, "run_dir": "p", "sample_gold": [2.0, 3.0], "sample_length": [20, 40]}
    assert ols_slope([10, 30, 20, 40], [1, 2, 2, 3]) == pytest.approx(0.06)
    control = length_control([base, policy])
    assert control["slopes"] == {"0": pytest.approx(0.06)}
    assert control["base_lengths"] == {"0": 20.0}
    # base: mean(1 + 0.6, 2 - 0.6) = 1.5; policy: mean(2 - 0, 3 - 1.2) = 1.9 (raw 2.5).
    assert control["records"] == {"b": pytest.approx(1.5), "p": pytest.approx(1.9)}
    assert length_controlled_mean([2.0, 3.0], [20, 40], 0.06, 20.0) == pytest.approx(1.9)


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
    assert ppo["proxy_slope_at_gold_peak"] > 0 and ppo["overoptimized"] is True
    bon = fits["best-of-n"]
    assert bon["form"] == "best-of-n" and [p["n"] for p in bon["points"]] == list(BON_NS)
    assert (bon["alpha"], bon["beta"]) == pytest.approx(BON_GOLD)
    assert (bon["proxy_alpha"], bon["proxy_beta"]) == pytest.approx(BON_PROXY)
    assert bon["gold_peak_kl"] == pytest.approx(1.0) and bon["overoptimized"] is True


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
    assert not fits["best-of-n"]["overoptimized"]


# --------------------------------------------------------------------------------------------
# Label noise, stability, settings
# --------------------------------------------------------------------------------------------


def test_label_noise_curves() -> None:
    (curve,) = label_noise_curves(build_records())
    assert curve["name"] == "dpo (beta=0.1)"
    assert [p["eps"] for p in curve["points"]] == [0.0, 0.1, 0.3]  # the run without the key is at eps 0
    jittered = [gold + 0.005 for gold in NOISE_GOLD.values()]  # seeds 0 and 1 add 0 and 0.01
    assert [p["mean"] for p in curve["points"]] == pytest.approx(jittered)
    # Two seeds 0.01 apart: std 0.01 / sqrt(2), half-width t(0.975, 1) x std / sqrt(2).
    assert curve["points"][0]["ci95"] == pytest.approx(stats.t.ppf(0.975, 1) * 0.01 / 2)
    assert label_noise_curves([r for r in build_records() if "preferences.label_noise" not in r["params"]]) == []


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
