"""The aggregate rows of ``metrics.json`` (one per method and setting, every metric summarised
over seeds) and how the report reads them: a row's name, its means, its per-seed records."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from alignlab.report.statistics import group_records, length_control, run_name, setting_label, t_quantile

QUALITY_METRICS = (
    "gold_reward",
    "win_rate",
    "kl",
    "perplexity",
    "distinct_1",
    "distinct_2",
    "self_bleu",
    "relevance",
    "mean_length",
    "eos_fraction",
    "proxy_score",
    # With a verifiable reward (tasks.verifiable): right answers, well-formed ones, their lengths.
    "accuracy",
    "format_rate",
    "length_correct",
    "length_wrong",
)
COST_METRICS = (
    "wall_time_s",
    "pipeline_time_s",
    "eval_time_s",
    "checkpoint_eval_time_s",
    "relevance_time_s",
    "tokens_per_s",
    "trained_sequences",
    "train_flops",
    "peak_mem_mb",
    "models_in_memory",
    "trainable_params",
    "gold_queries",
)


def summarize_metric(values: Iterable[float | None], single_run_se: float | None = None) -> dict[str, float | None]:
    """Mean, std across seeds and the half-width of a 95 % interval of the mean: Student's t
    (scipy) across seeds when there are several, else 1.96 x the single run's standard error (if known)."""
    values = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if not values:
        return {"mean": None, "std": None, "ci95": None}
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    if n > 1:
        ci = t_quantile(n - 1) * std / math.sqrt(n)
    else:
        ci = 1.96 * single_run_se if single_run_se is not None else None
    return {"mean": mean, "std": std, "ci95": ci}


def aggregate(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per method x setting, in first-seen order, with every metric summarised; the
    length-controlled gold reward (``lc_gold_reward``) comes from the records' samples when they
    have them (else from the records' own ``lc_gold_reward``, else it is n/a)."""
    lc = length_control(records)["records"]
    rows = []
    for (method, setting), group in group_records(records).items():
        row: dict[str, Any] = {
            "method": method,
            "setting": setting,
            "params": group[0]["params"],
            "n_seeds": len(group),
            "run_dirs": [r["run_dir"] for r in group],
        }
        for key in QUALITY_METRICS + COST_METRICS:
            se = group[0].get(f"{key}_se") if len(group) == 1 else None
            row[key] = summarize_metric([r.get(key) for r in group], se)
        row["lc_gold_reward"] = summarize_metric(lc.get(r["run_dir"], r.get("lc_gold_reward")) for r in group)
        rows.append(row)
    return rows


def summary_mean(row: Mapping[str, Any], key: str) -> float | None:
    """The mean of a row's summarised ``key``, None when the row has no such summary."""
    summary = row.get(key)
    return summary.get("mean") if isinstance(summary, Mapping) else None


def summary_text(summary: Mapping[str, float | None] | None, digits: int = 3) -> str:
    """'mean ± ci' (the interval left out when unknown), 'n/a' without a mean."""
    if not summary or summary.get("mean") is None:
        return "n/a"
    ci = summary.get("ci95")
    return f"{summary['mean']:.{digits}f}" + (f" ± {ci:.{digits}f}" if ci else "")


def name(aggregate_row: Mapping[str, Any]) -> str:
    """'dpo (beta=0.1)', or just 'dpo' for a method without a sweep."""
    return run_name(aggregate_row["method"], aggregate_row["setting"])


def records_of(results: Sequence[Mapping[str, Any]], row: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The per-seed records behind an aggregate row."""
    return [
        r
        for r in results
        if r.get("method") == row["method"] and setting_label(r.get("params")) == row.get("setting", "default")
    ]
