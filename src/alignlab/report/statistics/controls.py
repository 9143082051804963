"""Curves over an experiment control: gold reward against the fraction of preference labels
flipped (robustness to label noise), or against the number of preference pairs (data size), per
method, from a sweep of that control."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from alignlab.report.statistics.intervals import t_interval
from alignlab.report.statistics.records import finite, run_name, setting_label

LABEL_NOISE_KEY = "preferences.label_noise"
DATA_SIZE_KEY = "preferences.max_pairs"
BUDGET_KEY = "budget.sequences"
# config.experiment.EXPERIMENT_CONTROLS, restated: the statistics import numpy and scipy only.
CONTROL_KEYS = (LABEL_NOISE_KEY, DATA_SIZE_KEY, BUDGET_KEY)


def control_curves(
    records: Sequence[Mapping[str, Any]], key: str, default: float | None, metric: str = "gold_reward"
) -> list[dict[str, Any]]:
    """``metric`` (mean and Student-t 95 % interval over seeds) against the value ``x`` of the
    control ``key``, per method and setting of its other parameters, for the methods with some
    record that swept ``key``. A method's records at its configured setting (no control in their
    parameters) count at ``default`` (left out when None); records that vary another control are
    not on this curve; a setting with one point only is no curve. [] when no method swept ``key``."""
    swept = {r["method"] for r in records if key in (r.get("params") or {})}
    curves: dict[tuple[str, str], dict[float, list[float]]] = {}
    for record in records:
        params = dict(record.get("params") or {})
        if record["method"] not in swept or any(k in params for k in CONTROL_KEYS if k != key):
            continue
        x = params.pop(key, default)
        if not finite(x):
            continue
        values = curves.setdefault((record["method"], setting_label(params)), {}).setdefault(float(x), [])
        if finite(record.get(metric)):
            values.append(float(record[metric]))
    out = []
    for (method, setting), by_x in curves.items():
        points = []
        for x in sorted(by_x):
            summary = t_interval(by_x[x])
            if summary["mean"] is not None:
                points.append({"x": x, "n_seeds": summary["n"], "mean": summary["mean"], "ci95": summary["ci95"]})
        if len(points) >= 2:  # a curve: one point is no trend
            out.append({"method": method, "setting": setting, "name": run_name(method, setting), "points": points})
    return out


def label_noise_curves(records: Sequence[Mapping[str, Any]], default_noise: float = 0.0) -> list[dict[str, Any]]:
    """Gold reward against the label-noise rate eps (``control_curves`` of ``preferences.label_noise``)."""
    return control_curves(records, LABEL_NOISE_KEY, default_noise)


def data_size_curves(records: Sequence[Mapping[str, Any]], configured_pairs: float | None) -> list[dict[str, Any]]:
    """Gold reward against the number of preference pairs (``preferences.max_pairs``); the runs at
    the configured number are on the curve where the config names one (not 0, all the pairs)."""
    return control_curves(records, DATA_SIZE_KEY, configured_pairs)
