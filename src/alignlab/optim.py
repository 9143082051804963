"""The optimisation primitives every training loop shares (the trainers and the embedded
models' pretraining): the accelerator, AdamW and its schedule, and an optimizer step guarded
against NaN and infinite values."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import set_seed
from torch import nn
from transformers import get_scheduler

from alignlab.config import TrainConfig
from alignlab.errors import AlignlabError, NumericalError
from alignlab.log import logger


def resolve_mixed_precision(setting: str) -> str:
    """``mixed_precision: auto`` -> bf16 on a GPU that has it, fp16 on older GPUs, no on a CPU."""
    if setting != "auto":
        return setting
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "no"


def cpu_has_bf16() -> bool:
    """Whether oneDNN has bf16 kernels for this CPU (AVX-512 and newer: natively with AVX-512 BF16
    or AMX); on an AVX2-only CPU torch falls back to a scalar path, far slower than float32."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


_warned_cpu_bf16: list[bool] = []


def warn_emulated_bf16(setting: str) -> None:
    """Say once what bf16 costs on a CPU without bf16 kernels. The setting is kept (it is the
    user's numerics); its price is named, and so is the float32 alternative. Measured on this
    project's CPU with oneDNN limited to AVX2: a 1024 x 1024 bf16 matmul took 200 times as long
    as in float32."""
    if torch.cuda.is_available() or cpu_has_bf16() or _warned_cpu_bf16:
        return
    _warned_cpu_bf16.append(True)
    logger.warning(
        "%s on a CPU without bf16 kernels (AVX2 only, no AVX-512): each bf16 matmul is emulated, two orders "
        "of magnitude slower than in float32; model.dtype=float32 with train mixed_precision=no computes in "
        "float32 at full speed",
        setting,
    )


def create_accelerator(config: TrainConfig, out_dir: Path, seed: int, accumulation_steps: int = 1) -> Accelerator:
    """The accelerator every trainer runs on: processes, device placement, mixed precision,
    TensorBoard under ``out_dir/logs``; seeds Python, NumPy and torch.

    Gradient accumulation is the trainers' own: they divide each optimizer step's summed loss
    by the step's global unit count (pairs, sequences or tokens of all micro-batches and
    processes), which accelerate's per-micro-batch averaging cannot do. Only pretraining, whose
    packed blocks all hold the same number of tokens, uses accelerate's (``accumulation_steps``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    mixed_precision = resolve_mixed_precision(config.mixed_precision)
    if mixed_precision == "bf16":
        warn_emulated_bf16("mixed_precision=bf16")
    # accelerate keeps one AcceleratorState per process, fixed by the first Accelerator; a notebook
    # that trains one method in bf16 and the next in float32 needs it made anew (the process
    # group lives in PartialState and stays).
    if AcceleratorState._shared_state.get("_mixed_precision", mixed_precision) != mixed_precision:
        AcceleratorState._reset_state()
    accelerator = Accelerator(
        cpu=not torch.cuda.is_available(),
        mixed_precision=mixed_precision,
        gradient_accumulation_steps=accumulation_steps,
        # One schedule step per optimizer step (by default accelerate steps it once per process).
        step_scheduler_with_optimizer=False,
        log_with="tensorboard",
        project_dir=str(out_dir / "logs"),
    )
    set_seed(seed)
    return accelerator


def finish_trackers(accelerator: Accelerator) -> None:
    """Close TensorBoard. Not ``accelerator.end_training``: that also destroys the process
    group, which saving the model still needs."""
    for tracker in accelerator.trackers:
        tracker.finish()


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
