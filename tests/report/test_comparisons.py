"""Comparisons of methods between training runs: the paired t-test over seeds against scipy, what
the design can detect against the noncentral t and Cohen's tables, Holm over the report's
comparisons, the choice of baseline, the prompt-level view labelled as evaluation noise, and the
verdict that says no more than the tests."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from synthetic import IPO_GOLD, IPO_RUN_EFFECT, NOISE_GOLD, PER_PROMPT, build_records

from alignlab.report.aggregates import aggregate
from alignlab.report.statistics import (
    PROMPT_LEVEL_SCOPE,
    analyze,
    choose_baseline,
    detectable_difference,
    detectable_effect,
    group_records,
    holm_bonferroni,
    paired_comparisons,
    paired_t_over_seeds,
    seeds_needed,
    t_test_power,
)
from alignlab.report.verdict import verdict

# The example: three seeds whose per-seed differences are +0.30, -0.02 and +0.01.
THREE_SEEDS = (0.30, -0.02, 0.01)
PROMPTS = 50
PROMPT_NOISE = 0.05


def _run(method: str, seed: int, sample_gold: np.ndarray) -> dict:
    return {
        "method": method,
        "params": {},
        "seed": seed,
        "gold_reward": float(sample_gold.mean()),
        "sample_gold": [float(g) for g in sample_gold],
        "sample_length": [20] * sample_gold.size,
        "run_dir": f"runs/{method}/default/seed-{seed}",
    }


def three_seed_records() -> list[dict]:
    """dpo and ipo on the same 50 prompts of three seeds; per prompt, ipo - dpo is the seed's
    difference plus noise of sd 0.05 that averages to zero within the seed."""
    rng = np.random.default_rng(7)
    records = []
    for seed, difference in enumerate(THREE_SEEDS):
        dpo = 0.5 + rng.normal(0, 0.3, PROMPTS)
        noise = rng.normal(0, PROMPT_NOISE, PROMPTS)
        records += [_run("dpo", seed, dpo), _run("ipo", seed, dpo + difference + noise - noise.mean())]
    return records


# --------------------------------------------------------------------------------------------
# The paired t-test over seeds
# --------------------------------------------------------------------------------------------


def test_paired_t_over_seeds_matches_scipy_on_the_three_seed_example() -> None:
    test = paired_t_over_seeds(THREE_SEEDS)
    reference = stats.ttest_1samp(THREE_SEEDS, 0.0)
    assert test["p_value"] == pytest.approx(reference.pvalue) and test["t"] == pytest.approx(reference.statistic)
    # By hand: mean 0.0967, sd 0.1767, se 0.1020, t = 0.947 on 2 df, p = 0.443.
    assert test["difference"] == pytest.approx(0.29 / 3)
    assert test["std"] == pytest.approx(math.sqrt(0.0624667 / 2), rel=1e-5)
    assert test["p_value"] == pytest.approx(0.4434, abs=1e-4)
    assert test["n_seeds"] == 3 and test["df"] == 2
    low, high = stats.t.interval(0.95, 2, loc=np.mean(THREE_SEEDS), scale=stats.sem(THREE_SEEDS))
    assert (test["ci_low"], test["ci_high"]) == pytest.approx((low, high))


def test_paired_t_over_seeds_at_the_edges() -> None:
    one = paired_t_over_seeds([0.3])
    assert one["difference"] == 0.3 and one["n_seeds"] == 1
    assert one["p_value"] is None and one["ci_low"] is None and one["detectable_difference"] is None
    assert paired_t_over_seeds([])["difference"] is None
    # Runs that move together exactly: no spread, so any nonzero difference is certain.
    steady = paired_t_over_seeds([0.25, 0.25, 0.25])
    assert steady["p_value"] == 0.0 and steady["t"] is None and steady["detectable_difference"] == 0.0
    assert steady["seeds_needed"] == 2
    assert paired_t_over_seeds([0.0, 0.0])["p_value"] == 1.0


def test_the_seed_level_test_ignores_what_the_prompt_level_bootstrap_calls_significant() -> None:
    tests = paired_comparisons(three_seed_records(), samples_per_prompt=1, resamples=2000)
    assert tests["baseline"] == {"method": "dpo", "setting": "default", "name": "dpo", "chosen_by": "reported_data"}
    (seed_row,) = tests["seed_level"]["rows"]
    assert seed_row["name"] == "ipo" and seed_row["reference"] == "dpo"
    assert seed_row["p_value"] == pytest.approx(stats.ttest_1samp(THREE_SEEDS, 0.0).pvalue)
    assert seed_row["p_holm"] == seed_row["p_value"]  # one comparison: Holm changes nothing
    assert seed_row["outcome"] == "not_distinguishable"
    # The same runs, prompts resampled within the fixed checkpoints: every resample is far from 0.
    prompt_level = tests["prompt_level"]
    assert prompt_level["scope"] == PROMPT_LEVEL_SCOPE == "evaluation noise of fixed checkpoints"
    (prompt_row,) = prompt_level["rows"]
    assert prompt_row["difference"] == pytest.approx(seed_row["difference"])
    assert prompt_row["p_value"] == pytest.approx(1 / 2001)
    assert prompt_row["n_prompts"] == 3 * PROMPTS


# --------------------------------------------------------------------------------------------
# What the design can detect
# --------------------------------------------------------------------------------------------


def _scipy_power(effect: float, n: int, alpha: float = 0.05) -> float:
    """Power of the two-sided one-sample t-test written out with scipy's noncentral t (the lower
    tail by symmetry, P(T_nc < -c) = P(T_-nc > c): nct.cdf is NaN far in the tail)."""
    critical = stats.t.ppf(1 - alpha / 2, n - 1)
    noncentrality = effect * math.sqrt(n)
    return stats.nct.sf(critical, n - 1, noncentrality) + stats.nct.sf(critical, n - 1, -noncentrality)


def test_power_against_the_noncentral_t_and_cohens_table() -> None:
    critical = stats.t.ppf(0.975, 7)
    by_cdf = stats.nct.sf(critical, 7, 0.7 * math.sqrt(8)) + stats.nct.cdf(-critical, 7, 0.7 * math.sqrt(8))
    assert t_test_power(0.7, 8) == pytest.approx(by_cdf) == pytest.approx(_scipy_power(0.7, 8))
    # Cohen (1988), one-sample two-sided alpha 0.05, power 0.8: d = 0.5 needs 34, d = 0.8 needs 15.
    assert _scipy_power(0.5, 33) < 0.8 <= _scipy_power(0.5, 34)
    assert seeds_needed(0.5, 1.0) == 34 and seeds_needed(-0.8, 1.0) == 15
    assert seeds_needed(0.05, 0.1) == 34  # only the ratio counts
    # Three seeds: the smallest effect found with power 0.8 has exactly that power, and exceeds
    # the normal approximation (z_0.975 + z_0.8) / sqrt(3) = 1.618 because sd is estimated.
    effect = detectable_effect(3)
    assert _scipy_power(effect, 3) == pytest.approx(0.8, abs=1e-9)
    assert effect == pytest.approx(3.2640, abs=1e-4)
    assert effect > (stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) / math.sqrt(3)
    assert detectable_difference(0.2, 3) == pytest.approx(0.2 * effect)
    # A stricter level (Holm's for the smallest of 5 p-values) needs a larger difference.
    assert detectable_effect(3, 0.01) > effect
    assert _scipy_power(detectable_effect(3, 0.01), 3, 0.01) == pytest.approx(0.8, abs=1e-9)


def test_power_at_the_edges() -> None:
    assert detectable_effect(1) is None and detectable_difference(0.2, 1) is None
    assert detectable_difference(None, 3) is None
    assert seeds_needed(0.0, 0.2) is None and seeds_needed(None, 0.2) is None
    assert seeds_needed(0.1, 0.0) == 2
    # Two seeds: df 1 leaves scipy's nct.cdf at NaN far in the tail; the power stays a number.
    assert detectable_effect(2) == pytest.approx(11.5499, abs=1e-3)
    assert math.isfinite(t_test_power(20.0, 2))
    # Far past any experiment: the normal approximation, at once.
    assert seeds_needed(1e-4, 1.0) == math.ceil(((stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) / 1e-4) ** 2)


def test_seed_rows_carry_what_the_design_could_detect_at_holms_strictest_level() -> None:
    tests = paired_comparisons(build_records(), samples_per_prompt=PER_PROMPT, resamples=200)
    seed_level = tests["seed_level"]
    m = seed_level["comparisons"]
    assert seed_level["detectable_alpha"] == pytest.approx(0.05 / m)
    ipo = next(r for r in seed_level["rows"] if r["name"] == "ipo" and r["reference"] == "dpo (beta=0.1)")
    assert ipo["detectable_difference"] == pytest.approx(detectable_effect(2, 0.05 / m) * ipo["std"])
    assert ipo["seeds_needed"] == seeds_needed(ipo["difference"], ipo["std"], 0.05 / m)


# --------------------------------------------------------------------------------------------
# Holm over the comparisons the report makes; the baseline
# --------------------------------------------------------------------------------------------


def test_holm_over_every_comparison_against_the_baseline_and_the_base_policy() -> None:
    records = build_records()
    tests = paired_comparisons(records, samples_per_prompt=PER_PROMPT, resamples=200)
    rows = tests["seed_level"]["rows"]
    trained = [key for key in group_records(records) if key[0] != "base"]
    # Every trained setting but the baseline against it, and every trained setting against base.
    assert len(rows) == (len(trained) - 1) + len(trained) == tests["seed_level"]["comparisons"]
    assert {r["reference"] for r in rows} == {"dpo (beta=0.1)", "base"}
    assert [r["p_holm"] for r in rows] == pytest.approx(holm_bonferroni([r["p_value"] for r in rows]))
    # ipo's runs differ by seed: -0.02 and -0.18 from dpo, a mean of -0.10 that two seeds cannot tell from 0.
    ipo = next(r for r in rows if r["name"] == "ipo" and r["reference"] == "dpo (beta=0.1)")
    expected = [IPO_GOLD + effect - NOISE_GOLD[0.0] for effect in IPO_RUN_EFFECT]
    assert ipo["difference"] == pytest.approx(np.mean(expected))
    assert ipo["p_value"] == pytest.approx(stats.ttest_1samp(expected, 0.0).pvalue)
    assert ipo["outcome"] == "not_distinguishable"
    # The others move together across seeds: their differences are certain even after Holm.
    ppo = next(r for r in rows if r["name"] == "ppo (kl_coef=0.05)" and r["reference"] == "base")
    assert ppo["outcome"] == "better" and ppo["p_holm"] < 0.05
    # dpo trained on 30 % flipped labels is 0.2 below dpo on both seeds alike.
    noisy = next(r for r in rows if r["name"] == "dpo (beta=0.1,preferences.label_noise=0.3)")
    assert noisy["difference"] == pytest.approx(NOISE_GOLD[0.3] - NOISE_GOLD[0.0]) and noisy["outcome"] == "worse"


def test_one_seed_gives_no_test_between_runs() -> None:
    records = [r for r in build_records() if r["seed"] == 0]
    tests = paired_comparisons(records, samples_per_prompt=PER_PROMPT, resamples=200)
    rows = tests["seed_level"]["rows"]
    assert rows and all(r["outcome"] == "one_seed" and r["p_holm"] is None for r in rows)
    assert tests["seed_level"]["comparisons"] == 0
    assert tests["prompt_level"]["rows"]  # evaluation noise is still measured


def test_the_baseline_is_given_by_name_or_chosen_on_the_reported_data() -> None:
    records = build_records()
    groups = group_records(records)
    assert choose_baseline(groups) == (("dpo", "beta=0.1"), "reported_data")  # dpo's best setting
    assert choose_baseline(groups, "dpo (beta=0.1,preferences.label_noise=0.3)") == (
        ("dpo", "beta=0.1,preferences.label_noise=0.3"),
        "given",
    )
    assert choose_baseline(groups, "ipo") == (("ipo", "default"), "given")  # its only setting, by name
    assert choose_baseline(groups, "best-of-n") == (("best-of-n", "n=8"), "reported_data")
    with pytest.raises(ValueError, match="matches no run"):
        choose_baseline(groups, "dpo (beta=0.7)")
    no_dpo = [r for r in records if r["method"] != "dpo"]
    assert choose_baseline(group_records(no_dpo)) == (("ipo", "default"), "reported_data")
    only_base = [r for r in records if r["method"] == "base"]
    assert paired_comparisons(only_base) is None
    # A given baseline reaches the comparisons through analyze, ahead of the config.
    config = {"report": {"baseline": "ipo"}, "evaluation": {"samples_per_prompt": PER_PROMPT}}
    given = analyze(records, config, keys=["paired_tests"], baseline="dpo (beta=0.1,preferences.label_noise=0.1)")
    assert given["paired_tests"]["baseline"]["name"] == "dpo (beta=0.1,preferences.label_noise=0.1)"
    assert analyze(records, config, keys=["paired_tests"])["paired_tests"]["baseline"]["name"] == "ipo"


def test_without_samples_the_seed_level_test_stands_and_the_prompt_level_view_is_absent() -> None:
    stripped = [{k: v for k, v in r.items() if k != "sample_gold"} for r in build_records()]
    tests = paired_comparisons(stripped)
    assert tests["prompt_level"] is None and tests["seed_level"]["rows"]


# --------------------------------------------------------------------------------------------
# The verdict says no more than the tests
# --------------------------------------------------------------------------------------------


def _verdict(records: list[dict], lang: str = "en") -> list[str]:
    analyses = analyze(records, {"evaluation": {"samples_per_prompt": PER_PROMPT}})
    return verdict(aggregate(records), analyses, lang)


def test_the_verdict_says_better_worse_or_what_could_have_been_detected() -> None:
    records = build_records()
    lines = _verdict(records)
    against_dpo = next(line for line in lines if line.startswith("Against dpo (beta=0.1)"))
    assert "(baseline picked as the best on these same data, which favours it)" in against_dpo
    assert "paired t-test over seeds" in against_dpo and "Holm over the 17 comparisons" in against_dpo
    ipo = next(
        r
        for r in paired_comparisons(records, PER_PROMPT, 200)["seed_level"]["rows"]
        if r["name"] == "ipo" and r["reference"] == "dpo (beta=0.1)"
    )
    expected = (
        f"ipo {ipo['difference']:+.3f} (not distinguishable at 2 seeds; "
        f"the design could detect differences ≥ {ipo['detectable_difference']:.3f})"
    )
    assert expected in against_dpo.split("not distinguishable: ")[1]
    worse = against_dpo.split("worse: ")[1].split("; not distinguishable")[0]
    assert (
        "dpo (beta=0.1,preferences.label_noise=0.3) -0.200 (95% CI over seeds [-0.200, -0.200], Holm p < 0.001)"
        in worse
    )
    assert any(line.startswith("Against the base policy, same test: better: ") for line in lines)
    chinese = _verdict(records, "zh")
    assert any("在 2 个种子下无法区分；本设计能检测的差异 ≥" in line for line in chinese)


def test_with_one_seed_the_verdict_says_there_is_no_test_between_runs() -> None:
    lines = _verdict([r for r in build_records() if r["seed"] == 0])
    assert any(line.startswith("With one seed per method there is no test between training runs") for line in lines)
    assert not any("better: " in line for line in lines)


def test_methods_with_one_seed_among_others_are_named_untested() -> None:
    records = [r for r in build_records() if r["method"] != "ipo" or r["seed"] == 0]
    against_dpo = next(line for line in _verdict(records) if line.startswith("Against dpo"))
    assert against_dpo.endswith("One seed, so no test between runs: ipo.")
