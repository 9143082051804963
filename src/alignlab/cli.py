"""The ``alignlab`` command line.

Only typer, rich and the config schema are imported up front, so that ``--help``, ``config show``
and every refusal of bad input answer at once; each command imports the model libraries it
needs after its input has been checked.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from alignlab.config import (
    BaseBuildConfig,
    ExperimentConfig,
    default_config_path,
    load_config,
    method_config,
    parse_overrides,
    save_config,
    to_dict,
    with_settings,
)
from alignlab.config.methods import METHODS, TRAINABLE
from alignlab.errors import AlignlabError
from alignlab.log import console, logger, setup_logging

app = typer.Typer(
    help="Train and compare LLM alignment algorithms (DPO family, KTO, PPO-RLHF, GRPO family, RLOO, "
    "REINFORCE++, online DPO, best-of-n).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
base_app = typer.Typer(help="The embedded base model.", no_args_is_help=True)
data_app = typer.Typer(help="Preference data.", no_args_is_help=True)
config_app = typer.Typer(help="Settings: their help, and resolved configs.", no_args_is_help=True)
app.add_typer(base_app, name="base")
app.add_typer(data_app, name="data")
app.add_typer(config_app, name="config")

ConfigArg = typer.Option(None, "--config", "-c", help="Experiment YAML (default: configs/default.yaml).")
SetOpt = typer.Option(None, "--set", "-s", help="Override a setting, e.g. --set dpo.beta=0.5 (repeatable).")


def _load(config_path: Optional[Path], overrides: Optional[list[str]]) -> ExperimentConfig:
    return load_config(config_path or default_config_path(), overrides or [])


# --------------------------------------------------------------------------------------------
# base, data
# --------------------------------------------------------------------------------------------


@base_app.command("build")
def base_build(
    name: str = typer.Option("embedded", "--name", help="Which embedded model: embedded (English) or embedded-zh."),
    out: Path = typer.Option(None, "--out", help="Where to write the model (default: the package's assets)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Build settings YAML (default: NAME's)."),
    overrides: Optional[list[str]] = SetOpt,
) -> None:
    """Generate the corpus, train the tokenizer and pretrain an embedded base model."""
    from alignlab.base import ASSETS_DIR, EMBEDDED_MODELS

    if name not in EMBEDDED_MODELS:
        raise AlignlabError(f"--name: unknown embedded model '{name}'; known: {', '.join(EMBEDDED_MODELS)}")
    if config is not None:
        build_config = load_config(config, overrides or [], cls=BaseBuildConfig)
    else:
        build_config = with_settings(EMBEDDED_MODELS[name], parse_overrides(overrides or []), f"--name {name}")
    from alignlab.base.pretrain import build_base_model

    target = out or ASSETS_DIR / name
    report = build_base_model(build_config, target)
    logger.info("built %s: %.2fM parameters in %.0f s", target, report["parameters"] / 1e6, report["build_time_s"])
    for language, figures in report["heldout"].items():
        logger.info("held-out %s: %s", language, {k: round(v, 3) for k, v in figures.items()})
    for row in report["samples"]:
        console.print(f"[bold]{row['prompt']}[/bold]{row['completion']}", highlight=False)


@data_app.command("prefs")
def data_prefs(
    out: Path = typer.Option(..., "--out", help="Preference JSONL to write."),
    config: Optional[Path] = ConfigArg,
    overrides: Optional[list[str]] = SetOpt,
) -> None:
    """Sample completions from the base policy and label pairs with the task's gold reward
    (the same pairs `alignlab compare` makes; another draw: --set task.split_seed=N)."""
    from alignlab.pipeline import make_preference_file

    cfg = _load(config, overrides)
    pairs = make_preference_file(cfg, out)
    logger.info("wrote %d preference pairs to %s", len(pairs), out)


# --------------------------------------------------------------------------------------------
# train
# --------------------------------------------------------------------------------------------

OutOpt = typer.Option(..., "--out", help="Run directory (model, checkpoints, logs).")
ResumeOpt = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint.")
SeedOpt = typer.Option(0, "--seed", help="Seed of everything in the run.")
InitOpt = typer.Option(None, "--init", help="Start from this model instead of the configured base.")
DataOpt = typer.Option(None, "--data", help="Preference JSONL (default: the task's own preferences).")
RewardModelOpt = typer.Option(None, "--reward-model", help="Reward model directory (from `alignlab train rm`).")


def _differing_keys(saved: object, given: object, prefix: str = "") -> list[str]:
    """The dotted keys whose values differ between two config dicts."""
    if isinstance(saved, dict) and isinstance(given, dict):
        keys = sorted(set(saved) | set(given))
        return [d for k in keys for d in _differing_keys(saved.get(k), given.get(k), f"{prefix}{k}.")]
    return [] if saved == given else [prefix.rstrip(".")]


def _resumed_config(
    out: Path, overrides: Optional[list[str]], given_path: Optional[Path], given: Optional[ExperimentConfig]
) -> ExperimentConfig:
    """The config saved in ``out`` (with ``--set``), which a resumed run continues with. A config
    file given beside ``--resume`` must say the same: silently ignoring an edited file would
    resume a different experiment than the user asked for."""
    saved_path = out / "config.yaml"
    if not saved_path.is_file():
        raise AlignlabError(f"--resume: '{out}' holds no run (no config.yaml)")
    saved = load_config(saved_path, overrides or [])
    if given is not None:
        differing = _differing_keys(to_dict(saved), to_dict(given))
        if differing:
            shown = ", ".join(differing[:6]) + (f" and {len(differing) - 6} more" if len(differing) > 6 else "")
            raise AlignlabError(
                f"--resume: {given_path} differs from the config '{out}' was started with ({shown}); "
                "resume without the config file (the run's own is used), or start a new run"
            )
    return saved


def _start_run(out: Path, cfg: ExperimentConfig, resume: bool) -> None:
    """Create the run directory and save the config, once the inputs have been validated."""
    from alignlab.trainers.outputs import prepare_out_dir

    if not resume and prepare_out_dir(out, resume=False):
        save_config(cfg, out / "config.yaml")


@app.command("train")
def train(
    method: str = typer.Argument(
        ..., help="sft, rm, or a method: " + ", ".join(m for m in TRAINABLE if m not in ("sft", "rm"))
    ),
    out: Path = OutOpt,
    config: Optional[Path] = ConfigArg,
    resume: bool = ResumeOpt,
    data: Optional[Path] = DataOpt,
    seed: int = SeedOpt,
    init: Optional[str] = InitOpt,
    reward_model: Optional[str] = RewardModelOpt,
    overrides: Optional[list[str]] = SetOpt,
) -> None:
    """Train one method: on preference pairs (sft, rm, the DPO family, kto) or online on the
    task's prompts (ppo, the GRPO family, rloo, reinforce++, online-dpo)."""
    if method not in TRAINABLE:
        raise AlignlabError(f"unknown method '{method}'; known: {', '.join(TRAINABLE)}")
    if reward_model is not None and Path(reward_model).exists() and not (Path(reward_model) / "config.json").is_file():
        raise AlignlabError(f"--reward-model: '{reward_model}' is not a model directory (no config.json)")
    # The method's own settings (e.g. ppo-gt's reward source) and budget, then the user's --set
    # of its section on top (and into the budget's arithmetic: a batch size set here counts).
    section = METHODS[method].section
    given = None
    if config is not None or not resume:
        given = method_config(_load(config, overrides), method, parse_overrides(overrides or []).get(section, {}))
    cfg = _resumed_config(out, overrides, config, given) if resume else given
    from alignlab.api import training_inputs
    from alignlab.layout import TrainingDir
    from alignlab.trainers import train as train_method

    # Read the inputs first: bad data fails before the run directory exists.
    inputs = training_inputs(method, cfg, seed=seed, data=data, reward_model=reward_model, init=init)
    _start_run(out, cfg, resume)
    summary = train_method(inputs, TrainingDir(out, resume))
    final = summary.get("final_eval") or summary.get("final") or {}
    shown = {k: round(v, 4) for k, v in final.items() if isinstance(v, float) and not k.startswith("time/")}
    logger.info("%s done: %s", method, shown)


