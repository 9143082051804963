"""``report.html``: one self-contained page (inline CSS, figures as data URIs, no scripts) that
answers the comparison's questions from ``metrics.json`` and the runs' ``history.json`` files, in
English or Chinese (``i18n.report_language``).

Every section degrades on its own: a metrics.json without the newer fields (per-sample rewards,
checkpoints, proxy scores, several seeds) gives a note or no panel, and a section that still fails
is replaced by a note rather than stopping the report. Everything that comes from a run (names,
settings, prompts, completions) passes through ``escape``: completions are model output and may
contain markup.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

from alignlab.log import logger
from alignlab.report.i18n import figure_fonts, report_language, tr
from alignlab.report.plots import (
    TIME_SPLIT_KEYS,
    budget_figure,
    efficiency_figure,
    figure_to_data_uri,
    frontier_figure,
    label_noise_figure,
    overoptimization_figure,
    records_of,
    run_label,
    setting_text,
    training_curves_figure,
)
from alignlab.report.results import HISTORY_FILE, add_analyses, load_histories, verdict
from alignlab.report.statistics import (
    KL_JUMP_FLOOR,
    REWARD_MODEL_METHODS,
    checkpoint_path,
    length_control,
    report_settings,
)

__all__ = ["HISTORY_FILE", "REPORT_FILE", "human_count", "human_duration", "load_histories", "render_report"]

REPORT_FILE = "report.html"
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
_COUNT_KEYS = ("trainable_params", "tokens", "pairs", "models_in_memory", "gold_queries")
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


@dataclass(frozen=True)
class _Page:
    """What every section reads: the metrics (with their statistics), the histories, the page's
    language and the figures' (English when no CJK font is installed)."""

    metrics: Mapping[str, Any]
    histories: Mapping[str, Mapping[str, Any]]
    lang: str
    fig_lang: str

    def t(self, key: str, **fields: Any) -> str:
        return tr(key, self.lang, **fields)

    @property
    def aggregates(self) -> list[Mapping[str, Any]]:
        return self.metrics.get("aggregates") or []

    @property
    def results(self) -> list[Mapping[str, Any]]:
        return self.metrics.get("results") or []


def render_report(run_dir: Path, metrics: dict) -> Path:
    """Write ``run_dir/report.html`` (atomically: a temporary file, then a rename) and return its path.
    The statistics ``metrics`` lacks (an older metrics.json) are computed for the page, not saved."""
    run_dir = Path(run_dir)
    histories = load_histories(run_dir, metrics.get("results", []))
    metrics = add_analyses(dict(metrics), histories)
    lang = report_language(metrics)
    with figure_fonts(lang) as fig_lang:
        page = _Page(metrics, histories, lang, fig_lang)
        sections = [
            _safe(section, page)
            for section in (
                _header,
                _verdict,
                _frontier_section,
                _results_section,
                _paired_section,
                _overoptimization_section,
                _label_noise_section,
                _budget_section,
                _stability_section,
                _efficiency_section,
                _curves_section,
                _examples_section,
            )
        ]
    sections.append(_footer(run_dir, lang))
    html_lang = "zh-CN" if lang == "zh" else "en"
    title = tr("title", lang, name=str(metrics.get("name", "")))
    document = (
        f'<!DOCTYPE html>\n<html lang="{html_lang}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n"
        f"<style>{_CSS}</style>\n</head>\n<body>\n<main>\n" + "\n".join(sections) + "\n</main>\n</body>\n</html>\n"
    )
    path = run_dir / REPORT_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(document, encoding="utf-8")
    os.replace(tmp, path)
    logger.info("Report written to %s (%.0f kB)", path, path.stat().st_size / 1024)
    return path


def _safe(section: Callable[[_Page], str], page: _Page) -> str:
    """The section's HTML, or a note when it fails: one odd field must not cost the whole report."""
    try:
        return section(page)
    except Exception as error:  # noqa: BLE001 - any failure of one panel becomes a note
        logger.warning("Report section %s failed: %r", section.__name__, error)
        return f'<p class="note">{escape(page.t("section.failed", error=type(error).__name__))}</p>'


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


