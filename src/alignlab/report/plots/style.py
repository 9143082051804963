"""What every figure of the report shares: one colour and marker per method, the setting labels,
the ids tests find artists by, the base policy's dashed line, and the PNG data URI of a figure."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from alignlab.report.i18n import tr
from alignlab.report.statistics import BASE_METHOD

# Ids (gid) of the artists that tests find in a figure.
AGGREGATE_GID = "aggregate"
BASE_GID = "base"
CHECKPOINT_GID = "checkpoints"
FIT_GID = "fit"
PEAK_GID = "gold-peak"
# Tab10 with navy for its grey (which would read as the base policy's black), then eleven more
# colours far enough from those and from each other.
PALETTE = (
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
    "#b8860b",
    "#00665e",
    "#7fb2e5",
    "#c71585",
    "#708090",
    "#4b0082",
    "#9acd32",
    "#f4a460",
    "#8b0000",
    "#40e0d0",
    "#556b2f",
)
# Seven markers against twenty-one colours: every method alignlab has gets a colour of its own,
# and the (colour, marker) pair differs for the first 147 methods.
_MARKERS = ("o", "s", "D", "^", "v", "P", "X")
BASE_COLOR = "#222222"
_SYMBOLS = {"beta": "β", "label_smoothing": "ε", "preferences.label_noise": "noise"}


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
    styles: dict[str, tuple[str, str]] = {BASE_METHOD: (BASE_COLOR, "*")}
    others = [m for m in dict.fromkeys(methods) if m != BASE_METHOD]
    for i, method in enumerate(others):
        styles[method] = (PALETTE[i % len(PALETTE)], _MARKERS[i % len(_MARKERS)])
    return styles


def figure_to_data_uri(fig: Figure, dpi: int = 100) -> str:
    """The figure as a base64 PNG ``data:`` URI, for a self-contained ``<img src=...>``."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def interval_half_width(summary: Mapping[str, Any] | None) -> float:
    # NaN rather than 0 when unknown: matplotlib then draws no bar, where 0 would draw a cap.
    ci = None if summary is None else summary.get("ci95")
    return math.nan if ci is None else ci


def error_bars(half_widths: Sequence[float]) -> list[float] | None:
    """The half-widths for ``errorbar``, None when none is known."""
    return None if all(math.isnan(v) for v in half_widths) else list(half_widths)


def base_line(ax: Axes, gold: float, **line: Any) -> None:
    """The base policy's gold reward, dashed across the axes."""
    ax.axhline(gold, color=BASE_COLOR, linestyle="--", linewidth=1, alpha=0.7, **line)


def label_axes(ax: Axes, lang: str, xlabel: str, ylabel: str, title: str) -> None:
    """Axis labels and title from the strings ``xlabel``, ``ylabel`` and ``title``, and a light grid."""
    ax.set_xlabel(tr(xlabel, lang))
    ax.set_ylabel(tr(ylabel, lang))
    ax.set_title(tr(title, lang))
    ax.grid(alpha=0.3)


def legend_outside(ax: Axes) -> None:
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9)
