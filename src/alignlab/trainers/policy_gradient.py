"""Critic-free policy gradient: GRPO and its variants (Dr. GRPO, DAPO, GSPO), RLOO and
REINFORCE++. All drop PPO's critic; they differ in the baseline, where the KL goes, the ratio
and how token losses are averaged, each a setting of ``PolicyGradientConfig``.

One iteration:
1. sample ``group_size`` completions of each of ``prompts_per_iteration`` prompts;
2. no-grad forwards give the old log-probs (policy) and the reference log-probs;
3. score every completion (reward model or gold reward);
4. advantages (``advantage``):
   - ``group`` (GRPO, Shao et al. 2024): reward minus the group mean, divided by the group std
     when ``scale_rewards`` (Dr. GRPO turns that off; Liu et al. 2025);
   - ``leave_one_out`` (RLOO, Ahmadian et al. 2024): reward minus the mean of the other G - 1;
   - ``batch`` (REINFORCE++, Hu 2025): per-token rewards with the KL in them, returns-to-go,
     normalised over the global batch;
   with ``kl_in_reward`` the k1 KL is subtracted from the reward first (per sequence, or per
   token for ``batch``); otherwise kl_coef * k3 per token is a loss term (GRPO);
   ``drop_zero_variance_groups`` leaves out groups whose rewards are all equal (DAPO);
5. ``update_epochs`` passes of minibatches: the clipped ratio per token or per sequence (GSPO),
   clipped asymmetrically when ``clip_range_low != clip_range_high`` (DAPO), aggregated as
   ``loss_type`` says (``losses.token_weights``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from alignlab.config import ExperimentConfig, PolicyGradientConfig
from alignlab.losses import (
    clipped_surrogate,
    global_whiten,
    group_advantages,
    informative_groups,
    kl_estimate,
    leave_one_out_advantages,
    returns_to_go,
    token_rewards,
    token_weights,
)
from alignlab.models import ModelSource, count_parameters, load_policy, load_reference, load_tokenizer
from alignlab.rollout import Rollout
from alignlab.scoring import TokenScorer
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
    update_policy,
)


def advantages_of(cfg: PolicyGradientConfig, score: torch.Tensor, kl: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-sequence ``(B,)`` or per-token ``(B, T)`` advantages; ``kl`` is the per-token k1 KL."""
    kl_coef = cfg.kl_coef if cfg.kl_in_reward else 0.0
    if cfg.advantage == "batch":
        rewards = token_rewards(score, kl, mask, kl_coef)
        return global_whiten(returns_to_go(rewards, mask), mask)
    rewards = (score - kl_coef * kl.sum(-1)).view(-1, cfg.group_size)
    if cfg.advantage == "leave_one_out":
        return leave_one_out_advantages(rewards).flatten()
    return group_advantages(rewards, scale=cfg.scale_rewards).flatten()


def policy_gradient_loss(
    cfg: PolicyGradientConfig, temperature: float, model: nn.Module, mb: Minibatch
) -> tuple[torch.Tensor, dict]:
    """The clipped surrogate (plus kl_coef * k3 when the KL is a loss term), aggregated by
    ``cfg.loss_type`` over the whole minibatch (``mb.weights * mb.scale``)."""
    new = model(mb.sequences, temperature, with_entropy=True)
    mask, w = mb.mask, mb.weights * mb.scale
    clip_low = cfg.clip_range_low or cfg.clip_range
    clip_high = cfg.clip_range_high or cfg.clip_range
    pg = clipped_surrogate(
        new.logprobs,
        mb.data["logprobs"],
        mb.data["advantages"],
        mask,
        clip_low,
        clip_high,
        cfg.importance_sampling_level,
    )
    per_token = pg.losses
    stats = {
        "loss/policy": (pg.losses * w).sum(),
        "policy/entropy": (new.entropy * mask * w).sum(),
        "policy/clipfrac": (pg.clipped * w).sum(),
        "policy/approx_kl": (pg.approx_kl * w).sum(),
    }
    if not cfg.kl_in_reward and cfg.kl_coef > 0:
        kl = kl_estimate(new.logprobs, mb.data["ref_logprobs"], "k3") * mask
        per_token = per_token + cfg.kl_coef * kl
        stats["loss/kl"] = (kl * w).sum()
    return (per_token * w).sum(), stats


