"""Figures of the report's analyses: reward-model over-optimisation (Gao et al. 2023) and
robustness to label noise."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.figure import Figure

from alignlab.report.i18n import tr
from alignlab.report.plots.style import (
    AGGREGATE_GID,
    BASE_COLOR,
    FIT_GID,
    PEAK_GID,
    base_line,
    error_bars,
    interval_half_width,
    label_axes,
    legend_outside,
    method_styles,
    run_label,
)
from alignlab.report.statistics import gao_curve


def overoptimization_figure(entries: Sequence[Mapping[str, Any]], lang: str = "en") -> Figure | None:
    """One panel per curve of ``statistics.overoptimization``: gold reward (filled, left axis) and
    proxy score (open, right axis) relative to the base policy against d = sqrt(KL), with Gao et
    al.'s fitted curves dashed and, where over-optimisation was measured (the gold reward fell
    after its peak beyond the seeds' noise while the proxy rose), a red vertical line at the
    measured peak. None without entries."""
    entries = [e for e in entries if e.get("points")]
    if not entries:
        return None
    n_cols = min(3, len(entries))
    n_rows = math.ceil(len(entries) / n_cols)
    fig = Figure(figsize=(4.3 * n_cols, 3.3 * n_rows + 0.4), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    gold_color, proxy_color = "#1f77b4", "#ff7f0e"
    for ax, entry in zip(axes, entries):
        points = entry["points"]
        d = [0.0] + [p["d"] for p in points]
        gold = [0.0] + [p["gold"] for p in points]
        ax.plot(d, gold, "o", color=gold_color, markersize=5, label=tr("fig.gold_points", lang), zorder=3)
        proxy_points = [p for p in points if p.get("proxy") is not None]
        twin = None
        if proxy_points:
            twin = ax.twinx()
            twin.plot(
                [0.0] + [p["d"] for p in proxy_points],
                [0.0] + [p["proxy"] for p in proxy_points],
                "o",
                markerfacecolor="none",
                color=proxy_color,
                markersize=5,
                label=tr("fig.proxy_points", lang),
                zorder=3,
            )
            twin.set_ylabel(tr("fig.proxy_rel", lang), color=proxy_color, fontsize=8)
            twin.tick_params(labelsize=7, colors=proxy_color)
        grid = [entry["max_d"] * 1.15 * i / 100 for i in range(101)]
        for prefix, target, color in (("", ax, gold_color), ("proxy_", twin, proxy_color)):
            alpha, beta = entry.get(prefix + "alpha"), entry.get(prefix + "beta")
            if target is None or alpha is None or beta is None:
                continue
            (line,) = target.plot(grid, gao_curve(grid, alpha, beta, entry["form"]), "--", color=color, linewidth=1.1)
            line.set_gid(FIT_GID)
        if entry.get("overoptimized"):
            peak = ax.axvline(entry["measured_peak_d"], color="#d62728", linestyle=":", linewidth=1.4)
            peak.set_gid(PEAK_GID)
            ax.annotate(
                tr("fig.gold_peak", lang),
                (entry["measured_peak_d"], 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(3, -12),
                textcoords="offset points",
                fontsize=7.5,
                color="#d62728",
            )
        ax.axhline(0.0, color=BASE_COLOR, linewidth=0.6, alpha=0.5)
        ax.set_title(f"{run_label(entry['method'], entry['setting'])}: {entry['formula']}", fontsize=9)
        ax.set_xlabel(tr("fig.d", lang), fontsize=8)
        ax.set_ylabel(tr("fig.gold_rel", lang), color=gold_color, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes[len(entries) :]:
        ax.set_visible(False)
    return fig


# The controls a figure can plot gold reward against: (x label, title, log-scaled x).
CONTROL_AXES = {
    "label_noise": ("fig.noise", "fig.noise_title", False),
    "data_size": ("fig.pairs", "fig.pairs_title", True),
}


def label_noise_figure(
    curves: Sequence[Mapping[str, Any]], base_gold: float | None = None, lang: str = "en"
) -> Figure | None:
    """Gold reward against the label-noise rate (``control_figure`` of ``label_noise``)."""
    return control_figure(curves, "label_noise", base_gold, lang)


def control_figure(
    curves: Sequence[Mapping[str, Any]], control: str, base_gold: float | None = None, lang: str = "en"
) -> Figure | None:
    """Gold reward (mean over seeds, 95 % Student-t bars) against an experiment control (a key of
    ``CONTROL_AXES``) per method and setting (``statistics.control_curves``), with the base policy
    dashed. None without curves."""
    xlabel, title, log_x = CONTROL_AXES[control]
    curves = [c for c in curves if c.get("points")]
    if not curves:
        return None
    fig = Figure(figsize=(8.0, 4.6), layout="constrained")
    ax = fig.add_subplot()
    styles = method_styles([c["method"] for c in curves])
    for curve in curves:
        color, marker = styles[curve["method"]]
        points = curve["points"]
        bars = ax.errorbar(
            [p["x"] for p in points],
            [p["mean"] for p in points],
            yerr=error_bars([interval_half_width(p) for p in points]),
            fmt=marker + "-",
            color=color,
            capsize=2.5,
            linewidth=1.2,
            label=run_label(curve["method"], curve["setting"]),
        )
        bars.lines[0].set_gid(AGGREGATE_GID)
    if base_gold is not None:
        base_line(ax, base_gold, label=tr("fig.base", lang))
    if log_x:
        ax.set_xscale("log", base=2)
    label_axes(ax, lang, xlabel, "fig.gold", title)
    legend_outside(ax)
    return fig
