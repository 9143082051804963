"""Losses and estimators of online RL on language models: KL estimates, the RLHF token reward,
GAE, PPO's clipped surrogates and their successors (CISPO's clipped weights, SAPO's soft gate,
the importance-weighted KL), the value-free baselines (GRPO, RLOO, REINFORCE++), and how a
per-token loss is aggregated.

Every loss here is per token ``(B, T)`` (0 on padding). How tokens are weighted into one number
is a separate, explicit choice (``token_weights``): the trainer sums ``loss * weights`` over the
micro-batches of one optimizer step and divides once by the step's unit count, so gradient
accumulation and several processes give the gradient of one big batch exactly.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch

from alignlab.losses.tokens import last_token_index, masked_mean, masked_var

KLEstimator = Literal["k1", "k2", "k3"]
Aggregation = Literal["token_mean", "grpo", "dr_grpo", "dapo"]
RatioLevel = Literal["token", "sequence"]


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


def adaptive_kl_coef(kl_coef: float, observed_kl: float, target_kl: float, n_steps: int, horizon: int) -> float:
    """The adaptive KL controller of Ziegler et al. 2019 (sec. 2.2): move the coefficient so the
    observed KL approaches the target, by at most 20 % of n_steps / horizon per update."""
    proportional_error = max(-0.2, min(0.2, observed_kl / target_kl - 1.0))
    return kl_coef * (1.0 + proportional_error * n_steps / horizon)


def token_rewards(scores: torch.Tensor, kl: torch.Tensor, mask: torch.Tensor, kl_coef: float) -> torch.Tensor:
    """RLHF reward per token (Ziegler et al. 2019; Stiennon et al. 2020, eq. 2): the sequence score
    at the last response token, minus kl_coef * kl_t at every token. ``scores (B,)``, ``kl`` and
    ``mask (B, T)`` -> ``(B, T)``, 0 on padding."""
    rewards = -kl_coef * kl * mask
    rows = torch.arange(rewards.shape[0], device=rewards.device)
    rewards[rows, last_token_index(mask)] += scores.to(rewards.dtype) * (mask.sum(-1) > 0)
    return rewards


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


def returns_to_go(rewards: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0) -> torch.Tensor:
    """G_t = sum_{s >= t} gamma^(s - t) r_s over each response: ``(B, T) -> (B, T)``, 0 on padding."""
    returns = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.shape[1])):
        running = (rewards[:, t] + gamma * running) * mask[:, t]
        returns[:, t] = running
    return returns


def global_whiten(values: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Zero mean, unit variance over every masked token of the batch (REINFORCE++'s global
    advantage normalisation, Hu 2025, and PPO's advantage whitening); padding stays 0."""
    mean, var = masked_mean(values, mask), masked_var(values, mask)
    return (values - mean) * torch.rsqrt(var + eps) * mask


class SurrogateOutput(NamedTuple):
    losses: torch.Tensor  # (B, T) per-token loss, 0 on padding
    # (B, T) how much the clip acted on each token, 0 where it did not: 1 where a hard bound took
    # over (PPO's clipped branch, CISPO's cap on the weight), 1 - the gate's weight under SAPO's
    # soft gate; its mean is the clip fraction
    clipped: torch.Tensor
    approx_kl: torch.Tensor  # (B, T) k3 estimate of KL(pi_old || pi) per token (detached)


def importance_log_ratio(
    logprobs: torch.Tensor, old_logprobs: torch.Tensor, mask: torch.Tensor, level: RatioLevel = "token"
) -> torch.Tensor:
    """log(pi / pi_old) per token ``(B, T)``: the token's own (``level="token"``), or GSPO's
    sequence ratio (Zheng et al. 2025), the mean token log-ratio of the sequence on every token
    (``level="sequence"``)."""
    log_ratio = logprobs - old_logprobs
    if level == "sequence":
        return masked_mean(log_ratio, mask, dim=-1).unsqueeze(-1).expand_as(logprobs)
    if level != "token":
        raise ValueError(f"unknown importance sampling level {level!r}")
    return log_ratio


def _per_token(advantages: torch.Tensor) -> torch.Tensor:
    """``(B,)`` advantages (one per sequence) as a ``(B, 1)`` column that broadcasts over tokens."""
    return advantages.unsqueeze(-1) if advantages.dim() == 1 else advantages


@torch.no_grad()
def _approx_kl(logprobs: torch.Tensor, old_logprobs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """What every surrogate logs beside its loss: the k3 estimate of KL(pi_old || pi) per token
    ``(B, T)``, 0 on padding, without gradient."""
    return kl_estimate(old_logprobs, logprobs, "k3") * mask


def clipped_surrogate(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_low: float,
    clip_high: float | None = None,
    level: RatioLevel = "token",
) -> SurrogateOutput:
    """PPO's clipped surrogate (Schulman et al. 2017, eq. 7), negated, per token.

    ``advantages`` is ``(B, T)`` or ``(B,)`` (one per sequence, broadcast). The ratio is clipped
    to [1 - clip_low, 1 + clip_high] (DAPO's asymmetric "clip-higher" when they differ; Yu et al.
    2025). ``level="sequence"`` is GSPO (Zheng et al. 2025): one ratio per sequence, the exp of
    the mean token log-ratio, so every token of a sequence is clipped together.
    """
    clip_high = clip_low if clip_high is None else clip_high
    advantages = _per_token(advantages)
    ratio = torch.exp(importance_log_ratio(logprobs, old_logprobs, mask, level))
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high)
    losses = torch.maximum(unclipped, clipped) * mask
    with torch.no_grad():
        was_clipped = (clipped > unclipped).float() * mask
    return SurrogateOutput(losses, was_clipped, _approx_kl(logprobs, old_logprobs, mask))


