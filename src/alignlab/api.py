"""The Python API: the same functions the CLI calls, for notebooks and scripts.

import alignlab
results = alignlab.compare("configs/default.yaml", seeds=[0])
results.table                     # one row per evaluated run (pandas)
results.plot_frontier()           # the reward-KL frontier (matplotlib)
policy = alignlab.train("dpo", data="prefs.jsonl", dpo={"beta": 0.2})
alignlab.evaluate(policy)         # held-out metrics on the task's prompts
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from alignlab.config import ExperimentConfig, default_config_path, load_config, method_config, to_dict, with_settings
from alignlab.data import PreferencePair, parse_preference_record, read_preferences
from alignlab.errors import AlignlabError
from alignlab.files import read_json
from alignlab.models import ModelSource
from alignlab.tasks.rewards import FunctionReward, Reward

ConfigLike = ExperimentConfig | str | Path | None


def _config(config: ConfigLike, settings: dict[str, Any]) -> ExperimentConfig:
    """An experiment config from a config object, a YAML path or the defaults, with ``settings``
    (nested dicts of sections, e.g. ``dpo={"beta": 0.2}``, or top-level keys) applied."""
    if config is None:
        config = default_config_path()
    if not isinstance(config, ExperimentConfig):
        config = load_config(config, [])
    return with_settings(config, settings, "settings") if settings else config


# --------------------------------------------------------------------------------------------
# compare
# --------------------------------------------------------------------------------------------


@dataclass
class Results:
    """A finished comparison: its run directory, every record and the aggregates over seeds."""

    run_dir: Path
    metrics: dict[str, Any]

    @classmethod
    def load(cls, run_dir: str | Path) -> Results:
        """The results of a finished comparison's directory (its metrics.json), without rerunning anything."""
        run_dir = Path(run_dir)
        path = run_dir / "metrics.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no metrics.json (is {run_dir} a finished comparison?)")
        return cls(run_dir, read_json(path))

    @property
    def report_path(self) -> Path:
        return self.run_dir / "report.html"

    @property
    def table(self):
        """One row per evaluated run (method, setting, seed and every scalar metric): a DataFrame."""
        import pandas as pd

        rows = []
        for record in self.metrics["results"]:
            setting = ",".join(f"{k}={v}" for k, v in record.get("params", {}).items()) or "default"
            row = {"method": record["method"], "setting": setting, "seed": record["seed"]}
            row.update({k: v for k, v in record.items() if isinstance(v, (int, float)) and k != "seed"})
            rows.append(row)
        return pd.DataFrame(rows)

    @property
    def aggregates(self) -> list[dict[str, Any]]:
        return self.metrics["aggregates"]

    def plot_frontier(self):
        """The reward-KL frontier of the report, as a matplotlib figure."""
        from alignlab.report.plots import frontier_figure

        return frontier_figure(self.metrics["aggregates"], self.metrics["results"])


def compare(config: ConfigLike = None, out: str | Path | None = None, resume: bool = False, **settings: Any) -> Results:
    """Run (or with ``resume`` continue) a comparison; the settings override the config's."""
    from alignlab.comparison import run_comparison

    cfg = _config(config, settings)
    run_dir = run_comparison(cfg, Path(out) if out else None, resume)
    return Results(run_dir, read_json(run_dir / "metrics.json"))


# --------------------------------------------------------------------------------------------
# train
# --------------------------------------------------------------------------------------------


@dataclass
class TrainedPolicy:
    """A trained policy in memory: the model and tokenizer, its training history and summary,
    and the directory it was saved to."""

    model: torch.nn.Module
    tokenizer: Any
    summary: dict[str, Any]
    out_dir: Path
    config: ExperimentConfig
    history_rows: list[dict[str, float]] = field(default_factory=list)

    @property
    def history(self):
        """Training curves, one row per optimizer step or iteration: a DataFrame."""
        import pandas as pd

        return pd.DataFrame(self.history_rows)

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        self.model.save_pretrained(directory, safe_serialization=True)
        self.tokenizer.save_pretrained(directory)
        return directory


def _as_reward(reward: Reward | Callable | None) -> Reward | None:
    if reward is None or isinstance(reward, Reward):
        return reward
    if callable(reward):
        return FunctionReward(reward, getattr(reward, "__name__", "reward"))
    raise AlignlabError(f"reward must be a callable of (prompts, completions), got {type(reward).__name__}")


def _pairs(
    data: str | Path | Sequence[PreferencePair | dict[str, Any]] | None, config: ExperimentConfig
) -> list[PreferencePair]:
    """Preference pairs from a file, from pairs or dicts in memory (validated like a file's lines,
    an error naming ``data[i]``), or made from the task."""
    from alignlab.pipeline import load_preferences

    if data is None or isinstance(data, (str, Path)):
        return load_preferences(config, Path(data) if data is not None else None)
    return [
        item if isinstance(item, PreferencePair) else parse_preference_record(item, f"data[{i}]")
        for i, item in enumerate(data)
    ]


