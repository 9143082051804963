"""KTO (Ethayarajh et al. 2024) on the preference pairs, split into desirable (chosen) and
undesirable (rejected) completions: no pairs needed at training time, only a thumbs up or down.

The recipe:
1. every pair gives two examples, (prompt, chosen, desirable) and (prompt, rejected, undesirable);
   each example also gets a *mismatched* completion (another example's, fixed by the seed) for
   the reference point;
2. the reference log-probs of every completion and every mismatched completion are computed once
   with the initial policy (no reference model in memory);
3. per micro-batch, the reference point z0 = max(0, mean of log pi(y'|x) - log pi_ref(y'|x)
   over its mismatched completions) (no gradient), then the KTO loss of ``losses.kto_loss``
   per example.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import torch

from alignlab import distributed
from alignlab.batch import Sequences, collate
from alignlab.config import KTOConfig
from alignlab.layout import TrainingDir
from alignlab.losses import kto_loss, kto_reference_point, sequence_logprobs
from alignlab.models import is_peft, reference_mode, training_autocast
from alignlab.progress import progress_task
from alignlab.scoring import PolicyForward
from alignlab.trainers import TrainInputs
from alignlab.trainers.offline import OfflineRun, StepResult, epoch_order, split_train_eval


@dataclass
class KTOExample:
    prompt: list[int]
    completion: list[int]
    mismatched: list[int]
    desirable: bool
    reference: float = 0.0
    reference_mismatched: float = 0.0


@dataclass
class KTOBatch:
    completions: Sequences
    mismatched: Sequences
    desirable: torch.Tensor
    reference: torch.Tensor
    reference_mismatched: torch.Tensor

    def to(self, device: torch.device) -> KTOBatch:
        return KTOBatch(
            self.completions.to(device),
            self.mismatched.to(device),
            self.desirable.to(device),
            self.reference.to(device),
            self.reference_mismatched.to(device),
        )


def kto_examples(pairs: Sequence, seed: int) -> list[KTOExample]:
    """Desirable and undesirable examples from tokenised pairs, each with a mismatched completion
    drawn from another example (a seeded permutation shifted by one, so never its own)."""
    examples = [KTOExample(p.prompt, p.chosen, [], True) for p in pairs]
    examples += [KTOExample(p.prompt, p.rejected, [], False) for p in pairs]
    order = epoch_order(len(examples), seed, -2)
    for position, index in enumerate(order):
        examples[index].mismatched = examples[order[(position + 1) % len(order)]].completion
    return examples


def collate_kto(items: Sequence[KTOExample], pad_token_id: int) -> KTOBatch:
    prompts = [item.prompt for item in items]
    return KTOBatch(
        collate(prompts, [item.completion for item in items], pad_token_id),
        collate(prompts, [item.mismatched for item in items], pad_token_id),
        torch.tensor([item.desirable for item in items]),
        torch.tensor([item.reference for item in items], dtype=torch.float32),
        torch.tensor([item.reference_mismatched for item in items], dtype=torch.float32),
    )


@torch.no_grad()
def fill_reference_logprobs_kto(
    model: torch.nn.Module, items: list[KTOExample], pad_token_id: int, batch_size: int
) -> None:
    """Fill in log pi_ref of every example's completion and of its mismatched completion. With
    several processes each scores every world-size-th batch; one all-reduce shares them."""
    device = next(model.parameters()).device
    scorer = PolicyForward(model)
    values = torch.zeros(len(items), 2, dtype=torch.float64)
    starts = range(0, len(items), batch_size)
    with progress_task("reference log-probs", len(items)) as advance:
        for start in starts[distributed.rank() :: distributed.world_size()]:
            batch = collate_kto(items[start : start + batch_size], pad_token_id).to(device)
            own = sequence_logprobs(scorer(batch.completions).logprobs, batch.completions.response_mask).cpu()
            other = sequence_logprobs(scorer(batch.mismatched).logprobs, batch.mismatched.response_mask).cpu()
            values[start : start + len(own)] = torch.stack([own, other], dim=1).double()
            advance(len(own) * distributed.world_size())
    for item, (reference, mismatched) in zip(items, distributed.all_reduce_sum(values).tolist()):
        item.reference, item.reference_mismatched = reference, mismatched


def kto_step(cfg: KTOConfig, model: torch.nn.Module, batch: KTOBatch) -> StepResult:
    """Summed KTO losses of a micro-batch; the unit is one completion.

    The reference point is estimated from this micro-batch's own mismatched completions, so
    it depends on the micro-batch size (as in the paper, which estimates it per batch)."""
    with torch.no_grad():
        kl_logps = sequence_logprobs(model(batch.mismatched).logprobs, batch.mismatched.response_mask)
        reference_point = kto_reference_point(kl_logps, batch.reference_mismatched)
    logps = sequence_logprobs(model(batch.completions).logprobs, batch.completions.response_mask)
    losses, rewards = kto_loss(
        logps,
        batch.reference,
        batch.desirable,
        reference_point,
        cfg.beta,
        cfg.desirable_weight,
        cfg.undesirable_weight,
    )
    desirable = batch.desirable.float()
    return StepResult(
        losses.sum(),
        float(len(losses)),
        {
            "kl": float(reference_point) * len(losses),
            "rewards/desirable": float((rewards * desirable).sum()),
            "rewards/undesirable": float((rewards * (1 - desirable)).sum()),
            "desirable_fraction": float(desirable.sum()),
        },
        # Trained tokens: the completions only (the mismatched ones pass without gradient).
        int(batch.completions.attention_mask.sum()),
        len(batch.completions),
    )


def train_kto(inputs: TrainInputs, run: TrainingDir) -> dict:
    """Train a policy with the ``kto`` section on the pairs' completions; save it under the run's ``model/``."""
    cfg = inputs.config.kto
    with OfflineRun(inputs, run) as offline:
        policy = offline.load_policy()
        train_pairs, eval_pairs = split_train_eval(
            offline.tokenize(inputs.require_pairs()), cfg.eval_fraction, inputs.seed, lambda pair: pair.prompt
        )
        train_items, eval_items = kto_examples(train_pairs, inputs.seed), kto_examples(eval_pairs, inputs.seed)
        pad = offline.tokenizer.pad_token_id
        with (
            reference_mode(policy, None if is_peft(policy) else policy) as reference,
            training_autocast(cfg.mixed_precision, offline.device),
        ):
            fill_reference_logprobs_kto(reference, train_items + eval_items, pad, cfg.batch_size)
        offline.train(
            PolicyForward(policy),
            train_items,
            eval_items,
            partial(collate_kto, pad_token_id=pad),
            partial(kto_step, cfg),
        )
        return offline.finish({"method": "kto", "beta": cfg.beta, "train_examples": len(train_items)})