def weigh_for(cfg: PolicyGradientConfig, max_length: int):
    """The minibatch's token weights and units, left-out (zero-variance) groups excluded from
    both: they neither carry gradient nor dilute the mean."""

    def weigh(rollout: Rollout, data: dict[str, torch.Tensor]) -> tuple[torch.Tensor, float]:
        active = data["active"]
        weights, units = token_weights(rollout.response_mask.float() * active.unsqueeze(-1), cfg.loss_type, max_length)
        if cfg.loss_type in ("grpo", "dr_grpo"):
            units = float(active.sum())
        return weights, units

    return weigh


def train_policy_gradient(
    method: str,
    cfg: PolicyGradientConfig,
    config: ExperimentConfig,
    prompts: Sequence[str],
    gold_reward: Reward,
    out_dir: Path,
    seed: int,
    resume: bool = False,
    reward_model_dir: ModelSource | None = None,
    init: ModelSource | None = None,
) -> dict:
    """Train a policy with ``cfg`` (the config section of ``method``: grpo, rloo or reinforce_pp)
    on ``prompts``; save it under ``out_dir/model``. Returns the summary."""
    accelerator = create_accelerator(cfg, out_dir, seed)
    group = cfg.group_size
    steps_per_iteration = check_online_config(method, cfg, config.generation, accelerator.num_processes, group)
    device = accelerator.device
    watch = Stopwatch()
    temperature = config.generation.temperature
    with PeakMemory() as memory:
        tokenizer = load_tokenizer(config.model, init)
        policy = load_policy(config.model, device, init)
        reference = load_reference(config.model, device, policy, init)
        scorer = SequenceScorer(config, cfg, gold_reward, device, reward_model_dir, tokenizer)
        model = TokenScorer(policy)
        optimizer = build_optimizer(model, cfg)
        scheduler = build_scheduler(optimizer, cfg, cfg.iterations * steps_per_iteration)
        model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)

        def iteration(index: int, batch_prompts: list[str], state: dict[str, Any]) -> tuple[dict[str, float], int]:
            rollout, old, ref_logprobs, score, gold, _ = sample_and_score(
                policy, model, reference, tokenizer, scorer, batch_prompts, group, config, watch, seed, index
            )
            mask = rollout.response_mask.float()
            kl = kl_estimate(old.logprobs, ref_logprobs, "k1") * mask
            advantages = advantages_of(cfg, score, kl, mask)
            active = torch.ones(len(rollout))
            if cfg.drop_zero_variance_groups and group > 1:
                active = informative_groups(score.view(-1, group)).repeat_interleave(group).float()
            with watch.phase("training"):
                data = {
                    "logprobs": old.logprobs,
                    "ref_logprobs": ref_logprobs,
                    "advantages": advantages,
                    "active": active,
                }
                stats, state["step"], tokens = update_policy(
                    accelerator,
                    model,
                    optimizer,
                    scheduler,
                    cfg,
                    rollout,
                    data,
                    lambda m, mb: policy_gradient_loss(cfg, temperature, m, mb),
                    weigh_for(cfg, config.generation.max_new_tokens),
                    state["step"],
                    seed,
                    index,
                    group,
                )
            metrics = {
                **rollout_metrics(rollout, score, gold),
                **stats,
                "objective/kl": float(kl.sum(-1).mean()),
                "objective/kl_coef": cfg.kl_coef,
                "advantage/abs_mean": float(advantages.abs().mean()),
                "rollout/informative_fraction": float(active.mean()),
                "train/lr": scheduler.get_last_lr()[0],
            }
            return metrics, tokens

        result = run_iterations(
            name=method,
            accelerator=accelerator,
            config=cfg,
            prompts=prompts,
            seed=seed,
            out_dir=out_dir,
            resume=resume,
            iteration_fn=iteration,
            state={"step": 0},
            watch=watch,
            after_iteration=Snapshots(
                accelerator, model, tokenizer, out_dir, cfg.iterations, config.evaluation.checkpoints
            ),
        )
        save_policy(accelerator, model, tokenizer, out_dir / MODEL_DIR)
    trainable, _ = count_parameters(model)
    models = 1 + (reference is not None) + scorer.models_in_memory
    summary = {
        "method": method,
        "kl_coef": cfg.kl_coef,
        "iterations": result.iterations,
        "final": result.history[-1] if result.history else {},
        "timing": result.timing,
        "cost": Cost(result.train_time_s, result.tokens, memory.peak_mb, models, trainable).as_dict(),
    }
    write_run_files(accelerator, out_dir, {"train": result.history, "eval": []}, summary)
    return summary
