"""Equal tuning budgets: every trained method gets the same number of trials over its declared
search space (the registry's ``Method.search``: the learning rate and the method's main
coefficient), each trial trained on the search's seeds and judged on the validation prompts; the
best setting is then retrained on fresh seeds and reported on the test prompts, which no choice
has seen.

The first trial of every method is its configured setting (so the report can say how much the
search moved it); the others come from Optuna's seeded quasi-Monte Carlo sampler (Sobol points
over the log-scaled ranges: with a handful of trials an adaptive sampler has nothing to adapt
to yet, and every trial is known in advance, so the launcher can run them in parallel) or from
a grid (the centre, then the corners).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from alignlab.config import ExperimentConfig, method_config
from alignlab.config.methods import METHODS
from alignlab.errors import ConfigError
from alignlab.layout import setting_label

Params = tuple[tuple[str, Any], ...]


def tuned_methods(config: ExperimentConfig) -> list[str]:
    """The methods of the comparison that a search tunes (none when ``tuning.trials`` is 0)."""
    if not config.tuning.trials:
        return []
    return [spec.method for spec in config.methods if METHODS[spec.method].search]


def search_bounds(config: ExperimentConfig, method: str) -> dict[str, tuple[float, float]]:
    """``method``'s search space as absolute ``[low, high]`` ranges: a relative range (the learning
    rate's) is taken around the value the method is configured with (preset and overrides)."""
    spec = next(s for s in config.methods if s.method == method)
    section = getattr(method_config(config, method, spec.overrides), METHODS[method].section)
    return {key: bounds.bounds(getattr(section, key)) for key, bounds in METHODS[method].search.items()}


def configured_setting(config: ExperimentConfig, method: str) -> dict[str, float]:
    """The values of ``method``'s searched settings as configured: its first trial."""
    spec = next(s for s in config.methods if s.method == method)
    section = getattr(method_config(config, method, spec.overrides), METHODS[method].section)
    return {key: float(getattr(section, key)) for key in METHODS[method].search}


def round_value(value: float) -> float:
    """Three significant digits: readable settings, and a grid point read back the same."""
    return float(f"{value:.3g}")


def sampled_points(bounds: Mapping[str, tuple[float, float]], count: int, sampler: str, seed: int) -> list[dict]:
    """``count`` points of the box ``bounds`` (log scale), by ``sampler``: qmc (Optuna's scrambled
    Sobol sequence, seeded) or grid (the centre, then the corners, at most 1 + 2^dims)."""
    keys = sorted(bounds)
    if sampler == "grid":
        centre = {k: math.sqrt(bounds[k][0] * bounds[k][1]) for k in keys}
        corners = [dict(zip(keys, corner)) for corner in itertools.product(*(bounds[k] for k in keys))]
        points = [centre, *corners]
        if count > len(points):
            raise ConfigError(f"tuning.trials: a grid over {len(keys)} settings has {len(points) + 1} trials at most")
        return points[:count]
    import optuna
    from optuna.distributions import FloatDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study = optuna.create_study(sampler=optuna.samplers.QMCSampler(qmc_type="sobol", scramble=True, seed=seed))
        distributions = {k: FloatDistribution(*bounds[k], log=True) for k in keys}
        return [study.ask(distributions).params for _ in range(count)]


def trial_settings(config: ExperimentConfig, method: str) -> list[Params]:
    """The ``tuning.trials`` settings of ``method``: its configured one, then sampled ones
    (rounded; a sampled point equal to an earlier one after rounding is not tried twice)."""
    tuning = config.tuning
    first = configured_setting(config, method)
    settings = [tuple(sorted((k, round_value(v)) for k, v in first.items()))]
    # The sampler's stream is the method's own: adding a method does not move another's trials.
    seed = tuning.sampler_seed * 1_000_003 + sum(method.encode())
    for point in sampled_points(search_bounds(config, method), tuning.trials - 1, tuning.sampler, seed):
        params = tuple(sorted((k, round_value(v)) for k, v in point.items()))
        if params not in settings:
            settings.append(params)
    return settings


@dataclass(frozen=True)
class TrialResult:
    """One trial's validation figures, means over the search's seeds."""

    params: Params
    gold_reward: float
    kl: float | None
    seeds: int

    @property
    def setting(self) -> str:
        return setting_label(dict(self.params))


def trial_results(records: Sequence[Mapping[str, Any]], method: str) -> list[TrialResult]:
    """The validation results of ``method``'s trials from their records, in trial order."""
    by_setting: dict[Params, list[Mapping[str, Any]]] = {}
    for record in records:
        if record["method"] == method:
            by_setting.setdefault(tuple(sorted(record["params"].items())), []).append(record)

    def mean(values: list[Any]) -> float | None:
        finite = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
        return sum(finite) / len(finite) if finite else None

    return [
        TrialResult(params, mean([r["gold_reward"] for r in group]), mean([r.get("kl") for r in group]), len(group))
        for params, group in by_setting.items()
    ]


def choose(results: Sequence[TrialResult], kl_cap: float | None) -> TrialResult:
    """The trial with the highest validation gold reward (among those within ``kl_cap``, when
    one is set and any trial is within it)."""
    allowed = [r for r in results if kl_cap is None or (r.kl is not None and r.kl <= kl_cap)]
    return max(allowed or results, key=lambda r: r.gold_reward)


def search_summary(config: ExperimentConfig, records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What ``metrics.json`` keeps of the search: per tuned method its space (with sources), its
    trials' validation results, the configured and the chosen setting, and how far the search
    moved the validation gold reward (chosen minus configured)."""
    methods: dict[str, Any] = {}
    for method in tuned_methods(config):
        results = trial_results(records, method)
        chosen, first = choose(results, config.tuning.kl_cap), results[0]
        methods[method] = {
            "space": {
                key: {"low": low, "high": high, "source": METHODS[method].search[key].source}
                for key, (low, high) in search_bounds(config, method).items()
            },
            "trials": [
                {
                    "params": dict(r.params),
                    "setting": r.setting,
                    "gold_reward": r.gold_reward,
                    "kl": r.kl,
                    "seeds": r.seeds,
                }
                for r in results
            ],
            "configured": dict(first.params),
            "chosen": dict(chosen.params),
            "moved_by": chosen.gold_reward - first.gold_reward,
        }
    return {
        "trials": config.tuning.trials,
        "seeds": list(config.tuning.seeds),
        "sampler": config.tuning.sampler,
        "kl_cap": config.tuning.kl_cap,
        "split": "validation",
        "validation_prompts": config.task.num_validation_prompts,
        "methods": methods,
    }


def chosen_settings(summary: Mapping[str, Any]) -> dict[str, Params]:
    """Method -> the setting the search chose (for the reported runs)."""
    return {method: tuple(sorted(entry["chosen"].items())) for method, entry in summary["methods"].items()}
