"""What a comparison runs: the points of each method's sweep, and how far each finding's runs
have got while it runs."""

from __future__ import annotations

import json
from pathlib import Path

from alignlab import comparison
from alignlab.config import load_config, to_dict
from alignlab.experiment import RunSpec, expand, sweep_points
from alignlab.layout import setting_label
from alignlab.report.statistics import run_name
from alignlab.report.statistics.findings import side_records

DEFAULT = Path(__file__).resolve().parents[1] / "configs" / "default.yaml"


def config_with(methods: str, *more: str):
    return load_config(DEFAULT, [f"methods={methods}", "seeds=[0, 1]", *more])


def test_a_single_swept_setting_runs_at_its_values_only() -> None:
    config = config_with("[{method: dpo, sweep: {beta: [0.1, 0.5]}}]")
    assert sweep_points(config, config.methods[0]) == [(("beta", 0.1),), (("beta", 0.5),)]
    assert [(r.params, r.seed) for r in expand(config)] == [
        ((("beta", 0.1),), 0),
        ((("beta", 0.1),), 1),
        ((("beta", 0.5),), 0),
        ((("beta", 0.5),), 1),
    ]


def test_several_swept_settings_vary_one_at_a_time_around_the_configured_run() -> None:
    # The configured data size is the preset's; a swept value equal to it is the configured run.
    configured = config_with("[{method: ppo}]").preferences.max_pairs
    config = config_with(f"[{{method: ppo, sweep: {{preferences.max_pairs: [64, {configured}], update_epochs: [1]}}}}]")
    points = sweep_points(config, config.methods[0])
    assert points == [(), (("preferences.max_pairs", 64),), (("update_epochs", 1),)]
    assert len(expand(config)) == len(points) * 2
    # A finding's side at the configured data size reads the configured runs.
    planned = [{"method": r.method, "params": dict(r.params), "seed": r.seed} for r in expand(config)]
    side = {"method": "ppo", "where": {"preferences.max_pairs": configured}}
    assert [r["params"] for r in side_records(planned, side, to_dict(config))] == [{}, {}]


def test_finding_progress_counts_the_runs_each_finding_reads(monkeypatch) -> None:
    findings = (
        "report.findings=[{id: frontier, claim: c, source: s, a: {method: dpo, where: {preferences.label_noise: 0.0}},"
        " b: {method: ppo}},"
        " {id: noise, claim: c, source: s, a: {method: dpo, where: {preferences.label_noise: 0.3}},"
        " b: {method: ppo}}]"
    )
    config = config_with("[{method: dpo, sweep: {preferences.label_noise: [0.0, 0.3]}}, {method: ppo}]", findings)
    runs = expand(config)
    progress = comparison.FindingProgress(config, runs)
    lines = []
    monkeypatch.setattr(comparison.logger, "info", lambda message, *args: lines.append(message % args))
    for run in runs:
        progress.finished(run)
    # Each finding reads one DPO point (no noise, or 0.3) and PPO, two
    # seeds each: four runs, counted as they finish.
    for finding in ("frontier", "noise"):
        assert [line for line in lines if line.startswith(f"finding {finding}:")] == [
            f"finding {finding}: {k} of 4 runs done" for k in range(1, 5)
        ]
    assert RunSpec("dpo", (("preferences.label_noise", 0.3),), 0) not in progress.needs["frontier"]


def test_the_baseline_is_the_centre_of_its_methods_sweep() -> None:
    tuned = {"lr": 0.001}  # the setting tuning chose, in every run of the method
    records = [
        {"method": "dpo", "params": tuned},
        {"method": "dpo", "params": tuned | {"beta": 0.5}},
        {"method": "dpo", "params": tuned | {"preferences.max_pairs": 64}},
    ]
    config = config_with("[{method: dpo, sweep: {beta: [0.5], preferences.max_pairs: [64]}}]", "report.baseline=dpo")
    assert comparison.baseline_name(config, records) == run_name("dpo", setting_label(tuned))
    # Only the points of one swept setting ran: no run is the configured one.
    config = config_with("[{method: dpo, sweep: {beta: [0.1, 0.5]}}]", "report.baseline=dpo")
    records = [{"method": "dpo", "params": {"beta": beta}} for beta in (0.1, 0.5)]
    assert comparison.baseline_name(config, records) == "dpo"


def test_the_statistics_know_the_configs_experiment_controls() -> None:
    from alignlab.config.experiment import EXPERIMENT_CONTROLS
    from alignlab.report.statistics.controls import CONTROL_KEYS

    assert CONTROL_KEYS == EXPERIMENT_CONTROLS


def test_a_resumed_comparison_counts_the_time_of_its_earlier_sittings(tmp_path) -> None:
    path = tmp_path / "sittings.json"
    path.write_text(json.dumps([{"started": "2026-01-01T00:00:00", "time_s": 100.0}]))
    total, count = comparison.Sittings(path, resume=True).record()
    assert count == 2 and 100.0 <= total < 110.0
    assert [s["time_s"] for s in json.loads(path.read_text())][0] == 100.0
    # A fresh comparison in the same place starts the count again.
    total, count = comparison.Sittings(path, resume=False).record()
    assert count == 1 and total < 10.0 and len(json.loads(path.read_text())) == 1
