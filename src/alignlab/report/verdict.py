"""The verdict: sentences that answer the comparison's questions from the aggregates and the
statistics, in English or Chinese.

It says no more than the tests do: a method is "better" or "worse" than another only where the
paired t-test over seeds, Holm-corrected over every comparison of the report, says so; otherwise
it is "not distinguishable at N seeds", with the smallest difference the design could detect;
with one seed there is no test between training runs and no such sentence. Rankings by mean
(the highest gold reward, the cheapest run) are said as means.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from alignlab.report.aggregates import name, summary_mean, summary_text
from alignlab.report.i18n import join, tr
from alignlab.report.statistics import (
    BASE_METHOD,
    BETTER,
    CONTRADICTED,
    INCONCLUSIVE,
    NOT_DISTINGUISHABLE,
    REPRODUCED,
    WORSE,
)


def _num(summary: Mapping[str, float | None] | None, digits: int = 0) -> str:
    value = None if not summary else summary.get("mean")
    return "n/a" if value is None else f"{value:.{digits}f}"


def _interval(summary: dict[str, float | None]) -> tuple[float, float]:
    ci = summary["ci95"] or 0.0
    return summary["mean"] - ci, summary["mean"] + ci


def p_text(p: float) -> str:
    """'< 0.001' or '= 0.012': a p-value as a sentence or a table writes it."""
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


def verdict(
    aggregates: Sequence[Mapping[str, Any]], analyses: Mapping[str, Any] | None = None, lang: str = "en"
) -> list[str]:
    """Sentences that answer the comparison's questions from the aggregates and, where given, the
    statistics of :func:`alignlab.report.statistics.analyze` (the comparisons between training
    runs, over-optimisation, label noise), in ``lang`` ("en" or "zh")."""
    base = next((a for a in aggregates if a["method"] == "base"), None)
    others = [a for a in aggregates if a["method"] != "base" and summary_mean(a, "gold_reward") is not None]
    if base is None or not others or summary_mean(base, "gold_reward") is None:
        return [tr("v.none", lang)]
    lines = _protocol_verdict(analyses or {}, others, lang)
    lines += _kl_budget_verdict(base, others, lang)
    top = max(others, key=lambda a: a["gold_reward"]["mean"])
    lines.append(
        tr(
            "v.top",
            lang,
            top=name(top),
            gold=summary_text(top["gold_reward"]),
            kl=_num(top.get("kl"), 2),
            win=_num(top.get("win_rate"), 2),
        )
    )
    lines += _cost_verdict(others, lang)
    lines += _stability_verdict(others, lang)
    lines += _quality_verdict(base, others, lang)
    lines += _length_verdict(others, lang)
    if analyses:
        lines += _analysis_verdict(analyses, lang)
    return lines


def _protocol_verdict(metrics: Mapping[str, Any], others: Sequence[Mapping[str, Any]], lang: str) -> list[str]:
    """How the methods' settings were chosen, which bounds what a difference between methods can
    mean: tuned on validation prompts with equal trials, or each at its preset's setting."""
    tuning = metrics.get("tuning")
    if tuning and tuning.get("methods"):
        moved = [entry["moved_by"] for entry in tuning["methods"].values()]
        return [tr("v.tuned", lang, trials=tuning["trials"], low=min(moved), high=max(moved))]
    trained = {a["method"] for a in others if summary_mean(a, "trained_sequences") is not None}
    return [tr("v.untuned", lang)] if len(trained) > 1 else []


