"""Where everything lives on disk: the one module that knows the layout of a training run's
directory and of a comparison's directory. Every writer and every reader asks it.

A training run (``alignlab train``, one run of a comparison, a reward model, an SFT stage)::

    config.yaml       the settings it ran with
    model/            the trained policy (save_pretrained; a LoRA run's merged weights)
    adapter/          a LoRA run's adapter, as trained
    logs/             TensorBoard
    checkpoints/      resumable checkpoints (``latest`` names the newest; removed once trained)
    snapshots/step-N/model/   the policy along training, for the evaluation's checkpoint curves
    history.json      training curves
    summary.json      training cost and final training metrics
    eval.json         held-out metrics (a comparison's run) or an ``alignlab eval`` result

A comparison (``alignlab compare``)::

    config.yaml, preferences.jsonl, stages.json, metrics.json, report.html
    sittings.json                 the wall time of each sitting (a resumed comparison has several)
    reference_logps[-average][-noise-E].safetensors   the DPO family's shared reference pass
    sft/                          the SFT stage (a training run)
    reward_model/seed-S[-noise-E]/ each seed's reward model (a training run)
    runs/METHOD/SETTING/seed-S/   one run of a method at one setting and seed (a training run)
    tuning/METHOD/SETTING/seed-S/ one trial of a tuning search, judged on validation prompts
    ray_train/                    Ray Train's own storage for multi-process runs (markers only)

Pure pathlib: no model library is imported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG_FILE = "config.yaml"
MODEL_DIR = "model"
ADAPTER_DIR = "adapter"
LOGS_DIR = "logs"
CHECKPOINT_DIR = "checkpoints"
SNAPSHOT_DIR = "snapshots"
HISTORY_FILE = "history.json"
SUMMARY_FILE = "summary.json"
EVAL_FILE = "eval.json"

PREFERENCES_FILE = "preferences.jsonl"
STAGES_FILE = "stages.json"
SITTINGS_FILE = "sittings.json"
METRICS_FILE = "metrics.json"
REPORT_FILE = "report.html"
RUNS_DIR = "runs"
TUNING_DIR = "tuning"
RAY_TRAIN_DIR = "ray_train"
BASE_METHOD = "base"


def setting_label(params: Mapping[str, Any] | None) -> str:
    """{'beta': 0.1} -> 'beta=0.1'; 'default' without parameters."""
    return ",".join(f"{k}={v}" for k, v in (params or {}).items()) or "default"


def data_suffix(noise: float, pairs: int) -> str:
    """How a variant of the preference data is named: its label noise and its number of pairs."""
    return (f"-noise-{noise:g}" if noise else "") + (f"-pairs-{pairs}" if pairs else "")


def run_key(method: str, params: Mapping[str, Any] | None, seed: int, split: str = "test") -> str:
    """A run's directory relative to its comparison, as records name it (``run_dir``): a
    reported run (evaluated on test prompts) under ``runs/``, a tuning trial (validation) under
    ``tuning/``."""
    root = RUNS_DIR if split == "test" else TUNING_DIR
    return f"{root}/{method}/{setting_label(params)}/seed-{seed}"


@dataclass(frozen=True)
class TrainingDir:
    """The directory of one training run; ``resume`` when it continues a run cut off there."""

    path: Path
    resume: bool = False

    @property
    def config(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def model(self) -> Path:
        return self.path / MODEL_DIR

    @property
    def adapter(self) -> Path:
        return self.path / ADAPTER_DIR

    @property
    def logs(self) -> Path:
        return self.path / LOGS_DIR

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINT_DIR

    @property
    def history(self) -> Path:
        return self.path / HISTORY_FILE

    @property
    def summary(self) -> Path:
        return self.path / SUMMARY_FILE

    @property
    def eval(self) -> Path:
        return self.path / EVAL_FILE

    @property
    def trained(self) -> bool:
        """Whether training finished here (its summary is written last)."""
        return self.summary.is_file()

    def snapshot(self, step: int) -> Path:
        """The model directory of the snapshot taken after ``step``."""
        return self.path / SNAPSHOT_DIR / f"step-{step:07d}" / MODEL_DIR

    def snapshots(self) -> list[tuple[int, Path]]:
        """(step, model directory) of the saved snapshots, in training order."""
        root = self.path / SNAPSHOT_DIR
        found = [(int(p.name.split("-")[1]), p / MODEL_DIR) for p in root.glob("step-*") if (p / MODEL_DIR).is_dir()]
        return sorted(found)


@dataclass(frozen=True)
class ComparisonDir:
    """The directory of one comparison."""

    path: Path

    @property
    def config(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def preferences(self) -> Path:
        return self.path / PREFERENCES_FILE

    @property
    def stages(self) -> Path:
        return self.path / STAGES_FILE

    @property
    def sittings(self) -> Path:
        return self.path / SITTINGS_FILE

    @property
    def metrics(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def report(self) -> Path:
        return self.path / REPORT_FILE

    @property
    def sft(self) -> TrainingDir:
        return TrainingDir(self.path / "sft")

    @staticmethod
    def reward_model_name(seed: int, noise: float = 0.0, pairs: int = 0) -> str:
        """The name of the reward model of ``seed`` on the pairs with ``noise`` of their labels
        flipped (the first ``pairs`` of them, 0 = all), also its stage's name in ``stages.json``
        (``reward_model/NAME``)."""
        return f"seed-{seed}{data_suffix(noise, pairs)}"

    def reward_model(self, seed: int, noise: float = 0.0, pairs: int = 0) -> TrainingDir:
        return TrainingDir(self.path / "reward_model" / self.reward_model_name(seed, noise, pairs))

    def reference_logps(self, average: bool, noise: float = 0.0, pairs: int = 0) -> Path:
        """The DPO family's reference log-probs of the pairs with ``noise`` of their labels flipped
        (the first ``pairs`` of them, 0 = all)."""
        return self.path / f"reference_logps{'-average' if average else ''}{data_suffix(noise, pairs)}.safetensors"

    def run(self, method: str, params: Mapping[str, Any] | None, seed: int, split: str = "test") -> TrainingDir:
        return TrainingDir(self.path / run_key(method, params, seed, split))

    @property
    def ray_train(self) -> Path:
        return self.path / RAY_TRAIN_DIR

    def run_evaluations(self) -> list[Path]:
        """The ``eval.json`` of every evaluated run (the base policy's and tuning trials' included)."""
        return sorted(p for root in (RUNS_DIR, TUNING_DIR) for p in (self.path / root).glob(f"*/*/seed-*/{EVAL_FILE}"))

    def is_comparison(self) -> bool:
        return self.config.is_file() and (self.path / RUNS_DIR).is_dir()
