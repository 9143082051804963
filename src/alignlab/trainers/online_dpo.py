"""Online DPO (Guo et al. 2024, "Direct language model alignment from online AI feedback").

One iteration:
1. sample two completions of each of ``prompts_per_iteration`` prompts from the current policy;
2. score both (the reward model, or the gold reward) and label the better one chosen; a pair
   whose two scores are equal carries no preference and is left out;
3. no-grad forward of the fixed reference gives its sequence log-probs;
4. ``update_epochs`` passes of minibatches of pairs with the DPO (or IPO) loss, the mean over
   the minibatch's labelled pairs.
The policy's own no-grad pass serves only the logged KL: with one optimizer step an iteration the
update's forward gives it, and the pass is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from alignlab.config import OnlineDPOConfig
from alignlab.config.methods import ONLINE_DPO_PAIR as PAIR
from alignlab.layout import TrainingDir
from alignlab.losses import TokenWeights, dpo_loss, kl_estimate, sequence_logprobs
from alignlab.rollout import Rollout
from alignlab.scoring import PolicyForward
from alignlab.trainers import TrainInputs
from alignlab.trainers.minibatches import Minibatch, RowData
from alignlab.trainers.online import OnlineRun


@dataclass
class PairData(RowData):
    """Per row ``(2N,)``, adjacent rows a prompt's pair: log pi_ref of the whole response, 1 where
    the row's pair chose its first row, and 1 for rows of pairs with a preference."""

    ref_sequence_logprobs: torch.Tensor
    first_chosen: torch.Tensor
    labelled: torch.Tensor


def pair_labels(score: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For adjacent rows (a, b) of each prompt: (1 where a is chosen, else 0) per row, and 1 for
    rows of pairs with a preference (different scores). ``(2N,) -> (2N,), (2N,)``."""
    a, b = score.view(-1, PAIR).unbind(-1)
    first_chosen = (a > b).float().repeat_interleave(PAIR)
    labelled = (a != b).float().repeat_interleave(PAIR)
    return first_chosen, labelled


def online_dpo_loss(
    cfg: OnlineDPOConfig, temperature: float, logs_kl: bool, model: nn.Module, mb: Minibatch[PairData]
) -> tuple[torch.Tensor, dict]:
    """The DPO loss of the micro-batch's pairs (adjacent rows), summed and scaled to the mean
    over the minibatch's labelled pairs; with ``logs_kl`` (one minibatch an iteration, on the
    policy that sampled) also the policy's KL to the reference, summed over sequences and
    averaged over the minibatch's rows (``objective/kl``)."""
    new = model(mb.sequences, temperature)
    logps = sequence_logprobs(new.logprobs, mb.mask).view(-1, PAIR)
    ref = mb.data.ref_sequence_logprobs.view(-1, PAIR)
    first = mb.data.first_chosen.view(-1, PAIR)[:, 0].bool()
    labelled = mb.data.labelled.view(-1, PAIR)[:, 0]
    chosen, rejected = torch.where(first, logps[:, 0], logps[:, 1]), torch.where(first, logps[:, 1], logps[:, 0])
    ref_chosen, ref_rejected = torch.where(first, ref[:, 0], ref[:, 1]), torch.where(first, ref[:, 1], ref[:, 0])
    out = dpo_loss(chosen, rejected, ref_chosen, ref_rejected, beta=cfg.beta, loss_type=cfg.loss_type)
    w = labelled * mb.scale
    margin = out.chosen_rewards - out.rejected_rewards
    stats = {
        "loss/policy": (out.losses * w).sum().detach(),
        "rewards/margin": (margin * w).sum(),
        "rewards/accuracy": ((margin > 0).float() * w).sum(),
    }
    if logs_kl:
        stats["objective/kl"] = (logps.detach() - ref).sum() / cfg.batch_size
    return (out.losses * w).sum(), stats


def labelled_pairs(rollout: Rollout, data: PairData) -> TokenWeights:
    """The unit is a labelled pair: the loss is the mean over the minibatch's labelled pairs."""
    return TokenWeights(rollout.response_mask.float(), float(data.labelled.sum()) / PAIR)


def train_online_dpo(inputs: TrainInputs, run: TrainingDir) -> dict:
    """Train a policy with the ``online_dpo`` section on the prompts; save it under the run's ``model/``."""
    cfg = inputs.config.online_dpo
    temperature = inputs.config.generation.temperature
    with OnlineRun(inputs, run, PAIR) as online:
        online.prepare(PolicyForward(online.load_policy()))
        kl_in_update = online.update_sees_sampling_policy
        for iteration, batch_prompts in online.iterations():
            # 1-3: two samples per prompt, scored and labelled; the reference's log-probs.
            batch = online.sample_and_score(batch_prompts, iteration, old_logprobs=not kl_in_update)
            first_chosen, labelled = pair_labels(batch.score)
            # 4: DPO epochs on the labelled pairs.
            data = PairData(sequence_logprobs(batch.ref_logprobs, batch.mask), first_chosen, labelled)
            update = online.update(
                partial(online_dpo_loss, cfg, temperature, kl_in_update),
                batch.rollout,
                data,
                labelled_pairs,
                iteration,
            )
            # The KL is not part of online DPO's objective (beta regularises it implicitly): logged only.
            if not kl_in_update:
                log_ratio = kl_estimate(batch.logprobs, batch.ref_logprobs, "k1") * batch.mask
                update.stats["objective/kl"] = float(log_ratio.sum(-1).mean())
            metrics = {**batch.metrics(), **update.stats, "rollout/labelled_fraction": float(labelled.mean())}
            online.end_iteration(metrics, update)
        return online.finish({"method": "online-dpo", "beta": cfg.beta})