# --------------------------------------------------------------------------------------------
# config
# --------------------------------------------------------------------------------------------


@config_app.command("show")
def config_show(
    section: Optional[str] = typer.Argument(None, help="Only this section (e.g. dpo, ppo.kl_coef's section ppo)."),
    config: Optional[Path] = typer.Argument(None, help="Experiment YAML (default: configs/default.yaml)."),
    overrides: Optional[list[str]] = SetOpt,
) -> None:
    """Every setting with its type, default, current value and help text."""
    from alignlab.config import describe

    cfg = _load(config, overrides)
    rows = [row for row in describe(cfg) if section is None or row.key == section or row.key.startswith(section + ".")]
    if not rows:
        raise AlignlabError(f"no section or setting '{section}'; sections: {', '.join(cfg.__dataclass_fields__)}")
    for row in rows:
        changed = "" if row.value == row.default else f"  [yellow](default {escape(repr(row.default))})[/yellow]"
        console.print(
            f"[bold]{row.key}[/bold] ({escape(row.type)}) = {escape(repr(row.value))}{changed}", highlight=False
        )
        if row.help:
            console.print(f"    {escape(row.help)}", highlight=False, soft_wrap=True)


@config_app.command("dump")
def config_dump(
    config: Optional[Path] = typer.Argument(None, help="Experiment YAML (default: configs/default.yaml)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write here instead of printing."),
    overrides: Optional[list[str]] = SetOpt,
) -> None:
    """The fully resolved config as YAML (every setting, defaults filled in)."""
    from alignlab.config import dump_config

    text = dump_config(_load(config, overrides))
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        logger.info("wrote %s", out)


