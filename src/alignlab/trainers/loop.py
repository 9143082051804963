"""The optimisation loop of the offline trainers (SFT, reward model, DPO).

Each trainer supplies its data and a ``step_fn(model, batch) -> (loss, metrics)``; the loop owns
the rest: deterministic data order, gradient accumulation, clipping, the schedule, NaN guards,
logging, held-out evaluation, checkpoints and resume.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from torch import nn
from torch.utils.data import DataLoader, Subset

from alignlab.config import OfflineTrainConfig
from alignlab.errors import AlignlabError
from alignlab.progress import progress_task
from alignlab.trainers.common import (
    Checkpointer,
    History,
    backward_if_finite,
    build_optimizer,
    build_scheduler,
    finish_optimizer_step,
)

StepFn = Callable[[nn.Module, dict[str, torch.Tensor]], tuple[torch.Tensor, dict[str, float]]]


@dataclass
class LoopResult:
    history: list[dict[str, float]]
    eval_history: list[dict[str, float]]
    steps: int
    tokens: int
    train_time_s: float
    extra_state: dict[str, Any] = field(default_factory=dict)


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The example order of one epoch: a permutation fixed by (seed, epoch), so a resumed run
    sees exactly the batches an uninterrupted one would."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=generator).tolist()


def split_train_eval(items: Sequence[Any], eval_fraction: float, seed: int) -> tuple[list[Any], list[Any]]:
    order = epoch_order(len(items), seed, -1)
    n_eval = int(round(eval_fraction * len(items)))
    return [items[i] for i in order[n_eval:]], [items[i] for i in order[:n_eval]]


def _mean_metrics(rows: list[dict[str, float]]) -> dict[str, float]:
    keys = rows[0].keys() if rows else []
    return {k: sum(r[k] for r in rows) / len(rows) for k in keys}


@torch.no_grad()
def evaluate_batches(
    accelerator: Accelerator,
    model: nn.Module,
    items: Sequence[Any],
    collate: Callable,
    step_fn: StepFn,
    batch_size: int,
) -> dict[str, float]:
    """Mean of ``step_fn``'s loss and metrics over ``items`` (weighted by batch size)."""
    model.eval()
    loader = accelerator.prepare_data_loader(DataLoader(list(items), batch_size=batch_size, collate_fn=collate))
    totals: dict[str, float] = {}
    count = 0
    for batch in loader:
        loss, metrics = step_fn(model, batch)
        n = batch["prompt_ids"].shape[0]
        for key, value in {"loss": float(loss.detach()), **metrics}.items():
            totals[key] = totals.get(key, 0.0) + value * n
        count += n
    model.train()
    return {k: v / max(count, 1) for k, v in totals.items()}


def train_offline(
    *,
    name: str,
    accelerator: Accelerator,
    model: nn.Module,
    config: OfflineTrainConfig,
    train_items: Sequence[Any],
    eval_items: Sequence[Any],
    collate: Callable[[list[Any]], dict[str, torch.Tensor]],
    step_fn: StepFn,
    out_dir: Path,
    seed: int,
    resume: bool,
    extra_state: dict[str, Any] | None = None,
) -> tuple[nn.Module, LoopResult]:
    """Train ``model`` on ``train_items``; returns the prepared model and the result.

    One optimizer step sees ``config.batch_size`` examples, split into ``grad_accum_steps``
    micro-batches and across processes. ``extra_state`` is saved with each checkpoint and
    returned on resume (for state the trainer owns).
    """
    micro_batch = config.batch_size // config.grad_accum_steps // accelerator.num_processes
    if micro_batch < 1:
        raise AlignlabError(f"{name}: batch_size {config.batch_size} is smaller than grad_accum_steps x processes")
    steps_per_epoch = len(train_items) // config.batch_size
    if steps_per_epoch == 0:
        raise AlignlabError(
            f"{name}: {len(train_items)} training examples are fewer than one batch ({config.batch_size})"
        )
    total_steps = config.epochs * steps_per_epoch
    if config.max_steps:
        total_steps = min(total_steps, config.max_steps)

    optimizer = build_optimizer(model, config)
    scheduler = build_scheduler(optimizer, config, total_steps)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    checkpointer = Checkpointer(accelerator, out_dir)
    history, eval_history = History(), History()
    step, tokens, elapsed = 0, 0, 0.0
    state = checkpointer.restore() if resume else None
    if state is not None:
        step, tokens, elapsed = state["step"], state["tokens"], state["train_time_s"]
        history.rows, eval_history.rows = state["history"], state["eval_history"]
        extra_state = state.get("extra", extra_state)

    def save_checkpoint() -> None:
        checkpointer.save(
            step,
            {
                "step": step,
                "tokens": tokens,
                "train_time_s": elapsed,
                "history": history.rows,
                "eval_history": eval_history.rows,
                "extra": extra_state or {},
            },
        )

    def run_eval() -> None:
        if eval_items:
            metrics = evaluate_batches(accelerator, model, eval_items, collate, step_fn, micro_batch)
            eval_history.log(accelerator, step, {f"eval/{k}": v for k, v in metrics.items()})

    accelerator.init_trackers(name)
    with progress_task(name, total_steps, enabled=accelerator.is_main_process) as advance:
        advance(step)
        while step < total_steps:
            epoch, done_in_epoch = divmod(step, steps_per_epoch)
            order = epoch_order(len(train_items), seed, epoch)
            loader = accelerator.prepare_data_loader(
                DataLoader(Subset(list(train_items), order), batch_size=micro_batch, collate_fn=collate, drop_last=True)
            )
            loader = accelerator.skip_first_batches(loader, done_in_epoch * config.grad_accum_steps)
            batches = iter(loader)
            for _ in range(done_in_epoch, steps_per_epoch):
                if step >= total_steps:
                    break
                started = time.perf_counter()
                micro_metrics: list[dict[str, float]] = []
                step_tokens, healthy = 0, True
                for _ in range(config.grad_accum_steps):
                    batch = next(batches)
                    with accelerator.accumulate(model):
                        loss, metrics = step_fn(model, batch)
                        healthy = backward_if_finite(accelerator, loss, healthy, step + 1, config.nan_policy)
                        micro_metrics.append({"loss": float(loss.detach()), **metrics})
                        step_tokens += int(batch["prompt_mask"].sum() + batch["response_mask"].sum())
                        if accelerator.sync_gradients:
                            grad_norm = finish_optimizer_step(
                                accelerator, model, optimizer, scheduler, config, healthy, step + 1
                            )
                step += 1
                tokens += step_tokens * accelerator.num_processes
                duration = time.perf_counter() - started
                elapsed += duration
                row = {f"train/{k}": v for k, v in _mean_metrics(micro_metrics).items()}
                row["train/grad_norm"] = float(grad_norm)
                row["train/lr"] = scheduler.get_last_lr()[0]
                row["train/tokens_per_s"] = step_tokens * accelerator.num_processes / duration
                history.log(accelerator, step, row)
                if config.eval_every and step % config.eval_every == 0 and step < total_steps:
                    run_eval()
                if config.checkpoint_every and step % config.checkpoint_every == 0 and step < total_steps:
                    save_checkpoint()
                advance(1, loss=row["train/loss"])
    if not eval_history.rows or eval_history.rows[-1]["step"] != step:
        run_eval()
    save_checkpoint()
    accelerator.end_training()
    return model, LoopResult(history.rows, eval_history.rows, step, tokens, elapsed, extra_state or {})
