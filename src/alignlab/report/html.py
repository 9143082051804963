"""``report.html``: one self-contained page (inline CSS, figures as data URIs, no scripts) that
answers the comparison's questions from ``metrics.json`` and the runs' ``history.json`` files.

Everything that comes from a run (names, settings, prompts, completions) passes through
``escape``: completions are model output and may contain markup.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

from alignlab.log import logger
from alignlab.report.plots import (
    TIME_SPLIT_KEYS,
    efficiency_figure,
    figure_to_data_uri,
    frontier_figure,
    run_label,
    setting_text,
    training_curves_figure,
)

REPORT_FILE = "report.html"
HISTORY_FILE = "history.json"
RELEVANCE_NOTE = (
    "Relevance (embedding similarity of prompt and completion) was not measured: it needs the optional "
    "<code>alignlab[quality]</code> extra (<code>pip install 'alignlab[quality]'</code>)."
)
# (key in an aggregate, column header, decimals) of the results table, formatted as in summarize().
RESULT_COLUMNS = (
    ("gold_reward", "gold reward", 3),
    ("win_rate", "win rate", 2),
    ("kl", "KL (nats)", 2),
    ("perplexity", "perplexity", 1),
    ("distinct_1", "distinct-1", 2),
    ("distinct_2", "distinct-2", 2),
    ("self_bleu", "self-BLEU", 2),
    ("relevance", "relevance", 3),
    ("mean_length", "mean length", 1),
    ("eos_fraction", "EOS fraction", 2),
)
STAGE_HEADERS = {
    "wall_time_s": "wall time (s)",
    "train_time_s": "training loop (s)",
    "peak_mem_mb": "peak memory (MB)",
    "tokens_per_s": "tokens/s",
    "models_in_memory": "models in memory",
    "trainable_params": "trainable params",
}
_COUNT_KEYS = ("trainable_params", "tokens", "pairs", "models_in_memory")
_FONTS = (
    'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", "PingFang SC", '
    '"Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", sans-serif'
)
_CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f6f7f9;color:#1d232b;font-family:FONTS;font-size:15px;line-height:1.55}
main{max-width:1360px;margin:0 auto;padding:28px 28px 48px;background:#fff;min-height:100vh}
h1{font-size:28px;margin:0 0 4px}
h2{font-size:20px;margin:40px 0 12px;padding-bottom:6px;border-bottom:1px solid #e3e6ea}
h3{font-size:16px;margin:24px 0 8px}
.subtitle{color:#5b6470;margin:0 0 16px}
dl.meta{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:4px 24px;margin:0 0 20px;font-size:13px}
dl.meta div{display:flex;gap:8px}
dl.meta dt{color:#5b6470;white-space:nowrap}
dl.meta dd{margin:0;font-weight:600;overflow-wrap:anywhere}
.verdict{background:#eef5ff;border-left:5px solid #2f6fd0;border-radius:4px;padding:14px 20px 14px 16px;margin:8px 0 8px}
.verdict h2{border:0;margin:0 0 6px;padding:0;font-size:18px}
.verdict ul{margin:0;padding-left:22px}
.verdict li{margin:4px 0;font-size:16px}
figure{margin:12px 0 20px}
figure img{max-width:100%;height:auto;display:block;border:1px solid #eceef1;border-radius:4px}
figcaption{color:#5b6470;font-size:13px;margin-top:6px}
.table-wrap{overflow-x:auto;margin:8px 0}
table{border-collapse:collapse;font-size:13px;width:100%}
th,td{padding:5px 8px;border-bottom:1px solid #e8eaee;vertical-align:top}
thead th{background:#f1f3f6;text-align:left;font-weight:600;vertical-align:bottom}
td{white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tbody tr:nth-child(even){background:#fafbfc}
.ci{color:#7a828c;font-size:12px}
td.best{background:#e5f5e6;font-weight:700}
.note{color:#5b6470;font-size:13px}
.prompt-block{border:1px solid #e3e6ea;border-radius:6px;margin:12px 0 18px;overflow:hidden}
.prompt{background:#f3f1ea;padding:8px 12px;font-weight:600}
.prompt .label{color:#7a828c;font-weight:400;font-size:12px;margin-right:10px}
.samples{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));margin:0 -1px -1px 0}
.sample{padding:8px 12px;font-size:14px;border-right:1px solid #e3e6ea;border-bottom:1px solid #e3e6ea}
.sample-head{font-weight:600;font-size:13px;margin-bottom:4px}
.completion{white-space:pre-wrap;overflow-wrap:anywhere}
.col-sub{display:block;font-weight:400;color:#7a828c;font-size:12px}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.92em;background:#f1f3f6;padding:1px 4px;border-radius:3px}
footer{margin-top:40px;padding-top:12px;border-top:1px solid #e3e6ea;color:#5b6470;font-size:13px}
""".replace("FONTS", _FONTS)


