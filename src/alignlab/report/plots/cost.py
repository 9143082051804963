"""What each run cost: wall time, peak memory and the online methods' time per phase as bars,
and the gold reward each bought per second and per gold-reward query."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from alignlab.report.aggregates import summary_mean
from alignlab.report.i18n import tr
from alignlab.report.plots.style import AGGREGATE_GID, base_line, method_styles, run_label, setting_text
from alignlab.report.statistics import BASE_METHOD

# Cumulative seconds per phase of an online iteration, as logged in every history row.
TIME_SPLIT_KEYS = ("time/generation", "time/scoring", "time/training")


def _bars(ax: Axes, labels: Sequence[str], values: Sequence[float], colors: Sequence[str], unit: str) -> None:
    ax.barh(labels, values, color=colors, height=0.6)
    ax.invert_yaxis()
    ax.bar_label(ax.containers[0], labels=[f"{v:,.0f}" for v in values], padding=3, fontsize=8)
    ax.set_xlabel(unit)
    ax.margins(x=0.15)
    ax.grid(axis="x", alpha=0.3)
    ax.tick_params(labelsize=8)


def _split_bars(fig: Figure, ax: Axes, splits: Mapping[str, Mapping[str, float]], lang: str = "en") -> None:
    labels = list(splits)
    left = [0.0] * len(labels)
    for key, color in zip(TIME_SPLIT_KEYS, ("#4c72b0", "#dd8452", "#55a868")):
        widths = [splits[label].get(key, 0.0) for label in labels]
        label = tr("fig.phase." + key.removeprefix("time/"), lang)
        ax.barh(labels, widths, left=left, color=color, height=0.6, label=label)
        left = [a + b for a, b in zip(left, widths)]
    ax.invert_yaxis()
    ax.set_xlabel(tr("fig.seconds_mean", lang))
    ax.set_title(tr("fig.phases", lang), fontsize=10)
    fig.legend(loc="outside lower right", ncols=3, fontsize=8, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    ax.tick_params(labelsize=8)


def efficiency_figure(
    aggregates: Sequence[Mapping[str, Any]],
    time_splits: Mapping[str, Mapping[str, float]] | None = None,
    lang: str = "en",
) -> Figure | None:
    """End-to-end wall time and peak memory per method and setting as horizontal bars, plus, for
    the online methods, their training time split into generation, scoring and training.

    ``time_splits`` maps a ``run_label`` to ``{time/generation: s, ...}``. Rows that cost
    nothing measurable (the base policy) are left out; None when no row is left.
    """
    rows = [a for a in aggregates if (summary_mean(a, "pipeline_time_s") or 0) > 0]
    if not rows:
        return None
    styles = method_styles([a["method"] for a in aggregates])
    labels = [run_label(a["method"], a["setting"]) for a in rows]
    colors = [styles[a["method"]][0] for a in rows]
    panels = 3 if time_splits else 2
    fig = Figure(figsize=(4.4 * panels, 0.32 * len(rows) + 1.6), layout="constrained")
    axes = fig.subplots(1, panels, sharey=False)
    _bars(axes[0], labels, [a["pipeline_time_s"]["mean"] for a in rows], colors, tr("fig.seconds", lang))
    axes[0].set_title(tr("fig.wall_time", lang), fontsize=10)
    memory = [summary_mean(a, "peak_mem_mb") or 0.0 for a in rows]
    _bars(axes[1], labels, memory, colors, "MB")
    axes[1].set_title(tr("fig.peak_memory", lang), fontsize=10)
    if time_splits:
        _split_bars(fig, axes[2], time_splits, lang)
    return fig


def _budget_rows(aggregates: Sequence[Mapping[str, Any]], key: str) -> list[Mapping[str, Any]]:
    return [
        a
        for a in aggregates
        if a["method"] != BASE_METHOD and (summary_mean(a, key) or 0) > 0 and summary_mean(a, "gold_reward") is not None
    ]


def _budget_panel(ax: Axes, rows: Sequence[Mapping[str, Any]], key: str, styles: Mapping[str, tuple[str, str]]) -> None:
    for method in dict.fromkeys(a["method"] for a in rows):
        color, marker = styles[method]
        mine = [a for a in rows if a["method"] == method]
        (points,) = ax.plot(
            [a[key]["mean"] for a in mine],
            [a["gold_reward"]["mean"] for a in mine],
            marker,
            color=color,
            markersize=8,
            markeredgecolor="white",
            label=method,
            linestyle="none",
        )
        points.set_gid(AGGREGATE_GID)
        for a in mine:
            text = setting_text(a["setting"])
            if text:
                ax.annotate(
                    text,
                    (a[key]["mean"], a["gold_reward"]["mean"]),
                    xytext=(5, 4),
                    textcoords="offset points",
                    fontsize=7,
                    color=color,
                )
    values = [a[key]["mean"] for a in rows]
    if max(values) / min(values) > 20:
        ax.set_xscale("log")
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=8)


BUDGETS = (
    ("pipeline_time_s", "fig.pipeline_time", "fig.by_time"),
    ("gold_queries", "fig.gold_queries", "fig.by_queries"),
)


def budget_figure(aggregates: Sequence[Mapping[str, Any]], lang: str = "en") -> Figure | None:
    """Gold reward against wall time (``pipeline_time_s``) and against gold-reward queries
    (``gold_queries``), one point per method and setting (means over seeds), the base policy
    dashed; a budget no row measured gets no panel, and None comes back when neither was."""
    panels = [(key, xlabel, title, rows) for key, xlabel, title in BUDGETS if (rows := _budget_rows(aggregates, key))]
    if not panels:
        return None
    styles = method_styles([a["method"] for a in aggregates])
    base = next((a for a in aggregates if a["method"] == BASE_METHOD), None)
    base_gold = None if base is None else summary_mean(base, "gold_reward")
    fig = Figure(figsize=(5.2 * len(panels) + 1.5, 4.4), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False).ravel()
    handles: dict[str, Any] = {}
    for ax, (key, xlabel, title, rows) in zip(axes, panels):
        _budget_panel(ax, rows, key, styles)
        ax.set_xlabel(tr(xlabel, lang), fontsize=9)
        ax.set_ylabel(tr("fig.gold", lang), fontsize=9)
        ax.set_title(tr(title, lang), fontsize=10)
        if base_gold is not None:
            base_line(ax, base_gold, label=tr("fig.base", lang))
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    fig.legend(list(handles.values()), list(handles), loc="outside right upper", frameon=False, fontsize=9)
    return fig