def cispo_surrogate(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    max_ratio: float,
    level: RatioLevel = "token",
) -> SurrogateOutput:
    """CISPO (MiniMax 2025, "MiniMax-M1", arXiv 2506.13585): REINFORCE weighted by the importance
    ratio, with the *weight* clipped and detached instead of the update, so that no token loses its
    gradient::

        loss_t = -sg(min(r_t, max_ratio)) * A * log pi_t,    r_t = pi_t / pi_old_t

    Its gradient is -min(r_t, max_ratio) * A * grad log pi_t: PPO's on-policy gradient, importance
    weighted off-policy, the weight capped. PPO instead zeroes the gradient of clipped tokens, which
    in MiniMax-M1 were often rare tokens that open a reflection ("However", "Wait").

    ``max_ratio`` is the cap itself, MiniMax-M1's 1 + eps_high^IS (no lower bound, as there):
    TRL's ``epsilon_high`` under ``loss_type="cispo"`` (ScaleRL, arXiv 2510.13786, recommends 5.0;
    left unset, TRL falls back to ``epsilon`` and caps the weight at 0.2). ``advantages`` ``(B,)``
    or ``(B, T)``; ``level`` as in ``clipped_surrogate``. ``clipped`` flags the tokens whose weight
    was capped, whatever the sign of their advantage (TRL's ``cispo_clip_ratio`` counts those with
    A > 0 only). The loss value is no surrogate objective (a log-likelihood scaled by fixed
    weights); its gradient is the update.
    """
    if max_ratio <= 0:
        raise ValueError(f"CISPO's max_ratio caps the importance weight and must be positive, got {max_ratio}")
    advantages = _per_token(advantages)
    ratio = torch.exp(importance_log_ratio(logprobs, old_logprobs, mask, level))
    weight = torch.clamp(ratio, max=max_ratio).detach()
    losses = -weight * advantages * logprobs * mask
    with torch.no_grad():
        was_clipped = (ratio > max_ratio).float() * mask
    return SurrogateOutput(losses, was_clipped, _approx_kl(logprobs, old_logprobs, mask))


def sapo_surrogate(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    temperature_pos: float = 1.0,
    temperature_neg: float = 1.05,
    level: RatioLevel = "token",
) -> SurrogateOutput:
    """SAPO ("Soft Adaptive Policy Optimization", arXiv 2511.20347, 2025): PPO's hard clip
    replaced by a smooth gate of the ratio::

        loss_t = -(4 / tau) * sigmoid(tau * (r_t - 1)) * A,    tau = tau_pos if A > 0 else tau_neg

    Its gradient is -A * w(r_t) * grad r_t with the gate's weight w = 4 s (1 - s), s =
    sigmoid(tau (r - 1)): 1 on-policy (r = 1), so the on-policy gradient is the policy gradient
    itself, and falling smoothly towards 0 as the ratio leaves 1, faster for a larger tau, instead
    of dropping to 0 at a clip bound. A larger temperature for negative advantages (TRL's defaults
    1.0 and 1.05) damps off-policy updates that push probability down sooner: the paper argues those
    spread over many unrelated tokens and are the less stable ones.

    TRL's ``sapo_temperature_pos`` / ``sapo_temperature_neg``; an advantage of 0 takes tau_neg, as
    in TRL. ``clipped`` is 1 - w(r_t), the share of the token's gradient the gate removed.
    ``advantages`` ``(B,)`` or ``(B, T)``; ``level`` as in ``clipped_surrogate``.
    """
    if temperature_pos <= 0 or temperature_neg <= 0:
        raise ValueError(f"SAPO's temperatures must be positive, got {temperature_pos} and {temperature_neg}")
    advantages = _per_token(advantages)
    ratio = torch.exp(importance_log_ratio(logprobs, old_logprobs, mask, level))
    tau = torch.where(advantages > 0, temperature_pos, temperature_neg).to(ratio.dtype)
    gate = torch.sigmoid(tau * (ratio - 1.0))
    losses = -(4.0 / tau) * gate * advantages * mask
    with torch.no_grad():
        attenuation = (1.0 - 4.0 * gate * (1.0 - gate)) * mask
    return SurrogateOutput(losses, attenuation, _approx_kl(logprobs, old_logprobs, mask))


