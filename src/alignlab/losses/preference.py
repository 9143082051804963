"""Losses on preferences: the DPO family, the reference-free SimPO and ORPO, KTO, and the
Bradley-Terry reward model. Inputs are sequence log-probs ``(B,)`` (sums over response tokens,
or per-token means where the method says so)."""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F

DPOLossType = Literal["sigmoid", "ipo", "hinge", "robust"]


class PairLossOutput(NamedTuple):
    losses: torch.Tensor  # (B,)
    chosen_rewards: torch.Tensor  # (B,) the method's implicit reward of the chosen response (detached)
    rejected_rewards: torch.Tensor  # (B,) likewise for the rejected response


def dpo_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    reference_chosen: torch.Tensor,
    reference_rejected: torch.Tensor,
    beta: float,
    loss_type: DPOLossType = "sigmoid",
    label_smoothing: float = 0.0,
) -> PairLossOutput:
    """Per-pair losses of the DPO family from sequence log-probs, all ``(B,)``.

    With h = (log pi(y_w) - log pi_ref(y_w)) - (log pi(y_l) - log pi_ref(y_l)) and eps = label_smoothing:

    - sigmoid (DPO, Rafailov et al. 2023, eq. 7): -log sigma(beta h); with eps > 0 this is
      conservative DPO (Mitchell 2023): -(1 - eps) log sigma(beta h) - eps log sigma(-beta h).
    - robust (rDPO, Chowdhury et al. 2024, eq. 8), unbiased under a label-flip rate eps:
      (-(1 - eps) log sigma(beta h) + eps log sigma(-beta h)) / (1 - 2 eps).
    - ipo (Azar et al. 2023, eq. 17 with tau = beta): (h - 1 / (2 beta))^2.
    - hinge (SLiC, Zhao et al. 2023): max(0, 1 - beta h).

    The implicit rewards are beta * (log pi - log pi_ref).
    """
    chosen_logratio = policy_chosen - reference_chosen
    rejected_logratio = policy_rejected - reference_rejected
    h = chosen_logratio - rejected_logratio
    if loss_type == "sigmoid":
        losses = -(1 - label_smoothing) * F.logsigmoid(beta * h) - label_smoothing * F.logsigmoid(-beta * h)
    elif loss_type == "robust":
        losses = (-(1 - label_smoothing) * F.logsigmoid(beta * h) + label_smoothing * F.logsigmoid(-beta * h)) / (
            1 - 2 * label_smoothing
        )
    elif loss_type == "ipo":
        losses = (h - 1 / (2 * beta)) ** 2
    elif loss_type == "hinge":
        losses = torch.relu(1 - beta * h)
    else:
        raise ValueError(f"unknown DPO loss type {loss_type!r}")
    return PairLossOutput(losses, beta * chosen_logratio.detach(), beta * rejected_logratio.detach())


def with_chosen_nll(out: PairLossOutput, chosen_mean_logps: torch.Tensor, alpha: float) -> PairLossOutput:
    """RPO (Pang et al. 2024, "Iterative Reasoning Preference Optimization"): each pair's loss plus
    alpha times its chosen response's negative log-likelihood per token, from that response's mean
    token log-prob ``(B,)``. TRL adds the same term as its 'sft' loss (loss_type ['sigmoid',
    'sft'], loss_weights [1, alpha]) but means the log-probs over the batch's chosen tokens; the
    two agree when the chosen responses are equally long, and the per-response mean does not
    depend on how a batch is split over micro-batches and processes. The paper (alpha 1) divides
    by the prompt's length too."""
    return out._replace(losses=out.losses - alpha * chosen_mean_logps)


def simpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, beta: float, gamma: float) -> PairLossOutput:
    """SimPO (Meng et al. 2024, eq. 6): -log sigma(beta avg log pi(y_w) - beta avg log pi(y_l) - gamma),
    from per-token mean log-probs ``(B,)``; no reference model. Implicit rewards beta * avg log pi."""
    chosen, rejected = beta * policy_chosen, beta * policy_rejected
    return PairLossOutput(-F.logsigmoid(chosen - rejected - gamma), chosen.detach(), rejected.detach())


def orpo_loss(
    policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, chosen_nll: torch.Tensor, lam: float
) -> PairLossOutput:
    """ORPO (Hong et al. 2024, eqs. 6-7): the chosen response's NLL plus
    lambda * -log sigma(log odds(y_w) - log odds(y_l)), odds(y) = P(y) / (1 - P(y)) with P(y) the
    per-token mean probability: inputs are per-token mean log-probs ``(B,)`` and the chosen
    responses' mean NLL ``(B,)``. No reference model. Implicit rewards lambda * avg log pi."""
    log_odds = (policy_chosen - policy_rejected) - (
        torch.log1p(-torch.exp(policy_chosen)) - torch.log1p(-torch.exp(policy_rejected))
    )
    losses = chosen_nll - lam * F.logsigmoid(log_odds)
    return PairLossOutput(losses, lam * policy_chosen.detach(), lam * policy_rejected.detach())


def kto_reference_point(policy_kl_logps: torch.Tensor, reference_kl_logps: torch.Tensor) -> torch.Tensor:
    """KTO's reference point z0 (Ethayarajh et al. 2024, sec. 4.1): the batch estimate of
    KL(pi || pi_ref) from mismatched pairs (x_i, y_j), clamped at 0, and detached: ``(B,), (B,) -> ()``."""
    return (policy_kl_logps - reference_kl_logps).mean().clamp(min=0).detach()


def kto_loss(
    policy_logps: torch.Tensor,
    reference_logps: torch.Tensor,
    desirable: torch.Tensor,
    reference_point: torch.Tensor,
    beta: float,
    desirable_weight: float = 1.0,
    undesirable_weight: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """KTO (Ethayarajh et al. 2024, eq. 8) per completion: with r = log pi - log pi_ref,
    lambda_D (1 - sigma(beta (r - z0))) for desirable completions and lambda_U (1 - sigma(beta
    (z0 - r))) for undesirable ones. ``(B,)`` each, ``desirable`` bool -> (losses, rewards beta r)."""
    r = policy_logps - reference_logps
    losses = torch.where(
        desirable,
        desirable_weight * (1 - torch.sigmoid(beta * (r - reference_point))),
        undesirable_weight * (1 - torch.sigmoid(beta * (reference_point - r))),
    )
    return losses, beta * r.detach()


def bradley_terry_loss(chosen_scores: torch.Tensor, rejected_scores: torch.Tensor) -> torch.Tensor:
    """-log sigma(r(y_w) - r(y_l)) per pair: ``(B,), (B,) -> (B,)`` (Ouyang et al. 2022, eq. 1)."""
    return -F.logsigmoid(chosen_scores - rejected_scores)