def render_report(run_dir: Path, metrics: dict) -> Path:
    """Write ``run_dir/report.html`` (atomically: a temporary file, then a rename) and return its path."""
    run_dir = Path(run_dir)
    histories = load_histories(run_dir, metrics.get("results", []))
    sections = (
        _header(metrics),
        _verdict(metrics.get("verdict", [])),
        _frontier_section(metrics),
        _results_section(metrics),
        _efficiency_section(metrics, histories),
        _curves_section(metrics, histories),
        _examples_section(metrics),
        _footer(run_dir),
    )
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>alignlab report: {escape(str(metrics.get('name', '')))}</title>\n"
        f"<style>{_CSS}</style>\n</head>\n<body>\n<main>\n" + "\n".join(sections) + "\n</main>\n</body>\n</html>\n"
    )
    path = run_dir / REPORT_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, path)
    logger.info("Report written to %s (%.0f kB)", path, path.stat().st_size / 1024)
    return path


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


def load_histories(run_dir: Path, results: Iterable[Mapping[str, Any]]) -> dict[str, dict]:
    """``results`` run_dir -> that run's ``history.json``; runs without one (base, best-of-n, or an
    unreadable file) are left out, since a report should still come out of a partial run."""
    histories = {}
    for record in results:
        path = run_dir / record.get("run_dir", "") / HISTORY_FILE
        if not path.is_file():
            continue
        try:
            histories[record["run_dir"]] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            logger.warning("Skipping the training curves of %s: %s", path, error)
    return histories


