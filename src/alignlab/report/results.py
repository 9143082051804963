"""``metrics.json``: flat per-run records, aggregates over seeds, the report's statistics and the
verdict computed from them.

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
import math
import platform
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from alignlab.config import ExperimentConfig, to_dict
from alignlab.files import write_json
from alignlab.log import logger
from alignlab.report.i18n import join, report_language, tr
from alignlab.report.statistics import ANALYSIS_KEYS, analyze, length_control, run_name, setting_label, t_quantile

__all__ = [
    "METRICS_FILE",
    "add_analyses",
    "aggregate",
    "load_histories",
    "name",
    "setting_label",
    "summarize_metric",
    "verdict",
    "write_metrics",
]

SCHEMA_VERSION = 2
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.json"
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
)
COST_METRICS = (
    "wall_time_s",
    "pipeline_time_s",
    "eval_time_s",
    "checkpoint_eval_time_s",
    "relevance_time_s",
    "tokens_per_s",
    "peak_mem_mb",
    "models_in_memory",
    "trainable_params",
    "gold_queries",
)


def t95(dof: int) -> float:
    """The two-sided 95 % quantile of Student's t with ``dof`` degrees of freedom."""
    return t_quantile(dof, 0.95)


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
        ci = t95(n - 1) * std / math.sqrt(n)
    else:
        ci = 1.96 * single_run_se if single_run_se is not None else None
    return {"mean": mean, "std": std, "ci95": ci}


