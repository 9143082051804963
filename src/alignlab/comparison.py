"""The experiment: every method over its sweep and seeds, evaluated on the same held-out prompts,
then ``metrics.json`` and ``report.html``.

A run directory holds everything::

    config.yaml            the experiment as run
    preferences.jsonl      the pairs every method learns from (sampled once from the base policy)
    reference_logps*.safetensors  the base policy's log-probs of those pairs (shared by DPO runs)
    reward_model/seed-S/   the Bradley-Terry reward model of seed S (PPO, GRPO, RLOO, best-of-n)
    runs/METHOD/SETTING/seed-S/
        model/             the trained policy (save_pretrained)
        logs/              TensorBoard (``tensorboard --logdir RUN_DIR`` shows every run)
        history.json       training curves
        summary.json       training cost and final training metrics
        eval.json          held-out metrics and sample completions
    stages.json            cost of the shared stages (preference sampling, reward models): wall_time_s
                           of the whole stage, peak_mem_mb, and for reward models the training
                           loop's own train_time_s, tokens_per_s, trainable_params
    metrics.json           every result as flat records, plus aggregates over seeds
    report.html            the report

Each finished piece is skipped by ``alignlab compare --resume RUN_DIR``; a half-trained run
continues from its last checkpoint.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from rich.table import Table

from alignlab.config import ExperimentConfig, load_config, save_config
from alignlab.errors import AlignlabError
from alignlab.experiment import EVAL_FILE, STAGES_FILE, Experiment, expand, read_json_if_any
from alignlab.files import write_json
from alignlab.launchers import Launcher, launch, set_threads
from alignlab.log import console, logger
from alignlab.models import load_causal_lm
from alignlab.trainers.outputs import MODEL_DIR, prepare_out_dir


def new_run_dir(config: ExperimentConfig) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(config.output_dir) / f"{config.name}-{stamp}"


def run_comparison(
    config: ExperimentConfig, out_dir: Path | None, resume: bool, launcher: Launcher | None = None
) -> Path:
    """Run (or resume) the experiment of ``config``; returns the run directory."""
    from alignlab.report import print_summary, write_metrics, write_report

    launcher = launcher or Launcher()
    if not config.methods:
        raise AlignlabError("the config lists no methods to compare (methods: [...])")
    run_dir = out_dir or new_run_dir(config)
    if not resume and prepare_out_dir(run_dir, resume=False):
        save_config(config, run_dir / "config.yaml")
    logger.info("run directory: %s", run_dir)
    set_threads(config)
    started = time.perf_counter()
    experiment = Experiment(config, run_dir)
    records = launch(experiment, expand(config), launcher)
    stages = read_json_if_any(run_dir / STAGES_FILE) or experiment.stages
    relevance_note = experiment.evaluator.relevance_note
    write_metrics(run_dir, config, records, stages, time.perf_counter() - started, relevance_note)
    report_path = write_report(run_dir)
    print_summary(run_dir)
    logger.info("report: %s", report_path)
    return run_dir


def evaluate_target(target: Path, config_path: Path | None, overrides: list[str], seed: int) -> None:
    """``alignlab eval``: re-evaluate every run of a comparison directory (rewriting its
    metrics and report), or evaluate one model directory against the base policy."""
    from alignlab.report import print_summary, write_metrics, write_report

    if (target / "config.yaml").is_file() and (target / "runs").is_dir():
        config = load_config(target / "config.yaml", overrides)
        for path in (target / "runs").glob(f"*/*/seed-*/{EVAL_FILE}"):
            path.unlink()
        experiment = Experiment(config, target)
        records = launch(experiment, expand(config), Launcher())
        write_metrics(target, config, records, experiment.stages, None, experiment.evaluator.relevance_note)
        write_report(target)
        print_summary(target)
        return
    model_dir = target / MODEL_DIR if (target / MODEL_DIR / "config.json").is_file() else target
    if not (model_dir / "config.json").is_file():
        raise AlignlabError(f"'{target}' is neither a comparison run directory nor a model directory")
    config = load_config(config_path, overrides)
    evaluator = Experiment(config, model_dir.parent).evaluator
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
