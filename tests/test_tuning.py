"""The tuning protocol: the same number of trials for every trained method over its declared
search space, its preset's setting first; the choice made on validation records only, and the
reported runs retrained at the chosen setting on fresh seeds and evaluated on test prompts."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from alignlab.config import load_config
from alignlab.config.methods import METHODS
from alignlab.errors import ConfigError
from alignlab.experiment import RunSpec, tuning_trials
from alignlab.tuning import TrialResult, choose, search_bounds, trial_settings

REPO = Path(__file__).resolve().parents[1]
STUDY = REPO / "configs" / "study.yaml"


def study(*overrides: str):
    return load_config(STUDY, list(overrides))


def test_every_trained_method_gets_the_same_trials_its_preset_first() -> None:
    config = study()
    trials = tuning_trials(config)
    tuned = [spec.method for spec in config.methods if METHODS[spec.method].search]
    assert "best-of-n" not in tuned and len(tuned) == 9
    for method in tuned:
        own = [run for run in trials if run.method == method]
        assert len(own) == config.tuning.trials * len(config.tuning.seeds)
        assert {run.split for run in own} == {"validation"} and {run.seed for run in own} == {1000, 1001}
    dpo = trial_settings(config, "dpo")
    assert dict(dpo[0]) == {"beta": 0.1, "lr": 5e-4}  # the preset's setting (lr from study.yaml)
    bounds = search_bounds(config, "dpo")
    # The learning rate's range is relative to the preset's (5e-4 / 3 to 5e-4 x 3); beta's is the paper's.
    assert bounds["lr"] == pytest.approx((5e-4 / 3, 1.5e-3)) and bounds["beta"] == (0.05, 0.5)
    for params in dpo[1:]:
        for key, value in params:
            assert bounds[key][0] * 0.995 <= value <= bounds[key][1] * 1.005


def test_trials_are_seeded_and_a_method_does_not_move_another() -> None:
    config = study()
    assert trial_settings(config, "ppo") == trial_settings(study(), "ppo")
    assert trial_settings(config, "ppo") != trial_settings(study("tuning.sampler_seed=1"), "ppo")
    fewer = study("methods=[{method: ppo}, {method: dpo}]")
    assert trial_settings(fewer, "ppo") == trial_settings(config, "ppo")


def test_a_grid_is_the_centre_then_the_corners() -> None:
    config = study("tuning.sampler=grid", "tuning.trials=3")
    (first, centre, corner) = trial_settings(config, "dpo")
    assert dict(centre)["beta"] == pytest.approx((0.05 * 0.5) ** 0.5, rel=1e-2)
    assert dict(corner)["beta"] == 0.05 and dict(corner)["lr"] == pytest.approx(5e-4 / 3, rel=1e-2)
    with pytest.raises(ConfigError, match="grid over 2 settings has 6 trials at most"):
        trial_settings(study("tuning.sampler=grid", "tuning.trials=7"), "dpo")


def test_the_choice_is_the_best_validation_gold_within_the_kl_cap() -> None:
    results = [
        TrialResult((("beta", 0.1),), 0.30, 5.0, 2),
        TrialResult((("beta", 0.2),), 0.45, 9.0, 2),
        TrialResult((("beta", 0.4),), 0.40, 3.0, 2),
    ]
    assert choose(results, None).params == (("beta", 0.2),)
    assert choose(results, 6.0).params == (("beta", 0.4),)
    # A cap no trial meets: the best of all, rather than nothing.
    assert choose(results, 1.0).params == (("beta", 0.2),)


class FakeExperiment:
    """What ``run_all`` reads of an experiment, without models."""

    def __init__(self, config) -> None:
        self.config = config
        self.evaluator = SimpleNamespace(release_reference=lambda: None)

    def prepare_shared(self, runs) -> None:
        pass

    def base_record(self, seed: int) -> dict:
        return {"method": "base", "params": {}, "seed": seed, "gold_reward": 0.0}


def test_the_choice_reads_validation_records_only_and_the_reported_runs_are_fresh(monkeypatch) -> None:
    """By construction: every trial is placed (and judged) before any reported run, on validation
    prompts and the search's seeds; the setting chosen is the best validation mean; the reported
    runs of a tuned method are that setting on the config's own seeds, on test prompts. The test
    records (a far higher gold reward here) are made after the choice and never read by it."""
    from alignlab import comparison

    config = study("methods=[{method: dpo}, {method: ppo}, {method: best-of-n, sweep: {n: [4]}}]")
    settings = trial_settings(config, "dpo")
    validation_gold = {params: 0.1 * ((3 * i) % 4) for i, params in enumerate(settings)}
    placed: list[list[RunSpec]] = []

    def place(experiment, runs, launcher, advance) -> list[dict]:
        placed.append(list(runs))
        return [
            {
                "method": run.method,
                "params": dict(run.params),
                "seed": run.seed,
                "gold_reward": 9.9 if run.split == "test" else validation_gold.get(run.params, 0.0),
            }
            for run in runs
        ]

    monkeypatch.setattr(comparison, "place", place)
    outcome = comparison.run_all(FakeExperiment(config), comparison.Launcher())
    trials, reported = placed
    assert {run.split for run in trials} == {"validation"} and {run.seed for run in trials} == {1000, 1001}
    assert {run.split for run in reported} == {"test"} and {run.seed for run in reported} == set(config.seeds)
    best = max(validation_gold, key=validation_gold.get)
    assert outcome.tuning["methods"]["dpo"]["chosen"] == dict(best)
    assert {run.params for run in reported if run.method == "dpo"} == {best}
    assert RunSpec("best-of-n", (("n", 4),), 0) in reported  # untuned: as configured
    assert outcome.tuning["methods"]["dpo"]["moved_by"] == pytest.approx(
        validation_gold[best] - validation_gold[settings[0]]
    )


def test_tuning_settings_that_cannot_work_are_refused() -> None:
    with pytest.raises(ConfigError, match="task.num_validation_prompts"):
        study("task.num_validation_prompts=0")
    with pytest.raises(ConfigError, match="tuning.seeds"):
        study("tuning.seeds=[0]")
    with pytest.raises(ConfigError, match="beta is tuned"):
        study("methods=[{method: dpo, sweep: {beta: [0.1, 0.2]}}]")
    with pytest.raises(ConfigError, match="leave iterations to it"):
        study("methods=[{method: ppo, overrides: {iterations: 3}}]")
