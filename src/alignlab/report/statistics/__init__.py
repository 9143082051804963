"""The report's statistics, as pure functions of plain data: numpy and scipy only (no torch, no
transformers, no other alignlab module), no I/O.

Two layers:

* numeric functions of arrays: Student-t intervals (:func:`t_interval`), the prompt-clustered
  standard error (:func:`clustered_mean_and_stderr`), the paired t-test over seeds
  (:func:`paired_t_over_seeds`) with what it can detect (:func:`detectable_difference`,
  :func:`seeds_needed`, :func:`t_test_power`), Holm-Bonferroni (:func:`holm_bonferroni`), the
  prompt-clustered paired bootstrap (:func:`paired_bootstrap`), the length regression
  (:func:`ols_slope`, :func:`length_controlled_mean`), the fall of a curve after its peak
  (:func:`decline_after_peak`), Gao et al.'s over-optimisation fits (:func:`gao_fit`), the KL of
  best-of-n (:func:`best_of_n_kl`) and KL jumps (:func:`kl_jumps`);
* functions of ``metrics.json`` records (plain dicts) that apply them: :func:`length_control`,
  :func:`checkpoint_path`, :func:`paired_comparisons`, :func:`overoptimization`,
  :func:`label_noise_curves`, :func:`stability`, and :func:`analyze`, which returns them all
  as the keys that ``metrics.json`` stores.

One module a topic: ``records`` (reading the records), ``intervals``, ``power``, ``length``,
``paired``, ``overoptimization``, ``label_noise`` and ``stability``. Every record-level function
tolerates missing fields (an older ``metrics.json``, runs without checkpoints or proxy scores, a
single seed): it leaves the affected entry out or sets it to None.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from alignlab.report.statistics.controls import (
    CONTROL_KEYS,
    DATA_SIZE_KEY,
    LABEL_NOISE_KEY,
    control_curves,
    data_size_curves,
    label_noise_curves,
)
from alignlab.report.statistics.findings import CONTRADICTED, INCONCLUSIVE, REPRODUCED, evaluate_findings
from alignlab.report.statistics.intervals import clustered_mean_and_stderr, t_interval, t_quantile
from alignlab.report.statistics.length import length_control, length_controlled_mean, ols_slope
from alignlab.report.statistics.overoptimization import (
    BEST_OF_N,
    FORM_BEST_OF_N,
    FORM_RL,
    GAO_FORMULAS,
    best_of_n_kl,
    decline_after_peak,
    gao_curve,
    gao_fit,
    gao_peak,
    gao_slope,
    overoptimization,
)
from alignlab.report.statistics.paired import (
    BASELINE_METHOD,
    BETTER,
    BOOTSTRAP_SEED,
    CHOSEN_BY_CALLER,
    CHOSEN_ON_REPORTED_DATA,
    DEFAULT_RESAMPLES,
    NO_SHARED_SEED,
    NOT_DISTINGUISHABLE,
    ONE_SEED,
    PROMPT_LEVEL_SCOPE,
    WORSE,
    choose_baseline,
    holm_bonferroni,
    paired_bootstrap,
    paired_comparisons,
    paired_t_over_seeds,
    prompt_means,
)
from alignlab.report.statistics.power import (
    DEFAULT_ALPHA,
    DEFAULT_POWER,
    detectable_difference,
    detectable_effect,
    seeds_needed,
    t_test_power,
)
from alignlab.report.statistics.records import (
    BASE_METHOD,
    checkpoint_path,
    checkpoints_of,
    finite,
    group_records,
    optimises_reward_model,
    run_name,
    setting_label,
)
from alignlab.report.statistics.stability import DEFAULT_KL_JUMP_FACTOR, KL_JUMP_FLOOR, kl_jumps, stability

__all__ = [
    "ANALYSIS_KEYS",
    "BASELINE_METHOD",
    "BASE_METHOD",
    "BEST_OF_N",
    "BETTER",
    "BOOTSTRAP_SEED",
    "CHOSEN_BY_CALLER",
    "CHOSEN_ON_REPORTED_DATA",
    "DEFAULT_ALPHA",
    "DEFAULT_KL_JUMP_FACTOR",
    "DEFAULT_POWER",
    "DEFAULT_RESAMPLES",
    "FORM_BEST_OF_N",
    "FORM_RL",
    "GAO_FORMULAS",
    "KL_JUMP_FLOOR",
    "LABEL_NOISE_KEY",
    "NOT_DISTINGUISHABLE",
    "NO_SHARED_SEED",
    "ONE_SEED",
    "PROMPT_LEVEL_SCOPE",
    "WORSE",
    "analyze",
    "best_of_n_kl",
    "checkpoint_path",
    "checkpoints_of",
    "finite",
    "optimises_reward_model",
    "choose_baseline",
    "clustered_mean_and_stderr",
    "decline_after_peak",
    "detectable_difference",
    "detectable_effect",
    "gao_curve",
    "gao_fit",
    "gao_peak",
    "gao_slope",
    "group_records",
    "holm_bonferroni",
    "kl_jumps",
    "label_noise_curves",
    "data_size_curves",
    "control_curves",
    "evaluate_findings",
    "REPRODUCED",
    "CONTRADICTED",
    "INCONCLUSIVE",
    "CONTROL_KEYS",
    "DATA_SIZE_KEY",
    "length_control",
    "length_controlled_mean",
    "ols_slope",
    "overoptimization",
    "paired_bootstrap",
    "paired_comparisons",
    "paired_t_over_seeds",
    "prompt_means",
    "report_settings",
    "run_name",
    "seeds_needed",
    "setting_label",
    "stability",
    "t_interval",
    "t_quantile",
    "t_test_power",
]


def report_settings(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The report's settings from an experiment config dict, with defaults for older configs."""
    config = config or {}
    report = config.get("report") or {}
    evaluation = config.get("evaluation") or {}
    preferences = config.get("preferences") or {}
    resamples = report.get("bootstrap_resamples")
    factor = report.get("kl_jump_factor")
    noise = preferences.get("label_noise")
    pairs = preferences.get("max_pairs")
    k = evaluation.get("samples_per_prompt")
    return {
        "language": report.get("language") or "auto",
        "bootstrap_resamples": int(resamples) if finite(resamples) and resamples >= 1 else DEFAULT_RESAMPLES,
        "kl_jump_factor": float(factor) if finite(factor) and factor > 1 else DEFAULT_KL_JUMP_FACTOR,
        "label_noise": float(noise) if finite(noise) else 0.0,
        "max_pairs": float(pairs) if finite(pairs) and pairs > 0 else None,
        "samples_per_prompt": int(k) if finite(k) and k >= 1 else 1,
        "baseline": report.get("baseline"),
    }


