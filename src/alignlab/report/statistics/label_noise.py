"""Robustness to label noise: gold reward against the fraction of preference labels flipped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from alignlab.report.statistics.intervals import t_interval
from alignlab.report.statistics.records import finite, run_name, setting_label

LABEL_NOISE_KEY = "preferences.label_noise"


def label_noise_curves(records: Sequence[Mapping[str, Any]], default_noise: float = 0.0) -> list[dict[str, Any]]:
    """Gold reward (mean and Student-t 95 % interval over seeds) against the label-noise rate eps,
    per method and setting of its other parameters; only for methods with some record that swept
    ``preferences.label_noise`` (their other records count at ``default_noise``). [] if none did."""
    swept = {r["method"] for r in records if LABEL_NOISE_KEY in (r.get("params") or {})}
    curves: dict[tuple[str, str], dict[float, list[float]]] = {}
    for record in records:
        if record["method"] not in swept:
            continue
        params = dict(record.get("params") or {})
        eps = params.pop(LABEL_NOISE_KEY, default_noise)
        if not finite(eps):
            continue
        values = curves.setdefault((record["method"], setting_label(params)), {}).setdefault(float(eps), [])
        if finite(record.get("gold_reward")):
            values.append(float(record["gold_reward"]))
    out = []
    for (method, setting), by_eps in curves.items():
        points = []
        for eps in sorted(by_eps):
            summary = t_interval(by_eps[eps])
            if summary["mean"] is not None:
                points.append({"eps": eps, "n_seeds": summary["n"], "mean": summary["mean"], "ci95": summary["ci95"]})
        if points:
            out.append({"method": method, "setting": setting, "name": run_name(method, setting), "points": points})
    return out