def _kl_budget_verdict(base: Mapping[str, Any], others: Sequence[Mapping[str, Any]], lang: str) -> list[str]:
    """The best gold reward within the median KL of all settings."""
    with_kl = [a for a in others if summary_mean(a, "kl") is not None]
    if not with_kl:
        return []
    kls = sorted(a["kl"]["mean"] for a in with_kl)
    budget = kls[len(kls) // 2]
    within = [a for a in with_kl if a["kl"]["mean"] <= budget + 1e-9]
    best = max(within, key=lambda a: a["gold_reward"]["mean"])
    return [
        tr(
            "v.budget",
            lang,
            budget=budget,
            best=name(best),
            gold=summary_text(best["gold_reward"]),
            kl=best["kl"]["mean"],
            base=summary_text(base["gold_reward"]),
        )
    ]


def _cost_verdict(others: Sequence[Mapping[str, Any]], lang: str) -> list[str]:
    trained = [a for a in others if summary_mean(a, "pipeline_time_s") is not None]
    if not trained:
        return []
    cheap = min(trained, key=lambda a: a["pipeline_time_s"]["mean"])
    costly = max(trained, key=lambda a: a["pipeline_time_s"]["mean"])

    def fields(prefix: str, row: Mapping[str, Any]) -> dict[str, str]:
        return {
            prefix: name(row),
            f"{prefix}_time": _num(row["pipeline_time_s"]),
            f"{prefix}_mem": _num(row.get("peak_mem_mb")),
            f"{prefix}_models": _num(row.get("models_in_memory")),
        }

    return [tr("v.cost", lang, **fields("cheap", cheap), **fields("costly", costly))]


def _stability_verdict(others: Sequence[Mapping[str, Any]], lang: str) -> list[str]:
    multi_seed = [a for a in others if a.get("n_seeds", 1) > 1 and a["gold_reward"].get("std") is not None]
    if not multi_seed:
        return [tr("v.one_seed", lang)]
    shaky = max(multi_seed, key=lambda a: a["gold_reward"]["std"])
    steady = min(multi_seed, key=lambda a: a["gold_reward"]["std"])
    return [
        tr(
            "v.stability",
            lang,
            shaky=name(shaky),
            shaky_std=shaky["gold_reward"]["std"],
            n=shaky["n_seeds"],
            steady=name(steady),
            steady_std=steady["gold_reward"]["std"],
        )
    ]


def _quality_verdict(base: Mapping[str, Any], others: Sequence[Mapping[str, Any]], lang: str) -> list[str]:
    """The runs whose fluency (perplexity) or relevance to the prompt fell clearly below the base policy's."""
    lines = []
    base_ppl = summary_mean(base, "perplexity")
    if base_ppl:
        disfluent = [a for a in others if summary_mean(a, "perplexity") and a["perplexity"]["mean"] > 2 * base_ppl]
        if disfluent:
            runs = join([f"{name(a)} {a['perplexity']['mean']:.1f}" for a in disfluent], lang)
            lines.append(tr("v.fluency", lang, base=base_ppl, runs=runs))
    base_rel = base.get("relevance") or {}
    if base_rel.get("mean") is not None:
        drifting = [
            a
            for a in others
            if summary_mean(a, "relevance") is not None
            and a["relevance"]["mean"] < base_rel["mean"] - 0.05
            and _interval(a["relevance"])[1] < _interval(base_rel)[0]
        ]
        if drifting:
            runs = join([f"{name(a)} {a['relevance']['mean']:.3f}" for a in drifting], lang)
            lines.append(tr("v.relevance", lang, base=base_rel["mean"], runs=runs))
    return lines


def _length_verdict(others: Sequence[Mapping[str, Any]], lang: str) -> list[str]:
    controlled = [a for a in others if summary_mean(a, "lc_gold_reward") is not None]
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


def _comparison_item(row: Mapping[str, Any], lang: str) -> str:
    """One comparison between runs: the difference with its interval and Holm p where the test
    decided, else what the design could have detected."""
    if row["outcome"] in (BETTER, WORSE):
        return tr(
            "v.decided",
            lang,
            name=row["name"],
            diff=row["difference"],
            low=row["ci_low"],
            high=row["ci_high"],
            p=p_text(row["p_holm"]),
        )
    return tr(
        "v.undecided",
        lang,
        name=row["name"],
        diff=row["difference"],
        n=row["n_seeds"],
        mde=row["detectable_difference"],
    )


def _comparison_verdict(paired: Mapping[str, Any], lang: str) -> list[str]:
    """Per reference (the baseline, then the base policy), the runs better, worse and not
    distinguishable by the paired t-test over seeds; the runs with one seed named as untested.
    With no test between runs at all, one sentence that says so instead."""
    seed_level = paired.get("seed_level") or {}
    rows = seed_level.get("rows") or []
    if not any(row["p_holm"] is not None for row in rows):
        return [tr("v.no_runs_test", lang)] if rows else []
    baseline = paired["baseline"]
    lines = []
    for reference in dict.fromkeys((baseline["name"], BASE_METHOD)):
        ours = [row for row in rows if row["reference"] == reference]
        if not ours:
            continue
        groups = {
            outcome: [_comparison_item(row, lang) for row in ours if row["outcome"] == outcome]
            for outcome in (BETTER, WORSE, NOT_DISTINGUISHABLE)
        }
        lists = {k: join(v, lang) if v else tr("v.none_list", lang) for k, v in groups.items()}
        if reference == baseline["name"]:
            chosen = tr(f"v.chosen.{baseline['chosen_by']}", lang)
            against = tr("v.against_baseline", lang, baseline=reference, chosen=chosen, count=seed_level["comparisons"])
        else:
            against = tr("v.against_base", lang)
        line = tr(
            "v.outcomes",
            lang,
            against=against,
            better=lists[BETTER],
            worse=lists[WORSE],
            same=lists[NOT_DISTINGUISHABLE],
        )
        untested = [row["name"] for row in ours if row["p_holm"] is None]
        if untested:
            line += tr("v.untested", lang, runs=join(untested, lang))
        lines.append(line)
    return lines


def _analysis_verdict(analyses: Mapping[str, Any], lang: str) -> list[str]:
    lines = []
    paired = analyses.get("paired_tests")
    if paired:
        lines += _comparison_verdict(paired, lang)
    over = [e for e in (analyses.get("overoptimization") or {}).values() if e.get("overoptimized")]
    if over:
        runs = [
            tr(
                "v.overopt_at",
                lang,
                name=e["name"],
                decline=e["decline"],
                kl=e["measured_peak_kl"],
                p=p_text(e["decline_p"]),
                n=e["decline_seeds"],
                rise=e["proxy_rise"],
            )
            for e in over
        ]
        lines.append(tr("v.overopt", lang, runs=join(runs, lang)))
    findings = analyses.get("findings") or []
    if findings:
        by_verdict = {
            v: [f["id"] for f in findings if f["verdict"] == v] for v in (REPRODUCED, CONTRADICTED, INCONCLUSIVE)
        }
        lists = {v: join(ids, lang) if ids else tr("v.none_list", lang) for v, ids in by_verdict.items()}
        lines.append(tr("v.findings", lang, **lists))
    curves = [c for c in analyses.get("label_noise") or [] if len(c.get("points", [])) > 1]
    if curves:
        items = [
            tr(
                "v.label_noise_item",
                lang,
                name=c["name"],
                delta=c["points"][-1]["mean"] - c["points"][0]["mean"],
                low=c["points"][0]["x"],
                high=c["points"][-1]["x"],
            )
            for c in curves
        ]
        lines.append(tr("v.label_noise", lang, runs=join(items, lang)))
    return lines