ANALYSIS_KEYS = (
    "length_control",
    "paired_tests",
    "overoptimization",
    "label_noise",
    "data_size",
    "stability",
    "findings",
)


def analyze(
    records: Sequence[Mapping[str, Any]],
    config: Mapping[str, Any] | None = None,
    histories: Mapping[str, Mapping[str, Any]] | None = None,
    keys: Iterable[str] = ANALYSIS_KEYS,
    baseline: str | None = None,
) -> dict[str, Any]:
    """The report's analyses named in ``keys``, as the ``metrics.json`` keys that hold them:
    ``length_control`` ({slopes, base_lengths}), ``paired_tests`` (None without a gold reward),
    ``overoptimization``, ``label_noise`` and ``stability``. ``baseline`` names the run the
    comparisons are made against (a run name such as "dpo (beta=0.1)", e.g. the setting chosen
    on validation prompts; see :func:`choose_baseline`); without it, the config's
    ``report.baseline``, else the best dpo setting on these records."""
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
            baseline if baseline is not None else settings["baseline"],
        ),
        "overoptimization": lambda: overoptimization(records),
        "label_noise": lambda: label_noise_curves(records, settings["label_noise"]),
        "data_size": lambda: data_size_curves(records, settings["max_pairs"]),
        "stability": lambda: stability(records, histories, settings["kl_jump_factor"]),
        "findings": lambda: evaluate_findings(
            (config or {}).get("report", {}).get("findings") or [],
            records,
            histories,
            config,
            overoptimization(records),
        ),
    }
    return {key: builders[key]() for key in keys}
