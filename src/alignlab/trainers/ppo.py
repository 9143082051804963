"""PPO for language models: RLHF on a reward model (Ziegler et al. 2019; Ouyang et al. 2022), or on
the gold reward itself (PPO-GT, the upper bound of the DPO paper's sentiment experiment).

One iteration, following "The N+ implementation details of RLHF with PPO" (Huang et al. 2024):

1. sample a response to each of ``prompts_per_iteration`` prompts (batched, KV cache);
2. one no-grad forward of policy + critic gives the old log-probs and values; one forward of
   the reference gives its log-probs (with LoRA: the same weights, adapter disabled);
3. score each response (reward model, standardised, or gold reward), add the missing-EOS
   penalty, and build per-token rewards: the score at the last token minus kl_coef * (log pi -
   log pi_ref) at every token;
4. GAE(gamma, lambda) over response tokens, advantages whitened over the global batch;
5. ``update_epochs`` passes of shuffled minibatches: clipped policy ratio, clipped value loss,
   entropy bonus, each the mean over the minibatch's response tokens; gradient clipping;
6. with ``adaptive_kl``, move kl_coef towards ``target_kl``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from alignlab.config import ExperimentConfig, PPOConfig
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
    count_parameters,
    hidden_size_of,
    load_policy,
    load_reference,
    load_reward_model,
    load_reward_normalization,
    load_tokenizer,
)
from alignlab.scoring import TokenScorer, ValueHead, classifier_parts
from alignlab.tasks.rewards import Reward
from alignlab.trainers.common import (
    MODEL_DIR,
    Cost,
    PeakMemory,
    Snapshots,
    Stopwatch,
    build_optimizer,
    build_scheduler,
    create_accelerator,
    save_policy,
    write_run_files,
)
from alignlab.trainers.online import (
    Minibatch,
    SequenceScorer,
    check_online_config,
    rollout_metrics,
    run_iterations,
    sample_and_score,
    token_mean_weights,
    update_policy,
)


def build_critic(
    config: ExperimentConfig, device: torch.device, reward_model_dir: ModelSource | None, init: ModelSource | None
) -> nn.Module:
    """The separate critic: the reward model with its normalisation folded into a biased score
    head, so that its first values are the standardised scores PPO is trained on; without a
    reward model (PPO-GT) the base model's trunk with a zero head."""
    source = reward_model_dir if reward_model_dir is not None else (init or config.model.name_or_path)
    critic = load_reward_model(config.model, device, source, trainable=True)
    _, head = classifier_parts(critic)
    value_head = nn.Linear(head.in_features, 1, bias=True, device=head.weight.device, dtype=head.weight.dtype)
    with torch.no_grad():
        if reward_model_dir is None:
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
    config: ExperimentConfig, device: torch.device, reward_model_dir: ModelSource | None, init: ModelSource | None
) -> TokenScorer:
    policy = load_policy(config.model, device, init)
    if config.ppo.critic == "separate":
        return TokenScorer(policy, critic=build_critic(config, device, reward_model_dir, init))
    return TokenScorer(policy, value_head=ValueHead(hidden_size_of(policy)).to(device))


def ppo_loss(cfg: PPOConfig, temperature: float, model: nn.Module, mb: Minibatch) -> tuple[torch.Tensor, dict]:
    """Clipped surrogate + vf_coef * clipped value loss - entropy_coef * entropy, each a token
    mean over the whole minibatch (``mb.weights * mb.scale``)."""
    new = model(mb.sequences, temperature, with_entropy=True)
    mask, w = mb.mask, mb.weights * mb.scale
    pg = clipped_surrogate(new.logprobs, mb.data["logprobs"], mb.data["advantages"], mask, cfg.clip_range)
    vf, vf_clipped = clipped_value_losses(new.values, mb.data["values"], mb.data["returns"], mask, cfg.value_clip_range)
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