def _records_of(metrics: Mapping[str, Any], aggregate: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The per-seed records behind an aggregate row, by seed."""
    return sorted(records_of(metrics.get("results", []), aggregate), key=lambda r: r.get("seed", 0))


def _mean(row: Mapping[str, Any], key: str) -> float | None:
    summary = row.get(key)
    return None if not isinstance(summary, Mapping) else summary.get("mean")


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


def human_duration(seconds: float | None, lang: str = "en") -> str:
    """100 -> '1 min 40 s', 4000 -> '1 h 6 min' (in Chinese: '1 分 40 秒', '1 小时 6 分')."""
    if seconds is None:
        return "n/a"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return tr("duration.h", lang, h=hours, m=minutes)
    return tr("duration.m", lang, m=minutes, s=secs) if minutes else tr("duration.s", lang, s=secs)


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


def _text_cell(text: str, numeric: bool = True) -> str:
    return f"<td{' class=num' if numeric else ''}>{escape(text)}</td>"


def _p_text(p: float | None) -> str:
    if p is None:
        return "—"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _table(headers: Sequence[str], rows: Sequence[str], numeric_from: int) -> str:
    """A table whose columns from ``numeric_from`` on are right-aligned; ``rows`` are ready ``<tr>`` strings."""
    head = "".join(f"<th{' class=num' if i >= numeric_from else ''}>{escape(h)}</th>" for i, h in enumerate(headers))
    return f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


def _figure(fig: Any, caption: str, alt: str) -> str:
    return (
        f'<figure><img src="{figure_to_data_uri(fig)}" alt="{escape(alt)}"><figcaption>{caption}</figcaption></figure>'
    )


def _name_cells(row: Mapping[str, Any]) -> str:
    setting = setting_text(row.get("setting", "default")) or "—"
    return f"<td><strong>{escape(row['method'])}</strong></td><td>{escape(setting)}</td>"


def _note(text: str) -> str:
    return f'<p class="note">{escape(text)}</p>'


# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------


def _header(page: _Page) -> str:
    metrics = page.metrics
    config = metrics.get("config") or {}
    items = {
        page.t("meta.created"): _format_created(metrics.get("created")),
        page.t("meta.total_time"): human_duration(metrics.get("total_time_s"), page.lang),
        page.t("meta.model"): (config.get("model") or {}).get("name_or_path"),
        page.t("meta.task"): (config.get("task") or {}).get("name"),
        page.t("meta.seeds"): ", ".join(str(s) for s in config.get("seeds", [])) or None,
        **(metrics.get("environment") or {}),
    }
    meta = "".join(
        f"<div><dt>{escape(key)}</dt><dd>{escape(str(value))}</dd></div>"
        for key, value in items.items()
        if value is not None
    )
    title = page.t("title", name=str(metrics.get("name") or page.t("unnamed")))
    return f'<h1>{escape(title)}</h1><p class="subtitle">{escape(page.t("subtitle"))}</p><dl class="meta">{meta}</dl>'


def _format_created(created: str | None) -> str | None:
    """'2026-11-24T23:45:16+00:00' -> '2026-11-24 23:45 UTC'; anything unparsable as is."""
    try:
        stamp = datetime.fromisoformat(created)
    except (TypeError, ValueError):
        return created
    zone = "" if stamp.utcoffset() is None else (" UTC" if not stamp.utcoffset() else f" {stamp:%z}")
    return f"{stamp:%Y-%m-%d %H:%M}{zone}"


def _verdict(page: _Page) -> str:
    """The recorded sentences when they are in the page's language, else written afresh from the
    aggregates and statistics."""
    stored = page.metrics.get("verdict")
    if stored and page.metrics.get("verdict_language", "en") == page.lang:
        sentences = stored
    elif page.aggregates:
        sentences = verdict(page.aggregates, page.metrics, page.lang)
    else:
        sentences = []
    items = "".join(f"<li>{escape(s)}</li>" for s in sentences) or f"<li>{escape(page.t('verdict.none'))}</li>"
    return f'<section class="verdict"><h2>{escape(page.t("verdict"))}</h2><ul>{items}</ul></section>'


def _has_checkpoints(page: _Page) -> bool:
    return any(r.get("checkpoints") for r in page.results)


def _frontier_section(page: _Page) -> str:
    heading = f"<h2>{escape(page.t('frontier'))}</h2>"
    if not any(_mean(a, "kl") is not None and _mean(a, "gold_reward") is not None for a in page.aggregates):
        return heading + _note(page.t("frontier.none"))
    fig = frontier_figure(page.aggregates, page.results, page.fig_lang)
    caption = escape(page.t("frontier.caption"))
    if _has_checkpoints(page):
        caption += escape(page.t("frontier.caption_checkpoints"))
    return heading + _figure(fig, caption, "Reward-KL frontier")


def _results_section(page: _Page) -> str:
    aggregates = page.aggregates
    columns = [
        (key, digits)
        for key, digits in RESULT_COLUMNS
        if key not in OPTIONAL_COLUMNS or any(_mean(a, key) is not None for a in aggregates)
    ]
    golds = [g for g in (_mean(a, "gold_reward") for a in aggregates) if g is not None]
    best = max(golds) if golds else None
    rows = []
    for row in aggregates:
        cells = [_name_cells(row), f'<td class="num">{row.get("n_seeds", "")}</td>']
        for key, digits in columns:
            is_best = key == "gold_reward" and best is not None and _mean(row, key) == best
            cells.append(_summary_cell(row.get(key), digits, "best" if is_best else ""))
        rows.append(f"<tr>{''.join(cells)}</tr>")
    headers = [page.t("col.method"), page.t("col.setting"), page.t("col.seeds")] + [
        page.t(f"col.{key}") for key, _ in columns
    ]
    return (
        f"<h2>{escape(page.t('results'))}</h2>"
        + _note(page.t("results.note"))
        + _table(headers, rows, numeric_from=2)
        + _length_note(page, [key for key, _ in columns])
        + _relevance_note(page)
        + _checkpoints_table(page)
    )


def _length_note(page: _Page, columns: Sequence[str]) -> str:
    control = page.metrics.get("length_control") or {}
    slopes, lengths = control.get("slopes") or {}, control.get("base_lengths") or {}
    if "lc_gold_reward" not in columns or not slopes:
        return ""

    def per_seed(values: Mapping[str, float], digits: int) -> str:
        if len(values) == 1:
            return f"{next(iter(values.values())):.{digits}f}"
        return ", ".join(page.t("per_seed", value=f"{v:.{digits}f}", seed=k) for k, v in values.items())

    return _note(page.t("results.lc_note", slopes=per_seed(slopes, 4), lengths=per_seed(lengths, 1)))


def _relevance_note(page: _Page) -> str:
    """Why relevance is missing, said once: the run's own reason if it gave one."""
    note = page.metrics.get("relevance_note")
    if note:
        return _note(note)
    measured = any(_mean(a, "relevance") is not None for a in page.aggregates)
    return "" if measured else f'<p class="note">{page.t("relevance.missing")}</p>'


def _cell(value: float | None, digits: int) -> str:
    return _number_cell(value, digits)


def _checkpoints_table(page: _Page) -> str:
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
        points.append(
            (
                page.t("final"),
                {
                    "step": None,
                    "kl": _mean(row, "kl"),
                    "gold_reward": _mean(row, "gold_reward"),
                    "lc_gold_reward": _mean(row, "lc_gold_reward"),
                    "mean_length": _mean(row, "mean_length"),
                    "proxy_score": _mean(row, "proxy_score"),
                },
            )
        )
        for label, point in points:
            cells = [
                _name_cells(row),
                _text_cell(label),
                _cell(point.get("step"), 0),
                _cell(point.get("kl"), 3),
                _cell(point.get("gold_reward"), 3),
                _cell(point.get("lc_gold_reward"), 3),
                _cell(point.get("mean_length"), 1),
                _cell(point.get("proxy_score"), 3),
            ]
            rows.append(f"<tr>{''.join(cells)}</tr>")
    if not rows:
        return ""
    headers = [
        page.t("col.method"),
        page.t("col.setting"),
        page.t("col.point"),
        page.t("col.step"),
        page.t("col.kl"),
        page.t("col.gold_reward"),
        page.t("col.lc_gold_reward"),
        page.t("col.mean_length"),
        page.t("col.proxy_score"),
    ]
    return (
        f'<h3 id="checkpoints">{escape(page.t("checkpoints"))}</h3>'
        + _note(page.t("checkpoints.note"))
        + _table(headers, rows, numeric_from=2)
    )


def _paired_section(page: _Page) -> str:
    tests = page.metrics.get("paired_tests")
    if not tests:
        return f"<h2>{escape(page.t('paired.heading'))}</h2>" + _note(page.t("paired.none"))
    baseline = tests["baseline"]
    label = run_label(baseline["method"], baseline["setting"])
    rows = []
    for row in tests.get("rows", []):
        cells = [_name_cells(row)]
        if row.get("difference") is None:
            cells += [_text_cell("0"), _text_cell("0"), _text_cell(page.t("paired.no_pairs"))] + [_text_cell("—")] * 4
        else:
            significant = page.t("yes") if row.get("significant") else page.t("no")
            css = "num best" if row.get("significant") and row["difference"] > 0 else "num"
            cells += [
                _text_cell(str(row.get("n_seeds", ""))),
                _text_cell(str(row.get("n_prompts", ""))),
                f'<td class="{css}">{row["difference"]:+.3f}</td>',
                _text_cell(f"[{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]"),
                _text_cell(_p_text(row.get("p_value"))),
                _text_cell(_p_text(row.get("p_holm"))),
                _text_cell(significant),
            ]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    headers = [
        page.t("col.method"),
        page.t("col.setting"),
        page.t("col.seeds"),
        page.t("col.prompts"),
        page.t("col.difference"),
        page.t("col.ci"),
        page.t("col.p"),
        page.t("col.p_holm"),
        page.t("col.significant"),
    ]
    tested = sum(1 for row in tests.get("rows", []) if row.get("p_value") is not None)
    note = page.t(
        "paired.note",
        baseline=label,
        resamples=tests.get("resamples"),
        seed=tests.get("bootstrap_seed"),
        count=tested,
    )
    return f"<h2>{escape(page.t('paired', baseline=label))}</h2>" + _note(note) + _table(headers, rows, numeric_from=2)


def _fit_text(entry: Mapping[str, Any], prefix: str) -> str:
    alpha, beta, r2 = (entry.get(prefix + k) for k in ("alpha", "beta", "r2"))
    if alpha is None or beta is None:
        return "—"
    return f"{alpha:.3f}, {beta:.3f}" + (f" ({r2:.2f})" if r2 is not None else "")


def _overoptimization_section(page: _Page) -> str:
    entries = list((page.metrics.get("overoptimization") or {}).values())
    heading = f"<h2>{escape(page.t('overopt'))}</h2>"
    if not entries:
        optimisers = any(r.get("method") in REWARD_MODEL_METHODS for r in page.results)
        return heading + _note(page.t("overopt.none")) if optimisers else ""
    parts = [heading]
    fig = overoptimization_figure(entries, page.fig_lang)
    if fig is not None:
        parts.append(_figure(fig, escape(page.t("overopt.caption")), "Reward-model over-optimisation"))
    rows = []
    for entry in entries:
        peak = entry.get("gold_peak_kl")
        max_kl = entry.get("max_d", 0.0) ** 2
        cells = [
            _name_cells(entry),
            _text_cell(entry.get("formula", entry.get("form", "")), numeric=False),
            _text_cell(str(entry.get("n_points", ""))),
            _text_cell(_fit_text(entry, "")),
            _text_cell(_fit_text(entry, "proxy_")),
            _cell(peak, 3),
            _cell(max_kl, 3),
            _text_cell(page.t("yes") if entry.get("overoptimized") else page.t("no")),
        ]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    headers = [
        page.t("col.method"),
        page.t("col.setting"),
        page.t("col.form"),
        page.t("col.points"),
        page.t("col.gold_fit"),
        page.t("col.proxy_fit"),
        page.t("col.gold_peak"),
        page.t("col.max_kl"),
        page.t("col.overoptimized"),
    ]
    parts.append(_table(headers, rows, numeric_from=3))
    if any(entry.get("alpha") is None for entry in entries):
        parts.append(_note(page.t("overopt.few_points")))
    return "".join(parts)


def _label_noise_section(page: _Page) -> str:
    curves = page.metrics.get("label_noise") or []
    if not curves:
        return ""
    base = next((a for a in page.aggregates if a["method"] == "base"), None)
    fig = label_noise_figure(curves, None if base is None else _mean(base, "gold_reward"), page.fig_lang)
    if fig is None:
        return ""
    return f"<h2>{escape(page.t('noise'))}</h2>" + _figure(fig, escape(page.t("noise.caption")), "Label noise")


def _budget_section(page: _Page) -> str:
    fig = budget_figure(page.aggregates, page.fig_lang)
    if fig is None:
        return ""
    return f"<h2>{escape(page.t('budgets'))}</h2>" + _figure(
        fig, escape(page.t("budgets.caption")), "Reward per budget"
    )


def _stability_section(page: _Page) -> str:
    rows_data = page.metrics.get("stability") or []
    if not rows_data:
        return ""
    rows = []
    for row in rows_data:
        jumps = row.get("kl_jumps")
        steps = row.get("kl_steps")
        jump_text = "—" if not steps else f"{jumps}/{steps} ({100 * jumps / steps:.0f}%)"
        cells = [
            _name_cells(row),
            _text_cell(str(row.get("n_seeds", ""))),
            _cell(row.get("gold_std"), 3),
            _text_cell(jump_text),
            _cell(row.get("explained_variance"), 3),
        ]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    headers = [
        page.t("col.method"),
        page.t("col.setting"),
        page.t("col.seeds"),
        page.t("col.gold_std"),
        page.t("col.kl_jumps"),
        page.t("col.explained_variance"),
    ]
    factor = report_settings(page.metrics.get("config"))["kl_jump_factor"]
    note = page.t("stability.note", factor=factor, floor=KL_JUMP_FLOOR)
    return f"<h2>{escape(page.t('stability'))}</h2>" + _note(note) + _table(headers, rows, numeric_from=2)


def time_splits(metrics: Mapping[str, Any], histories: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """run_label -> mean over seeds of the cumulative ``time/*`` seconds of the last logged
    iteration, for the methods whose histories log them (the online ones)."""
    splits = {}
    for row in metrics.get("aggregates", []):
        last_rows = []
        for record in _records_of(metrics, row):
            train = histories.get(record.get("run_dir", ""), {}).get("train", [])
            if train and any(key in train[-1] for key in TIME_SPLIT_KEYS):
                last_rows.append(train[-1])
        if last_rows:
            splits[run_label(row["method"], row["setting"])] = {
                key: sum(r.get(key, 0.0) for r in last_rows) / len(last_rows) for key in TIME_SPLIT_KEYS
            }
    return splits


def _efficiency_rows(aggregates: Sequence[Mapping[str, Any]], with_queries: bool, with_checkpoints: bool) -> list[str]:
    rows = []
    for row in aggregates:
        params = _mean(row, "trainable_params")
        cells = [
            _name_cells(row),
            _number_cell(_mean(row, "pipeline_time_s")),
            _number_cell(_mean(row, "wall_time_s")),
            _number_cell(_mean(row, "eval_time_s")),
        ]
        if with_checkpoints:
            cells.append(_number_cell(_mean(row, "checkpoint_eval_time_s"), zero_is_missing=True))
        cells += [
            _number_cell(_mean(row, "tokens_per_s"), 0, zero_is_missing=True),
            _number_cell(_mean(row, "peak_mem_mb"), 0, zero_is_missing=True),
            _number_cell(_mean(row, "models_in_memory"), 0),
            f'<td class="num">{human_count(params) if params else "—"}</td>',
        ]
        if with_queries:
            queries = _mean(row, "gold_queries")
            cells.append(f'<td class="num">{human_count(queries) if queries is not None else "—"}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return rows


def _stages_table(page: _Page, stages: Mapping[str, Mapping[str, Any]]) -> str:
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
    headers = [page.t("col.stage")] + [
        page.t(f"stage.{k}") if f"stage.{k}" in _STAGE_KEYS else k.replace("_", " ") for k in keys
    ]
    return _table(headers, rows, numeric_from=1)


_STAGE_KEYS = {
    f"stage.{k}"
    for k in (
        "wall_time_s",
        "train_time_s",
        "peak_mem_mb",
        "tokens_per_s",
        "models_in_memory",
        "trainable_params",
        "pairs",
        "gold_queries",
    )
}


def _efficiency_section(page: _Page) -> str:
    aggregates = page.aggregates
    with_queries = any(_mean(a, "gold_queries") is not None for a in aggregates)
    with_checkpoints = any(_mean(a, "checkpoint_eval_time_s") for a in aggregates)
    headers = [
        page.t("col.method"),
        page.t("col.setting"),
        page.t("col.pipeline_time"),
        page.t("col.training_time"),
        page.t("col.eval_time"),
    ]
    headers += [page.t("col.checkpoint_eval_time")] if with_checkpoints else []
    headers += [
        page.t("col.tokens_per_s"),
        page.t("col.peak_mem"),
        page.t("col.models_in_memory"),
        page.t("col.trainable_params"),
    ] + ([page.t("col.gold_queries")] if with_queries else [])
    parts = [
        f"<h2>{escape(page.t('cost'))}</h2>",
        _note(page.t("cost.note")),
        _table(headers, _efficiency_rows(aggregates, with_queries, with_checkpoints), numeric_from=2),
    ]
    stages = page.metrics.get("stages") or {}
    if stages:
        parts += [f"<h3>{escape(page.t('cost.stages'))}</h3>", _stages_table(page, stages)]
    fig = efficiency_figure(aggregates, time_splits(page.metrics, page.histories), page.fig_lang)
    if fig is not None:
        parts.append(_figure(fig, escape(page.t("cost.caption")), "Cost per method"))
    return "".join(parts)


def _curves_section(page: _Page) -> str:
    by_method: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
    for row in page.aggregates:
        for record in _records_of(page.metrics, row):
            if record.get("run_dir") in page.histories:
                by_method.setdefault(row["method"], []).append((row["setting"], page.histories[record["run_dir"]]))
    figures = []
    for method, runs in by_method.items():
        fig = training_curves_figure(runs, page.fig_lang)
        if fig is not None:
            caption = escape(page.t("curves.caption"))
            figures.append(f"<h3>{escape(method)}</h3>" + _figure(fig, caption, f"{method} training curves"))
    body = "".join(figures) or _note(page.t("curves.none"))
    return f"<h2>{escape(page.t('curves'))}</h2>" + body


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


def _examples_section(page: _Page) -> str:
    """One block per held-out prompt: the prompt, then every method's completion side by side in
    a grid that wraps, so that ten methods stay readable without scrolling sideways."""
    examples = page.metrics.get("examples") or {}
    columns = [(row, record, examples.get(record.get("run_dir"), [])) for row, record in _best_runs(page.metrics)]
    columns = [c for c in columns if c[2]]
    heading = f"<h2>{escape(page.t('examples'))}</h2>"
    if not columns:
        return heading + _note(page.t("examples.none"))
    blocks = []
    for i in range(max(len(samples) for _, _, samples in columns)):
        prompt = next((samples[i].get("prompt", "") for _, _, samples in columns if i < len(samples)), "")
        cells = "".join(
            f'<div class="sample"><div class="sample-head">{escape(run_label(row["method"], row["setting"]))}'
            f'<span class="col-sub">{escape(page.t("examples.sample", seed=record.get("seed", "?"), gold=_format_gold(row)))}</span></div>'
            f'<div class="completion">{escape(samples[i].get("completion", "")) if i < len(samples) else "—"}</div></div>'
            for row, record, samples in columns
        )
        blocks.append(
            f'<div class="prompt-block"><div class="prompt"><span class="label">{escape(page.t("examples.prompt", i=i + 1))}</span>'
            f'<span class="completion">{escape(prompt)}</span></div><div class="samples">{cells}</div></div>'
        )
    return heading + _note(page.t("examples.note")) + "".join(blocks)


def _format_gold(row: Mapping[str, Any]) -> str:
    gold = _mean(row, "gold_reward")
    return "n/a" if gold is None else f"{gold:.3f}"


def _footer(run_dir: Path, lang: str) -> str:
    return f"<footer>{tr('footer', lang, logdir=escape(str(run_dir)))}</footer>"
