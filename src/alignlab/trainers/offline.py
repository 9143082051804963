"""The optimisation loop of the offline trainers (SFT, reward model, DPO and its relatives, KTO),
and ``OfflineRun``, the plumbing around it (accelerator, tokenizer, tokenised pairs, the saved
policy and the summary).

Each trainer supplies its examples, a ``collate`` and a ``step_fn(model, batch) -> StepResult``
whose loss is a *sum* over the batch's units (pairs, completions or tokens). The loop owns the
rest: a data order fixed by (seed, epoch), the split of each global batch across processes and
micro-batches, one division by the step's global unit count (so accumulation and several
processes give exactly the single-batch gradient), clipping, the schedule, NaN guards, logging,
held-out evaluation, checkpoints and resume.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from accelerate import Accelerator
from torch import nn

from alignlab import distributed
from alignlab.config import OfflineTrainConfig
from alignlab.data import PreferencePair, TokenizedPair, tokenize_pairs
from alignlab.errors import AlignlabError, DataError
from alignlab.layout import TrainingDir
from alignlab.log import logger
from alignlab.models import count_parameters, load_policy, load_tokenizer
from alignlab.optim import (
    backward_if_finite,
    build_optimizer,
    build_scheduler,
    create_accelerator,
    finish_optimizer_step,
    finish_trackers,
    micro_batches,
)
from alignlab.progress import progress_task
from alignlab.trainers import TrainInputs
from alignlab.trainers.checkpoints import Checkpointer, Snapshots
from alignlab.trainers.costs import Cost, PeakMemory, trainable_dtypes
from alignlab.trainers.outputs import History, save_policy, write_run_files


@dataclass
class StepResult:
    """One micro-batch: ``loss`` summed over its ``units``, metric sums over the same units, and
    the sequences and non-padding tokens that went through the model with gradient."""

    loss: torch.Tensor
    units: float
    sums: dict[str, float]
    tokens: int
    sequences: int


StepFn = Callable[[nn.Module, Any], StepResult]


@dataclass
class LoopResult:
    history: list[dict[str, float]]
    eval_history: list[dict[str, float]]
    steps: int
    tokens: int
    sequences: int
    train_time_s: float


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The example order of one epoch: a permutation fixed by (seed, epoch), so a resumed run
    (or one on another number of processes) sees exactly the batches an uninterrupted one would."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=generator).tolist()


def split_train_eval(
    items: Sequence[Any], eval_fraction: float, seed: int, prompt_of: Callable[[Any], Sequence[int]]
) -> tuple[list[Any], list[Any]]:
    """(train, held-out) items, held out by prompt: every item of a held-out prompt is held out,
    so no held-out pair shares its prompt, or a completion, with a training pair (a prompt gives
    several pairs from the same completions). Prompts are drawn in a seeded order until
    ``eval_fraction`` of the items are held out."""
    keys = [tuple(prompt_of(item)) for item in items]
    sizes = Counter(keys)
    prompts = list(sizes)
    held_out: set[tuple[int, ...]] = set()
    target, count = int(round(eval_fraction * len(items))), 0
    for index in epoch_order(len(prompts), seed, -1):
        if count >= target:
            break
        held_out.add(prompts[index])
        count += sizes[prompts[index]]
    train = [item for item, key in zip(items, keys) if key not in held_out]
    return train, [item for item, key in zip(items, keys) if key in held_out]


def reduce_means(units: float, sums: dict[str, float]) -> dict[str, float]:
    """Global means of per-process metric sums: one all-reduce of (units, sums...)."""
    keys = sorted(sums)
    totals = distributed.all_reduce_sum(torch.tensor([units, *[sums[k] for k in keys]], dtype=torch.float64))
    count = max(float(totals[0]), 1e-12)
    return {k: float(v) / count for k, v in zip(keys, totals[1:])}


def scale_gradients(model: nn.Module, factor: float) -> None:
    for param in model.parameters():
        if param.grad is not None:
            param.grad.mul_(factor)


def add_sums(totals: dict[str, float], sums: dict[str, float]) -> None:
    for key, value in sums.items():
        totals[key] = totals.get(key, 0.0) + float(value)


@torch.no_grad()
def evaluate_batches(
    model: nn.Module, items: Sequence[Any], collate: Callable, step_fn: StepFn, batch_size: int, device: torch.device
) -> dict[str, float]:
    """Means of ``step_fn``'s loss and metrics over ``items`` (this process takes every
    ``world``-th item; the sums meet in one all-reduce)."""
    model.eval()
    mine = list(items)[distributed.rank() :: distributed.world_size()]
    units, sums = 0.0, {"loss": 0.0}
    for start in range(0, len(mine), batch_size):
        out = step_fn(model, _to(collate(mine[start : start + batch_size]), device))
        units += out.units
        add_sums(sums, {"loss": float(out.loss), **out.sums})
    model.train()
    return reduce_means(units, sums)


def _to(batch: Any, device: torch.device) -> Any:
    return batch.to(device) if hasattr(batch, "to") else {k: v.to(device) for k, v in batch.items()}


def train_offline(
    *,
    name: str,
    accelerator: Accelerator,
    model: nn.Module,
    config: OfflineTrainConfig,
    train_items: Sequence[Any],
    eval_items: Sequence[Any],
    collate: Callable[[list[Any]], Any],
    step_fn: StepFn,
    run: TrainingDir,
    seed: int,
    after_step: Callable[[int], None] | None = None,
) -> tuple[nn.Module, LoopResult]:
    """Train ``model`` on ``train_items``; returns the prepared model and the result.

    One optimizer step sees ``config.batch_size`` examples in all: the global batch is cut into
    one contiguous part per process, each part into ``grad_accum_steps`` micro-batches.
    ``after_step(step)`` runs after each optimizer step (e.g. snapshots).
    """
    processes = accelerator.num_processes
    micro = micro_batches(config.batch_size, config, processes, name)
    steps_per_epoch = len(train_items) // config.batch_size
    if steps_per_epoch == 0:
        raise AlignlabError(
            f"{name}: {len(train_items)} training examples are fewer than one batch ({config.batch_size})"
        )
    total_steps = planned_steps(config, len(train_items))

    optimizer = build_optimizer(model, config)
    scheduler = build_scheduler(optimizer, config, total_steps)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    checkpointer = Checkpointer(accelerator, run)
    history, eval_history = History(), History()
    step, tokens, sequences, elapsed = 0, 0, 0, 0.0
    state = checkpointer.restore() if run.resume else None
    if state is not None:
        step, tokens, sequences, elapsed = state["step"], state["tokens"], state["sequences"], state["train_time_s"]
        history.rows, eval_history.rows = state["history"], state["eval_history"]

    def save_checkpoint() -> None:
        checkpointer.save(
            step,
            {
                "step": step,
                "tokens": tokens,
                "sequences": sequences,
                "train_time_s": elapsed,
                "history": history.rows,
                "eval_history": eval_history.rows,
            },
        )

    def run_eval() -> None:
        if eval_items:
            metrics = evaluate_batches(model, eval_items, collate, step_fn, micro, accelerator.device)
            eval_history.log(accelerator, step, {f"eval/{k}": v for k, v in metrics.items()})

    accelerator.init_trackers(name)
    share = config.batch_size // processes
    with progress_task(name, total_steps, enabled=accelerator.is_main_process) as advance:
        advance(step)
        while step < total_steps:
            started = time.perf_counter()
            epoch, position = divmod(step, steps_per_epoch)
            order = epoch_order(len(train_items), seed, epoch)
            first = position * config.batch_size + accelerator.process_index * share
            my_rows = order[first : first + share]
            units, sums, step_tokens, step_sequences, healthy = 0.0, {"loss": 0.0}, 0, 0, True
            for start in range(0, share, micro):
                batch = _to(collate([train_items[i] for i in my_rows[start : start + micro]]), accelerator.device)
                out = step_fn(model, batch)
                last = start + micro >= share
                healthy = backward_if_finite(accelerator, model, out.loss, healthy, last, step + 1, config.nan_policy)
                units += out.units
                step_tokens += out.tokens
                step_sequences += out.sequences
                add_sums(sums, {"loss": float(out.loss.detach()), **out.sums})
            counts = {"tokens": float(step_tokens), "sequences": float(step_sequences)}
            means = reduce_means(units, {**sums, **counts})
            global_units = float(distributed.all_reduce_sum(torch.tensor(units, dtype=torch.float64)))
            # DDP averaged the gradients of the summed losses over processes; make it one mean.
            scale_gradients(model, processes / max(global_units, 1e-12))
            grad_norm = finish_optimizer_step(accelerator, model, optimizer, scheduler, config, healthy, step + 1)
            step += 1
            step_tokens_all = int(round(means.pop("tokens") * global_units))
            tokens += step_tokens_all
            sequences += int(round(means.pop("sequences") * global_units))
            duration = time.perf_counter() - started
            elapsed += duration
            row = {f"train/{k}": v for k, v in means.items()}
            row["train/grad_norm"] = grad_norm
            row["train/lr"] = scheduler.get_last_lr()[0]
            row["train/tokens_per_s"] = step_tokens_all / duration
            history.log(accelerator, step, row)
            if after_step is not None:
                after_step(step)
            if config.eval_every and step % config.eval_every == 0 and step < total_steps:
                run_eval()
            if config.checkpoint_every and step % config.checkpoint_every == 0 and step < total_steps:
                save_checkpoint()
            advance(1, loss=row["train/loss"])
    if not eval_history.rows or eval_history.rows[-1]["step"] != step:
        run_eval()
    # No checkpoint after the last step: the run's own files follow at once, and a run killed
    # before they are written resumes from its last periodic checkpoint.
    finish_trackers(accelerator)
    return model, LoopResult(history.rows, eval_history.rows, step, tokens, sequences, elapsed)


def planned_steps(config: OfflineTrainConfig, examples: int) -> int:
    """Optimizer steps ``train_offline`` will take on ``examples`` training examples: ``max_steps``
    when set (as many passes over the data as that takes), else ``epochs`` passes."""
    return config.max_steps or config.epochs * (examples // config.batch_size)


class OfflineRun:
    """The plumbing of one offline training run; the method is the caller's::

    with OfflineRun(inputs, run) as offline:
        pairs = offline.tokenize(inputs.pairs)
        offline.train(PolicyForward(offline.load_policy()), train_items, eval_items, collate, step_fn)
        return offline.finish({"method": "dpo"})

    The run's settings are the config section of its method (``dpo``, ``kto``, ``sft``,
    ``reward_model``).
    """

    def __init__(self, inputs: TrainInputs, run: TrainingDir) -> None:
        self.name, self.config, self.run = inputs.method, inputs.config, run
        self.cfg: OfflineTrainConfig = getattr(inputs.config, inputs.spec.section)
        self.seed, self.init = inputs.seed, inputs.init
        self.accelerator = create_accelerator(self.cfg, run.path, self.seed)
        self.device = self.accelerator.device
        self.memory = PeakMemory()

    def __enter__(self) -> OfflineRun:
        self.memory.__enter__()
        self.tokenizer = load_tokenizer(self.config.model, self.init)
        return self

    def __exit__(self, *exc: object) -> None:
        self.memory.stop()

    def load_policy(self) -> nn.Module:
        """The trainable policy (with LoRA: the frozen base wrapped with an adapter)."""
        return load_policy(self.config.model, self.device, self.init)

    def tokenize(self, pairs: Sequence[PreferencePair]) -> list[TokenizedPair]:
        """The pairs' token ids (over-long ones truncated or skipped as ``task.overlong`` says)."""
        task = self.config.task
        tokenized, report = tokenize_pairs(
            self.tokenizer, pairs, task.max_prompt_tokens, task.max_response_tokens, task.overlong
        )
        if not tokenized:
            raise DataError(f"{self.name}: no usable preference pairs (all were skipped as over-long)")
        if report.truncated or report.skipped:
            logger.info(
                "%s data: %d pairs truncated, %d skipped as over-long", self.name, report.truncated, report.skipped
            )
        return tokenized

    def train(
        self,
        model: nn.Module,
        train_items: Sequence[Any],
        eval_items: Sequence[Any],
        collate: Callable[[list[Any]], Any],
        step_fn: StepFn,
        snapshots: bool = True,
    ) -> LoopResult:
        """``train_offline`` on the items; with ``snapshots``, the policy is also saved at the
        evaluation's checkpoints along the way."""
        after_step = None
        if snapshots:
            total = planned_steps(self.cfg, len(train_items))
            after_step = Snapshots(
                self.accelerator, model, self.tokenizer, self.run, total, self.config.evaluation.checkpoints
            )
        self.model, self.result = train_offline(
            name=self.name,
            accelerator=self.accelerator,
            model=model,
            config=self.cfg,
            train_items=train_items,
            eval_items=eval_items,
            collate=collate,
            step_fn=step_fn,
            run=self.run,
            seed=self.seed,
            after_step=after_step,
        )
        return self.result

    def finish(self, summary: dict[str, Any], save: bool = True, models_in_memory: int = 1) -> dict[str, Any]:
        """Save the policy (unless the caller saved its own kind of model) and the run files; the
        summary with the step count, the last held-out metrics and the costs."""
        # The peak of training: the merged float32 copy that saving a LoRA policy makes is not part of it.
        self.memory.stop()
        if save:
            save_policy(self.accelerator, self.model, self.tokenizer, self.run.model)
        trainable, total = count_parameters(self.model)
        result = self.result
        summary = {
            **summary,
            "steps": result.steps,
            "final_eval": summary.get("final_eval", result.eval_history[-1] if result.eval_history else {}),
            "cost": Cost(
                result.train_time_s,
                result.tokens,
                self.memory.peak_mb,
                models_in_memory,
                trainable,
                total,
                result.sequences,
            ).as_dict(),
            "trainable_dtypes": trainable_dtypes(self.model),
        }
        history = {"train": result.history, "eval": result.eval_history}
        write_run_files(self.accelerator, self.run, history, summary)
        return summary
