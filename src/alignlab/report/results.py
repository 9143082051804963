"""``metrics.json``: flat per-run records, aggregates over seeds (aggregates.py), the report's
statistics (statistics/) and the verdict computed from them (verdict.py); and the runs' histories.

Schema (``schema_version`` 3)::

    results:    one record per method x setting x seed (the reference policy is method "base"):
                method, params, seed, gold_reward, gold_reward_se (the standard error of that one
                run's mean over its samples, prompts as clusters: evaluation noise of one
                checkpoint, not variation between training runs), win_rate, kl, perplexity,
                distinct_1, distinct_2, self_bleu, relevance, mean_length, eos_fraction,
                wall_time_s, pipeline_time_s, eval_time_s, tokens_per_s, peak_mem_mb,
                models_in_memory, trainable_params, run_dir; where the pipeline records them,
                sample_gold, sample_length, proxy_score, gold_queries, checkpoint_eval_time_s and
                checkpoints ([{step, gold_reward, kl, mean_length, sample_gold, ...}], training order);
                added here: lc_gold_reward (length-controlled gold reward, statistics.length_control)
    aggregates: one per method x setting: n_seeds, run_dirs and, per metric (lc_gold_reward,
                proxy_score, gold_queries included), {mean, std, ci95} (ci95: Student's t over
                seeds; with one seed 1.96 x the run's standard error, where known)
    examples:   run_dir -> [{prompt, completion}], the first held-out prompts
    stages:     cost of the shared stages (preference sampling, reward models)
    relevance_note: why relevance is null, when it is (else null)
    length_control:   {slopes: {seed: b}, base_lengths: {seed: L0}} of the length-controlled reward
                      (b: OLS slope of gold on length over the base policy's samples of the seed;
                      L0: their mean length)
    paired_tests:     the comparisons of methods on gold reward (statistics.paired_comparisons), or
                      null without a gold reward:
        baseline:     {method, setting, name, chosen_by}: chosen_by "given" (named by the caller,
                      e.g. chosen on validation prompts) or "reported_data" (the best setting on
                      these same records, which favours it)
        metric, confidence (0.95), alpha (0.05), power (0.8)
        seed_level:   between training runs: {test: "paired t over seeds", correction: "holm",
                      comparisons (m, the Holm family: every trained setting against the baseline
                      and against the base policy), detectable_alpha (alpha / m), rows: [{method,
                      setting, name, reference_method, reference_setting, reference, n_seeds, df,
                      difference (mean over seeds of the per-seed difference of mean gold reward),
                      std (of the per-seed differences), ci_low, ci_high (Student t over seeds), t,
                      p_value, p_holm, outcome (better | worse | not_distinguishable | one_seed |
                      no_shared_seed), detectable_difference (found with 80 % power at
                      detectable_alpha), seeds_needed (for the observed difference)}]}
        prompt_level: within the fixed checkpoints, against the baseline: {scope: "evaluation
                      noise of fixed checkpoints", resamples, bootstrap_seed, samples_per_prompt,
                      correction: "holm", rows: [{method, setting, name, difference, ci_low,
                      ci_high, p_value, p_holm, n_seeds, n_prompts}]}, or null without per-sample
                      gold rewards; not a statement about methods
    overoptimization: run name -> {method, setting, form, formula, n_points, max_d, points: [{label,
                      step or n, kl, d, gold, proxy, gold_per_seed: {seed: gold}}] (gold and proxy
                      relative to the base policy), the measured flag (measured_peak_label,
                      measured_peak_kl, measured_peak_d, decline, decline_seeds, decline_p,
                      proxy_rise, evidence: measured | few_points | peak_is_last |
                      proxy_not_rising | one_seed | within_noise, overoptimized) and, as a
                      description only, Gao et al.'s fits (alpha, beta, r2, gold_peak_d,
                      gold_peak_kl, gold_peak_reward, gold_peak_observed, proxy_alpha, proxy_beta,
                      proxy_r2, proxy_peak_d, proxy_peak_kl, proxy_slope_at_gold_peak)}
    label_noise:      [{method, setting, points: [{x (eps), n_seeds, mean, ci95}]}] ([] without a sweep)
    data_size:        the same against the number of preference pairs (preferences.max_pairs)
    findings:         [{id, claim, source, kind, measure, a, b, margin, effect, ci_low, ci_high, n_seeds, p_value,
                      p_holm, detectable_difference, seeds_needed (for the observed effect), verdict}]: the
                      config's report.findings tested over seeds
    tuning:           the tuning search, or null: {trials, seeds, sampler, kl_cap, methods: {method: {space,
                      trials: [{params, gold_reward, kl}], configured, chosen, moved_by}}}
    stability:        [{method, setting, gold_std, kl_jump_fraction, kl_jumps, kl_steps,
                      explained_variance}]
    verdict:    sentences written from the numbers above, in ``verdict_language`` (en or zh)
"""

from __future__ import annotations

