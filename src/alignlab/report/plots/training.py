"""Training curves: one figure per method, a panel per metric its histories log, against step."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from alignlab.report.i18n import tr
from alignlab.report.plots.style import PALETTE, setting_text

# Panels of the training-curve figures, in display order, with the metric's name in the report's
# words (strings.yaml: curve.<metric>). A method gets the ones its history holds, which picks the
# DPO family's, PPO's or GRPO/RLOO's set without a table of families. Everything else the trainers
# log is in history.json and TensorBoard.
CURVE_METRICS = (
    "train/loss",
    "train/rewards/margin",
    "train/rewards/accuracy",
    "reward/score",
    "reward/gold",
    "objective/kl",
    "objective/kl_coef",
    "policy/entropy",
    "policy/clipfrac",
    "policy/approx_kl",
    "loss/value",
    "value/explained_variance",
    "rollout/response_length",
    "train/grad_norm",
    "train/lr",
)
# Schedules, drawn only when they move (a warmup or decay, an adaptive KL coefficient): flat,
# they say no more than the config.
SCHEDULE_METRICS = ("train/lr", "objective/kl_coef")
_CURVE_COLUMNS = 4


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
    ax.set_title(tr(f"curve.{metric}", lang) + (tr("fig.held_out", lang) if has_eval else ""), fontsize=9)
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
    colors = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(settings)}
    n_cols = min(_CURVE_COLUMNS, len(metrics))
    n_rows = math.ceil(len(metrics) / n_cols)
    # A fixed layout: matplotlib's constrained layout costs about a second per figure here.
    height = 2.2 * n_rows + 0.9
    fig = Figure(figsize=(3.2 * n_cols, height))
    fig.subplots_adjust(left=0.07, right=0.99, top=1 - 0.6 / height, bottom=0.5 / height, wspace=0.3, hspace=0.6)
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
    fig.legend(
        handles,
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, 1.0),
        ncols=min(len(settings), 6),
        frameon=False,
        fontsize=9,
    )
    return fig


# The panels of the verifiable-reward comparison: what the GRPO-family papers argue about.
VERIFIABLE_METRICS = (
    "rollout/length_correct",
    "rollout/length_wrong",
    "policy/entropy",
    "rollout/zero_variance_fraction",
    "policy/clipfrac/epoch_2",
)


def mean_series(histories: Sequence[Mapping[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """``key`` against step, the mean over the histories (seeds) that log it at that step."""
    by_step: dict[float, list[float]] = {}
    for history in histories:
        for step, value in zip(*_series(history.get("train", []), key)):
            by_step.setdefault(step, []).append(value)
    steps = sorted(by_step)
    return steps, [sum(by_step[s]) / len(by_step[s]) for s in steps]


def comparison_curves_figure(
    runs: Mapping[str, Sequence[Mapping[str, Any]]],
    metrics: Sequence[str],
    styles: Mapping[str, tuple[str, str]],
    lang: str = "en",
) -> Figure | None:
    """One panel per metric of ``metrics``, one line per run name (the mean over its seeds'
    histories, ``runs``: name -> histories), coloured as ``styles`` (by the name's method). None
    when no history logs any of them."""
    present = [m for m in metrics if any(mean_series(h, m)[0] for h in runs.values())]
    if not present:
        return None
    n_cols = min(3, len(present))
    n_rows = math.ceil(len(present) / n_cols)
    height = 2.4 * n_rows + 1.2
    fig = Figure(figsize=(4.2 * n_cols, height))
    fig.subplots_adjust(left=0.06, right=0.99, top=1 - 0.9 / height, bottom=0.5 / height, wspace=0.25, hspace=0.6)
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    linestyles = ("-", "--", ":", "-.")
    seen: dict[str, int] = {}
    handles, labels = [], []
    for name, histories in runs.items():
        method = name.split(" (")[0]
        color, _ = styles[method]
        style = linestyles[seen.get(method, 0) % len(linestyles)]
        seen[method] = seen.get(method, 0) + 1
        for ax, metric in zip(axes, present):
            steps, values = mean_series(histories, metric)
            ax.plot(steps, values, color=color, linestyle=style, linewidth=1.3)
        handles.append(Line2D([], [], color=color, linestyle=style, linewidth=2))
        labels.append(name)
    for ax, metric in zip(axes, present):
        ax.set_title(tr(f"curve.{metric}", lang), fontsize=9)
        ax.tick_params(labelsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.set_xlabel(tr("fig.step", lang), fontsize=8)
    for ax in axes[len(present) :]:
        ax.set_visible(False)
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 1.0), ncols=4, frameon=False, fontsize=8)
    return fig
