"""What every trainer shares: the accelerator, optimizer and schedule, checkpoints, the metric
history, numerical guards, saving, and cost accounting (time, tokens, memory)."""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import torch
from accelerate import Accelerator, PartialState
from accelerate.utils import set_seed
from torch import nn
from transformers import PreTrainedTokenizerBase, get_scheduler

from alignlab.config import TrainConfig
from alignlab.errors import AlignlabError, NumericalError
from alignlab.files import write_json
from alignlab.log import logger
from alignlab.models import ADAPTER_DIR, is_peft

CHECKPOINT_DIR = "checkpoints"
LATEST_FILE = "latest"
STATE_FILE = "trainer_state.json"
HISTORY_FILE = "history.json"
SUMMARY_FILE = "summary.json"
MODEL_DIR = "model"


def resolve_mixed_precision(setting: str) -> str:
    if setting != "auto":
        return setting
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "no"


def create_accelerator(config: TrainConfig, out_dir: Path, seed: int, accumulation_steps: int = 1) -> Accelerator:
    """The accelerator every trainer runs on: processes, device placement, mixed precision,
    TensorBoard under ``out_dir/logs``; seeds Python, NumPy and torch.

    Gradient accumulation is the trainers' own: they divide each optimizer step's summed loss
    by the step's global unit count (pairs, sequences or tokens of all micro-batches and
    processes), which accelerate's per-micro-batch averaging cannot do. Only pretraining, whose
    packed blocks all hold the same number of tokens, uses accelerate's (``accumulation_steps``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    accelerator = Accelerator(
        cpu=not torch.cuda.is_available(),
        mixed_precision=resolve_mixed_precision(config.mixed_precision),
        gradient_accumulation_steps=accumulation_steps,
        # One schedule step per optimizer step (by default accelerate steps it once per process).
        step_scheduler_with_optimizer=False,
        log_with="tensorboard",
        project_dir=str(out_dir / "logs"),
    )
    set_seed(seed)
    return accelerator


def micro_batches(rows: int, config: TrainConfig, processes: int, name: str) -> int:
    """Rows per micro-batch of one process, or a clear error when the batch does not split."""
    parts = config.grad_accum_steps * processes
    if rows % parts:
        raise AlignlabError(
            f"{name}: batch_size {rows} does not split evenly into grad_accum_steps={config.grad_accum_steps}"
            f" x {processes} process(es)"
        )
    return rows // parts


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW over trainable parameters; no weight decay on biases and norms (1-d tensors)."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(
        [g for g in groups if g["params"]], lr=config.lr, betas=(config.adam_beta1, config.adam_beta2)
    )


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int):
    name = {"constant": "constant_with_warmup", "linear": "linear", "cosine": "cosine"}[config.lr_schedule]
    return get_scheduler(
        name,
        optimizer,
        num_warmup_steps=int(math.ceil(config.warmup_ratio * total_steps)),
        num_training_steps=max(total_steps, 1),
    )


# --------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------


# accelerate warns on every save of a model with tied embeddings that it dropped the tied copy;
# load_state re-ties it (the resume tests check that a restored run ends identical).
_ACCELERATE_SAVE_LOGGER = "accelerate.utils.other"


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    quieted = logging.getLogger(logger_name)
    level = quieted.level
    quieted.setLevel(logging.ERROR)
    try:
        yield
    finally:
        quieted.setLevel(level)


class Checkpointer:
    """Resumable checkpoints under ``out_dir/checkpoints``: model, optimizer, scheduler and RNG
    states (``accelerator.save_state``) plus the trainer's own state (step, data position,
    history) as JSON. Written to a temporary directory first, then renamed, and only then named
    in ``latest`` (itself replaced atomically), so a kill at any moment leaves a usable one."""

    def __init__(self, accelerator: Accelerator, out_dir: Path) -> None:
        self.accelerator = accelerator
        self.root = out_dir / CHECKPOINT_DIR

    def latest(self) -> Path | None:
        pointer = self.root / LATEST_FILE
        if not pointer.is_file():
            return None
        path = self.root / pointer.read_text(encoding="utf-8").strip()
        return path if (path / STATE_FILE).is_file() else None

    def save(self, step: int, state: dict[str, Any]) -> None:
        name = f"step-{step:07d}"
        final = self.root / name
        tmp = self.root / f".{name}.tmp"
        if self.accelerator.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        self.accelerator.wait_for_everyone()
        with _quiet(_ACCELERATE_SAVE_LOGGER):
            self.accelerator.save_state(str(tmp))
        if self.accelerator.is_main_process:
            (tmp / STATE_FILE).write_text(json.dumps(state), encoding="utf-8")
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
            pointer_tmp = self.root / f".{LATEST_FILE}.tmp"
            pointer_tmp.write_text(name, encoding="utf-8")
            os.replace(pointer_tmp, self.root / LATEST_FILE)
            for old in self.root.glob("step-*"):
                if old.name != name:
                    shutil.rmtree(old, ignore_errors=True)
        self.accelerator.wait_for_everyone()

    def restore(self) -> dict[str, Any] | None:
        """Load the latest checkpoint into the prepared objects; its trainer state, or None."""
        path = self.latest()
        if path is None:
            return None
        self.accelerator.load_state(str(path))
        logger.info("resumed from %s", path)
        return json.loads((path / STATE_FILE).read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------------
# Metrics, guards, costs
# --------------------------------------------------------------------------------------------


@dataclass
class History:
    """Per-step metrics: kept for the report and checkpoints, and sent to TensorBoard."""

    rows: list[dict[str, float]] = field(default_factory=list)

    def log(self, accelerator: Accelerator, step: int, metrics: dict[str, float]) -> None:
        row = {"step": step, **{k: float(v) for k, v in metrics.items()}}
        self.rows.append(row)
        accelerator.log({k: v for k, v in row.items() if k != "step"}, step=step)


def finish_trackers(accelerator: Accelerator) -> None:
    """Close TensorBoard. Not ``accelerator.end_training``: that also destroys the process
    group, which saving the model still needs."""
    for tracker in accelerator.trackers:
        tracker.finish()


def is_finite(value: torch.Tensor | float) -> bool:
    if isinstance(value, torch.Tensor):
        return bool(torch.isfinite(value).all())
    return math.isfinite(value)


def check_finite(values: dict[str, torch.Tensor | float], step: int, policy: str) -> bool:
    """True if every value is finite. Otherwise raise (policy 'stop') or return False ('skip')."""
    bad = [name for name, value in values.items() if not is_finite(value)]
    if not bad:
        return True
    message = f"non-finite {', '.join(bad)} at step {step}"
    if policy == "stop":
        raise NumericalError(message + "; stopping (the last checkpoint is kept; nan_policy=skip skips such steps)")
    logger.warning("%s; skipping this step", message)
    return False


def backward_if_finite(
    accelerator: Accelerator, model: nn.Module, loss: torch.Tensor, healthy: bool, last: bool, step: int, policy: str
) -> bool:
    """Backpropagate ``loss`` unless it (or an earlier micro-batch of this optimizer step) is not
    finite; gradients are synchronised across processes only on the ``last`` micro-batch.
    Returns whether the step is still healthy."""
    if healthy and check_finite({"loss": loss}, step, policy):
        with contextlib.nullcontext() if last else accelerator.no_sync(model):
            accelerator.backward(loss)
        return True
    return False


def finish_optimizer_step(
    accelerator: Accelerator,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    config: TrainConfig,
    healthy: bool,
    step: int,
) -> float:
    """At a gradient-sync point: clip, step the optimizer if loss and gradient were finite,
    advance the schedule, zero the gradients. Returns the gradient norm before clipping."""
    grad_norm = accelerator.clip_grad_norm_(
        model.parameters(), config.max_grad_norm if config.max_grad_norm > 0 else float("inf")
    )
    if healthy and check_finite({"gradient norm": grad_norm}, step, config.nan_policy):
        optimizer.step()
    scheduler.step()
    optimizer.zero_grad()
    return float(grad_norm)


class PeakMemory:
    """Peak memory of a stage: CUDA's allocator peak on a GPU, else the process RSS sampled by a
    background thread (the OS's own peak RSS only ever grows over a process's life)."""

    def __init__(self, interval_s: float = 0.05) -> None:
        self.interval_s = interval_s
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        process = psutil.Process()
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, process.memory_info().rss)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakMemory:
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        else:
            self.peak_bytes = psutil.Process().memory_info().rss
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if torch.cuda.is_available():
            self.peak_bytes = torch.cuda.max_memory_allocated()
        else:
            self._stop.set()
            if self._thread is not None:
                self._thread.join()
            self.peak_bytes = max(self.peak_bytes, psutil.Process().memory_info().rss)

    @property
    def peak_mb(self) -> float:
        return self.peak_bytes / 2**20


@dataclass
class Cost:
    """Wall time, token throughput and memory of one stage."""

    wall_time_s: float = 0.0
    tokens: int = 0
    peak_mem_mb: float = 0.0
    models_in_memory: int = 1
    trainable_params: int = 0

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.wall_time_s if self.wall_time_s > 0 else 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "wall_time_s": self.wall_time_s,
            "tokens": self.tokens,
            "tokens_per_s": self.tokens_per_s,
            "peak_mem_mb": self.peak_mem_mb,
            "models_in_memory": self.models_in_memory,
            "trainable_params": self.trainable_params,
        }


class Stopwatch:
    """Accumulates time per named phase (e.g. generation / scoring / training)."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}

    def phase(self, name: str) -> _Phase:
        return _Phase(self, name)


