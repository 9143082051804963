"""``metrics.json``: flat per-run records, aggregates over seeds (aggregates.py), the report's
statistics (statistics/) and the verdict computed from them (verdict.py); and the runs' histories.

Schema (``schema_version`` 2)::

    results:    one record per method x setting x seed (the reference policy is method "base"):
                method, params, seed, gold_reward, gold_reward_se, win_rate, kl, perplexity,
                distinct_1, distinct_2, self_bleu, relevance, mean_length, eos_fraction,
                wall_time_s, pipeline_time_s, eval_time_s, tokens_per_s, peak_mem_mb,
                models_in_memory, trainable_params, run_dir; where the pipeline records them,
                sample_gold, sample_length, proxy_score, gold_queries, checkpoint_eval_time_s and
                checkpoints ([{step, gold_reward, kl, mean_length, sample_gold, ...}], training order);
                added here: lc_gold_reward (length-controlled gold reward, statistics.length_control)
    aggregates: one per method x setting: n_seeds, run_dirs and, per metric (lc_gold_reward,
                proxy_score, gold_queries included), {mean, std, ci95} (ci95: Student's t)
    examples:   run_dir -> [{prompt, completion}], the first held-out prompts
    stages:     cost of the shared stages (preference sampling, reward models)
    relevance_note: why relevance is null, when it is (else null)
    length_control:   {slopes: {seed: b}, base_lengths: {seed: L0}} of the length-controlled reward
    paired_tests:     {baseline, resamples, bootstrap_seed, ..., rows: [{method, setting, difference,
                      ci_low, ci_high, p_value, p_holm, significant, n_seeds, n_prompts}]} or null
    overoptimization: run name -> Gao et al. fit {form, alpha, beta, r2, gold_peak_d, gold_peak_kl,
                      proxy_alpha, proxy_beta, ..., overoptimized, points}
    label_noise:      [{method, setting, points: [{eps, n_seeds, mean, ci95}]}] ([] without a sweep)
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

import torch

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

SCHEMA_VERSION = 2


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


def add_analyses(metrics: dict[str, Any], histories: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Fill in the statistics of :func:`alignlab.report.statistics.analyze` that ``metrics`` lacks
    (all of them for a metrics.json written before they existed); returns ``metrics``. An analysis
    that fails on odd data is logged and left None, so that metrics.json and the report still come out."""
    for key in ANALYSIS_KEYS:
        if key in metrics:
            continue
        try:
            metrics[key] = analyze(metrics.get("results", []), metrics.get("config"), histories, keys=[key])[key]
        except Exception as error:  # noqa: BLE001 - a statistic must never cost the comparison its results
            logger.warning("Skipping the %s analysis: %r", key, error)
            metrics[key] = None
    return metrics


def environment() -> dict[str, Any]:
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
) -> dict[str, Any]:
    """Write ``metrics.json`` for a finished comparison and return it. ``relevance_note`` says
    why relevance is missing, when it is."""
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
        "environment": environment(),
        "config": to_dict(config),
        "results": results,
        "aggregates": aggregates,
        "examples": examples,
        "stages": stages,
        "relevance_note": relevance_note,
    }
    add_analyses(metrics, load_histories(run_dir, results))
    metrics["verdict_language"] = report_language(metrics)
    metrics["verdict"] = verdict(aggregates, metrics, metrics["verdict_language"])
    write_json(ComparisonDir(run_dir).metrics, metrics)
    return metrics