def aggregate(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per method x setting, in first-seen order, with every metric summarised; the
    length-controlled gold reward (``lc_gold_reward``) comes from the records' samples when they
    have them (else from the records' own ``lc_gold_reward``, else it is n/a)."""
    lc = length_control(records)["records"]
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
        row["lc_gold_reward"] = summarize_metric(lc.get(r["run_dir"], r.get("lc_gold_reward")) for r in group)
        rows.append(row)
    return rows


def _fmt(summary: Mapping[str, float | None] | None, digits: int = 3) -> str:
    if not summary or summary.get("mean") is None:
        return "n/a"
    ci = summary.get("ci95")
    return f"{summary['mean']:.{digits}f}" + (f" ± {ci:.{digits}f}" if ci else "")


def _num(summary: Mapping[str, float | None] | None, digits: int = 0) -> str:
    value = None if not summary else summary.get("mean")
    return "n/a" if value is None else f"{value:.{digits}f}"


def _interval(summary: dict[str, float | None]) -> tuple[float, float]:
    ci = summary["ci95"] or 0.0
    return summary["mean"] - ci, summary["mean"] + ci


def _m(row: Mapping[str, Any], key: str) -> float | None:
    summary = row.get(key)
    return None if not summary else summary.get("mean")


def name(aggregate_row: Mapping[str, Any]) -> str:
    """'dpo (beta=0.1)', or just 'dpo' for a method without a sweep."""
    return run_name(aggregate_row["method"], aggregate_row["setting"])


def verdict(
    aggregates: Sequence[Mapping[str, Any]], analyses: Mapping[str, Any] | None = None, lang: str = "en"
) -> list[str]:
    """Sentences that answer the comparison's questions from the aggregates and, where given, the
    statistics of :func:`alignlab.report.statistics.analyze` (paired tests, over-optimisation,
    label noise), in ``lang`` ("en" or "zh")."""
    base = next((a for a in aggregates if a["method"] == "base"), None)
    others = [a for a in aggregates if a["method"] != "base" and _m(a, "gold_reward") is not None]
    if base is None or not others or _m(base, "gold_reward") is None:
        return [tr("v.none", lang)]
    lines = []
    base_gold = base["gold_reward"]

    with_kl = [a for a in others if _m(a, "kl") is not None]
    if with_kl:
        kls = sorted(a["kl"]["mean"] for a in with_kl)
        budget = kls[len(kls) // 2]
        within = [a for a in with_kl if a["kl"]["mean"] <= budget + 1e-9]
        best = max(within, key=lambda a: a["gold_reward"]["mean"])
        lines.append(
            tr(
                "v.budget",
                lang,
                budget=budget,
                best=name(best),
                gold=_fmt(best["gold_reward"]),
                kl=best["kl"]["mean"],
                base=_fmt(base_gold),
            )
        )
    top = max(others, key=lambda a: a["gold_reward"]["mean"])
    lines.append(
        tr(
            "v.top",
            lang,
            top=name(top),
            gold=_fmt(top["gold_reward"]),
            kl=_num(top.get("kl"), 2),
            win=_num(top.get("win_rate"), 2),
        )
    )

    best_per_method: dict[str, Mapping[str, Any]] = {}
    for a in others:
        if (
            a["method"] not in best_per_method
            or a["gold_reward"]["mean"] > best_per_method[a["method"]]["gold_reward"]["mean"]
        ):
            best_per_method[a["method"]] = a
    above = [m for m, a in best_per_method.items() if _interval(a["gold_reward"])[0] > _interval(base_gold)[1]]
    not_above = [m for m in best_per_method if m not in above]
    if above:
        lines.append(tr("v.above", lang, methods=join(above, lang)))
    if not_above:
        lines.append(tr("v.not_above", lang, methods=join(not_above, lang)))

    trained = [a for a in others if _m(a, "pipeline_time_s") is not None]
    if trained:
        cheap = min(trained, key=lambda a: a["pipeline_time_s"]["mean"])
        costly = max(trained, key=lambda a: a["pipeline_time_s"]["mean"])
        lines.append(
            tr(
                "v.cost",
                lang,
                cheap=name(cheap),
                cheap_time=_num(cheap["pipeline_time_s"]),
                cheap_mem=_num(cheap.get("peak_mem_mb")),
                cheap_models=_num(cheap.get("models_in_memory")),
                costly=name(costly),
                costly_time=_num(costly["pipeline_time_s"]),
                costly_mem=_num(costly.get("peak_mem_mb")),
                costly_models=_num(costly.get("models_in_memory")),
            )
        )
    multi_seed = [a for a in others if a.get("n_seeds", 1) > 1 and a["gold_reward"].get("std") is not None]
    if multi_seed:
        shaky = max(multi_seed, key=lambda a: a["gold_reward"]["std"])
        steady = min(multi_seed, key=lambda a: a["gold_reward"]["std"])
        lines.append(
            tr(
                "v.stability",
                lang,
                shaky=name(shaky),
                shaky_std=shaky["gold_reward"]["std"],
                n=shaky["n_seeds"],
                steady=name(steady),
                steady_std=steady["gold_reward"]["std"],
            )
        )
    else:
        lines.append(tr("v.one_seed", lang))

    base_ppl = _m(base, "perplexity")
    if base_ppl:
        disfluent = [a for a in others if _m(a, "perplexity") and a["perplexity"]["mean"] > 2 * base_ppl]
        if disfluent:
            runs = join([f"{name(a)} {a['perplexity']['mean']:.1f}" for a in disfluent], lang)
            lines.append(tr("v.fluency", lang, base=base_ppl, runs=runs))
    base_rel = base.get("relevance") or {}
    if base_rel.get("mean") is not None:
        drifting = [
            a
            for a in others
            if _m(a, "relevance") is not None
            and a["relevance"]["mean"] < base_rel["mean"] - 0.05
            and _interval(a["relevance"])[1] < _interval(base_rel)[0]
        ]
        if drifting:
            runs = join([f"{name(a)} {a['relevance']['mean']:.3f}" for a in drifting], lang)
            lines.append(tr("v.relevance", lang, base=base_rel["mean"], runs=runs))
    lines += _length_verdict(others, lang)
    if analyses:
        lines += _analysis_verdict(analyses, lang)
    return lines


def _length_verdict(others: Sequence[Mapping[str, Any]], lang: str) -> list[str]:
    controlled = [a for a in others if _m(a, "lc_gold_reward") is not None]
    if not controlled:
        return []
    raw_best = max(controlled, key=lambda a: a["gold_reward"]["mean"])
    lc_best = max(controlled, key=lambda a: a["lc_gold_reward"]["mean"])
    if lc_best is raw_best:
        return [
            tr(
                "v.length_same",
                lang,
                best=name(raw_best),
                lc_gold=raw_best["lc_gold_reward"]["mean"],
                raw_gold=raw_best["gold_reward"]["mean"],
            )
        ]
    return [
        tr(
            "v.length_changes",
            lang,
            lc_best=name(lc_best),
            lc_gold=lc_best["lc_gold_reward"]["mean"],
            raw_best=name(raw_best),
        )
    ]


def _analysis_verdict(analyses: Mapping[str, Any], lang: str) -> list[str]:
    lines = []
    paired = analyses.get("paired_tests")
    if paired and any(row.get("p_holm") is not None for row in paired.get("rows", [])):
        tested = [row for row in paired["rows"] if row.get("p_holm") is not None and row["method"] != "base"]
        groups = {"better": [], "worse": [], "same": []}
        for row in tested:
            key = "same" if not row["significant"] else ("better" if row["difference"] > 0 else "worse")
            groups[key].append(f"{row['name']} {row['difference']:+.3f}")
        if tested:
            lists = {k: join(v, lang) if v else tr("v.none_list", lang) for k, v in groups.items()}
            lines.append(tr("v.paired", lang, baseline=paired["baseline"]["name"], **lists))
    over = [e for e in (analyses.get("overoptimization") or {}).values() if e.get("overoptimized")]
    if over:
        runs = join([tr("v.overopt_at", lang, name=e["name"], kl=e["gold_peak_kl"]) for e in over], lang)
        lines.append(tr("v.overopt", lang, runs=runs))
    curves = [c for c in analyses.get("label_noise") or [] if len(c.get("points", [])) > 1]
    if curves:
        items = [
            tr(
                "v.label_noise_item",
                lang,
                name=c["name"],
                delta=c["points"][-1]["mean"] - c["points"][0]["mean"],
                low=c["points"][0]["eps"],
                high=c["points"][-1]["eps"],
            )
            for c in curves
        ]
        lines.append(tr("v.label_noise", lang, runs=join(items, lang)))
    return lines


def load_histories(run_dir: Path, results: Iterable[Mapping[str, Any]]) -> dict[str, dict]:
    """``results`` run_dir -> that run's ``history.json``; runs without one (base, best-of-n, or an
    unreadable file) are left out, since a report should still come out of a partial run."""
    histories = {}
    for record in results:
        path = Path(run_dir) / record.get("run_dir", "") / HISTORY_FILE
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
        flat["run_dir"] = f"runs/{record['method']}/{setting_label(record['params'])}/seed-{record['seed']}"
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
    write_json(run_dir / METRICS_FILE, metrics)
    return metrics
