"""The report's figures: the reward-KL frontier (with checkpoint paths), reward-model
over-optimisation, label noise, reward per budget, training curves per method, and the cost of
each run.

Every function takes plain data (rows of ``metrics.json``, ``history.json`` contents) and returns a
``matplotlib.figure.Figure`` built without pyplot, so nothing touches global state and no display
backend is needed; ``figure_to_data_uri`` turns a figure into an ``<img>`` source. ``lang`` picks
the labels' language ("en" or "zh"); draw Chinese only inside ``i18n.figure_fonts``, which supplies
a font with the glyphs.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from alignlab.report.i18n import tr
from alignlab.report.statistics import checkpoint_path, gao_curve, setting_label

BASE_METHOD = "base"
# Panels of the training-curve figures, in display order. A method gets the ones its history
# holds, which picks the DPO family's, PPO's or GRPO/RLOO's set without a table of families.
CURVE_METRICS = (
    "train/loss",
    "train/rewards/chosen",
    "train/rewards/rejected",
    "train/rewards/margin",
    "train/rewards/accuracy",
    "reward/score",
    "reward/gold",
    "objective/kl",
    "objective/kl_coef",
    "policy/entropy",
    "policy/clipfrac",
    "policy/approx_kl",
    "loss/policy",
    "loss/value",
    "loss/kl",
    "value/explained_variance",
    "advantage/abs_mean",
    "rollout/response_length",
    "train/grad_norm",
    "train/lr",
    "train/tokens_per_s",
    "perf/tokens_per_s",
)
# Schedules, drawn only when they move (a warmup or decay, an adaptive KL coefficient): flat,
# they say no more than the config.
SCHEDULE_METRICS = ("train/lr", "objective/kl_coef")
# Cumulative seconds per phase of an online iteration, as logged in every history row.
TIME_SPLIT_KEYS = ("time/generation", "time/scoring", "time/training")
AGGREGATE_GID = "aggregate"
BASE_GID = "base"
CHECKPOINT_GID = "checkpoints"
FIT_GID = "fit"
PEAK_GID = "gold-peak"
# Tab10 with navy for its grey, which would read as the base policy's black.
_PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#1b2a6b",
)
_MARKERS = ("o", "s", "D", "^", "v", "P", "X", "<", ">", "h")
_BASE_COLOR = "#222222"
_SYMBOLS = {"beta": "β", "label_smoothing": "ε", "preferences.label_noise": "noise"}
_CURVE_COLUMNS = 4


def setting_text(setting: str) -> str:
    """'beta=0.1' -> 'β=0.1', 'label_smoothing=0.1' -> 'ε=0.1' (the papers' symbols, and short
    enough to annotate a plot); '' for the default setting, which needs no label."""
    if setting == "default":
        return ""
    for word, symbol in _SYMBOLS.items():
        setting = setting.replace(f"{word}=", f"{symbol}=")
    return setting


def run_label(method: str, setting: str) -> str:
    """'dpo (β=0.1)', or just 'dpo' for a method without a sweep."""
    text = setting_text(setting)
    return f"{method} ({text})" if text else method


def method_styles(methods: Sequence[str]) -> dict[str, tuple[str, str]]:
    """Method -> (colour, marker), in first-seen order, so every figure draws a method alike."""
    styles: dict[str, tuple[str, str]] = {BASE_METHOD: (_BASE_COLOR, "*")}
    others = [m for m in dict.fromkeys(methods) if m != BASE_METHOD]
    for i, method in enumerate(others):
        styles[method] = (_PALETTE[i % len(_PALETTE)], _MARKERS[i % len(_MARKERS)])
    return styles


def figure_to_data_uri(fig: Figure, dpi: int = 100) -> str:
    """The figure as a base64 PNG ``data:`` URI, for a self-contained ``<img src=...>``."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


# --------------------------------------------------------------------------------------------
# Reward-KL frontier
# --------------------------------------------------------------------------------------------


def _mean(summary: Mapping[str, Any] | None) -> float | None:
    return None if summary is None else summary.get("mean")


def _half_width(summary: Mapping[str, Any] | None) -> float:
    # NaN rather than 0 when unknown: matplotlib then draws no bar, where 0 would draw a cap.
    ci = None if summary is None else summary.get("ci95")
    return math.nan if ci is None else ci


def _errors(values: Sequence[float]) -> list[float] | None:
    return None if all(math.isnan(v) for v in values) else list(values)