def train(
    method: str,
    *,
    model: ModelSource | None = None,
    data: str | Path | Sequence[PreferencePair | dict[str, Any]] | None = None,
    prompts: Sequence[str] | None = None,
    reward: Reward | Callable | None = None,
    reward_model: ModelSource | None = None,
    config: ConfigLike = None,
    out: str | Path | None = None,
    seed: int = 0,
    resume: bool = False,
    **settings: Any,
) -> TrainedPolicy:
    """Train one method and return the policy in memory.

    ``model``: a hub id, a path or a ``PreTrainedModel`` (default: the config's). Offline methods
    (sft, rm, the DPO family, kto) take ``data`` (a preference JSONL path, or pairs or dicts with
    prompt, chosen and rejected; default: made from the task). Online ones take ``prompts``
    (default: the task's) and optimise ``reward`` (a callable of (prompts, completions) -> floats)
    or ``reward_model`` (a sequence classifier: directory or hub id, with its own tokenizer); with
    both, the reward model is optimised and ``reward`` reported as the gold reward. Default: the
    config's ``reward_source`` and the task's gold reward."""
    from alignlab.models import load_causal_lm, load_tokenizer
    from alignlab.pipeline import device, task_for
    from alignlab.trainers import PAIR_SECTIONS, section_of, train_method
    from alignlab.trainers.outputs import HISTORY_FILE, MODEL_DIR, prepare_out_dir
    from alignlab.trainers.reward import train_reward_model
    from alignlab.trainers.sft import train_sft

    cfg = _config(config, {})
    if isinstance(model, str):
        cfg = with_settings(cfg, {"model": {"name_or_path": model}}, "model")
    if method not in ("sft", "rm"):
        cfg = method_config(cfg, method)
    cfg = with_settings(cfg, settings, "settings") if settings else cfg
    init = model if isinstance(model, torch.nn.Module) else None
    out_dir = Path(out) if out else Path(tempfile.mkdtemp(prefix=f"alignlab-{method}-"))
    prepare_out_dir(out_dir, resume)
    if method in ("sft", "rm") or section_of(method) in PAIR_SECTIONS:
        pairs = _pairs(data, cfg)
        if method == "sft":
            summary = train_sft(cfg, [(p.prompt, p.chosen) for p in pairs], out_dir, seed, resume, init)
        elif method == "rm":
            task_prompts = list(prompts) if prompts is not None else task_for(cfg).train_prompts
            summary = train_reward_model(cfg, pairs, task_prompts, out_dir, seed, resume, init)
        else:
            summary = train_method(method, cfg, out_dir, seed, resume, pairs=pairs, init=init)
    else:
        if reward is not None and reward_model is None:
            # A reward given and no reward model: the reward is what the method optimises.
            cfg = with_settings(cfg, {section_of(method): {"reward_source": "gold"}}, "reward")
        task = task_for(cfg) if prompts is None or reward is None else None
        summary = train_method(
            method,
            cfg,
            out_dir,
            seed,
            resume,
            prompts=list(prompts) if prompts is not None else task.train_prompts,
            gold_reward=_as_reward(reward) or task.reward,
            reward_model=reward_model,
            init=init,
        )
    if method == "rm":
        from transformers import AutoModelForSequenceClassification

        trained = AutoModelForSequenceClassification.from_pretrained(out_dir / MODEL_DIR)
    else:
        trained = load_causal_lm(cfg.model, device(), str(out_dir / MODEL_DIR), trainable=False)
    history = read_json(out_dir / HISTORY_FILE).get("train", [])
    return TrainedPolicy(trained, load_tokenizer(cfg.model, str(out_dir / MODEL_DIR)), summary, out_dir, cfg, history)


def train_from_cli(
    method: str,
    cfg: ExperimentConfig,
    out: Path,
    seed: int,
    resume: bool,
    data: Path | None,
    init: str | None,
    reward_model: str | None,
    start_run: Callable[[], None],
) -> dict:
    """``alignlab train``: read the inputs (so bad data fails before the run directory exists),
    create the run directory, train; the summary."""
    from alignlab.pipeline import load_preferences, task_for
    from alignlab.trainers import PAIR_SECTIONS, section_of, train_method
    from alignlab.trainers.reward import train_reward_model
    from alignlab.trainers.sft import train_sft

    offline = method in ("sft", "rm") or section_of(method) in PAIR_SECTIONS
    pairs = load_preferences(cfg, data) if offline else None
    task = task_for(cfg) if method == "rm" or not offline else None
    start_run()
    if method == "sft":
        return train_sft(cfg, [(p.prompt, p.chosen) for p in pairs], out, seed, resume, init)
    if method == "rm":
        return train_reward_model(cfg, pairs, task.train_prompts, out, seed, resume, init)
    return train_method(
        method,
        cfg,
        out,
        seed,
        resume,
        pairs=pairs,
        prompts=task.train_prompts if task else None,
        gold_reward=task.reward if task else None,
        reward_model=reward_model,
        init=init,
    )


# --------------------------------------------------------------------------------------------
# evaluate
# --------------------------------------------------------------------------------------------


def evaluate(
    policy: TrainedPolicy | torch.nn.Module | str | Path,
    config: ConfigLike = None,
    seed: int = 0,
    **settings: Any,
) -> dict[str, Any]:
    """Held-out metrics of a policy (in memory or a model directory) against the config's base
    policy, on the task's held-out prompts: gold reward, win rate, KL, fluency, diversity."""
    from alignlab.experiment import Experiment
    from alignlab.models import load_causal_lm

    if isinstance(policy, TrainedPolicy):
        cfg = _config(config if config is not None else policy.config, settings)
        model = policy.model
    else:
        cfg = _config(config, settings)
        model = policy
        if isinstance(policy, (str, Path)):
            from alignlab.pipeline import device

            model = load_causal_lm(cfg.model, device(), str(policy), trainable=False)
    evaluator = Experiment(cfg, Path(tempfile.mkdtemp(prefix="alignlab-eval-"))).evaluator
    return evaluator.evaluate_policy(model, seed)


def settings_of(config: ConfigLike = None) -> dict[str, Any]:
    """The fully resolved settings as nested dicts (what ``alignlab config dump`` writes)."""
    return to_dict(_config(config, {}))


__all__ = ["Results", "TrainedPolicy", "compare", "evaluate", "read_preferences", "settings_of", "train"]
