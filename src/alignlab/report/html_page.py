"""What the sections of ``report.html`` are built from: the :class:`Page` every section reads,
and the HTML of its cells, tables, notes and figures. Text from a run passes through ``escape``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from alignlab.report.i18n import tr
from alignlab.report.plots import setting_text


@dataclass(frozen=True)
class Page:
    """What every section reads: the metrics (with their statistics), the histories, the page's
    language and the figures' (English when no CJK font is installed), and how a figure becomes
    an ``<img>`` source."""

    metrics: Mapping[str, Any]
    histories: Mapping[str, Mapping[str, Any]]
    lang: str
    fig_lang: str
    rasterise: Callable[[Any], str]

    def t(self, key: str, **fields: Any) -> str:
        return tr(key, self.lang, **fields)

    def columns(self, *keys: str) -> list[str]:
        """The headers of the columns ``keys`` (the strings "col.<key>")."""
        return [self.t(f"col.{key}") for key in keys]

    def figure(self, fig: Any, caption: str, alt: str) -> str:
        """The figure as an embedded PNG; ``caption`` is HTML."""
        return (
            f'<figure><img src="{self.rasterise(fig)}" alt="{escape(alt)}"><figcaption>{caption}</figcaption></figure>'
        )

    @property
    def aggregates(self) -> list[Mapping[str, Any]]:
        return self.metrics.get("aggregates") or []

    @property
    def results(self) -> list[Mapping[str, Any]]:
        return self.metrics.get("results") or []


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


def summary_cell(summary: Mapping[str, Any] | None, digits: int, extra_class: str = "") -> str:
    """'mean ± ci' as summarize() prints it, the interval in a lighter colour; 'n/a' when missing."""
    css = f"num {extra_class}".strip()
    if not summary or summary.get("mean") is None:
        return f'<td class="{css}">n/a</td>'
    ci = summary.get("ci95")
    interval = f'<span class="ci"> ± {ci:.{digits}f}</span>' if ci else ""
    return f'<td class="{css}">{summary["mean"]:.{digits}f}{interval}</td>'


def number_cell(value: float | None, digits: int = 1, zero_is_missing: bool = False) -> str:
    # Zero peak memory or throughput means "not measured" (the base policy trains nothing).
    if value is None or (zero_is_missing and value == 0):
        return '<td class="num">—</td>'
    return f'<td class="num">{value:,.{digits}f}</td>'


def count_cell(value: float | None, zero_is_missing: bool = False) -> str:
    """A count written short (1.3M, 843.0B); zero parameters or FLOPs mean "trains nothing"."""
    if value is None or (zero_is_missing and value == 0):
        return '<td class="num">—</td>'
    return f'<td class="num">{human_count(value)}</td>'


def wrapped_cell(text: str) -> str:
    """A cell of running text, which wraps (other cells do not), so that a wide table's last
    columns stay in view."""
    return f'<td class="wrap">{escape(text)}</td>'


def text_cell(text: str, numeric: bool = True) -> str:
    return f"<td{' class=num' if numeric else ''}>{escape(text)}</td>"


def table_row(cells: Sequence[str]) -> str:
    return f"<tr>{''.join(cells)}</tr>"


def table(headers: Sequence[str], rows: Sequence[str], numeric_from: int) -> str:
    """A table whose columns from ``numeric_from`` on are right-aligned; ``rows`` are ready ``<tr>`` strings."""
    head = "".join(f"<th{' class=num' if i >= numeric_from else ''}>{escape(h)}</th>" for i, h in enumerate(headers))
    return f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


def name_cells(row: Mapping[str, Any]) -> str:
    setting = setting_text(row.get("setting", "default")) or "—"
    return f"<td><strong>{escape(row['method'])}</strong></td><td>{escape(setting)}</td>"


def note(text: str) -> str:
    return f'<p class="note">{escape(text)}</p>'
