"""The section of ``report.html`` for a verifiable reward (a right-or-wrong answer): accuracy,
pass@k, well-formed answers and the lengths of right and wrong answers on the test prompts, and
along training the quantities the GRPO-family papers argue about."""

from __future__ import annotations

from html import escape

from alignlab.report.aggregates import records_of, summarize_metric, summary_mean
from alignlab.report.html_page import Page, name_cells, note, summary_cell, table, table_row
from alignlab.report.plots import method_styles, run_label
from alignlab.report.plots.training import VERIFIABLE_METRICS, comparison_curves_figure


def _verifiable_section(page: Page) -> str:
    aggregates = [a for a in page.aggregates if summary_mean(a, "accuracy") is not None]
    if not aggregates:
        return ""
    ks = sorted({int(k) for r in page.results for k in (r.get("pass_at_k") or {})} - {1})
    rows = []
    for row in aggregates:
        records = records_of(page.results, row)
        cells = [name_cells(row), f'<td class="num">{row.get("n_seeds", "")}</td>', summary_cell(row["accuracy"], 3)]
        for k in ks:
            cells.append(summary_cell(summarize_metric((r.get("pass_at_k") or {}).get(str(k)) for r in records), 3))
        cells += [
            summary_cell(row.get("format_rate"), 3),
            summary_cell(row.get("length_correct"), 1),
            summary_cell(row.get("length_wrong"), 1),
        ]
        rows.append(table_row(cells))
    headers = page.columns("method", "setting", "seeds", "accuracy")
    headers += [f"pass@{k}" for k in ks] + page.columns("format_rate", "length_correct", "length_wrong")
    parts = [f'<h2 id="verifiable">{escape(page.t("verifiable"))}</h2>', note(page.t("verifiable.note"))]
    parts.append(table(headers, rows, numeric_from=2))
    runs: dict[str, list] = {}
    for row in aggregates:
        histories = [
            page.histories[r["run_dir"]] for r in records_of(page.results, row) if r.get("run_dir") in page.histories
        ]
        if histories:
            runs[run_label(row["method"], row["setting"])] = histories
    fig = comparison_curves_figure(
        runs, VERIFIABLE_METRICS, method_styles([a["method"] for a in page.aggregates]), page.fig_lang
    )
    if fig is not None:
        parts.append(page.figure(fig, escape(page.t("verifiable.caption")), "Verifiable reward along training"))
    return "".join(parts)
