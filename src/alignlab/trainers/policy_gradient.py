"""Critic-free policy gradient: GRPO and its variants (Dr. GRPO, DAPO, GSPO, CISPO, SAPO), RLOO,
REINFORCE++ and rejection-sampling fine-tuning. All drop PPO's critic; they differ in the
baseline, where the KL goes, the ratio and its clip, and how token losses are averaged, each a
setting of ``PolicyGradientConfig``.

One iteration:
1. sample ``group_size`` completions of each of ``prompts_per_iteration`` prompts;
2. no-grad forwards give the old log-probs (policy) and the reference log-probs; with one
   optimizer step an iteration and the KL out of the reward, the old log-probs are the update's
   own forward's, detached, and their pass is skipped (the policy has not moved by then);
3. score every completion (reward model or gold reward);
4. advantages (``advantage``):
   - ``group`` (GRPO, Shao et al. 2024): reward minus the group mean, divided by the group std
     when ``scale_rewards`` (Dr. GRPO turns that off; Liu et al. 2025);
   - ``leave_one_out`` (RLOO, Ahmadian et al. 2024): reward minus the mean of the other G - 1;
   - ``batch`` (REINFORCE++, Hu 2025): per-token rewards with the KL in them, returns-to-go,
     normalised over the global batch;
   - ``rejection`` (RFT, Yuan et al. 2023; RAFT, Dong et al. 2023): 1 for the samples whose
     reward reaches ``accept_reward``, which alone are trained on (fine-tuning on them);
   with ``kl_in_reward`` the KL estimate (``kl_estimator``, k1 by default) is subtracted from
   the reward first (per sequence, or per token for ``batch``); otherwise kl_coef * the estimate
   per token (k3 by default) is a loss term (GRPO);
   ``dynamic_sampling`` replaces groups whose rewards are all equal by sampling more (DAPO);
5. ``update_epochs`` passes of minibatches: the policy loss (``policy_loss``: PPO's clipped
   ratio, clipped asymmetrically when ``clip_range_low != clip_range_high`` (DAPO); CISPO's
   clipped, detached importance weight; SAPO's soft gate), per token or per sequence (GSPO),
   aggregated as ``loss_type`` says (``losses.token_weights``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from alignlab.config import PolicyGradientConfig
from alignlab.layout import TrainingDir
from alignlab.losses import (
    TokenWeights,
    cispo_surrogate,
    clipped_surrogate,
    global_whiten,
    group_advantages,
    importance_weighted_kl,
    informative_groups,
    kl_estimate,
    leave_one_out_advantages,
    returns_to_go,
    sapo_surrogate,
    token_rewards,
    token_weights,
)
from alignlab.rollout import Rollout
from alignlab.scoring import PolicyForward
from alignlab.trainers import TrainInputs
from alignlab.trainers.minibatches import Minibatch, RowData
from alignlab.trainers.online import OnlineRun, ScoredRollout, concat_scored


@dataclass
class PolicyGradientData(RowData):
    """Per row of an iteration: log pi_old and log pi_ref of the response tokens ``(B, R)``, the
    advantages ``(B,)`` or ``(B, R)``, and 1 for rows that train, 0 for left-out groups ``(B,)``.
    log pi_old is None where the update's own forward gives it."""

    logprobs: torch.Tensor | None
    ref_logprobs: torch.Tensor
    advantages: torch.Tensor
    active: torch.Tensor


