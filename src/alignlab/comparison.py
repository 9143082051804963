"""The experiment, in the order it runs: the stages every run shares, the base policy, every
method over its sweep and seeds (placed by a launcher), evaluated on the same held-out prompts,
then ``metrics.json`` and ``report.html``. The directory it fills is laid out in ``layout.py``;
stages.json records the cost of the shared stages (preference sampling, SFT, reward models:
wall_time_s of the whole stage, peak_mem_mb, and for reward models the training loop's own
train_time_s, tokens_per_s, trainable_params).

Each finished piece is skipped by ``alignlab compare --resume RUN_DIR``; a half-trained run
continues from its last checkpoint.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.table import Table

from alignlab.config import ExperimentConfig, load_config, save_config, to_dict
from alignlab.errors import AlignlabError
from alignlab.experiment import Experiment, RunSpec, expand, read_json_if_any, tuning_trials
from alignlab.files import write_json
from alignlab.launchers import Launcher, place, set_threads
from alignlab.layout import EVAL_FILE, ComparisonDir, TrainingDir, setting_label
from alignlab.log import console, logger
from alignlab.models import load_causal_lm
from alignlab.progress import progress_task
from alignlab.report.statistics import run_name
from alignlab.report.statistics.findings import runs_of_finding
from alignlab.trainers.outputs import prepare_out_dir
from alignlab.tuning import chosen_settings, search_summary


def new_run_dir(config: ExperimentConfig) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(config.output_dir) / f"{config.name}-{stamp}"


@dataclass
class Outcome:
    """A comparison's records (the base policy's first) and its tuning search (None without)."""

    records: list[dict[str, Any]]
    tuning: dict[str, Any] | None


class FindingProgress:
    """A log line per finding (``report.findings``) as its runs finish: how many of the runs its
    test reads are done."""

    def __init__(self, config: ExperimentConfig, runs: list[RunSpec]) -> None:
        config_dict = to_dict(config)
        planned = [{"method": r.method, "params": dict(r.params), "seed": r.seed, "run": r} for r in runs]
        self.needs = {
            finding["id"]: {r["run"] for r in runs_of_finding(finding, planned, config_dict)}
            for finding in config_dict["report"]["findings"]
        }
        self.done: set[RunSpec] = set()

    def finished(self, run: RunSpec) -> None:
        self.done.add(run)
        for finding, needed in self.needs.items():
            if run in needed:
                logger.info("finding %s: %d of %d runs done", finding, len(needed & self.done), len(needed))


class Sittings:
    """A comparison's wall time over its sittings. A resumed comparison adds its own sitting to
    the earlier ones in ``sittings.json``; the file is rewritten as each piece finishes, so a
    killed sitting counts up to its last finished piece."""

    def __init__(self, path: Path, resume: bool) -> None:
        self.path = path
        self.earlier: list[dict[str, Any]] = (read_json_if_any(path) or []) if resume else []
        self.started_at = datetime.now().isoformat(timespec="seconds")
        self.started = time.perf_counter()

    def record(self) -> tuple[float, int]:
        """Write the sittings so far; returns their total wall time (seconds) and their number."""
        sittings = [*self.earlier, {"started": self.started_at, "time_s": time.perf_counter() - self.started}]
        write_json(self.path, sittings)
        return sum(s["time_s"] for s in sittings), len(sittings)


def run_all(experiment: Experiment, launcher: Launcher, on_piece: Callable[[], object] = lambda: None) -> Outcome:
    """The comparison's stages in order: what runs share (pairs, SFT start, reward models,
    reference log-probs), the base policy's records, the tuning search on validation prompts (if
    any), then every reported run at its setting, wherever the launcher places it. ``on_piece``
    is called after each finished piece (the shared stages, each base record, each run)."""
    config = experiment.config
    trials, runs, seeds = tuning_trials(config), expand(config), config.seeds
    with progress_task("comparison", len(trials) + len(runs) + len(seeds)) as advance:
        experiment.prepare_shared(trials + runs)
        on_piece()
        records = []
        for seed in seeds:
            records.append(experiment.base_record(seed))
            advance(1)
            on_piece()
        experiment.evaluator.release_reference()

        def show_progress(run: RunSpec, record: dict[str, Any]) -> None:
            advance(1, last=f"{run.method} gold={record['gold_reward']:.3f}")
            on_piece()

        search = None
        if trials:
            search = search_summary(config, place(experiment, trials, launcher, show_progress))
            runs = expand(config, chosen_settings(search))
        findings = FindingProgress(config, runs)

        def run_done(run: RunSpec, record: dict[str, Any]) -> None:
            show_progress(run, record)
            findings.finished(run)

        return Outcome(records + place(experiment, runs, launcher, run_done), search)


def baseline_name(config: ExperimentConfig, records: list[dict[str, Any]]) -> str:
    """The run the report compares every method with: ``report.baseline``'s setting when it ran
    at one (configured, or chosen by tuning on validation prompts), or the centre of its sweep of
    several settings (the runs that vary none of them); the method's name when it ran only at the
    points of one swept setting (the report then takes its best on the reported data, and says so)."""
    method = config.report.baseline
    swept = {key for spec in config.methods if spec.method == method for key in spec.sweep}
    runs = [r for r in records if r["method"] == method]
    centre = [r for r in runs if not swept & set(r["params"])]
    settings = {setting_label(r["params"]) for r in (centre or runs)}
    return run_name(method, settings.pop()) if len(settings) == 1 else method


def finish(experiment: Experiment, outcome: Outcome, total_time_s: float | None, sittings: int = 1) -> None:
    """metrics.json and report.html of a finished comparison, and the summary table;
    ``total_time_s`` is the wall time over all ``sittings``."""
    from alignlab.report import print_summary, write_metrics, write_report

    directory, records = experiment.dir, outcome.records
    stages = read_json_if_any(directory.stages) or experiment.stages
    relevance_note = experiment.evaluator.relevance_note
    baseline = baseline_name(experiment.config, records)
    write_metrics(
        directory.path,
        experiment.config,
        records,
        stages,
        total_time_s,
        relevance_note,
        baseline,
        outcome.tuning,
        sittings,
    )
    report_path = write_report(directory.path)
    print_summary(directory.path)
    logger.info("report: %s", report_path)


def run_comparison(
    config: ExperimentConfig, out_dir: Path | None, resume: bool, launcher: Launcher | None = None
) -> Path:
    """Run (or resume) the experiment of ``config``; returns the run directory."""
    launcher = launcher or Launcher()
    if not config.methods:
        raise AlignlabError("the config lists no methods to compare (methods: [...])")
    launcher.check_splits(config, tuning_trials(config) + expand(config))
    directory = ComparisonDir(out_dir or new_run_dir(config))
    if not resume and prepare_out_dir(directory.path, resume=False):
        save_config(config, directory.config)
    logger.info("run directory: %s", directory.path)
    set_threads(config)
    sittings = Sittings(directory.sittings, resume)
    experiment = Experiment(config, directory)
    outcome = run_all(experiment, launcher, sittings.record)
    finish(experiment, outcome, *sittings.record())
    return directory.path


def evaluate_target(target: Path, config_path: Path | None, overrides: list[str], seed: int) -> None:
    """``alignlab eval``: re-evaluate every run of a comparison directory (rewriting its
    metrics and report), or evaluate one model directory against the base policy."""
    comparison = ComparisonDir(target)
    if comparison.is_comparison():
        config = load_config(comparison.config, overrides)
        for path in comparison.run_evaluations():
            path.unlink()
        experiment = Experiment(config, comparison)
        finish(experiment, run_all(experiment, Launcher()), None)
        return
    run = TrainingDir(target)
    model_dir = run.model if (run.model / "config.json").is_file() else target
    if not (model_dir / "config.json").is_file():
        raise AlignlabError(f"'{target}' is neither a comparison run directory nor a model directory")
    config = load_config(config_path, overrides)
    evaluator = Experiment(config, ComparisonDir(model_dir.parent)).evaluator
    model = load_causal_lm(config.model, evaluator.device, str(model_dir), trainable=False)
    metrics = evaluator.evaluate_policy(model, seed)
    base = evaluator.evaluate_policy(evaluator.reference, seed)
    write_json(model_dir.parent / EVAL_FILE, {"model": str(model_dir), "seed": seed, **metrics})
    table = Table(title=f"held-out evaluation of {model_dir} (seed {seed})")
    for column in ("metric", "model", "base"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for key, value in metrics.items():
        if isinstance(value, float):
            table.add_row(key, f"{value:.4g}", f"{base[key]:.4g}")
    console.print(table)
