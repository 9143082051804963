"""DPO and its relatives on preference pairs: DPO, conservative DPO, IPO, hinge (SLiC), robust
DPO against a frozen reference, each with RPO's NLL term on the chosen response if asked
(``rpo_alpha``); SimPO and ORPO without one.

The recipe:
1. tokenise the pairs and hold out ``eval_fraction`` of them;
2. for the losses with a reference, compute the reference log-probs of every chosen and rejected
   response once, with the initial policy and no gradient, and cache them on disk: no reference
   model is kept in memory (SimPO and ORPO skip this pass);
3. per batch, send chosen and rejected rows through the policy in one concatenated forward,
   sum (or average) the response-token log-probs, and apply the loss (``losses.preference``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from alignlab import distributed
from alignlab.batch import Sequences
from alignlab.config import DPOFamilyConfig, ExperimentConfig
from alignlab.data import PreferencePair, TokenizedPair, collate_pairs, tokenize_pairs
from alignlab.layout import TrainingDir
from alignlab.losses import PairLossOutput, dpo_loss, orpo_loss, sequence_logprobs, simpo_loss, with_chosen_nll
from alignlab.models import (
    is_peft,
    load_causal_lm,
    load_tokenizer,
    reference_dtype,
    reference_mode,
    training_autocast,
)
from alignlab.pipeline import device as device_of_run
from alignlab.progress import progress_task
from alignlab.scoring import PolicyForward
from alignlab.trainers import TrainInputs
from alignlab.trainers.offline import OfflineRun, StepResult, split_train_eval

REFERENCE_FILE = "reference_logps.safetensors"
REFERENCE_FREE = ("simpo", "orpo")


@dataclass
class PairBatch:
    """A pair batch (chosen rows, then rejected rows) and the reference's sequence log-probs."""

    sequences: Sequences
    reference_chosen: torch.Tensor
    reference_rejected: torch.Tensor

    def to(self, device: torch.device) -> PairBatch:
        return PairBatch(
            self.sequences.to(device), self.reference_chosen.to(device), self.reference_rejected.to(device)
        )


@dataclass
class DPOItem:
    pair: TokenizedPair
    reference_chosen: float = 0.0
    reference_rejected: float = 0.0


def collate_dpo(items: Sequence[DPOItem], pad_token_id: int) -> PairBatch:
    return PairBatch(
        collate_pairs([item.pair for item in items], pad_token_id),
        torch.tensor([item.reference_chosen for item in items], dtype=torch.float32),
        torch.tensor([item.reference_rejected for item in items], dtype=torch.float32),
    )


def uses_average(cfg: DPOFamilyConfig) -> bool:
    return cfg.average_log_prob or cfg.loss_type in REFERENCE_FREE


@torch.no_grad()
def fill_reference_logprobs(
    model: torch.nn.Module, items: list[DPOItem], pad_token_id: int, batch_size: int, average: bool
) -> None:
    """Fill in the reference log-probs of every item (one pass, no gradient). Items go through
    in order of length so that batches carry little padding. With several processes each scores
    every world-size-th batch and one all-reduce hands all of them to every process: the same
    batches, so the same numbers, as one process computes."""
    device = next(model.parameters()).device
    scorer = PolicyForward(model)
    order = sorted(
        range(len(items)),
        key=lambda i: len(items[i].pair.prompt) + max(len(items[i].pair.chosen), len(items[i].pair.rejected)),
    )
    batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    values = torch.zeros(len(items), 2, dtype=torch.float64)
    with progress_task("reference log-probs", len(items)) as advance:
        for rows in batches[distributed.rank() :: distributed.world_size()]:
            batch = collate_dpo([items[i] for i in rows], pad_token_id).sequences.to(device)
            logps = sequence_logprobs(scorer(batch).logprobs, batch.response_mask, average).cpu()
            values[rows] = logps.double().view(2, len(rows)).T
            advance(len(rows) * distributed.world_size())
    for item, (chosen, rejected) in zip(items, distributed.all_reduce_sum(values).tolist()):
        item.reference_chosen, item.reference_rejected = chosen, rejected


def pair_losses(cfg: DPOFamilyConfig, model: torch.nn.Module, batch: PairBatch) -> tuple[PairLossOutput, torch.Tensor]:
    """The configured loss of every pair, and the policy's sequence log-probs ``(2B,)``."""
    scores = model(batch.sequences)
    mask = batch.sequences.response_mask
    logps = sequence_logprobs(scores.logprobs, mask, uses_average(cfg))
    n = logps.shape[0] // 2
    if cfg.loss_type == "simpo":
        return simpo_loss(logps[:n], logps[n:], cfg.beta, cfg.simpo_gamma), logps
    if cfg.loss_type == "orpo":
        # ORPO's SFT term: the chosen responses' NLL per token.
        chosen_nll = -logps[:n]
        return orpo_loss(logps[:n], logps[n:], chosen_nll, cfg.beta), logps
    out = dpo_loss(
        logps[:n],
        logps[n:],
        batch.reference_chosen,
        batch.reference_rejected,
        beta=cfg.beta,
        loss_type=cfg.loss_type,
        label_smoothing=cfg.label_smoothing,
    )
    if cfg.rpo_alpha > 0:
        chosen = logps[:n] if uses_average(cfg) else sequence_logprobs(scores.logprobs[:n], mask[:n], average=True)
        out = with_chosen_nll(out, chosen, cfg.rpo_alpha)
    return out, logps