import json
import platform
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from alignlab.config import ExperimentConfig, to_dict
from alignlab.files import write_json
from alignlab.layout import METRICS_FILE, ComparisonDir, TrainingDir, run_key
from alignlab.log import logger
from alignlab.report.aggregates import aggregate
from alignlab.report.i18n import report_language
from alignlab.report.statistics import ANALYSIS_KEYS, analyze, length_control, setting_label
from alignlab.report.verdict import verdict

__all__ = [
    "METRICS_FILE",
    "add_analyses",
    "aggregate",
    "load_histories",
    "setting_label",
    "verdict",
    "write_metrics",
]

# 3: paired tests between training runs, length control from the base policy's slope, the
# measured over-optimisation flag, clustered gold_reward_se.
SCHEMA_VERSION = 3


def load_histories(run_dir: Path, results: Iterable[Mapping[str, Any]]) -> dict[str, dict]:
    """``results`` run_dir -> that run's ``history.json``; runs without one (base, best-of-n, or an
    unreadable file) are left out, since a report should still come out of a partial run."""
    histories = {}
    for record in results:
        path = TrainingDir(Path(run_dir) / record.get("run_dir", "")).history
        if not path.is_file():
            continue
        try:
            histories[record["run_dir"]] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            logger.warning("Skipping the training curves of %s: %s", path, error)
    return histories


def add_analyses(
    metrics: dict[str, Any], histories: Mapping[str, Mapping[str, Any]] | None = None, baseline: str | None = None
) -> dict[str, Any]:
    """Fill in the statistics of :func:`alignlab.report.statistics.analyze` that ``metrics`` lacks
    (all of them for a metrics.json written before they existed), comparing with ``baseline``
    (a run name; see :func:`~alignlab.report.statistics.choose_baseline`); returns ``metrics``.
    A metrics.json of an older ``schema_version`` computed its statistics by other definitions:
    they, the aggregates and the verdict written from them are replaced (the verdict is dropped,
    for the report to write it afresh). An analysis that fails on odd data is logged and left
    None, so that metrics.json and the report still come out."""
    if metrics.get("schema_version", 0) < SCHEMA_VERSION and metrics.get("results"):
        for key in (*ANALYSIS_KEYS, "verdict"):
            metrics.pop(key, None)
        metrics["aggregates"] = aggregate(metrics["results"])
    for key in ANALYSIS_KEYS:
        if key in metrics:
            continue
        try:
            records = metrics.get("results", [])
            metrics[key] = analyze(records, metrics.get("config"), histories, keys=[key], baseline=baseline)[key]
        except Exception as error:  # noqa: BLE001 - a statistic must never cost the comparison its results
            logger.warning("Skipping the %s analysis: %r", key, error)
            metrics[key] = None
    return metrics


def environment() -> dict[str, Any]:
    import torch
    import transformers

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor() or "cpu",
        "threads": torch.get_num_threads(),
    }


def write_metrics(
    run_dir: Path,
    config: ExperimentConfig,
    records: Sequence[dict[str, Any]],
    stages: dict[str, Any],
    total_time_s: float | None,
    relevance_note: str | None = None,
    baseline: str | None = None,
    tuning: dict[str, Any] | None = None,
    sittings: int = 1,
) -> dict[str, Any]:
    """Write ``metrics.json`` for a finished comparison and return it. ``total_time_s`` is its
    wall time over its ``sittings`` (a resumed comparison's earlier ones included);
    ``relevance_note`` says why relevance is missing, when it is; ``baseline`` names the run the
    methods are compared with (e.g. "dpo (beta=0.1)", the setting chosen on validation prompts),
    else the report picks the best dpo setting on these records and says so; ``tuning`` is the
    search that chose the tuned methods' settings (``tuning.search_summary``)."""
    results, examples = [], {}
    for record in records:
        flat = {k: v for k, v in record.items() if k != "examples"}
        flat["run_dir"] = run_key(record["method"], record["params"], record["seed"])
        flat.setdefault("relevance", None)
        examples[flat["run_dir"]] = record.get("examples", [])
        results.append(flat)
    for run, value in length_control(results)["records"].items():
        next(r for r in results if r["run_dir"] == run)["lc_gold_reward"] = value
    aggregates = aggregate(results)
    metrics = {
        "schema_version": SCHEMA_VERSION,
        "name": config.name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "total_time_s": total_time_s,
        "sittings": sittings,
        "environment": environment(),
        "config": to_dict(config),
        "results": results,
        "aggregates": aggregates,
        "examples": examples,
        "stages": stages,
        "relevance_note": relevance_note,
        "tuning": tuning,
    }
    add_analyses(metrics, load_histories(run_dir, results), baseline)
    metrics["verdict_language"] = report_language(metrics)
    metrics["verdict"] = verdict(aggregates, metrics, metrics["verdict_language"])
    write_json(ComparisonDir(run_dir).metrics, metrics)
    return metrics
