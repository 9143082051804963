"""The sections of ``report.html`` that show the statistics: the paired comparisons (between
training runs, and apart from them the evaluation noise of the fixed checkpoints), reward-model
over-optimisation, robustness to label noise and stability."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from alignlab.report.aggregates import summary_mean
from alignlab.report.html_page import Page, name_cells, note, number_cell, table, table_row, text_cell
from alignlab.report.plots import control_figure, label_noise_figure, overoptimization_figure, run_label
from alignlab.report.statistics import BETTER, KL_JUMP_FLOOR, optimises_reward_model, report_settings
from alignlab.report.verdict import p_text


def _p_text(p: float | None) -> str:
    if p is None:
        return "—"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _interval_text(row: Mapping[str, Any]) -> str:
    if row.get("ci_low") is None or row.get("ci_high") is None:
        return "—"
    return f"[{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]"


def _signed_cell(value: float | None, css: str = "num") -> str:
    return f'<td class="{css}">{"—" if value is None else f"{value:+.3f}"}</td>'


def _paired_section(page: Page) -> str:
    tests = page.metrics.get("paired_tests")
    if not tests:
        return f"<h2 id='paired'>{escape(page.t('paired.heading'))}</h2>" + note(page.t("paired.none"))
    baseline = tests["baseline"]
    label = run_label(baseline["method"], baseline["setting"])
    return (
        f"<h2 id='paired'>{escape(page.t('paired', baseline=label))}</h2>"
        + note(page.t(f"paired.chosen.{baseline['chosen_by']}", baseline=label))
        + _seed_level_table(page, tests["seed_level"], label)
        + _prompt_level_table(page, tests.get("prompt_level"), label)
    )


def _seed_level_table(page: Page, seed_level: Mapping[str, Any], baseline: str) -> str:
    """The comparisons between training runs: the paired t-test over seeds, its outcome after
    Holm and what the design could detect."""
    rows = []
    for row in seed_level["rows"]:
        css = "num best" if row["outcome"] == BETTER else "num"
        seeds = row.get("seeds_needed")
        cells = [
            name_cells(row),
            text_cell(run_label(row["reference_method"], row["reference_setting"]), numeric=False),
            text_cell(str(row["n_seeds"])),
            _signed_cell(row.get("difference"), css),
            text_cell(_interval_text(row)),
            text_cell(_p_text(row.get("p_value"))),
            text_cell(_p_text(row.get("p_holm"))),
            text_cell(page.t(f"outcome.{row['outcome']}")),
            number_cell(row.get("detectable_difference"), 3),
            text_cell("—" if seeds is None else f"{seeds:,}"),
        ]
        rows.append(table_row(cells))
    headers = page.columns(
        "method",
        "setting",
        "against",
        "seeds",
        "difference",
        "ci",
        "p",
        "p_holm",
        "outcome",
        "detectable",
        "seeds_needed",
    )
    explanation = page.t(
        "paired.seeds_note", count=seed_level["comparisons"], baseline=baseline, alpha=seed_level["detectable_alpha"]
    )
    return f"<h3>{escape(page.t('paired.seeds'))}</h3>" + note(explanation) + table(headers, rows, numeric_from=3)


def _prompt_level_table(page: Page, prompt_level: Mapping[str, Any] | None, baseline: str) -> str:
    """Apart from the comparisons of methods: how precisely the fixed checkpoints were measured."""
    heading = f"<h3>{escape(page.t('paired.prompts'))}</h3>"
    if not prompt_level:
        return heading + note(page.t("paired.no_samples"))
    rows = []
    for row in prompt_level["rows"]:
        cells = [
            name_cells(row),
            text_cell(str(row["n_seeds"])),
            text_cell(str(row["n_prompts"])),
            _signed_cell(row["difference"]),
            text_cell(_interval_text(row)),
            text_cell(_p_text(row["p_value"])),
            text_cell(_p_text(row["p_holm"])),
        ]
        rows.append(table_row(cells))
    headers = page.columns("method", "setting", "seeds", "prompts", "difference", "ci", "p", "p_holm")
    explanation = page.t(
        "paired.prompts_note",
        baseline=baseline,
        resamples=prompt_level["resamples"],
        seed=prompt_level["bootstrap_seed"],
        count=len(prompt_level["rows"]),
    )
    return heading + note(explanation) + table(headers, rows, numeric_from=2)


def _fit_text(entry: Mapping[str, Any], prefix: str) -> str:
    alpha, beta, r2 = (entry.get(prefix + k) for k in ("alpha", "beta", "r2"))
    if alpha is None or beta is None:
        return "—"
    return f"{alpha:.3f}, {beta:.3f}" + (f" ({r2:.2f})" if r2 is not None else "")


def _decline_text(entry: Mapping[str, Any]) -> str:
    """'0.115 (p < 0.001)': the gold reward's fall from its measured peak to the last point."""
    decline = entry.get("decline")
    if decline is None or entry.get("measured_peak_kl") is None:
        return "—"
    p = entry.get("decline_p")
    return f"{decline:.3f}" + ("" if p is None else f" (p {p_text(p)})")


