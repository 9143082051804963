"""PPO for language models: RLHF on a reward model (Ziegler et al. 2019; Ouyang et al. 2022), or on
the gold reward itself (PPO-GT, the upper bound of the DPO paper's sentiment experiment).

One iteration, following "The N+ implementation details of RLHF with PPO" (Huang et al. 2024):

1. sample a response to each of ``prompts_per_iteration`` prompts (batched, KV cache);
2. one no-grad forward of policy + critic gives the old log-probs and values; one forward of
   the reference gives its log-probs (with LoRA: the same weights, adapter disabled);
3. score each response (reward model, standardised, or gold reward), add the missing-EOS
   penalty, and build per-token rewards: the score at the last token minus kl_coef * the KL
   estimate (``kl_estimator``; k1 = log pi - log pi_ref by default) at every token;
4. GAE(gamma, lambda) over response tokens, advantages whitened over the global batch;
5. ``update_epochs`` passes of shuffled minibatches: clipped policy ratio, clipped value loss,
   entropy bonus, each the mean over the minibatch's response tokens; gradient clipping;
6. with ``adaptive_kl``, move kl_coef towards ``target_kl``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from alignlab.config import ExperimentConfig, PPOConfig
from alignlab.layout import TrainingDir
from alignlab.log import logger
from alignlab.losses import (
    adaptive_kl_coef,
    clipped_surrogate,
    clipped_value_losses,
    explained_variance,
    gae_advantages,
    global_whiten,
    kl_estimate,
    token_rewards,
)
from alignlab.models import (
    ModelSource,
    hidden_size_of,
    load_reward_model,
    load_reward_normalization,
    load_tokenizer,
)
from alignlab.reward_model import shares_vocabulary
from alignlab.scoring import PolicyForward, ValueHead, classifier_parts
from alignlab.trainers import TrainInputs
from alignlab.trainers.minibatches import Minibatch, RowData, token_mean_weights
from alignlab.trainers.online import OnlineRun


@dataclass
class PPOData(RowData):
    """Per row of an iteration ``(B, R)``: log pi_old, the critic's values, GAE advantages and returns."""

    logprobs: torch.Tensor
    values: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor


@dataclass
class PPOState:
    """What PPO carries from one iteration to the next (saved with checkpoints)."""

    kl_coef: float


def build_critic(
    config: ExperimentConfig, device: torch.device, reward_model_dir: ModelSource | None, init: ModelSource | None
) -> nn.Module:
    """The separate critic: the reward model with its normalisation folded into a biased score
    head, so that its first values are the standardised scores PPO is trained on; without a
    reward model (PPO-GT) the base model's trunk with a zero head. So too for a reward model
    with a tokenizer of its own: the critic reads the policy's token ids, which such a model
    would take for other tokens."""
    policy_base = init or config.model.name_or_path
    from_reward_model = reward_model_dir is not None
    if from_reward_model and not shares_vocabulary(
        load_tokenizer(config.model, reward_model_dir), load_tokenizer(config.model, policy_base)
    ):
        logger.info(
            "ppo: the reward model has a tokenizer of its own, and the critic reads the policy's tokens; "
            "the critic starts from the policy's base model with a zero value head instead"
        )
        from_reward_model = False
    source = reward_model_dir if from_reward_model else policy_base
    critic = load_reward_model(config.model, device, source, trainable=True)
    _, head = classifier_parts(critic)
    value_head = nn.Linear(head.in_features, 1, bias=True, device=head.weight.device, dtype=head.weight.dtype)
    with torch.no_grad():
        if not from_reward_model:
            value_head.weight.zero_()
            value_head.bias.zero_()
        else:
            mean, std = load_reward_normalization(reward_model_dir)
            value_head.weight.copy_(head.weight / std)
            bias = head.bias if head.bias is not None else torch.zeros(1, device=head.weight.device)
            value_head.bias.copy_((bias - mean) / std)
    critic.score = value_head
    return critic


def build_actor_critic(
    config: ExperimentConfig,
    device: torch.device,
    reward_model_dir: ModelSource | None,
    init: ModelSource | None,
    policy: nn.Module,
) -> PolicyForward:
    """The policy with its critic: a separate model (``ppo.critic: separate``) or a value head
    on the policy's trunk (``shared``)."""
    if config.ppo.critic == "separate":
        return PolicyForward(policy, critic=build_critic(config, device, reward_model_dir, init))
    return PolicyForward(policy, value_head=ValueHead(hidden_size_of(policy)).to(device))