def importance_weighted_kl(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor,
    mask: torch.Tensor,
    level: RatioLevel = "token",
) -> torch.Tensor:
    """The k3 KL penalty per token, multiplied by the importance ratio r_t = pi_t / pi_old_t (not
    detached): TRL's ``use_bias_correction_kl`` (on by default in TRL 1.16), the unbiased KL
    estimate of DeepSeek-V3.2 (DeepSeek-AI 2025, arXiv 2512.02556)::

        kl_t = r_t * (pi_ref_t / pi_t - log(pi_ref_t / pi_t) - 1)

    The tokens were sampled from pi_old, so E_{pi_old}[r k3] = E_pi[k3] = KL(pi || pi_ref): the
    estimate and its gradient are those of the reverse KL of the current policy, also after pi has
    moved off pi_old, where plain k3 is biased. The ratio's gradient counts even on-policy, where
    r = 1: there grad(r k3) = k3 grad log pi + grad k3. ``(B, T)``, 0 on padding; ``level`` as in
    ``clipped_surrogate`` (with "sequence" the sequence's ratio weighs each token's k3, as in TRL).
    """
    ratio = torch.exp(importance_log_ratio(logprobs, old_logprobs, mask, level))
    return kl_estimate(logprobs, ref_logprobs, "k3") * ratio * mask


def clipped_value_losses(
    values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor, clip_range: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """0.5 * max((V - R)^2, (V_clip - R)^2) per token with V_clip = V_old + clip(V - V_old, -c, c)
    (the value clipping of OpenAI's baselines PPO2). Returns (losses (B, T), clipped (B, T))."""
    clipped_values = old_values + torch.clamp(values - old_values, -clip_range, clip_range)
    unclipped_error = (values - returns) ** 2
    clipped_error = (clipped_values - returns) ** 2
    losses = 0.5 * torch.maximum(unclipped_error, clipped_error) * mask
    with torch.no_grad():
        # Inside the clip V_clip is V up to rounding: only a value moved past the clip counts.
        outside = (values - old_values).abs() > clip_range
        was_clipped = (outside & (clipped_error > unclipped_error)).float() * mask
    return losses, was_clipped


def explained_variance(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """1 - Var(R - V) / Var(R) over response tokens: 1 is a perfect critic, <= 0 a useless one."""
    var_returns = masked_var(returns, mask)
    return 1.0 - masked_var(returns - values, mask) / var_returns.clamp(min=1e-8)


def group_advantages(rewards: torch.Tensor, scale: bool = True, eps: float = 1e-4) -> torch.Tensor:
    """GRPO's advantage (Shao et al. 2024, sec. 4.1.2): each reward minus its group's mean,
    divided by the group's (unbiased) std when ``scale``. ``(N, G) -> (N, G)``.
    A group of equal rewards, or of one reward, gets advantage 0 (never NaN)."""
    if rewards.shape[1] < 2:
        return torch.zeros_like(rewards)
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


def informative_groups(rewards: torch.Tensor) -> torch.Tensor:
    """DAPO's dynamic-sampling filter (Yu et al. 2025): True for groups whose rewards are not all
    equal; a group of equal rewards has zero advantage and only dilutes the batch. ``(N, G) -> (N,)``."""
    return rewards.amax(dim=1) > rewards.amin(dim=1)


class TokenWeights(NamedTuple):
    weights: torch.Tensor  # (B, T) weight of each token's loss, 0 on padding and left-out rows
    units: float  # what the weighted sum is divided by: tokens or sequences of the batch


def token_weights(
    mask: torch.Tensor, aggregation: Aggregation, max_length: int = 0, active: torch.Tensor | None = None
) -> TokenWeights:
    """How per-token losses are combined into one: the batch loss is ``(losses * weights).sum()
    / units``. Over an optimizer step of several micro-batches (or processes) the trainer sums
    both parts before dividing, so the step's loss is exact. ``active (B,)`` marks the rows that
    count (DAPO's dynamic sampling leaves groups out): the others get no weight and are no units.

    - ``token_mean`` / ``dapo``: the mean over all response tokens of the batch (Yu et al. 2025);
      long responses weigh more.
    - ``grpo``: the mean over each sequence's tokens, then over sequences (Shao et al. 2024); a
      token of a short response weighs more, which favours short correct and long wrong answers.
    - ``dr_grpo``: the token sum of each sequence divided by the constant ``max_length``, then the
      mean over sequences (Liu et al. 2025): no length bias.

    An empty response still counts as a sequence (as in GRPO's mean over sequences).
    ``mask (B, T)`` -> ``TokenWeights(weights (B, T), units)``.
    """
    mask = mask if mask.is_floating_point() else mask.to(torch.float32)
    rows = torch.ones(mask.shape[0], dtype=mask.dtype, device=mask.device) if active is None else active.to(mask)
    mask = mask * rows.unsqueeze(-1)
    if aggregation in ("token_mean", "dapo"):
        return TokenWeights(mask, float(mask.sum()))
    if aggregation == "grpo":
        return TokenWeights(mask / mask.sum(-1, keepdim=True).clamp(min=1), float(rows.sum()))
    if aggregation == "dr_grpo":
        if max_length <= 0:
            raise ValueError("dr_grpo divides by the generation's max_length, which must be > 0")
        return TokenWeights(mask / max_length, float(rows.sum()))
    raise ValueError(f"unknown loss aggregation {aggregation!r}")