def _frontier_points(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The rows with both a KL and a gold reward, sorted by KL so that a line through them is the
    method's frontier."""
    plotted = [r for r in rows if _mean(r.get("kl")) is not None and _mean(r.get("gold_reward")) is not None]
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
        xerr=_errors([_half_width(r["kl"]) for r in points]),
        yerr=_errors([_half_width(r["gold_reward"]) for r in points]),
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
    gold = _mean(base.get("gold_reward"))
    if gold is None:
        return
    ax.axhline(gold, color=_BASE_COLOR, linestyle="--", linewidth=1, alpha=0.7, zorder=1)
    kl = _mean(base.get("kl")) or 0.0
    (point,) = ax.plot([kl], [gold], "*", color=_BASE_COLOR, markersize=14, label=tr("fig.base", lang), zorder=5)
    point.set_gid(BASE_GID)


def records_of(results: Sequence[Mapping[str, Any]], row: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The per-seed records behind an aggregate row."""
    return [
        r
        for r in results
        if r.get("method") == row["method"] and setting_label(r.get("params")) == row.get("setting", "default")
    ]


def _plot_checkpoints(ax: Axes, row: Mapping[str, Any], records: Sequence[Mapping[str, Any]], color: str) -> bool:
    """The setting's path through its checkpoints (mean over seeds at each index) to its final
    point; False when it has no checkpoints."""
    path = [p for p in checkpoint_path(records) if p["kl"] is not None and p["gold_reward"] is not None]
    final = (_mean(row.get("kl")), _mean(row.get("gold_reward")))
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
    ax.set_xlabel(tr("fig.kl", lang))
    ax.set_ylabel(tr("fig.gold", lang))
    ax.set_title(tr("fig.frontier_title", lang))
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9)
    return fig


# --------------------------------------------------------------------------------------------
# Training curves
# --------------------------------------------------------------------------------------------


def _eval_key(metric: str) -> str:
    """The held-out counterpart of a training metric of the offline trainers ('train/loss' -> 'eval/loss')."""
    return "eval/" + metric.removeprefix("train/")


def _series(rows: Sequence[Mapping[str, Any]], key: str) -> tuple[list[float], list[float]]:
    points = [(r["step"], r[key]) for r in rows if r.get(key) is not None and r.get("step") is not None]
    return [p[0] for p in points], [p[1] for p in points]


def curve_metrics(histories: Sequence[Mapping[str, Any]]) -> list[str]:
    """The panels worth drawing: the known metrics present in some history, less the schedules
    that never change."""
    chosen = []
    for metric in CURVE_METRICS:
        values = [row[metric] for h in histories for row in h.get("train", []) if row.get(metric) is not None]
        if values and (metric not in SCHEDULE_METRICS or len(set(values)) > 1):
            chosen.append(metric)
    return chosen


def _plot_panel(
    ax: Axes,
    metric: str,
    runs: Sequence[tuple[str, Mapping[str, Any]]],
    colors: Mapping[str, str],
    lang: str = "en",
) -> None:
    has_eval = False
    for setting, history in runs:
        color = colors[setting]
        steps, values = _series(history.get("train", []), metric)
        ax.plot(steps, values, color=color, alpha=0.75, linewidth=1.2, marker="." if len(steps) < 3 else None)
        eval_steps, eval_values = _series(history.get("eval", []), _eval_key(metric))
        if eval_steps:
            has_eval = True
            ax.plot(eval_steps, eval_values, color=color, alpha=0.9, linestyle="--", marker="o", markersize=4)
    ax.set_title(metric + (tr("fig.held_out", lang) if has_eval else ""), fontsize=9)
    ax.tick_params(labelsize=7)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)


def training_curves_figure(runs: Sequence[tuple[str, Mapping[str, Any]]], lang: str = "en") -> Figure | None:
    """A grid of the method's training metrics against step (iteration for the online trainers).

    ``runs`` holds one ``(setting, history)`` per seed, ``history`` being a ``history.json``;
    each setting is a colour and each seed a line of it, with the offline trainers' held-out
    evaluations as dashed lines with circles. None when no history holds a known metric.
    """
    metrics = curve_metrics([h for _, h in runs])
    if not metrics:
        return None
    settings = list(dict.fromkeys(s for s, _ in runs))
    colors = {s: _PALETTE[i % len(_PALETTE)] for i, s in enumerate(settings)}
    n_cols = min(_CURVE_COLUMNS, len(metrics))
    n_rows = math.ceil(len(metrics) / n_cols)
    fig = Figure(figsize=(3.2 * n_cols, 2.3 * n_rows + 0.7), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    for ax, metric in zip(axes, metrics):
        _plot_panel(ax, metric, runs, colors, lang)
    for ax in axes[len(metrics) :]:
        ax.set_visible(False)
    for ax in axes[len(metrics) - n_cols : len(metrics)]:
        ax.set_xlabel(tr("fig.step", lang), fontsize=8)
    seeds = {s: sum(1 for setting, _ in runs if setting == s) for s in settings}
    handles = [Line2D([], [], color=colors[s], linewidth=2) for s in settings]
    labels = [
        tr(
            "fig.seed_count",
            lang,
            setting=setting_text(s) or tr("fig.default", lang),
            n=seeds[s],
            s="s" if seeds[s] > 1 else "",
        )
        for s in settings
    ]
    fig.legend(handles, labels, loc="outside upper center", ncols=min(len(settings), 6), frameon=False, fontsize=9)
    return fig


# --------------------------------------------------------------------------------------------
# Cost
# --------------------------------------------------------------------------------------------


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
    rows = [a for a in aggregates if (_mean(a.get("pipeline_time_s")) or 0) > 0]
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
    memory = [_mean(a.get("peak_mem_mb")) or 0.0 for a in rows]
    _bars(axes[1], labels, memory, colors, "MB")
    axes[1].set_title(tr("fig.peak_memory", lang), fontsize=10)
    if time_splits:
        _split_bars(fig, axes[2], time_splits, lang)
    return fig


# --------------------------------------------------------------------------------------------
# Reward-model over-optimisation (Gao et al. 2023)
# --------------------------------------------------------------------------------------------


def overoptimization_figure(entries: Sequence[Mapping[str, Any]], lang: str = "en") -> Figure | None:
    """One panel per fit of ``statistics.overoptimization``: gold reward (filled, left axis) and
    proxy score (open, right axis) relative to the base policy against d = sqrt(KL), with Gao et
    al.'s fitted curves dashed and, where the gold reward peaks while the proxy still climbs, a
    red vertical line at the peak. None without entries."""
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
            peak = ax.axvline(entry["gold_peak_d"], color="#d62728", linestyle=":", linewidth=1.4)
            peak.set_gid(PEAK_GID)
            ax.annotate(
                tr("fig.gold_peak", lang),
                (entry["gold_peak_d"], 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(3, -12),
                textcoords="offset points",
                fontsize=7.5,
                color="#d62728",
            )
        ax.axhline(0.0, color=_BASE_COLOR, linewidth=0.6, alpha=0.5)
        ax.set_title(f"{run_label(entry['method'], entry['setting'])}: {entry['formula']}", fontsize=9)
        ax.set_xlabel(tr("fig.d", lang), fontsize=8)
        ax.set_ylabel(tr("fig.gold_rel", lang), color=gold_color, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes[len(entries) :]:
        ax.set_visible(False)
    return fig


# --------------------------------------------------------------------------------------------
# Label noise
# --------------------------------------------------------------------------------------------


def label_noise_figure(
    curves: Sequence[Mapping[str, Any]], base_gold: float | None = None, lang: str = "en"
) -> Figure | None:
    """Gold reward (mean over seeds, 95 % Student-t bars) against the label-noise rate per method
    and setting (``statistics.label_noise_curves``), with the base policy dashed. None without curves."""
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
            [p["eps"] for p in points],
            [p["mean"] for p in points],
            yerr=_errors([math.nan if p.get("ci95") is None else p["ci95"] for p in points]),
            fmt=marker + "-",
            color=color,
            capsize=2.5,
            linewidth=1.2,
            label=run_label(curve["method"], curve["setting"]),
        )
        bars.lines[0].set_gid(AGGREGATE_GID)
    if base_gold is not None:
        ax.axhline(base_gold, color=_BASE_COLOR, linestyle="--", linewidth=1, alpha=0.7, label=tr("fig.base", lang))
    ax.set_xlabel(tr("fig.noise", lang))
    ax.set_ylabel(tr("fig.gold", lang))
    ax.set_title(tr("fig.noise_title", lang))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9)
    return fig


# --------------------------------------------------------------------------------------------
# Reward per budget
# --------------------------------------------------------------------------------------------


def _budget_rows(aggregates: Sequence[Mapping[str, Any]], key: str) -> list[Mapping[str, Any]]:
    return [
        a
        for a in aggregates
        if a["method"] != BASE_METHOD and (_mean(a.get(key)) or 0) > 0 and _mean(a.get("gold_reward")) is not None
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
    base_gold = None if base is None else _mean(base.get("gold_reward"))
    fig = Figure(figsize=(5.2 * len(panels) + 1.5, 4.4), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False).ravel()
    handles: dict[str, Any] = {}
    for ax, (key, xlabel, title, rows) in zip(axes, panels):
        _budget_panel(ax, rows, key, styles)
        ax.set_xlabel(tr(xlabel, lang), fontsize=9)
        ax.set_ylabel(tr("fig.gold", lang), fontsize=9)
        ax.set_title(tr(title, lang), fontsize=10)
        if base_gold is not None:
            ax.axhline(base_gold, color=_BASE_COLOR, linestyle="--", linewidth=1, alpha=0.7, label=tr("fig.base", lang))
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    fig.legend(list(handles.values()), list(handles), loc="outside right upper", frameon=False, fontsize=9)
    return fig