def advantages_of(cfg: PolicyGradientConfig, score: torch.Tensor, kl: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-sequence ``(B,)`` or per-token ``(B, T)`` advantages; ``kl`` is the per-token KL
    estimate of ``cfg.kl_estimator`` (subtracted from the reward when ``kl_in_reward``)."""
    kl_coef = cfg.kl_coef if cfg.kl_in_reward else 0.0
    if cfg.advantage == "rejection":
        return (score >= cfg.accept_reward).to(score.dtype)
    if cfg.advantage == "batch":
        rewards = token_rewards(score, kl, mask, kl_coef)
        return global_whiten(returns_to_go(rewards, mask), mask)
    rewards = (score - kl_coef * kl.sum(-1)).view(-1, cfg.group_size)
    if cfg.advantage == "leave_one_out":
        return leave_one_out_advantages(rewards).flatten()
    return group_advantages(rewards, scale=cfg.scale_rewards).flatten()


@dataclass
class Batch:
    """What one iteration trains on: its samples, 1 for the rows that train and 0 for the rows of
    groups without signal that dynamic sampling could not replace ``(B,)``, and what was sampled
    to get there (all groups, those whose rewards were all equal, the sampling rounds)."""

    samples: ScoredRollout
    active: torch.Tensor
    sampled: ScoredRollout
    zero_variance_fraction: float
    rounds: int


def dynamic_sampling(online: OnlineRun, cfg: PolicyGradientConfig, first: ScoredRollout, iteration: int) -> Batch:
    """The iteration's batch. Without ``dynamic_sampling``, the groups as sampled. With it (DAPO,
    Yu et al. 2025, sec. 3.2), groups whose rewards are all equal (zero advantage, no signal) are
    replaced: more prompts are sampled, round by round, until ``prompts_per_iteration`` groups
    with signal fill the batch or ``max_sampling_rounds`` is reached; a batch still short keeps
    uninformative groups in the free places, left out of the loss."""
    groups = cfg.group_size
    rounds = [first]
    while cfg.dynamic_sampling:
        signal = torch.cat([informative_groups(r.score.view(-1, groups)) for r in rounds])
        if int(signal.sum()) >= cfg.prompts_per_iteration or len(rounds) >= cfg.max_sampling_rounds:
            break
        more = online.more_prompts(iteration, len(rounds))
        rounds.append(online.sample_and_score(more, iteration, len(rounds), first.logprobs is not None))
    sampled = concat_scored(rounds, online.tokenizer.pad_token_id)
    signal = informative_groups(sampled.score.view(-1, groups))
    if cfg.dynamic_sampling:
        # Groups with signal first (in sampling order), then as many without as the batch lacks.
        order = torch.cat([torch.nonzero(signal).flatten(), torch.nonzero(~signal).flatten()])
        kept = order[: cfg.prompts_per_iteration]
        rows = (kept[:, None] * groups + torch.arange(groups)).flatten()
        samples, active = sampled.select(rows), signal[kept].repeat_interleave(groups).float()
    else:
        samples, active = sampled, torch.ones(len(sampled.score))
    return Batch(samples, active, sampled, float((~signal).float().mean()), len(rounds))


def surrogate(cfg: PolicyGradientConfig, logprobs: torch.Tensor, data: PolicyGradientData, mask: torch.Tensor):
    """The policy loss per token of ``cfg.policy_loss``: PPO's clipped ratio (asymmetric with
    DAPO's clip-higher), CISPO's clipped, detached importance weight, or SAPO's soft gate."""
    level = cfg.importance_sampling_level
    if cfg.policy_loss == "cispo":
        return cispo_surrogate(logprobs, data.logprobs, data.advantages, mask, cfg.cispo_max_ratio, level)
    if cfg.policy_loss == "sapo":
        temperatures = cfg.sapo_temperature_pos, cfg.sapo_temperature_neg
        return sapo_surrogate(logprobs, data.logprobs, data.advantages, mask, *temperatures, level)
    clip_low = cfg.clip_range_low or cfg.clip_range
    clip_high = cfg.clip_range_high or cfg.clip_range
    return clipped_surrogate(logprobs, data.logprobs, data.advantages, mask, clip_low, clip_high, level)


def kl_loss_term(cfg: PolicyGradientConfig, logprobs: torch.Tensor, data: PolicyGradientData, mask: torch.Tensor):
    """The KL as a loss term per token: the estimate of ``kl_estimator``, or with
    ``kl_importance_correction`` k3 weighted by the importance ratio (TRL's bias correction)."""
    if cfg.kl_importance_correction:
        return importance_weighted_kl(logprobs, data.logprobs, data.ref_logprobs, mask, cfg.importance_sampling_level)
    return kl_estimate(logprobs, data.ref_logprobs, cfg.kl_estimator) * mask


