"""The math of alignment, as pure functions of tensors.

Shapes: ``B`` sequences, ``T`` response tokens, ``V`` vocabulary, ``N`` prompts with ``G``
completions each. Masks are 1 for real response tokens and 0 for padding; every reduction over
tokens is masked. Nothing here touches a model, an optimizer or a data loader.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F

# --------------------------------------------------------------------------------------------
# Token-level helpers
# --------------------------------------------------------------------------------------------


def logprobs_from_logits(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """log softmax(logits)[label] per position: ``(B, T, V), (B, T) -> (B, T)``.

    Through ``cross_entropy``, whose fused kernel runs forward and backward twice as fast on CPU
    as ``gather - logsumexp``.
    """
    return -F.cross_entropy(logits.flatten(0, -2), labels.flatten(), reduction="none").view_as(labels)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of softmax(logits) per position: ``(B, T, V) -> (B, T)``."""
    log_p = F.log_softmax(logits, dim=-1)
    return -(log_p.exp() * log_p).sum(-1)


def masked_sum(values: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    return (values * mask).sum() if dim is None else (values * mask).sum(dim)


def masked_mean(values: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean over positions where ``mask`` is 1 (0 where there are none, never NaN)."""
    return masked_sum(values, mask, dim) / mask.sum(dim).clamp(min=1)


def masked_var(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Unbiased variance over masked positions (0 for fewer than two)."""
    mean = masked_mean(values, mask)
    n = mask.sum()
    return masked_sum((values - mean) ** 2, mask) / (n - 1).clamp(min=1)


def masked_whiten(values: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True, eps: float = 1e-8) -> torch.Tensor:
    """Normalise to unit variance (and zero mean) over masked positions; padding stays 0."""
    mean, var = masked_mean(values, mask), masked_var(values, mask)
    whitened = (values - mean) * torch.rsqrt(var + eps)
    if not shift_mean:
        whitened = whitened + mean
    return whitened * mask


def sequence_logprobs(token_logprobs: torch.Tensor, mask: torch.Tensor, average: bool = False) -> torch.Tensor:
    """log pi(y|x) of each response: the sum (or the per-token mean) over response tokens.
    ``(B, T), (B, T) -> (B,)``. Prompt and padding tokens must be 0 in ``mask``."""
    total = masked_sum(token_logprobs, mask, dim=-1)
    return total / mask.sum(-1).clamp(min=1) if average else total


# --------------------------------------------------------------------------------------------
# DPO family
# --------------------------------------------------------------------------------------------

DPOLossType = Literal["sigmoid", "ipo", "hinge", "robust"]


class DPOOutput(NamedTuple):
    losses: torch.Tensor  # (B,)
    chosen_rewards: torch.Tensor  # (B,) beta * (log pi - log pi_ref) of the chosen response
    rejected_rewards: torch.Tensor  # (B,) likewise for the rejected response


def dpo_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    reference_chosen: torch.Tensor,
    reference_rejected: torch.Tensor,
    beta: float,
    loss_type: DPOLossType = "sigmoid",
    label_smoothing: float = 0.0,
) -> DPOOutput:
    """Per-pair losses of the DPO family from sequence log-probs, all ``(B,)``.

    With h = (log pi(y_w) - log pi_ref(y_w)) - (log pi(y_l) - log pi_ref(y_l)) and eps = label_smoothing:

    - sigmoid (DPO, Rafailov et al. 2023, eq. 7): -log sigma(beta h); with eps > 0 this is
      conservative DPO (Mitchell 2023): -(1 - eps) log sigma(beta h) - eps log sigma(-beta h).
    - robust (rDPO, Chowdhury et al. 2024, eq. 8), unbiased under a label-flip rate eps:
      (-(1 - eps) log sigma(beta h) + eps log sigma(-beta h)) / (1 - 2 eps).
    - ipo (Azar et al. 2023, eq. 17 with tau = beta): (h - 1 / (2 beta))^2.
    - hinge (SLiC, Zhao et al. 2023): max(0, 1 - beta h).
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
    return DPOOutput(losses, beta * chosen_logratio.detach(), beta * rejected_logratio.detach())


# --------------------------------------------------------------------------------------------
# Reward model
# --------------------------------------------------------------------------------------------


def bradley_terry_loss(chosen_scores: torch.Tensor, rejected_scores: torch.Tensor) -> torch.Tensor:
    """-log sigma(r(y_w) - r(y_l)) per pair: ``(B,), (B,) -> (B,)`` (Ouyang et al. 2022, eq. 1)."""
    return -F.logsigmoid(chosen_scores - rejected_scores)


# --------------------------------------------------------------------------------------------
# KL to the reference
# --------------------------------------------------------------------------------------------

KLEstimator = Literal["k1", "k2", "k3"]


def kl_estimate(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, kind: KLEstimator = "k1") -> torch.Tensor:
    """Per-sample estimate of KL(pi || pi_ref) from tokens sampled from pi (Schulman 2020,
    "Approximating KL divergence"). With log r = log pi_ref - log pi:

    k1 = -log r (unbiased, high variance, can be negative); k2 = (log r)^2 / 2 (biased, low
    variance); k3 = (r - 1) - log r (unbiased, low variance, always >= 0).
    """
    log_r = ref_logprobs - logprobs
    if kind == "k1":
        return -log_r
    if kind == "k2":
        return 0.5 * log_r**2
    if kind == "k3":
        return torch.expm1(log_r) - log_r
    raise ValueError(f"unknown KL estimator {kind!r}")


def kl_from_logits(logits: torch.Tensor, ref_logits: torch.Tensor) -> torch.Tensor:
    """Exact KL(softmax(logits) || softmax(ref_logits)) at each position: ``(B, T, V) -> (B, T)``.

    Summed along a sampled response, this estimates the sequence KL without bias, is never
    negative, and varies far less than summing per-token log-ratios (the next-token
    distributions are integrated exactly; only the prefixes are sampled)."""
    log_p = F.log_softmax(logits, dim=-1)
    log_q = F.log_softmax(ref_logits, dim=-1)
    return (log_p.exp() * (log_p - log_q)).sum(-1)


def adaptive_kl_coef(kl_coef: float, observed_kl: float, target_kl: float, n_steps: int, horizon: int) -> float:
    """The adaptive KL controller of Ziegler et al. 2019 (sec. 2.2): move the coefficient so the
    observed KL approaches the target, by at most 20 % of n_steps / horizon per update."""
    proportional_error = max(-0.2, min(0.2, observed_kl / target_kl - 1.0))
    return kl_coef * (1.0 + proportional_error * n_steps / horizon)


# --------------------------------------------------------------------------------------------
# PPO
# --------------------------------------------------------------------------------------------


def last_token_index(mask: torch.Tensor) -> torch.Tensor:
    """Index of the last real token of each right-padded row (0 for an empty row): ``(B, T) -> (B,)``."""
    return (mask.sum(-1) - 1).clamp(min=0).long()


def ppo_token_rewards(
    scores: torch.Tensor, logprobs: torch.Tensor, ref_logprobs: torch.Tensor, mask: torch.Tensor, kl_coef: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """RLHF reward per token (Ziegler et al. 2019; Stiennon et al. 2020, eq. 2): the sequence score
    at the last response token, minus kl_coef * (log pi - log pi_ref) at every token.

    ``scores (B,)``, the rest ``(B, T)`` -> ``(rewards (B, T), kl (B, T))``, both 0 on padding.
    """
    kl = kl_estimate(logprobs, ref_logprobs, "k1") * mask
    rewards = -kl_coef * kl
    rows = torch.arange(rewards.shape[0], device=rewards.device)
    rewards[rows, last_token_index(mask)] += scores.to(rewards.dtype) * (mask.sum(-1) > 0)
    return rewards, kl


def gae_advantages(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation (Schulman et al. 2016, eq. 16) over response tokens.

    delta_t = r_t + gamma V(s_{t+1}) - V(s_t), A_t = delta_t + gamma lam A_{t+1}; the value after the
    last real token is 0 (the episode ends there). ``(B, T)`` each -> ``(advantages, returns)``
    with returns = A + V, both 0 on padding.
    """
    advantages = torch.zeros_like(rewards)
    next_advantage = torch.zeros_like(rewards[:, 0])
    next_value = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.shape[1])):
        m = mask[:, t].to(rewards.dtype)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        advantage = delta + gamma * lam * next_advantage
        # On padding carry nothing backwards, so the last real token sees a terminal state.
        next_advantage = advantage * m
        next_value = values[:, t] * m
        advantages[:, t] = next_advantage
    returns = (advantages + values) * mask
    return advantages, returns