def train_ppo(
    config: ExperimentConfig,
    prompts: Sequence[str],
    gold_reward: Reward,
    out_dir: Path,
    seed: int,
    resume: bool = False,
    reward_model_dir: ModelSource | None = None,
    init: ModelSource | None = None,
) -> dict:
    """Train a policy with ``config.ppo`` on ``prompts``; save it under ``out_dir/model``.
    Returns the summary (last iteration's metrics and costs)."""
    cfg = config.ppo
    accelerator = create_accelerator(cfg, out_dir, seed)
    steps_per_iteration = check_online_config("ppo", cfg, config.generation, accelerator.num_processes)
    device = accelerator.device
    watch = Stopwatch()
    temperature = config.generation.temperature
    with PeakMemory() as memory:
        tokenizer = load_tokenizer(config.model, init)
        model = build_actor_critic(config, device, reward_model_dir, init)
        reference = load_reference(config.model, device, model.policy, init)
        scorer = SequenceScorer(config, cfg, gold_reward, device, reward_model_dir, tokenizer)
        optimizer = build_optimizer(model, cfg)
        scheduler = build_scheduler(optimizer, cfg, cfg.iterations * steps_per_iteration)
        model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
        policy = accelerator.unwrap_model(model).policy

        def iteration(index: int, batch_prompts: list[str], state: dict[str, Any]) -> tuple[dict[str, float], int]:
            rollout, old, ref_logprobs, score, gold, _ = sample_and_score(
                policy, model, reference, tokenizer, scorer, batch_prompts, 1, config, watch, seed, index
            )
            mask = rollout.response_mask.float()
            kl = kl_estimate(old.logprobs, ref_logprobs, "k1") * mask
            rewards = token_rewards(score, kl, mask, state["kl_coef"])
            advantages, returns = gae_advantages(rewards, old.values, mask, cfg.gamma, cfg.lam)
            if cfg.whiten_advantages:
                advantages = global_whiten(advantages, mask)
            with watch.phase("training"):
                data = {"logprobs": old.logprobs, "values": old.values, "advantages": advantages, "returns": returns}
                stats, state["step"], tokens = update_policy(
                    accelerator,
                    model,
                    optimizer,
                    scheduler,
                    cfg,
                    rollout,
                    data,
                    lambda m, mb: ppo_loss(cfg, temperature, m, mb),
                    token_mean_weights,
                    state["step"],
                    seed,
                    index,
                )
            sequence_kl = kl.sum(-1)
            metrics = {
                **rollout_metrics(rollout, score, gold),
                **stats,
                "objective/kl": float(sequence_kl.mean()),
                "objective/kl_coef": state["kl_coef"],
                "objective/non_score_reward": float((-state["kl_coef"] * kl).sum(-1).mean()),
                "value/explained_variance": float(explained_variance(old.values, returns, mask)),
                "train/lr": scheduler.get_last_lr()[0],
            }
            if cfg.adaptive_kl:
                state["kl_coef"] = adaptive_kl_coef(
                    state["kl_coef"], float(sequence_kl.mean()), cfg.target_kl, len(rollout), cfg.kl_horizon
                )
            return metrics, tokens

        result = run_iterations(
            name="ppo",
            accelerator=accelerator,
            config=cfg,
            prompts=prompts,
            seed=seed,
            out_dir=out_dir,
            resume=resume,
            iteration_fn=iteration,
            state={"kl_coef": cfg.kl_coef, "step": 0},
            watch=watch,
            after_iteration=Snapshots(
                accelerator, model, tokenizer, out_dir, cfg.iterations, config.evaluation.checkpoints
            ),
        )
        save_policy(accelerator, model, tokenizer, out_dir / MODEL_DIR)
    trainable, _ = count_parameters(model)
    models = 1 + (reference is not None) + scorer.models_in_memory + (cfg.critic == "separate")
    summary = {
        "method": "ppo" if cfg.reward_source == "reward_model" else "ppo-gt",
        "kl_coef": cfg.kl_coef,
        "iterations": result.iterations,
        "final": result.history[-1] if result.history else {},
        "timing": result.timing,
        "cost": Cost(result.train_time_s, result.tokens, memory.peak_mb, models, trainable).as_dict(),
    }
    write_run_files(accelerator, out_dir, {"train": result.history, "eval": []}, summary)
    return summary