def policy_gradient_loss(
    cfg: PolicyGradientConfig, temperature: float, model: nn.Module, mb: Minibatch[PolicyGradientData]
) -> tuple[torch.Tensor, dict]:
    """The policy loss (``surrogate``, plus kl_coef * the KL estimate when the KL is a loss term),
    aggregated by ``cfg.loss_type`` over the whole minibatch (``mb.weights * mb.scale``). Without
    log pi_old in ``mb.data`` (one minibatch an iteration) it is this forward's, detached, and
    the statistics carry the sampling policy's KL to the reference (``objective/kl``)."""
    new = model(mb.sequences, temperature, with_entropy=True)
    mask, w = mb.mask, mb.weights * mb.scale
    data, stats = mb.data, {}
    if data.logprobs is None:
        data = dataclasses.replace(data, logprobs=new.logprobs.detach())
        # Summed over the micro-batch's sequences, over the minibatch's rows (the whole batch).
        stats["objective/kl"] = (kl_estimate(data.logprobs, data.ref_logprobs, "k1") * mask).sum() / cfg.batch_size
    pg = surrogate(cfg, new.logprobs, data, mask)
    per_token = pg.losses
    stats |= {
        "loss/policy": (pg.losses * w).sum(),
        "policy/entropy": (new.entropy * mask * w).sum(),
        "policy/clipfrac": (pg.clipped * w).sum(),
        "policy/approx_kl": (pg.approx_kl * w).sum(),
    }
    if not cfg.kl_in_reward and cfg.kl_coef > 0:
        kl = kl_loss_term(cfg, new.logprobs, data, mask)
        per_token = per_token + cfg.kl_coef * kl
        stats["loss/kl"] = (kl * w).sum()
    return (per_token * w).sum(), stats


def loss_weights(
    cfg: PolicyGradientConfig, max_length: int, rollout: Rollout, data: PolicyGradientData
) -> TokenWeights:
    """The minibatch's token weights and units (``loss_type``), left-out groups excluded from
    both: they neither carry gradient nor dilute the mean."""
    return token_weights(rollout.response_mask, cfg.loss_type, max_length, data.active)


def train_policy_gradient(inputs: TrainInputs, run: TrainingDir) -> dict:
    """Train a policy with its method's section (grpo, rloo or reinforce_pp) on the prompts;
    save it under the run's ``model/``. Returns the summary."""
    cfg: PolicyGradientConfig = getattr(inputs.config, inputs.spec.section)
    generation = inputs.config.generation
    with OnlineRun(inputs, run, cfg.group_size) as online:
        online.prepare(PolicyForward(online.load_policy()))
        # A KL in the reward needs log pi_old before the update; otherwise, with one optimizer
        # step an iteration, the update's forward gives it.
        old_logprobs = cfg.kl_in_reward or not online.update_sees_sampling_policy
        for iteration, batch_prompts in online.iterations():
            # 1-3: sample the groups, old and reference log-probs, scores (DAPO: until the
            # batch is full of groups with signal).
            first = online.sample_and_score(batch_prompts, iteration, old_logprobs=old_logprobs)
            batch = dynamic_sampling(online, cfg, first, iteration)
            samples = batch.samples
            # 4: advantages from the baseline (without log pi_old the KL is no part of them).
            penalty = torch.zeros_like(samples.mask)
            if old_logprobs:
                penalty = kl_estimate(samples.logprobs, samples.ref_logprobs, cfg.kl_estimator) * samples.mask
            advantages = advantages_of(cfg, samples.score, penalty, samples.mask)
            # Rejection sampling fine-tunes on the accepted samples alone: the others are no units.
            active = batch.active * advantages if cfg.advantage == "rejection" else batch.active
            # 5: minibatch epochs.
            data = PolicyGradientData(samples.logprobs, samples.ref_logprobs, advantages, active)
            update = online.update(
                partial(policy_gradient_loss, cfg, generation.temperature),
                samples.rollout,
                data,
                partial(loss_weights, cfg, generation.max_new_tokens),
                iteration,
            )
            if old_logprobs:
                log_ratio = kl_estimate(samples.logprobs, samples.ref_logprobs, "k1") * samples.mask
                update.stats["objective/kl"] = float(log_ratio.sum(-1).mean())
            metrics = {
                # The rewards and lengths of everything sampled (not only the groups kept).
                **batch.sampled.metrics(),
                **update.stats,
                "objective/kl_coef": cfg.kl_coef,
                "advantage/abs_mean": float(advantages.abs().mean()),
                "rollout/informative_fraction": float(active.mean()),
                "rollout/sampling_rounds": float(batch.rounds),
            }
            if cfg.group_size > 1:
                # Groups whose rewards were all equal: sampled, scored, and no signal (DAPO's waste).
                metrics["rollout/zero_variance_fraction"] = batch.zero_variance_fraction
            online.end_iteration(metrics, update)
        return online.finish({"method": inputs.method, "kl_coef": cfg.kl_coef})
