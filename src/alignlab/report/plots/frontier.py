"""The reward-KL frontier: gold reward against KL(π‖π_ref) per method and setting, with each
setting's path through its training checkpoints (the DPO paper's Figure 2, left)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from alignlab.report.aggregates import records_of, summary_mean
from alignlab.report.i18n import tr
from alignlab.report.plots.style import (
    AGGREGATE_GID,
    BASE_COLOR,
    BASE_GID,
    CHECKPOINT_GID,
    base_line,
    error_bars,
    interval_half_width,
    label_axes,
    legend_outside,
    method_styles,
    setting_text,
)
from alignlab.report.statistics import BASE_METHOD, checkpoint_path


def _frontier_points(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The rows with both a KL and a gold reward, sorted by KL so that a line through them is the
    method's frontier."""
    plotted = [r for r in rows if summary_mean(r, "kl") is not None and summary_mean(r, "gold_reward") is not None]
    return sorted(plotted, key=lambda r: r["kl"]["mean"])


def _plot_seeds(ax: Axes, records: Sequence[Mapping[str, Any]], color: str, marker: str) -> None:
    points = [(r.get("kl"), r.get("gold_reward")) for r in records]
    points = [(kl, gold) for kl, gold in points if kl is not None and gold is not None]
    if points:
        xs, ys = zip(*points)
        ax.scatter(xs, ys, s=16, color=color, marker=marker, alpha=0.3, linewidths=0, zorder=2)


def _plot_method(ax: Axes, method: str, rows: Sequence[Mapping[str, Any]], style: tuple[str, str]) -> None:
    color, marker = style
    points = _frontier_points(rows)
    if not points:
        return
    xs = [r["kl"]["mean"] for r in points]
    ys = [r["gold_reward"]["mean"] for r in points]
    if len(points) > 1:
        ax.plot(xs, ys, color=color, linewidth=0.9, alpha=0.6, zorder=3)
    bars = ax.errorbar(
        xs,
        ys,
        xerr=error_bars([interval_half_width(r["kl"]) for r in points]),
        yerr=error_bars([interval_half_width(r["gold_reward"]) for r in points]),
        fmt=marker,
        color=color,
        markersize=8,
        markeredgecolor="white",
        elinewidth=0.8,
        capsize=2.5,
        label=method,
        zorder=4,
    )
    bars.lines[0].set_gid(AGGREGATE_GID)
    for collection in bars.lines[2]:
        collection.set_alpha(0.55)
    for row, x, y in zip(points, xs, ys):
        text = setting_text(row["setting"])
        if text:
            ax.annotate(text, (x, y), xytext=(6, 5), textcoords="offset points", fontsize=7.5, color=color)


def _plot_base(ax: Axes, base: Mapping[str, Any], lang: str = "en") -> None:
    gold = summary_mean(base, "gold_reward")
    if gold is None:
        return
    base_line(ax, gold, zorder=1)
    kl = summary_mean(base, "kl") or 0.0
    (point,) = ax.plot([kl], [gold], "*", color=BASE_COLOR, markersize=14, label=tr("fig.base", lang), zorder=5)
    point.set_gid(BASE_GID)


def _plot_checkpoints(ax: Axes, row: Mapping[str, Any], records: Sequence[Mapping[str, Any]], color: str) -> bool:
    """The setting's path through its checkpoints (mean over seeds at each index) to its final
    point; False when it has no checkpoints."""
    path = [p for p in checkpoint_path(records) if p["kl"] is not None and p["gold_reward"] is not None]
    final = (summary_mean(row, "kl"), summary_mean(row, "gold_reward"))
    if not path or None in final:
        return False
    xs = [p["kl"] for p in path] + [final[0]]
    ys = [p["gold_reward"] for p in path] + [final[1]]
    (line,) = ax.plot(xs, ys, color=color, linewidth=1.0, alpha=0.75, marker=".", markersize=5, zorder=3)
    line.set_gid(CHECKPOINT_GID)
    return True


def frontier_figure(
    aggregates: Sequence[Mapping[str, Any]], results: Sequence[Mapping[str, Any]], lang: str = "en"
) -> Figure:
    """Gold reward against KL(π‖π_ref) on the held-out prompts (the DPO paper's Figure 2, left).

    Large markers are means over seeds with 95 % intervals on both axes where known, annotated
    with their setting and joined per method in order of KL; thin lines with dots are each
    setting's path through its training checkpoints (mean over seeds per checkpoint) to its final
    point, where the records have checkpoints; small translucent markers are the single seeds;
    the star and dashed line are the base policy.
    """
    fig = Figure(figsize=(11.5, 6.0), layout="constrained")
    ax = fig.add_subplot()
    styles = method_styles([a["method"] for a in aggregates])
    for method, style in styles.items():
        rows = [a for a in aggregates if a["method"] == method]
        if method == BASE_METHOD:
            if rows:
                _plot_base(ax, rows[0], lang)
            continue
        _plot_seeds(ax, [r for r in results if r["method"] == method], *style)
        for row in rows:
            _plot_checkpoints(ax, row, records_of(results, row), style[0])
        _plot_method(ax, method, rows, style)
    label_axes(ax, lang, "fig.kl", "fig.gold", "fig.frontier_title")
    if ax.get_legend_handles_labels()[0]:
        legend_outside(ax)
    return fig
