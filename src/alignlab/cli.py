"""The ``alignlab`` command line."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from alignlab.config import BaseBuildConfig, ExperimentConfig, load_config, save_config
from alignlab.errors import AlignlabError
from alignlab.log import console, logger, setup_logging

app = typer.Typer(
    help="Train and compare LLM alignment algorithms (DPO family, PPO-RLHF, GRPO, RLOO).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
base_app = typer.Typer(help="The embedded base model.", no_args_is_help=True)
data_app = typer.Typer(help="Preference data.", no_args_is_help=True)
train_app = typer.Typer(help="Train one method.", no_args_is_help=True)
app.add_typer(base_app, name="base")
app.add_typer(data_app, name="data")
app.add_typer(train_app, name="train")

ConfigArg = typer.Option(None, "--config", "-c", help="Experiment YAML (default: configs/default.yaml).")
SetOpt = typer.Option(None, "--set", "-s", help="Override a setting, e.g. --set dpo.beta=0.5 (repeatable).")


def default_config_path() -> Path | None:
    """``configs/default.yaml`` of the working directory, else of the source checkout alignlab is
    installed from; None (the dataclass defaults) if neither exists."""
    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (root / "configs" / "default.yaml").is_file():
            return root / "configs" / "default.yaml"
    return None


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
    from alignlab.base.pretrain import build_base_model
    from alignlab.config import with_settings

    if name not in EMBEDDED_MODELS:
        raise AlignlabError(f"--name: unknown embedded model '{name}'; known: {', '.join(EMBEDDED_MODELS)}")
    if config is not None:
        build_config = load_config(config, overrides or [], cls=BaseBuildConfig)
    else:
        from alignlab.config import parse_overrides

        build_config = with_settings(EMBEDDED_MODELS[name], parse_overrides(overrides or []), f"--name {name}")
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


def _run_config(out: Path, resume: bool, config: Optional[Path], overrides: Optional[list[str]]) -> ExperimentConfig:
    """The run's config: the one saved in ``out`` when resuming, else the given one."""
    if resume:
        saved = out / "config.yaml"
        if not saved.is_file():
            raise AlignlabError(f"--resume: '{out}' holds no run (no config.yaml)")
        return load_config(saved, overrides or [])
    return _load(config, overrides)


def _start_run(out: Path, cfg: ExperimentConfig, resume: bool) -> None:
    """Create the run directory and save the config, once the inputs have been validated."""
    from alignlab.trainers.common import prepare_out_dir

    if not resume:
        prepare_out_dir(out, resume=False)
        save_config(cfg, out / "config.yaml")


def _train_offline(method: str, out: Path, data, config, seed, resume, init, overrides) -> None:
    from alignlab.pipeline import load_preferences, task_for
    from alignlab.trainers.dpo import train_dpo
    from alignlab.trainers.reward import train_reward_model
    from alignlab.trainers.sft import train_sft

    cfg = _run_config(out, resume, config, overrides)
    pairs = load_preferences(cfg, data)
    prompts = task_for(cfg).train_prompts if method == "rm" else []
    _start_run(out, cfg, resume)
    if method == "sft":
        summary = train_sft(cfg, [(p.prompt, p.chosen) for p in pairs], out, seed, resume, init)
    elif method == "rm":
        summary = train_reward_model(cfg, pairs, prompts, out, seed, resume, init)
    else:
        summary = train_dpo(cfg, pairs, out, seed, resume, init)
    logger.info("%s done; held-out: %s", method, {k: round(v, 4) for k, v in summary["final_eval"].items()})


def _train_online(method: str, out: Path, config, seed, resume, init, reward_model, overrides) -> None:
    from alignlab.pipeline import task_for, train_online

    cfg = _run_config(out, resume, config, overrides)
    task = task_for(cfg)
    if reward_model is not None and not (Path(reward_model) / "config.json").is_file():
        raise AlignlabError(f"--reward-model: '{reward_model}' is not a model directory (no config.json)")
    _start_run(out, cfg, resume)
    summary = train_online(method, cfg, task, out, seed, resume, reward_model, init)
    final = summary["final"]
    logger.info(
        "%s done: gold reward %.3f, KL %.3f",
        method,
        final.get("reward/gold", float("nan")),
        final.get("objective/kl", 0.0),
    )


def _register_offline(method: str, help_text: str) -> None:
    def command(
        out: Path = OutOpt,
        data: Optional[Path] = DataOpt,
        config: Optional[Path] = ConfigArg,
        seed: int = SeedOpt,
        resume: bool = ResumeOpt,
        init: Optional[str] = InitOpt,
        overrides: Optional[list[str]] = SetOpt,
    ) -> None:
        _train_offline(method, out, data, config, seed, resume, init, overrides)

    train_app.command(method, help=help_text)(command)


def _register_online(method: str, help_text: str) -> None:
    def command(
        out: Path = OutOpt,
        config: Optional[Path] = ConfigArg,
        seed: int = SeedOpt,
        resume: bool = ResumeOpt,
        init: Optional[str] = InitOpt,
        reward_model: Optional[str] = RewardModelOpt,
        overrides: Optional[list[str]] = SetOpt,
    ) -> None:
        _train_online(method, out, config, seed, resume, init, reward_model, overrides)

    train_app.command(method, help=help_text)(command)


_register_offline("sft", "Supervised fine-tuning on the chosen responses of a preference file.")
_register_offline("rm", "Train a Bradley-Terry reward model on preference pairs.")
_register_offline("dpo", "DPO (or IPO, hinge, robust: --set dpo.loss_type=ipo) on preference pairs.")
_register_online("ppo", "PPO on a reward model (or on the gold reward: --set ppo.reward_source=gold).")
_register_online("grpo", "GRPO: group-relative advantages, no critic.")
_register_online("rloo", "RLOO: leave-one-out baseline, no critic.")


# --------------------------------------------------------------------------------------------
# compare, eval, report
# --------------------------------------------------------------------------------------------


@app.command()
def compare(
    config: Optional[Path] = typer.Argument(None, help="Experiment YAML (default: configs/default.yaml)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run directory (default: runs/<name>-<timestamp>)."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue this run directory."),
    overrides: Optional[list[str]] = SetOpt,
) -> None:
    """Run the whole experiment: every method over its sweep and seeds, then evaluation and report."""
    from alignlab.compare import run_comparison

    if resume is not None:
        cfg_path = resume / "config.yaml"
        if not cfg_path.is_file():
            raise AlignlabError(f"--resume: '{resume}' holds no comparison run (no config.yaml)")
        run_comparison(load_config(cfg_path, overrides or []), resume, resume=True)
        return
    run_comparison(_load(config, overrides), out, resume=False)


@app.command("eval")
def eval_cmd(
    target: Path = typer.Argument(..., help="A comparison run directory, or a model directory."),
    config: Optional[Path] = ConfigArg,
    seed: int = SeedOpt,
    overrides: Optional[list[str]] = SetOpt,
) -> None:
    """Evaluate a model (or every model of a run) on the task's held-out prompts."""
    from alignlab.compare import evaluate_target

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
    import datasets
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    try:
        app()
    except AlignlabError as err:
        console.print(f"[bold red]error:[/bold red] {escape(str(err))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]; `--resume` continues from the last checkpoint")
        sys.exit(130)
