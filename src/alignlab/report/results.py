"""``metrics.json``: flat per-run records, aggregates over seeds, and the verdict computed from them.

Schema (``schema_version`` 1)::

    results:    one record per method x setting x seed (the reference policy is method "base"):
                method, params, seed, gold_reward, gold_reward_se, win_rate, kl, perplexity,
                distinct_1, distinct_2, self_bleu, relevance, mean_length, eos_fraction,
                wall_time_s, pipeline_time_s, eval_time_s, tokens_per_s, peak_mem_mb,
                models_in_memory, trainable_params, run_dir
    aggregates: one per method x setting: n_seeds, run_dirs and, per metric, {mean, std, ci95}
    examples:   run_dir -> [{prompt, completion}], the first held-out prompts
    stages:     cost of the shared stages (preference sampling, reward models)
    relevance_note: why relevance is null, when it is (else null)
    verdict:    sentences written from the numbers above
"""

from __future__ import annotations

import math
import platform
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from alignlab.config import ExperimentConfig, to_dict
from alignlab.trainers.common import write_json

SCHEMA_VERSION = 1
METRICS_FILE = "metrics.json"
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
)
COST_METRICS = (
    "wall_time_s",
    "pipeline_time_s",
    "eval_time_s",
    "relevance_time_s",
    "tokens_per_s",
    "peak_mem_mb",
    "models_in_memory",
    "trainable_params",
)
# Two-sided 95 % quantiles of Student's t for 1..30 degrees of freedom; the normal's beyond.
_T95 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)


def t95(dof: int) -> float:
    return _T95[dof - 1] if 1 <= dof <= len(_T95) else 1.96


def setting_label(params: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in params.items()) or "default"


def summarize_metric(values: Sequence[float], single_run_se: float | None = None) -> dict[str, float | None]:
    """Mean, std across seeds and the half-width of a 95 % interval of the mean: Student's t
    across seeds when there are several, else 1.96 x the single run's standard error (if known)."""
    values = [v for v in values if v is not None]
    if not values:
        return {"mean": None, "std": None, "ci95": None}
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    if n > 1:
        ci = t95(n - 1) * std / math.sqrt(n)
    else:
        ci = 1.96 * single_run_se if single_run_se is not None else None
    return {"mean": mean, "std": std, "ci95": ci}