class _Phase:
    def __init__(self, watch: Stopwatch, name: str) -> None:
        self.watch, self.name = watch, name

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.watch.totals[self.name] = self.watch.totals.get(self.name, 0.0) + time.perf_counter() - self.start


# --------------------------------------------------------------------------------------------
# Output directory
# --------------------------------------------------------------------------------------------


def prepare_out_dir(out_dir: Path, resume: bool) -> bool:
    """Refuse to overwrite a finished or partial run unless resuming it. Under several processes
    only the main one checks and creates it (the others would see the directory it just made)
    while the others wait for it; returns whether this is the main process."""
    state = PartialState(cpu=not torch.cuda.is_available())
    if state.is_main_process:
        if out_dir.exists() and any(out_dir.iterdir()) and not resume:
            raise AlignlabError(
                f"output directory '{out_dir}' is not empty; pass --resume to continue it or pick another"
            )
        out_dir.mkdir(parents=True, exist_ok=True)
    state.wait_for_everyone()
    return state.is_main_process


def save_policy(
    accelerator: Accelerator, model: nn.Module, tokenizer: PreTrainedTokenizerBase, directory: Path
) -> None:
    """``save_pretrained`` the trained policy and tokenizer (main process only). A LoRA policy is
    saved twice: the adapter under ``adapter/`` and the merged weights under ``directory``, so
    any tool can load the result with ``AutoModelForCausalLM``."""
    accelerator.wait_for_everyone()
    if not accelerator.is_main_process:
        return
    policy = accelerator.unwrap_model(model)
    policy = getattr(policy, "policy", policy)
    if is_peft(policy):
        policy.save_pretrained(directory.parent / ADAPTER_DIR)
        # Merge into a float32 copy: merging into bf16 base weights would round small updates
        # away, and training may go on after a snapshot.
        policy = copy.deepcopy(policy).to(torch.float32).merge_and_unload()
    elif next(policy.parameters()).dtype != torch.float32:
        policy = copy.deepcopy(policy).to(torch.float32)
    policy.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)