class PolicyLossOutput(NamedTuple):
    loss: torch.Tensor  # scalar
    clipfrac: torch.Tensor  # fraction of tokens whose ratio was clipped
    approx_kl: torch.Tensor  # k3 estimate of KL(pi_old || pi) over the batch's tokens


def clipped_policy_loss(
    logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor, clip_range: float
) -> PolicyLossOutput:
    """PPO's clipped surrogate (Schulman et al. 2017, eq. 7), negated to be minimised, averaged
    over response tokens. All inputs ``(B, T)``; advantages are constants."""
    log_ratio = logprobs - old_logprobs
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip_range, 1.0 + clip_range)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    with torch.no_grad():
        clipfrac = masked_mean((clipped > unclipped).float(), mask)
        approx_kl = masked_mean(kl_estimate(old_logprobs, logprobs, "k3"), mask)
    return PolicyLossOutput(loss, clipfrac, approx_kl)


def clipped_value_loss(
    values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor, clip_range: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """0.5 * max((V - R)^2, (V_clip - R)^2) with V_clip = V_old + clip(V - V_old, -c, c), averaged
    over response tokens (the value clipping of OpenAI's baselines PPO2). Returns (loss, clipfrac)."""
    clipped_values = old_values + torch.clamp(values - old_values, -clip_range, clip_range)
    unclipped_error = (values - returns) ** 2
    clipped_error = (clipped_values - returns) ** 2
    loss = 0.5 * masked_mean(torch.maximum(unclipped_error, clipped_error), mask)
    with torch.no_grad():
        clipfrac = masked_mean((clipped_error > unclipped_error).float(), mask)
    return loss, clipfrac


def explained_variance(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """1 - Var(R - V) / Var(R) over response tokens: 1 is a perfect critic, <= 0 a useless one."""
    var_returns = masked_var(returns, mask)
    return 1.0 - masked_var(returns - values, mask) / var_returns.clamp(min=1e-8)


# --------------------------------------------------------------------------------------------
# Value-free online RL
# --------------------------------------------------------------------------------------------


def group_advantages(rewards: torch.Tensor, scale: bool = True, eps: float = 1e-4) -> torch.Tensor:
    """GRPO's advantage (Shao et al. 2024, sec. 4.1.2): each reward minus its group's mean,
    divided by the group's (unbiased) std when ``scale``. ``(N, G) -> (N, G)``.
    A group of equal rewards gets advantage 0 (never NaN)."""
    centred = rewards - rewards.mean(dim=1, keepdim=True)
    if not scale:
        return centred
    return centred / (rewards.std(dim=1, keepdim=True) + eps)


def leave_one_out_advantages(rewards: torch.Tensor) -> torch.Tensor:
    """RLOO's advantage (Kool et al. 2019; Ahmadian et al. 2024, eq. 5): each reward minus the mean
    of the *other* k - 1 rewards of its prompt. ``(N, k) -> (N, k)``, k >= 2."""
    k = rewards.shape[1]
    baseline = (rewards.sum(dim=1, keepdim=True) - rewards) / (k - 1)
    return rewards - baseline


def policy_gradient_loss(logprobs: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """REINFORCE: -A log pi(y|x), with the sequence log-prob summed over response tokens and the
    loss averaged over sequences. ``logprobs, mask (B, T)``, ``advantages (B,)``."""
    return -(advantages * masked_sum(logprobs, mask, dim=-1)).mean()