# --------------------------------------------------------------------------------------------
# compare, eval, report
# --------------------------------------------------------------------------------------------


@app.command()
def compare(
    config: Optional[Path] = typer.Argument(None, help="Experiment YAML (default: configs/default.yaml)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run directory (default: runs/<name>-<timestamp>)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the comparison in --out where it stopped."),
    launcher: str = typer.Option("serial", "--launcher", help="serial (one run after another) or ray."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster: auto or ray://HOST:PORT."),
    max_parallel: int = typer.Option(0, "--max-parallel", help="Ray: runs at once (0 = as resources allow)."),
    cpus_per_run: int = typer.Option(
        1, "--cpus-per-run", help="Ray: CPU cores (and torch threads) of each process of a run."
    ),
    gpus_per_run: float = typer.Option(
        0.0, "--gpus-per-run", help="Ray: GPUs per run, over its processes (fractions share one)."
    ),
    workers_per_run: int = typer.Option(
        1,
        "--workers-per-run",
        help="Ray: processes per run (Ray Train, data-parallel over the same global batches; gloo on CPU, "
        "NCCL on GPU: then one GPU each at least). 1 = one Ray task per run.",
    ),
    overrides: Optional[list[str]] = SetOpt,
) -> None:
    """Run the whole experiment: every method over its sweep and seeds, then evaluation and report."""
    if launcher not in ("serial", "ray"):
        raise AlignlabError(f"--launcher: unknown launcher '{launcher}'; known: serial, ray")
    if resume:
        if out is None:
            raise AlignlabError("--resume needs --out RUN_DIR (the comparison to continue)")
        cfg = _resumed_config(out, overrides, config, _load(config, overrides) if config else None)
    else:
        cfg = _load(config, overrides)
    from alignlab.comparison import run_comparison
    from alignlab.launchers import Launcher

    placement = Launcher(launcher, address, max_parallel, cpus_per_run, gpus_per_run, workers_per_run)
    run_comparison(cfg, out, resume, placement)


@app.command("eval")
def eval_cmd(
    target: Path = typer.Argument(..., help="A comparison run directory, or a model directory."),
    config: Optional[Path] = ConfigArg,
    seed: int = SeedOpt,
    overrides: Optional[list[str]] = SetOpt,
) -> None:
    """Evaluate a model (or every model of a run) on the task's held-out prompts."""
    from alignlab.comparison import evaluate_target

    evaluate_target(target, config or default_config_path(), overrides or [], seed)


@app.command()
def report(run_dir: Path = typer.Argument(..., help="A finished comparison run directory.")) -> None:
    """Rebuild report.html from a run's metrics.json and histories."""
    from alignlab.report import write_report

    path = write_report(run_dir)
    logger.info("wrote %s", path)


def main() -> None:
    setup_logging()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # alignlab shows its own progress; the libraries' bars and load reports would interleave.
    # Said through their environment variables, read when (and only if) a command imports them.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    try:
        app()
    except AlignlabError as err:
        console.print(f"[bold red]error:[/bold red] {escape(str(err))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]; `--resume` continues from the last checkpoint")
        sys.exit(130)