def write_run_files(accelerator: Accelerator, out_dir: Path, history: dict[str, Any], summary: dict[str, Any]) -> None:
    """The training curves (``history.json``) and the summary (``summary.json``) of a finished run."""
    summary["processes"] = accelerator.num_processes
    if accelerator.is_main_process:
        write_json(out_dir / HISTORY_FILE, history)
        write_json(out_dir / SUMMARY_FILE, summary)


SNAPSHOT_DIR = "snapshots"


class Snapshots:
    """Saves the policy at ``count`` evenly spaced points of training (the last point is the
    final model, saved anyway), so that evaluation can draw each run's curve on the reward-KL
    plane rather than one point. Called after every optimizer step or iteration."""

    def __init__(
        self,
        accelerator: Accelerator,
        model: nn.Module,
        tokenizer: PreTrainedTokenizerBase,
        out_dir: Path,
        total: int,
        count: int,
    ) -> None:
        self.accelerator, self.model, self.tokenizer = accelerator, model, tokenizer
        self.root = out_dir / SNAPSHOT_DIR
        self.points = sorted({round(total * k / count) for k in range(1, count)} - {0, total}) if count > 1 else []

    def __call__(self, step: int) -> None:
        if step in self.points:
            save_policy(self.accelerator, self.model, self.tokenizer, self.root / f"step-{step:07d}" / MODEL_DIR)


def snapshot_dirs(out_dir: Path) -> list[tuple[int, Path]]:
    """(step, model directory) of a run's saved snapshots, in training order."""
    root = out_dir / SNAPSHOT_DIR
    found = [(int(p.name.split("-")[1]), p / MODEL_DIR) for p in root.glob("step-*") if (p / MODEL_DIR).is_dir()]
    return sorted(found)