def _records_of(metrics: Mapping[str, Any], aggregate: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The per-seed records behind an aggregate row, by seed."""
    method, params = aggregate["method"], aggregate.get("params", {})
    records = [r for r in metrics.get("results", []) if r["method"] == method and r.get("params", {}) == params]
    return sorted(records, key=lambda r: r.get("seed", 0))


def _mean(row: Mapping[str, Any], key: str) -> float | None:
    summary = row.get(key)
    return None if not summary else summary.get("mean")


# --------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------


def human_count(n: float | None) -> str:
    """1820736 -> '1.8M', 2.4e9 -> '2.4B', 512 -> '512'."""
    if n is None:
        return "n/a"
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= size:
            return f"{n / size:.1f}{suffix}"
    return f"{n:.0f}"


def human_duration(seconds: float | None) -> str:
    """100 -> '1 min 40 s', 4000 -> '1 h 6 min'."""
    if seconds is None:
        return "n/a"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def _summary_cell(summary: Mapping[str, Any] | None, digits: int, extra_class: str = "") -> str:
    """'mean ± ci' as summarize() prints it, the interval in a lighter colour; 'n/a' when missing."""
    css = f"num {extra_class}".strip()
    if not summary or summary.get("mean") is None:
        return f'<td class="{css}">n/a</td>'
    ci = summary.get("ci95")
    interval = f'<span class="ci"> ± {ci:.{digits}f}</span>' if ci else ""
    return f'<td class="{css}">{summary["mean"]:.{digits}f}{interval}</td>'


def _number_cell(value: float | None, digits: int = 1, zero_is_missing: bool = False) -> str:
    # Zero peak memory or throughput means "not measured" (the base policy trains nothing).
    if value is None or (zero_is_missing and value == 0):
        return '<td class="num">—</td>'
    return f'<td class="num">{value:,.{digits}f}</td>'


def _table(headers: Sequence[str], rows: Sequence[str], numeric_from: int) -> str:
    """A table whose columns from ``numeric_from`` on are right-aligned; ``rows`` are ready ``<tr>`` strings."""
    head = "".join(f"<th{' class=num' if i >= numeric_from else ''}>{escape(h)}</th>" for i, h in enumerate(headers))
    return f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


def _figure(fig: Any, caption: str, alt: str) -> str:
    return (
        f'<figure><img src="{figure_to_data_uri(fig)}" alt="{escape(alt)}"><figcaption>{caption}</figcaption></figure>'
    )


def _name_cells(row: Mapping[str, Any]) -> str:
    return f"<td><strong>{escape(row['method'])}</strong></td><td>{escape(setting_text(row['setting']) or '—')}</td>"


# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------


def _header(metrics: Mapping[str, Any]) -> str:
    config = metrics.get("config") or {}
    items = {
        "created": _format_created(metrics.get("created")),
        "total time": human_duration(metrics.get("total_time_s")),
        "model": (config.get("model") or {}).get("name_or_path"),
        "task": (config.get("task") or {}).get("name"),
        "seeds": ", ".join(str(s) for s in config.get("seeds", [])) or None,
        **(metrics.get("environment") or {}),
    }
    meta = "".join(
        f"<div><dt>{escape(key)}</dt><dd>{escape(str(value))}</dd></div>"
        for key, value in items.items()
        if value is not None
    )
    return (
        f"<h1>alignlab report: {escape(str(metrics.get('name', 'unnamed run')))}</h1>"
        '<p class="subtitle">Alignment methods compared against the base policy on the same held-out prompts.</p>'
        f'<dl class="meta">{meta}</dl>'
    )


def _format_created(created: str | None) -> str | None:
    """'2026-11-24T23:45:16+00:00' -> '2026-11-24 23:45 UTC'; anything unparsable as is."""
    try:
        stamp = datetime.fromisoformat(created)
    except (TypeError, ValueError):
        return created
    zone = "" if stamp.utcoffset() is None else (" UTC" if not stamp.utcoffset() else f" {stamp:%z}")
    return f"{stamp:%Y-%m-%d %H:%M}{zone}"


def _verdict(sentences: Sequence[str]) -> str:
    items = "".join(f"<li>{escape(s)}</li>" for s in sentences) or "<li>No verdict was recorded.</li>"
    return f'<section class="verdict"><h2>Verdict</h2><ul>{items}</ul></section>'


def _frontier_section(metrics: Mapping[str, Any]) -> str:
    aggregates = metrics.get("aggregates", [])
    if not any(_mean(a, "kl") is not None and _mean(a, "gold_reward") is not None for a in aggregates):
        return '<h2>Reward–KL frontier</h2><p class="note">No run has both a KL and a gold reward to plot.</p>'
    fig = frontier_figure(aggregates, metrics.get("results", []))
    caption = (
        "Gold reward against KL divergence from the reference policy on held-out prompts: higher is better, "
        "further left is closer to the reference. Large markers are means over seeds with 95% intervals "
        "(where known), small ones single seeds, lines join a method's settings in order of KL; the star and "
        "dashed line are the base policy."
    )
    return "<h2>Reward–KL frontier</h2>" + _figure(fig, caption, "Reward-KL frontier")


def _results_section(metrics: Mapping[str, Any]) -> str:
    aggregates = metrics.get("aggregates", [])
    golds = [g for g in (_mean(a, "gold_reward") for a in aggregates) if g is not None]
    best = max(golds) if golds else None
    rows = []
    for row in aggregates:
        cells = [_name_cells(row), f'<td class="num">{row.get("n_seeds", "")}</td>']
        for key, _, digits in RESULT_COLUMNS:
            is_best = key == "gold_reward" and best is not None and _mean(row, key) == best
            cells.append(_summary_cell(row.get(key), digits, "best" if is_best else ""))
        rows.append(f"<tr>{''.join(cells)}</tr>")
    headers = ["method", "setting", "seeds"] + [header for _, header, _ in RESULT_COLUMNS]
    return (
        "<h2>Results</h2>"
        '<p class="note">Held-out metrics, mean ± 95% confidence interval over seeds (a single seed shows '
        "its standard error where one is known). The best gold reward is highlighted.</p>"
        + _table(headers, rows, numeric_from=2)
        + _relevance_note(metrics)
    )


def _relevance_note(metrics: Mapping[str, Any]) -> str:
    """Why relevance is missing, said once: the run's own reason if it gave one."""
    note = metrics.get("relevance_note")
    if note:
        return f'<p class="note">{escape(note)}</p>'
    measured = any(_mean(a, "relevance") is not None for a in metrics.get("aggregates", []))
    return "" if measured else f'<p class="note">{RELEVANCE_NOTE}</p>'


def time_splits(metrics: Mapping[str, Any], histories: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """run_label -> mean over seeds of the cumulative ``time/*`` seconds of the last logged
    iteration, for the methods whose histories log them (the online ones)."""
    splits = {}
    for row in metrics.get("aggregates", []):
        last_rows = []
        for record in _records_of(metrics, row):
            train = histories.get(record["run_dir"], {}).get("train", [])
            if train and any(key in train[-1] for key in TIME_SPLIT_KEYS):
                last_rows.append(train[-1])
        if last_rows:
            splits[run_label(row["method"], row["setting"])] = {
                key: sum(r.get(key, 0.0) for r in last_rows) / len(last_rows) for key in TIME_SPLIT_KEYS
            }
    return splits


def _efficiency_rows(aggregates: Sequence[Mapping[str, Any]]) -> list[str]:
    rows = []
    for row in aggregates:
        params = _mean(row, "trainable_params")
        cells = [
            _name_cells(row),
            _number_cell(_mean(row, "pipeline_time_s")),
            _number_cell(_mean(row, "wall_time_s")),
            _number_cell(_mean(row, "eval_time_s")),
            _number_cell(_mean(row, "tokens_per_s"), 0, zero_is_missing=True),
            _number_cell(_mean(row, "peak_mem_mb"), 0, zero_is_missing=True),
            _number_cell(_mean(row, "models_in_memory"), 0),
            f'<td class="num">{human_count(params) if params else "—"}</td>',
        ]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return rows


def _stages_table(stages: Mapping[str, Mapping[str, Any]]) -> str:
    keys = list(dict.fromkeys(key for stage in stages.values() for key in stage))
    rows = []
    for stage_name, stage in stages.items():
        cells = [f"<td>{escape(stage_name)}</td>"]
        for key in keys:
            value = stage.get(key)
            if isinstance(value, (int, float)) and key in _COUNT_KEYS:
                cells.append(f'<td class="num">{human_count(value)}</td>')
            elif isinstance(value, (int, float)):
                cells.append(_number_cell(value))
            else:
                cells.append(f'<td class="num">{escape(str(value)) if value is not None else "—"}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return _table(["stage"] + [STAGE_HEADERS.get(k, k.replace("_", " ")) for k in keys], rows, numeric_from=1)


def _efficiency_section(metrics: Mapping[str, Any], histories: Mapping[str, Mapping[str, Any]]) -> str:
    aggregates = metrics.get("aggregates", [])
    headers = [
        "method",
        "setting",
        "pipeline time (s)",
        "training time (s)",
        "eval time (s)",
        "tokens/s",
        "peak memory (MB)",
        "models in memory",
        "trainable params",
    ]
    parts = [
        "<h2>Cost</h2>",
        '<p class="note">Means over seeds. Pipeline time is end to end for the method, including its share of '
        "shared stages (e.g. the reward model); training time is the trainer alone.</p>",
        _table(headers, _efficiency_rows(aggregates), numeric_from=2),
    ]
    stages = metrics.get("stages") or {}
    if stages:
        parts += ["<h3>Shared stages</h3>", _stages_table(stages)]
    fig = efficiency_figure(aggregates, time_splits(metrics, histories))
    if fig is not None:
        caption = "Wall time and peak memory per method and setting; for online methods, where the training time went."
        parts.append(_figure(fig, caption, "Cost per method"))
    return "".join(parts)


def _curves_section(metrics: Mapping[str, Any], histories: Mapping[str, Mapping[str, Any]]) -> str:
    by_method: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
    for row in metrics.get("aggregates", []):
        for record in _records_of(metrics, row):
            if record["run_dir"] in histories:
                by_method.setdefault(row["method"], []).append((row["setting"], histories[record["run_dir"]]))
    figures = []
    for method, runs in by_method.items():
        fig = training_curves_figure(runs)
        if fig is not None:
            caption = (
                "One colour per setting, one line per seed; x is the optimizer step (the iteration for online methods)."
            )
            figures.append(f"<h3>{escape(method)}</h3>" + _figure(fig, caption, f"{method} training curves"))
    body = "".join(figures) or '<p class="note">No training histories were found.</p>'
    return "<h2>Training curves</h2>" + body


def _best_runs(metrics: Mapping[str, Any]) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """Per method, in table order: its setting with the highest mean gold reward and that
    setting's first seed, as (aggregate row, record)."""
    best: dict[str, Mapping[str, Any]] = {}
    for row in metrics.get("aggregates", []):
        gold = _mean(row, "gold_reward")
        current = best.get(row["method"])
        if current is None or (gold is not None and gold > (_mean(current, "gold_reward") or float("-inf"))):
            best[row["method"]] = row
    picked = []
    for row in best.values():
        records = _records_of(metrics, row)
        if records:
            picked.append((row, records[0]))
    return picked


def _examples_section(metrics: Mapping[str, Any]) -> str:
    """One block per held-out prompt: the prompt, then every method's completion side by side in
    a grid that wraps, so that ten methods stay readable without scrolling sideways."""
    examples = metrics.get("examples") or {}
    columns = [(row, record, examples.get(record["run_dir"], [])) for row, record in _best_runs(metrics)]
    columns = [c for c in columns if c[2]]
    if not columns:
        return '<h2>Sample completions</h2><p class="note">No sample completions were recorded.</p>'
    blocks = []
    for i in range(max(len(samples) for _, _, samples in columns)):
        prompt = next((samples[i].get("prompt", "") for _, _, samples in columns if i < len(samples)), "")
        cells = "".join(
            f'<div class="sample"><div class="sample-head">{escape(run_label(row["method"], row["setting"]))}'
            f'<span class="col-sub">seed {record.get("seed", "?")} · gold {_format_gold(row)}</span></div>'
            f'<div class="completion">{escape(samples[i].get("completion", "")) if i < len(samples) else "—"}</div></div>'
            for row, record, samples in columns
        )
        blocks.append(
            f'<div class="prompt-block"><div class="prompt"><span class="label">prompt {i + 1}</span>'
            f'<span class="completion">{escape(prompt)}</span></div><div class="samples">{cells}</div></div>'
        )
    return (
        "<h2>Sample completions</h2>"
        '<p class="note">The same held-out prompts for every method: the best setting of each method by mean gold '
        "reward (the gold reward shown is that setting's mean), its first seed.</p>" + "".join(blocks)
    )


def _format_gold(row: Mapping[str, Any]) -> str:
    gold = _mean(row, "gold_reward")
    return "n/a" if gold is None else f"{gold:.3f}"


def _footer(run_dir: Path) -> str:
    logdir = escape(str(run_dir))
    return (
        '<footer>Every number above is in <a href="metrics.json"><code>metrics.json</code></a> next to this '
        "report; per-run training curves are in <code>history.json</code> and in TensorBoard: "
        f"<code>tensorboard --logdir {logdir}</code>. Generated by alignlab.</footer>"
    )
