"""The sections of ``report.html`` about the results: the reward-KL frontier, the results table
with its notes on length control and relevance, and the checkpoints along training."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from alignlab.report.aggregates import records_of, summary_mean
from alignlab.report.html_page import Page, name_cells, note, number_cell, summary_cell, table, table_row, text_cell
from alignlab.report.plots import frontier_figure
from alignlab.report.statistics import checkpoint_path, length_control

# (key in an aggregate, decimals) of the results table, formatted as in summarize(); headers are
# the strings "col.<key>". Optional columns appear only when some row has a value.
RESULT_COLUMNS = (
    ("gold_reward", 3),
    ("lc_gold_reward", 3),
    ("win_rate", 2),
    ("kl", 2),
    ("perplexity", 1),
    ("distinct_1", 2),
    ("distinct_2", 2),
    ("self_bleu", 2),
    ("relevance", 3),
    ("mean_length", 1),
    ("eos_fraction", 2),
    ("proxy_score", 3),
)
OPTIONAL_COLUMNS = ("lc_gold_reward", "proxy_score")
# (key, decimals) of the checkpoints table, after method, setting and which point.
CHECKPOINT_COLUMNS = (
    ("step", 0),
    ("kl", 3),
    ("gold_reward", 3),
    ("lc_gold_reward", 3),
    ("mean_length", 1),
    ("proxy_score", 3),
)


def _has_checkpoints(page: Page) -> bool:
    return any(r.get("checkpoints") for r in page.results)


def _frontier_section(page: Page) -> str:
    heading = f"<h2 id='frontier'>{escape(page.t('frontier'))}</h2>"
    if not any(
        summary_mean(a, "kl") is not None and summary_mean(a, "gold_reward") is not None for a in page.aggregates
    ):
        return heading + note(page.t("frontier.none"))
    fig = frontier_figure(page.aggregates, page.results, page.fig_lang)
    caption = escape(page.t("frontier.caption"))
    if _has_checkpoints(page):
        caption += escape(page.t("frontier.caption_checkpoints"))
    return heading + page.figure(fig, caption, "Reward-KL frontier")


def _results_section(page: Page) -> str:
    aggregates = page.aggregates
    columns = [
        (key, digits)
        for key, digits in RESULT_COLUMNS
        if key not in OPTIONAL_COLUMNS or any(summary_mean(a, key) is not None for a in aggregates)
    ]
    golds = [g for g in (summary_mean(a, "gold_reward") for a in aggregates) if g is not None]
    best = max(golds) if golds else None
    rows = []
    for row in aggregates:
        cells = [name_cells(row), f'<td class="num">{row.get("n_seeds", "")}</td>']
        for key, digits in columns:
            is_best = key == "gold_reward" and best is not None and summary_mean(row, key) == best
            cells.append(summary_cell(row.get(key), digits, "best" if is_best else ""))
        rows.append(table_row(cells))
    headers = page.columns("method", "setting", "seeds", *(key for key, _ in columns))
    return (
        f"<h2 id='results'>{escape(page.t('results'))}</h2>"
        + note(page.t("results.note"))
        + _budget_note(page)
        + table(headers, rows, numeric_from=2)
        + _length_note(page, [key for key, _ in columns])
        + _relevance_note(page)
        + _checkpoints_table(page)
    )


def _budget_note(page: Page) -> str:
    """The training budget every trained method had, when the comparison set one."""
    sequences = ((page.metrics.get("config") or {}).get("budget") or {}).get("sequences")
    return note(page.t("results.budget", sequences=f"{sequences:,}")) if sequences else ""


def _length_note(page: Page, columns: Sequence[str]) -> str:
    control = page.metrics.get("length_control") or {}
    slopes, lengths = control.get("slopes") or {}, control.get("base_lengths") or {}
    if "lc_gold_reward" not in columns or not slopes:
        return ""

    def per_seed(values: Mapping[str, float], digits: int) -> str:
        if len(values) == 1:
            return f"{next(iter(values.values())):.{digits}f}"
        return ", ".join(page.t("per_seed", value=f"{v:.{digits}f}", seed=k) for k, v in values.items())

    return note(page.t("results.lc_note", slopes=per_seed(slopes, 4), lengths=per_seed(lengths, 1)))


def _relevance_note(page: Page) -> str:
    """Why relevance is missing, said once: the run's own reason if it gave one."""
    reason = page.metrics.get("relevance_note")
    if reason:
        return note(reason)
    measured = any(summary_mean(a, "relevance") is not None for a in page.aggregates)
    return "" if measured else f'<p class="note">{page.t("relevance.missing")}</p>'


def _checkpoints_table(page: Page) -> str:
    """Every setting's checkpoints (means over seeds) and final point: KL, gold, length."""
    if not _has_checkpoints(page):
        return ""
    lc = length_control(page.results)
    rows = []
    for row in page.aggregates:
        records = records_of(page.results, row)
        path = checkpoint_path(records, lc["checkpoints"])
        if not path:
            continue
        points = [(str(p["index"] + 1), p) for p in path]
        # The final policy has no step of its own.
        final = {key: summary_mean(row, key) for key, _ in CHECKPOINT_COLUMNS if key != "step"}
        points.append((page.t("final"), final))
        for label, point in points:
            cells = [name_cells(row), text_cell(label)]
            cells += [number_cell(point.get(key), digits) for key, digits in CHECKPOINT_COLUMNS]
            rows.append(table_row(cells))
    if not rows:
        return ""
    headers = page.columns("method", "setting", "point", *(key for key, _ in CHECKPOINT_COLUMNS))
    return (
        f'<h3 id="checkpoints">{escape(page.t("checkpoints"))}</h3>'
        + note(page.t("checkpoints.note"))
        + table(headers, rows, numeric_from=2)
    )