def advantages_and_returns(
    cfg: PPOConfig, score: torch.Tensor, kl: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, kl_coef: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token rewards (the score at the last token, -kl_coef * KL at every token), GAE over
    them, and the advantages whitened over the global batch when ``whiten_advantages``."""
    rewards = token_rewards(score, kl, mask, kl_coef)
    advantages, returns = gae_advantages(rewards, values, mask, cfg.gamma, cfg.lam)
    if cfg.whiten_advantages:
        advantages = global_whiten(advantages, mask)
    return advantages, returns


def ppo_loss(cfg: PPOConfig, temperature: float, model: nn.Module, mb: Minibatch[PPOData]) -> tuple[torch.Tensor, dict]:
    """Clipped surrogate + vf_coef * clipped value loss - entropy_coef * entropy, each a token
    mean over the whole minibatch (``mb.weights * mb.scale``)."""
    new = model(mb.sequences, temperature, with_entropy=True)
    mask, w = mb.mask, mb.weights * mb.scale
    pg = clipped_surrogate(new.logprobs, mb.data.logprobs, mb.data.advantages, mask, cfg.clip_range)
    vf, vf_clipped = clipped_value_losses(new.values, mb.data.values, mb.data.returns, mask, cfg.value_clip_range)
    per_token = pg.losses + cfg.vf_coef * vf - cfg.entropy_coef * new.entropy * mask
    loss = (per_token * w).sum()
    return loss, {
        "loss/policy": (pg.losses * w).sum(),
        "loss/value": (vf * w).sum(),
        "policy/entropy": (new.entropy * mask * w).sum(),
        "policy/clipfrac": (pg.clipped * w).sum(),
        "policy/approx_kl": (pg.approx_kl * w).sum(),
        "value/clipfrac": (vf_clipped * w).sum(),
    }


def train_ppo(inputs: TrainInputs, run: TrainingDir) -> dict:
    """Train a policy with the ``ppo`` section on the prompts; save it under the run's ``model/``.
    Returns the summary (last iteration's metrics and costs)."""
    config = inputs.config
    cfg = config.ppo
    temperature = config.generation.temperature
    with OnlineRun(inputs, run) as online:
        policy = online.load_policy()
        online.prepare(build_actor_critic(config, online.device, inputs.reward_model, inputs.init, policy))
        state = PPOState(kl_coef=cfg.kl_coef)
        for iteration, batch_prompts in online.iterations(state):
            # 1-2: sample, then old log-probs and values, reference log-probs, scores.
            batch = online.sample_and_score(batch_prompts, iteration)
            mask = batch.mask
            # 3-4: per-token rewards with the KL penalty, GAE, whitening.
            log_ratio = kl_estimate(batch.logprobs, batch.ref_logprobs, "k1") * mask
            penalty = kl_estimate(batch.logprobs, batch.ref_logprobs, cfg.kl_estimator) * mask
            advantages, returns = advantages_and_returns(cfg, batch.score, penalty, batch.values, mask, state.kl_coef)
            # 5: minibatch epochs.
            data = PPOData(batch.logprobs, batch.values, advantages, returns)
            update = online.update(
                partial(ppo_loss, cfg, temperature), batch.rollout, data, token_mean_weights, iteration
            )
            sequence_kl = float(log_ratio.sum(-1).mean())
            metrics = {
                **batch.metrics(),
                **update.stats,
                "objective/kl": sequence_kl,
                "objective/kl_coef": state.kl_coef,
                "objective/non_score_reward": float((-state.kl_coef * penalty).sum(-1).mean()),
                "value/explained_variance": float(explained_variance(batch.values, returns, mask)),
            }
            # 6: the adaptive KL controller, on the global batch's KL.
            if cfg.adaptive_kl:
                state.kl_coef = adaptive_kl_coef(
                    state.kl_coef, sequence_kl, cfg.target_kl, len(batch.rollout), cfg.kl_horizon
                )
            online.end_iteration(metrics, update)
        return online.finish(
            {"method": inputs.method, "kl_coef": cfg.kl_coef}, extra_models=int(cfg.critic == "separate")
        )