def _overoptimization_section(page: Page) -> str:
    entries = list((page.metrics.get("overoptimization") or {}).values())
    heading = f"<h2 id='overoptimization'>{escape(page.t('overopt'))}</h2>"
    if not entries:
        optimisers = any(optimises_reward_model(r) for r in page.results)
        return heading + note(page.t("overopt.none")) if optimisers else ""
    parts = [heading]
    fig = overoptimization_figure(entries, page.fig_lang)
    if fig is not None:
        parts.append(page.figure(fig, escape(page.t("overopt.caption")), "Reward-model over-optimisation"))
    rows = []
    for entry in entries:
        max_kl = entry.get("max_d", 0.0) ** 2
        cells = [
            name_cells(entry),
            text_cell(entry.get("formula", entry.get("form", "")), numeric=False),
            text_cell(str(entry.get("n_points", ""))),
            text_cell(_fit_text(entry, "")),
            text_cell(_fit_text(entry, "proxy_")),
            number_cell(entry.get("gold_peak_kl"), 3),
            number_cell(max_kl, 3),
            number_cell(entry["measured_peak_kl"], 3),
            text_cell(_decline_text(entry)),
            text_cell(page.t(f"evidence.{entry['evidence']}")),
        ]
        rows.append(table_row(cells))
    headers = page.columns(
        "method",
        "setting",
        "form",
        "points",
        "gold_fit",
        "proxy_fit",
        "gold_peak",
        "max_kl",
        "measured_peak",
        "decline",
        "overoptimized",
    )
    parts.append(note(page.t("overopt.note")))
    parts.append(table(headers, rows, numeric_from=3))
    if any(entry.get("alpha") is None for entry in entries):
        parts.append(note(page.t("overopt.few_points")))
    return "".join(parts)


def _label_noise_section(page: Page) -> str:
    curves = page.metrics.get("label_noise") or []
    if not curves:
        return ""
    base = next((a for a in page.aggregates if a["method"] == "base"), None)
    fig = label_noise_figure(curves, None if base is None else summary_mean(base, "gold_reward"), page.fig_lang)
    if fig is None:
        return ""
    return f"<h2 id='label-noise'>{escape(page.t('noise'))}</h2>" + page.figure(
        fig, escape(page.t("noise.caption")), "Label noise"
    )


def _data_size_section(page: Page) -> str:
    curves = page.metrics.get("data_size") or []
    base = next((a for a in page.aggregates if a["method"] == "base"), None)
    fig = control_figure(
        curves, "data_size", None if base is None else summary_mean(base, "gold_reward"), page.fig_lang
    )
    if fig is None:
        return ""
    caption = escape(page.t("pairs.caption"))
    return f"<h2 id='data-size'>{escape(page.t('pairs'))}</h2>" + page.figure(fig, caption, "Preference data size")


def _stability_section(page: Page) -> str:
    rows_data = page.metrics.get("stability") or []
    if not rows_data:
        return ""
    rows = []
    for row in rows_data:
        jumps = row.get("kl_jumps")
        steps = row.get("kl_steps")
        jump_text = "—" if not steps else f"{jumps}/{steps} ({100 * jumps / steps:.0f}%)"
        cells = [
            name_cells(row),
            text_cell(str(row.get("n_seeds", ""))),
            number_cell(row.get("gold_std"), 3),
            number_cell(row.get("training_reward_std"), 3),
            text_cell(jump_text),
            number_cell(row.get("explained_variance"), 3),
        ]
        rows.append(table_row(cells))
    headers = page.columns(
        "method", "setting", "seeds", "gold_std", "training_reward_std", "kl_jumps", "explained_variance"
    )
    factor = report_settings(page.metrics.get("config"))["kl_jump_factor"]
    explanation = page.t("stability.note", factor=factor, floor=KL_JUMP_FLOOR)
    return (
        f"<h2 id='stability'>{escape(page.t('stability'))}</h2>"
        + note(explanation)
        + table(headers, rows, numeric_from=2)
    )
