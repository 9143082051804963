"""The report's figures: the reward-KL frontier (with checkpoint paths), reward-model
over-optimisation, label noise, reward per budget, training curves per method, and the cost of
each run.

Every function takes plain data (rows of ``metrics.json``, ``history.json`` contents) and returns a
``matplotlib.figure.Figure`` built without pyplot, so nothing touches global state and no display
backend is needed; ``figure_to_data_uri`` turns a figure into an ``<img>`` source. ``lang`` picks
the labels' language ("en" or "zh"); draw Chinese only inside ``i18n.figure_fonts``, which supplies
a font with the glyphs.
"""

from alignlab.report.plots.analyses import control_figure, label_noise_figure, overoptimization_figure
from alignlab.report.plots.cost import TIME_SPLIT_KEYS, budget_figure, efficiency_figure
from alignlab.report.plots.frontier import frontier_figure
from alignlab.report.plots.style import (
    AGGREGATE_GID,
    BASE_GID,
    CHECKPOINT_GID,
    FIT_GID,
    PEAK_GID,
    figure_to_data_uri,
    method_styles,
    run_label,
    setting_text,
)
from alignlab.report.plots.training import curve_metrics, training_curves_figure

__all__ = [
    "AGGREGATE_GID",
    "BASE_GID",
    "CHECKPOINT_GID",
    "FIT_GID",
    "PEAK_GID",
    "TIME_SPLIT_KEYS",
    "budget_figure",
    "curve_metrics",
    "efficiency_figure",
    "figure_to_data_uri",
    "frontier_figure",
    "control_figure",
    "label_noise_figure",
    "method_styles",
    "overoptimization_figure",
    "run_label",
    "setting_text",
    "training_curves_figure",
]