def aggregate(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per method x setting, in first-seen order, with every metric summarised."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault((record["method"], setting_label(record["params"])), []).append(record)
    rows = []
    for (method, setting), group in groups.items():
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
        rows.append(row)
    return rows


def _fmt(summary: dict[str, float | None], digits: int = 3) -> str:
    if summary["mean"] is None:
        return "n/a"
    ci = summary["ci95"]
    return f"{summary['mean']:.{digits}f}" + (f" ± {ci:.{digits}f}" if ci else "")


def _interval(summary: dict[str, float | None]) -> tuple[float, float]:
    ci = summary["ci95"] or 0.0
    return summary["mean"] - ci, summary["mean"] + ci


def name(aggregate_row: dict[str, Any]) -> str:
    """'dpo (beta=0.1)', or just 'dpo' for a method without a sweep."""
    setting = aggregate_row["setting"]
    return aggregate_row["method"] if setting == "default" else f"{aggregate_row['method']} ({setting})"


def verdict(aggregates: Sequence[dict[str, Any]]) -> list[str]:
    """Sentences that answer the comparison's questions from the aggregates alone."""
    base = next((a for a in aggregates if a["method"] == "base"), None)
    others = [a for a in aggregates if a["method"] != "base" and a["gold_reward"]["mean"] is not None]
    if base is None or not others:
        return ["Not enough results for a verdict."]
    lines = []
    base_gold = base["gold_reward"]

    kls = sorted(a["kl"]["mean"] for a in others if a["kl"]["mean"] is not None)
    if kls:
        budget = kls[len(kls) // 2]
        within = [a for a in others if a["kl"]["mean"] is not None and a["kl"]["mean"] <= budget + 1e-9]
        best = max(within, key=lambda a: a["gold_reward"]["mean"])
        lines.append(
            f"Within a KL budget of {budget:.2f} nats (the median KL of all settings), the highest gold reward "
            f"came from {name(best)}: {_fmt(best['gold_reward'])} at KL {best['kl']['mean']:.2f}, "
            f"against {_fmt(base_gold)} for the base policy."
        )
    top = max(others, key=lambda a: a["gold_reward"]["mean"])
    lines.append(
        f"The highest gold reward at any KL came from {name(top)}: {_fmt(top['gold_reward'])} "
        f"(KL {top['kl']['mean']:.2f}, win rate against the reference {top['win_rate']['mean']:.2f})."
    )

    best_per_method: dict[str, dict[str, Any]] = {}
    for a in others:
        if (
            a["method"] not in best_per_method
            or a["gold_reward"]["mean"] > best_per_method[a["method"]]["gold_reward"]["mean"]
        ):
            best_per_method[a["method"]] = a
    above = [m for m, a in best_per_method.items() if _interval(a["gold_reward"])[0] > _interval(base_gold)[1]]
    not_above = [m for m in best_per_method if m not in above]
    if above:
        lines.append(
            "Raised the gold reward above the base policy's with non-overlapping 95% intervals (best setting of each): "
            + ", ".join(above)
            + "."
        )
    if not_above:
        lines.append("Not distinguishable from the base policy (or below it): " + ", ".join(not_above) + ".")

    trained = [a for a in others if a["pipeline_time_s"]["mean"] is not None]
    if trained:
        cheap = min(trained, key=lambda a: a["pipeline_time_s"]["mean"])
        costly = max(trained, key=lambda a: a["pipeline_time_s"]["mean"])
        lines.append(
            f"Cheapest: {name(cheap)}, {cheap['pipeline_time_s']['mean']:.0f} s end to end with "
            f"{cheap['peak_mem_mb']['mean']:.0f} MB peak memory and {cheap['models_in_memory']['mean']:.0f} model(s) in "
            f"memory; most expensive: {name(costly)}, {costly['pipeline_time_s']['mean']:.0f} s, "
            f"{costly['peak_mem_mb']['mean']:.0f} MB, {costly['models_in_memory']['mean']:.0f} model(s)."
        )
    multi_seed = [a for a in others if a["n_seeds"] > 1]
    if multi_seed:
        shaky = max(multi_seed, key=lambda a: a["gold_reward"]["std"])
        steady = min(multi_seed, key=lambda a: a["gold_reward"]["std"])
        lines.append(
            f"Least stable across seeds: {name(shaky)} (gold reward std {shaky['gold_reward']['std']:.3f} over "
            f"{shaky['n_seeds']} seeds); most stable: {name(steady)} (std {steady['gold_reward']['std']:.3f})."
        )
    else:
        lines.append("Stability across seeds needs at least two seeds; this run has one.")

    base_ppl = base["perplexity"]["mean"]
    if base_ppl:
        disfluent = [a for a in others if a["perplexity"]["mean"] and a["perplexity"]["mean"] > 2 * base_ppl]
        if disfluent:
            lines.append(
                "Fluency fell (perplexity under the reference more than twice the base's "
                f"{base_ppl:.1f}): " + ", ".join(f"{name(a)} {a['perplexity']['mean']:.1f}" for a in disfluent) + "."
            )
    base_rel = base["relevance"]
    if base_rel["mean"] is not None:
        drifting = [
            a
            for a in others
            if a["relevance"]["mean"] is not None
            and a["relevance"]["mean"] < base_rel["mean"] - 0.05
            and _interval(a["relevance"])[1] < _interval(base_rel)[0]
        ]
        if drifting:
            lines.append(
                f"Relevance to the prompt fell clearly below the base policy's ({base_rel['mean']:.3f}): "
                + ", ".join(f"{name(a)} {a['relevance']['mean']:.3f}" for a in drifting)
                + "; these gain reward partly by drifting off the prompt."
            )
    return lines


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
        flat["run_dir"] = f"runs/{record['method']}/{setting_label(record['params'])}/seed-{record['seed']}"
        flat.setdefault("relevance", None)
        examples[flat["run_dir"]] = record.get("examples", [])
        results.append(flat)
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
        "verdict": verdict(aggregates),
    }
    write_json(run_dir / METRICS_FILE, metrics)
    return metrics
