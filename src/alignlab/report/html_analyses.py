"""The sections of ``report.html`` that show the statistics: the paired comparison with a
baseline, reward-model over-optimisation, robustness to label noise and stability."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from alignlab.report.aggregates import summary_mean
from alignlab.report.html_page import Page, name_cells, note, number_cell, table, table_row, text_cell
from alignlab.report.plots import label_noise_figure, overoptimization_figure, run_label
from alignlab.report.statistics import KL_JUMP_FLOOR, REWARD_MODEL_METHODS, report_settings


def _p_text(p: float | None) -> str:
    if p is None:
        return "—"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _paired_section(page: Page) -> str:
    tests = page.metrics.get("paired_tests")
    if not tests:
        return f"<h2>{escape(page.t('paired.heading'))}</h2>" + note(page.t("paired.none"))
    baseline = tests["baseline"]
    label = run_label(baseline["method"], baseline["setting"])
    rows = []
    for row in tests.get("rows", []):
        cells = [name_cells(row)]
        if row.get("difference") is None:
            cells += [text_cell("0"), text_cell("0"), text_cell(page.t("paired.no_pairs"))] + [text_cell("—")] * 4
        else:
            significant = page.t("yes") if row.get("significant") else page.t("no")
            css = "num best" if row.get("significant") and row["difference"] > 0 else "num"
            cells += [
                text_cell(str(row.get("n_seeds", ""))),
                text_cell(str(row.get("n_prompts", ""))),
                f'<td class="{css}">{row["difference"]:+.3f}</td>',
                text_cell(f"[{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]"),
                text_cell(_p_text(row.get("p_value"))),
                text_cell(_p_text(row.get("p_holm"))),
                text_cell(significant),
            ]
        rows.append(table_row(cells))
    headers = page.columns("method", "setting", "seeds", "prompts", "difference", "ci", "p", "p_holm", "significant")
    tested = sum(1 for row in tests.get("rows", []) if row.get("p_value") is not None)
    explanation = page.t(
        "paired.note",
        baseline=label,
        resamples=tests.get("resamples"),
        seed=tests.get("bootstrap_seed"),
        count=tested,
    )
    return (
        f"<h2>{escape(page.t('paired', baseline=label))}</h2>"
        + note(explanation)
        + table(headers, rows, numeric_from=2)
    )


def _fit_text(entry: Mapping[str, Any], prefix: str) -> str:
    alpha, beta, r2 = (entry.get(prefix + k) for k in ("alpha", "beta", "r2"))
    if alpha is None or beta is None:
        return "—"
    return f"{alpha:.3f}, {beta:.3f}" + (f" ({r2:.2f})" if r2 is not None else "")


def _overoptimization_section(page: Page) -> str:
    entries = list((page.metrics.get("overoptimization") or {}).values())
    heading = f"<h2>{escape(page.t('overopt'))}</h2>"
    if not entries:
        optimisers = any(r.get("method") in REWARD_MODEL_METHODS for r in page.results)
        return heading + note(page.t("overopt.none")) if optimisers else ""
    parts = [heading]
    fig = overoptimization_figure(entries, page.fig_lang)
    if fig is not None:
        parts.append(page.figure(fig, escape(page.t("overopt.caption")), "Reward-model over-optimisation"))
    rows = []
    for entry in entries:
        peak = entry.get("gold_peak_kl")
        max_kl = entry.get("max_d", 0.0) ** 2
        cells = [
            name_cells(entry),
            text_cell(entry.get("formula", entry.get("form", "")), numeric=False),
            text_cell(str(entry.get("n_points", ""))),
            text_cell(_fit_text(entry, "")),
            text_cell(_fit_text(entry, "proxy_")),
            number_cell(peak, 3),
            number_cell(max_kl, 3),
            text_cell(page.t("yes") if entry.get("overoptimized") else page.t("no")),
        ]
        rows.append(table_row(cells))
    headers = page.columns(
        "method", "setting", "form", "points", "gold_fit", "proxy_fit", "gold_peak", "max_kl", "overoptimized"
    )
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
    return f"<h2>{escape(page.t('noise'))}</h2>" + page.figure(fig, escape(page.t("noise.caption")), "Label noise")


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
    return f"<h2>{escape(page.t('stability'))}</h2>" + note(explanation) + table(headers, rows, numeric_from=2)
