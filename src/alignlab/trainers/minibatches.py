"""The update phase of the online trainers: ``update_epochs`` passes over an iteration's global
batch in shuffled minibatches, each split into one contiguous share per process and that share
into micro-batches, with the loss normalised once by the whole minibatch's unit count (so
gradient accumulation and several processes give the gradient of one big minibatch exactly)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, Generic, TypeVar

import torch
from accelerate import Accelerator
from torch import nn
from typing_extensions import Self

from alignlab import distributed
from alignlab.batch import Sequences
from alignlab.config import OnlineTrainConfig
from alignlab.losses import TokenWeights, token_weights
from alignlab.optim import backward_if_finite, finish_optimizer_step
from alignlab.rollout import Rollout

Data = TypeVar("Data", bound="RowData")


def crop(batch: Sequences) -> Sequences:
    """Drop the prompt columns (left) and response columns (right) that are padding in every row."""
    prompt_width = int(batch.prompt_mask.sum(-1).max()) if len(batch) else 0
    response_width = int(batch.response_mask.sum(-1).max()) if len(batch) else 0
    cropped = {}
    for f in fields(batch):
        value = getattr(batch, f.name)
        if f.name.startswith("prompt_"):
            value = value[:, value.shape[1] - max(prompt_width, 1) :]
        elif f.name.startswith("response_"):
            value = value[:, : max(response_width, 1)]
        cropped[f.name] = value
    return type(batch)(**cropped)


@dataclass
class RowData:
    """The per-row tensors an algorithm attaches to an iteration's rollout: per sequence ``(B,)``
    or per response token ``(B, R)``. Each algorithm declares its fields in a subclass, so a
    loss reads ``mb.data.advantages``, never a string key; minibatches select and crop every
    field alike."""

    def select(self, rows: torch.Tensor) -> Self:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return type(self)(**{k: None if v is None else v[rows] for k, v in values.items()})

    def cropped(self, width: int, device: torch.device) -> Self:
        """Per-token fields cut to the micro-batch's ``width`` response columns, on ``device``
        (a field left None stays None)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return type(self)(
            **{k: None if v is None else (v[:, :width] if v.dim() == 2 else v).to(device) for k, v in values.items()}
        )


@dataclass
class Minibatch(Generic[Data]):
    """One process's micro-batch of a minibatch: its sequences (cropped), its rows of the
    algorithm's per-row data (cropped alike), the aggregation's token weights, and ``scale`` =
    1 / the whole minibatch's unit count (over all micro-batches and processes)."""

    sequences: Rollout
    data: Data
    weights: torch.Tensor
    scale: float

    @property
    def mask(self) -> torch.Tensor:
        return self.sequences.response_mask.float()


# (model, micro-batch) -> (loss already scaled to the minibatch, metric sums scaled likewise)
LossFn = Callable[[nn.Module, Minibatch], tuple[torch.Tensor, dict[str, torch.Tensor]]]
# (global minibatch rollout, its data) -> the token weights and units of the loss's aggregation
WeighFn = Callable[[Rollout, Any], TokenWeights]


def token_mean_weights(rollout: Rollout, data: RowData) -> TokenWeights:
    """Every response token of the minibatch weighs the same (PPO's token mean)."""
    return token_weights(rollout.response_mask.float(), "token_mean")


# Statistics also logged per update epoch: in the first epoch's first minibatch the ratio is 1
# (on-policy), so whether clipping acts at all shows in the later minibatches and epochs.
PER_EPOCH = ("policy/clipfrac", "policy/approx_kl")


@dataclass
class UpdateResult:
    """The mean over minibatches of each loss statistic (each a global mean), the optimizer step
    count after the update, and the tokens and sequences that went through the training forward
    on all processes."""

    stats: dict[str, float]
    step: int
    tokens: int
    sequences: int


def update_policy(
    accelerator: Accelerator,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    cfg: OnlineTrainConfig,
    rollout: Rollout,
    data: RowData,
    loss_fn: LossFn,
    weigh: WeighFn,
    step: int,
    order_seed: int,
    group: int = 1,
) -> UpdateResult:
    """``update_epochs`` passes over the global batch in minibatches of ``cfg.batch_size`` rows
    (groups of ``group`` adjacent rows kept together), shuffled by ``order_seed`` and the epoch."""
    processes, device = accelerator.num_processes, accelerator.device
    share = cfg.batch_size // processes
    micro = share // cfg.grad_accum_steps
    groups = len(rollout) // group
    totals: dict[str, float] = {}
    per_epoch: dict[str, float] = {}
    minibatches, tokens, sequences = 0, 0, 0
    for epoch in range(cfg.update_epochs):
        epoch_minibatches = 0
        generator = torch.Generator().manual_seed(order_seed + epoch)
        order = (torch.randperm(groups, generator=generator)[:, None] * group + torch.arange(group)).flatten()
        for start in range(0, len(rollout) - cfg.batch_size + 1, cfg.batch_size):
            rows = order[start : start + cfg.batch_size]
            minibatch = rollout.select(rows)
            minibatch_data = data.select(rows)
            weights, units = weigh(minibatch, minibatch_data)
            scale = 1.0 / max(units, 1e-12)
            mine = torch.arange(distributed.rank() * share, (distributed.rank() + 1) * share)
            stats: dict[str, torch.Tensor] = {}
            healthy = True
            for micro_start in range(0, share, micro):
                index = mine[micro_start : micro_start + micro]
                micro_batch = crop(minibatch.select(index))
                width = micro_batch.response_ids.shape[1]
                part = Minibatch(
                    sequences=micro_batch.to(device),
                    data=minibatch_data.select(index).cropped(width, device),
                    weights=weights[index][:, :width].to(device),
                    scale=scale,
                )
                loss, loss_stats = loss_fn(model, part)
                last = micro_start + micro >= share
                # DDP averages gradients over processes: scale up so the step is the global sum.
                healthy = backward_if_finite(
                    accelerator, model, loss * processes, healthy, last, step + 1, cfg.nan_policy
                )
                for key, value in {"loss/total": loss.detach(), **loss_stats}.items():
                    stats[key] = stats.get(key, torch.zeros((), device=device)) + value.detach().float()
                tokens += int(micro_batch.attention_mask.sum())
                sequences += len(micro_batch)
            grad_norm = finish_optimizer_step(accelerator, model, optimizer, scheduler, cfg, healthy, step + 1)
            step += 1
            keys = sorted(stats)
            reduced = distributed.all_reduce_sum(torch.stack([stats[k] for k in keys]))
            for key, value in zip(keys, reduced.tolist()):
                totals[key] = totals.get(key, 0.0) + value
                if key in PER_EPOCH:
                    name = f"{key}/epoch_{epoch + 1}"
                    per_epoch[name] = per_epoch.get(name, 0.0) + value
            totals["train/grad_norm"] = totals.get("train/grad_norm", 0.0) + grad_norm
            minibatches += 1
            epoch_minibatches += 1
        for key in PER_EPOCH:
            name = f"{key}/epoch_{epoch + 1}"
            if name in per_epoch:
                per_epoch[name] /= max(epoch_minibatches, 1)
    tokens, sequences = distributed.all_reduce_sum(torch.tensor([tokens, sequences], dtype=torch.float64)).tolist()
    stats = {k: v / max(minibatches, 1) for k, v in totals.items()} | per_epoch
    return UpdateResult(stats, step, int(tokens), int(sequences))
