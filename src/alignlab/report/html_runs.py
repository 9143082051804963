"""The sections of ``report.html`` about the runs themselves: reward per budget, what each run
cost, the training curves and sample completions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from alignlab.report.aggregates import records_of, summary_mean
from alignlab.report.html_page import Page, count_cell, name_cells, note, number_cell, table, table_row
from alignlab.report.i18n import STRINGS
from alignlab.report.plots import TIME_SPLIT_KEYS, budget_figure, efficiency_figure, run_label, training_curves_figure

_COUNT_KEYS = ("trainable_params", "total_params", "train_flops", "tokens", "pairs", "models_in_memory", "gold_queries")


def _seed_records(metrics: Mapping[str, Any], aggregate: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The per-seed records behind an aggregate row, by seed."""
    return sorted(records_of(metrics.get("results", []), aggregate), key=lambda r: r.get("seed", 0))


def _budget_section(page: Page) -> str:
    fig = budget_figure(page.aggregates, page.fig_lang)
    if fig is None:
        return ""
    return f"<h2 id='budgets'>{escape(page.t('budgets'))}</h2>" + page.figure(
        fig, escape(page.t("budgets.caption")), "Reward per budget"
    )


def time_splits(metrics: Mapping[str, Any], histories: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """run_label -> mean over seeds of the cumulative ``time/*`` seconds of the last logged
    iteration, for the methods whose histories log them (the online ones)."""
    splits = {}
    for row in metrics.get("aggregates", []):
        last_rows = []
        for record in _seed_records(metrics, row):
            train = histories.get(record.get("run_dir", ""), {}).get("train", [])
            if train and any(key in train[-1] for key in TIME_SPLIT_KEYS):
                last_rows.append(train[-1])
        if last_rows:
            splits[run_label(row["method"], row["setting"])] = {
                key: sum(r.get(key, 0.0) for r in last_rows) / len(last_rows) for key in TIME_SPLIT_KEYS
            }
    return splits


def _efficiency_rows(
    aggregates: Sequence[Mapping[str, Any]], with_queries: bool, with_checkpoints: bool, with_sequences: bool
) -> list[str]:
    rows = []
    for row in aggregates:
        cells = [
            name_cells(row),
            number_cell(summary_mean(row, "pipeline_time_s")),
            number_cell(summary_mean(row, "wall_time_s")),
        ]
        if with_sequences:
            cells.append(count_cell(summary_mean(row, "trained_sequences")))
        cells += [
            count_cell(summary_mean(row, "train_flops"), zero_is_missing=True),
            number_cell(summary_mean(row, "eval_time_s")),
        ]
        if with_checkpoints:
            cells.append(number_cell(summary_mean(row, "checkpoint_eval_time_s"), zero_is_missing=True))
        cells += [
            number_cell(summary_mean(row, "tokens_per_s"), 0, zero_is_missing=True),
            number_cell(summary_mean(row, "peak_mem_mb"), 0, zero_is_missing=True),
            number_cell(summary_mean(row, "models_in_memory"), 0),
            count_cell(summary_mean(row, "trainable_params"), zero_is_missing=True),
        ]
        if with_queries:
            cells.append(count_cell(summary_mean(row, "gold_queries")))
        rows.append(table_row(cells))
    return rows


def _stages_table(page: Page, stages: Mapping[str, Mapping[str, Any]]) -> str:
    keys = list(dict.fromkeys(key for stage in stages.values() for key in stage))
    rows = []
    for stage_name, stage in stages.items():
        cells = [f"<td>{escape(stage_name)}</td>"]
        for key in keys:
            value = stage.get(key)
            if isinstance(value, (int, float)) and key in _COUNT_KEYS:
                cells.append(count_cell(value))
            elif isinstance(value, (int, float)):
                cells.append(number_cell(value))
            else:
                cells.append(f'<td class="num">{escape(str(value)) if value is not None else "—"}</td>')
        rows.append(table_row(cells))
    headers = page.columns("stage") + [
        page.t(f"stage.{k}") if f"stage.{k}" in STRINGS else k.replace("_", " ") for k in keys
    ]
    return table(headers, rows, numeric_from=1)


def _efficiency_section(page: Page) -> str:
    aggregates = page.aggregates
    with_queries = any(summary_mean(a, "gold_queries") is not None for a in aggregates)
    with_checkpoints = any(summary_mean(a, "checkpoint_eval_time_s") for a in aggregates)
    with_sequences = any(summary_mean(a, "trained_sequences") is not None for a in aggregates)
    headers = page.columns("method", "setting", "pipeline_time", "training_time")
    headers += page.columns("trained_sequences") if with_sequences else []
    headers += page.columns("train_flops", "eval_time")
    headers += page.columns("checkpoint_eval_time") if with_checkpoints else []
    headers += page.columns("tokens_per_s", "peak_mem", "models_in_memory", "trainable_params")
    headers += page.columns("gold_queries") if with_queries else []
    parts = [
        f"<h2 id='cost'>{escape(page.t('cost'))}</h2>",
        note(page.t("cost.note")),
        table(headers, _efficiency_rows(aggregates, with_queries, with_checkpoints, with_sequences), numeric_from=2),
    ]
    stages = page.metrics.get("stages") or {}
    if stages:
        parts += [f"<h3>{escape(page.t('cost.stages'))}</h3>", _stages_table(page, stages)]
    fig = efficiency_figure(aggregates, time_splits(page.metrics, page.histories), page.fig_lang)
    if fig is not None:
        parts.append(page.figure(fig, escape(page.t("cost.caption")), "Cost per method"))
    return "".join(parts)


def _curves_section(page: Page) -> str:
    by_method: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
    for row in page.aggregates:
        for record in _seed_records(page.metrics, row):
            if record.get("run_dir") in page.histories:
                by_method.setdefault(row["method"], []).append((row["setting"], page.histories[record["run_dir"]]))
    figures = []
    for method, runs in by_method.items():
        fig = training_curves_figure(runs, page.fig_lang)
        if fig is not None:
            caption = escape(page.t("curves.caption"))
            figures.append(f"<h3>{escape(method)}</h3>" + page.figure(fig, caption, f"{method} training curves"))
    body = "".join(figures) or note(page.t("curves.none"))
    return f"<h2 id='curves'>{escape(page.t('curves'))}</h2>" + body


def _best_runs(metrics: Mapping[str, Any]) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """Per method, in table order: its setting with the highest mean gold reward and that
    setting's first seed, as (aggregate row, record)."""
    best: dict[str, Mapping[str, Any]] = {}
    for row in metrics.get("aggregates", []):
        gold = summary_mean(row, "gold_reward")
        current = best.get(row["method"])
        if current is None or (gold is not None and gold > (summary_mean(current, "gold_reward") or float("-inf"))):
            best[row["method"]] = row
    picked = []
    for row in best.values():
        records = _seed_records(metrics, row)
        if records:
            picked.append((row, records[0]))
    return picked


def _examples_section(page: Page) -> str:
    """One block per held-out prompt: the prompt, then every method's completion side by side in
    a grid that wraps, so that ten methods stay readable without scrolling sideways."""
    examples = page.metrics.get("examples") or {}
    columns = [(row, record, examples.get(record.get("run_dir"), [])) for row, record in _best_runs(page.metrics)]
    columns = [c for c in columns if c[2]]
    heading = f"<h2 id='examples'>{escape(page.t('examples'))}</h2>"
    if not columns:
        return heading + note(page.t("examples.none"))
    blocks = []
    for i in range(max(len(samples) for _, _, samples in columns)):
        prompt = next((samples[i].get("prompt", "") for _, _, samples in columns if i < len(samples)), "")
        cells = "".join(
            f'<div class="sample"><div class="sample-head">{escape(run_label(row["method"], row["setting"]))}'
            f'<span class="col-sub">{escape(_sample_label(page, row, record, samples[i] if i < len(samples) else {}))}</span></div>'
            f'<div class="completion">{escape(samples[i].get("completion", "")) if i < len(samples) else "—"}</div></div>'
            for row, record, samples in columns
        )
        blocks.append(
            f'<div class="prompt-block"><div class="prompt"><span class="label">{escape(page.t("examples.prompt", i=i + 1))}</span>'
            f'<span class="completion">{escape(prompt)}</span></div><div class="samples">{cells}</div></div>'
        )
    return heading + note(page.t("examples.note")) + "".join(blocks)


def _sample_label(page: Page, row: Mapping[str, Any], record: Mapping[str, Any], sample: Mapping[str, Any]) -> str:
    """The sample's own gold reward beside the setting's mean (older metrics.json files lack the former)."""
    mean = summary_mean(row, "gold_reward")
    mean_text = "n/a" if mean is None else f"{mean:.3f}"
    if sample.get("gold") is None:
        return page.t("examples.sample", seed=record.get("seed", "?"), gold=mean_text)
    return page.t("examples.sample_gold", seed=record.get("seed", "?"), gold=f"{sample['gold']:.3f}", mean=mean_text)
