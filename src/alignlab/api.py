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
from typing import TYPE_CHECKING, Any

import torch

from alignlab.config import (
    METHODS,
    ExperimentConfig,
    default_config_path,
    load_config,
    method_config,
    to_dict,
    with_settings,
)
from alignlab.data import PreferencePair, parse_preference_record, read_preferences
from alignlab.errors import AlignlabError
from alignlab.files import read_json
from alignlab.tasks.rewards import FunctionReward, Reward

if TYPE_CHECKING:
    from alignlab.models import ModelSource
    from alignlab.trainers import TrainInputs

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
        from alignlab.layout import ComparisonDir

        run_dir = Path(run_dir)
        path = ComparisonDir(run_dir).metrics
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no metrics.json (is {run_dir} a finished comparison?)")
        return cls(run_dir, read_json(path))

    @property
    def report_path(self) -> Path:
        from alignlab.layout import ComparisonDir

        return ComparisonDir(self.run_dir).report

    @property
    def table(self):
        """One row per evaluated run (method, setting, seed and every scalar metric): a DataFrame."""
        import pandas as pd

        from alignlab.layout import setting_label

        rows = []
        for record in self.metrics["results"]:
            row = {"method": record["method"], "setting": setting_label(record.get("params")), "seed": record["seed"]}
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
    return Results.load(run_dir)


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


def training_inputs(
    method: str,
    config: ExperimentConfig,
    *,
    seed: int = 0,
    data: str | Path | Sequence[PreferencePair | dict[str, Any]] | None = None,
    prompts: Sequence[str] | None = None,
    reward: Reward | Callable | None = None,
    reward_model: ModelSource | None = None,
    init: ModelSource | None = None,
) -> TrainInputs:
    """What ``method`` trains on, read and checked before anything is written: the pairs (for the
    offline methods, the reward model and SFT), the prompts (the task's unless given) and the
    reward to optimise and report (the task's gold reward unless given). ``config`` holds the
    method's settings (``config.method_config``)."""
    from alignlab.pipeline import task_for
    from alignlab.trainers import TrainInputs, method_of

    spec = method_of(method)
    pairs = _pairs(data, config) if spec.inputs in ("pairs", "demonstrations") else None
    needs_prompts = spec.online or method == "rm"
    task = task_for(config) if needs_prompts and (prompts is None or (spec.online and reward is None)) else None
    return TrainInputs(
        method,
        config,
        seed=seed,
        pairs=pairs,
        prompts=(list(prompts) if prompts is not None else task.train_prompts) if needs_prompts else None,
        gold_reward=(_as_reward(reward) or task.reward) if spec.online else None,
        reward_model=reward_model,
        init=init,
    )


def method_settings(
    method: str, config: ConfigLike, model: ModelSource | None, settings: dict[str, Any]
) -> ExperimentConfig:
    """The config ``method`` trains with: the config's, the model named, the method's own
    settings (its registry preset), then ``settings``."""
    cfg = _config(config, settings)
    if isinstance(model, str):
        cfg = with_settings(cfg, {"model": {"name_or_path": model}}, "model")
    section = settings.get(METHODS[method].section, {}) if method in METHODS else {}
    return method_config(cfg, method, section)


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
    from alignlab.layout import TrainingDir
    from alignlab.models import load_causal_lm, load_tokenizer
    from alignlab.pipeline import device
    from alignlab.trainers import method_of
    from alignlab.trainers import train as train_method
    from alignlab.trainers.outputs import prepare_out_dir

    cfg = method_settings(method, config, model, settings)
    spec = method_of(method)
    if spec.online and reward is not None and reward_model is None:
        # A reward given and no reward model: the reward is what the method optimises.
        cfg = with_settings(cfg, {spec.section: {"reward_source": "gold"}}, "reward")
    init = model if isinstance(model, torch.nn.Module) else None
    inputs = training_inputs(
        method, cfg, seed=seed, data=data, prompts=prompts, reward=reward, reward_model=reward_model, init=init
    )
    run = TrainingDir(Path(out) if out else Path(tempfile.mkdtemp(prefix=f"alignlab-{method}-")), resume)
    prepare_out_dir(run.path, resume)
    summary = train_method(inputs, run)
    if method == "rm":
        from transformers import AutoModelForSequenceClassification

        trained = AutoModelForSequenceClassification.from_pretrained(run.model)
    else:
        trained = load_causal_lm(cfg.model, device(), str(run.model), trainable=False)
    history = read_json(run.history).get("train", [])
    return TrainedPolicy(trained, load_tokenizer(cfg.model, str(run.model)), summary, run.path, cfg, history)


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
    from alignlab.evaluation import Evaluator
    from alignlab.models import load_causal_lm, load_tokenizer
    from alignlab.pipeline import device
    from alignlab.tasks import load_task

    if isinstance(policy, TrainedPolicy):
        cfg = _config(config if config is not None else policy.config, settings)
        model = policy.model
    else:
        cfg = _config(config, settings)
        model = policy
        if isinstance(policy, (str, Path)):
            model = load_causal_lm(cfg.model, device(), str(policy), trainable=False)
    tokenizer = load_tokenizer(cfg.model)
    task = load_task(cfg.task, tokenizer)
    if task.reward is None:
        raise AlignlabError(f"task '{task.name}' has no gold reward to evaluate with; set task.reward=module:function")
    return Evaluator(cfg, task, tokenizer, device()).evaluate_policy(model, seed)


def settings_of(config: ConfigLike = None) -> dict[str, Any]:
    """The fully resolved settings as nested dicts (what ``alignlab config dump`` writes)."""
    return to_dict(_config(config, {}))


__all__ = ["Results", "TrainedPolicy", "compare", "evaluate", "read_preferences", "settings_of", "train"]