def dpo_step(cfg: DPOFamilyConfig, model: torch.nn.Module, batch: PairBatch) -> StepResult:
    """Summed pair losses; the unit is one pair."""
    out, logps = pair_losses(cfg, model, batch)
    n = out.losses.shape[0]
    margin = out.chosen_rewards - out.rejected_rewards
    detached = logps.detach()
    return StepResult(
        out.losses.sum(),
        float(n),
        {
            "rewards/chosen": float(out.chosen_rewards.sum()),
            "rewards/rejected": float(out.rejected_rewards.sum()),
            "rewards/margin": float(margin.sum()),
            "rewards/accuracy": float((margin > 0).float().sum()),
            "logps/chosen": float(detached[:n].sum()),
            "logps/rejected": float(detached[n:].sum()),
        },
        int(batch.sequences.attention_mask.sum()),
        len(batch.sequences),
    )


def load_or_compute_reference(
    cfg: DPOFamilyConfig,
    policy: torch.nn.Module,
    items: list[DPOItem],
    pad_token_id: int,
    path: Path,
    reuse: bool,
    is_main: bool,
) -> None:
    """The reference log-probs of ``items``: read from ``path`` when it holds them (``reuse``),
    else computed with the initial policy (with LoRA: its adapter disabled) and written there."""
    cached = load_file(str(path)) if reuse and path.is_file() else None
    if cached is not None and cached["chosen"].shape[0] == len(items):
        for item, chosen, rejected in zip(items, cached["chosen"].tolist(), cached["rejected"].tolist()):
            item.reference_chosen, item.reference_rejected = chosen, rejected
        return
    # The reference is the policy before training (with a LoRA adapter: the adapter disabled),
    # computing as it will train: under the trainer's autocast.
    device = next(policy.parameters()).device
    with (
        reference_mode(policy, None if is_peft(policy) else policy) as reference,
        training_autocast(cfg.mixed_precision, device),
    ):
        fill_reference_logprobs(reference, items, pad_token_id, 2 * cfg.batch_size, uses_average(cfg))
    if is_main:
        tmp = path.with_name(f".{path.name}.tmp")
        save_file(
            {
                "chosen": torch.tensor([i.reference_chosen for i in items]),
                "rejected": torch.tensor([i.reference_rejected for i in items]),
            },
            str(tmp),
        )
        os.replace(tmp, path)


def needs_reference(cfg: DPOFamilyConfig) -> bool:
    return cfg.loss_type not in REFERENCE_FREE


def precompute_reference(config: ExperimentConfig, pairs: Sequence[PreferencePair], path: Path) -> None:
    """Write the base policy's reference log-probs of ``pairs`` to ``path`` once, for every
    DPO-family run of a comparison to read (the comparison's shared stage)."""
    model_config = config.model
    tokenizer = load_tokenizer(model_config)
    device = device_of_run()
    reference = load_causal_lm(model_config, device, trainable=False, dtype=reference_dtype(model_config, device))
    task = config.task
    tokenized, _ = tokenize_pairs(tokenizer, pairs, task.max_prompt_tokens, task.max_response_tokens, task.overlong)
    items = [DPOItem(pair) for pair in tokenized]
    load_or_compute_reference(config.dpo, reference, items, tokenizer.pad_token_id, path, False, True)


def train_dpo(inputs: TrainInputs, run: TrainingDir) -> dict:
    """Train a policy with the ``dpo`` section on the pairs; save it under the run's ``model/``.
    Returns the summary (final held-out metrics and costs).

    The reference log-probs are cached in ``inputs.reference_cache`` (default: the run
    directory) and read from it when it exists: runs that share pairs and reference share one
    pass."""
    cfg = inputs.config.dpo
    with OfflineRun(inputs, run) as offline:
        policy = offline.load_policy()
        items = [DPOItem(pair) for pair in offline.tokenize(inputs.require_pairs())]
        if needs_reference(cfg):
            load_or_compute_reference(
                cfg,
                policy,
                items,
                offline.tokenizer.pad_token_id,
                inputs.reference_cache or run.path / REFERENCE_FILE,
                run.resume or inputs.reference_cache is not None,
                offline.accelerator.is_main_process,
            )
        train_items, eval_items = split_train_eval(items, cfg.eval_fraction, inputs.seed, lambda item: item.pair.prompt)
        offline.train(
            PolicyForward(policy),
            train_items,
            eval_items,
            partial(collate_dpo, pad_token_id=offline.tokenizer.pad_token_id),
            partial(dpo_step, cfg),
        )
        return offline.finish(
            {
                "method": inputs.method,
                "loss_type": cfg.loss_type,
                "beta": cfg.beta,
                "train_pairs": len(train_items),
                "eval_pairs": len(eval_items),
            }
        )
