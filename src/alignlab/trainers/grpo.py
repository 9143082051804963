"""Value-free online RL: GRPO and RLOO. Both drop PPO's critic and get their baseline from
several completions of the same prompt.

One iteration:
1. sample ``group_size`` completions of each of ``prompts_per_iteration`` prompts;
2. no-grad forwards give the old log-probs (policy) and the reference log-probs;
3. score every completion (reward model or gold reward);
4. advantages per completion, broadcast to its tokens:
   - GRPO (Shao et al. 2024): reward minus the group mean, divided by the group std
     (``scale_rewards``); the KL to the reference is a loss term, kl_coef * k3 per token
     (``kl_in_reward: false``), or subtracted from the reward (``true``);
   - RLOO (Ahmadian et al. 2024): reward minus kl_coef * KL(sequence), minus the mean of the
     other k - 1 rewards of the prompt;
5. ``update_epochs`` passes of minibatches with the clipped ratio (GRPO; RLOO with
   ``objective: clip``) or plain REINFORCE (RLOO with ``objective: reinforce``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from alignlab.config import ExperimentConfig, GRPOConfig, RLOOConfig
from alignlab.losses import (
    clipped_policy_loss,
    group_advantages,
    kl_estimate,
    leave_one_out_advantages,
    masked_mean,
    policy_gradient_loss,
)
from alignlab.models import count_parameters, load_policy, load_reference, load_tokenizer
from alignlab.tasks.rewards import Reward
from alignlab.trainers.common import (
    MODEL_DIR,
    Cost,
    PeakMemory,
    Stopwatch,
    build_optimizer,
    build_scheduler,
    create_accelerator,
    save_policy,
    write_run_files,
)
from alignlab.trainers.online import (
    SequenceScorer,
    decode,
    forward_in_chunks,
    generate,
    reference_logprobs,
    rollout_metrics,
    run_iterations,
    run_update_epochs,
    score_minibatch,
    sequence_kl,
    update_batch,
    updates_per_iteration,
)

# (scores (N, G), sequence KL (N, G), config) -> advantages (N, G)
AdvantageFn = Callable[[torch.Tensor, torch.Tensor, Any], torch.Tensor]


def grpo_advantages(scores: torch.Tensor, seq_kl: torch.Tensor, cfg: GRPOConfig) -> torch.Tensor:
    rewards = scores - cfg.kl_coef * seq_kl if cfg.kl_in_reward else scores
    return group_advantages(rewards, scale=cfg.scale_rewards)


def rloo_advantages(scores: torch.Tensor, seq_kl: torch.Tensor, cfg: RLOOConfig) -> torch.Tensor:
    return leave_one_out_advantages(scores - cfg.kl_coef * seq_kl)


def _train_value_free(
    method: str,
    cfg: GRPOConfig | RLOOConfig,
    advantage_fn: AdvantageFn,
    config: ExperimentConfig,
    prompts: Sequence[str],
    gold_reward: Reward,
    out_dir: Path,
    seed: int,
    resume: bool,
    reward_model_dir: str | None,
    init_path: str | None,
) -> dict:
    accelerator = create_accelerator(cfg, out_dir, seed)
    device = accelerator.device
    watch = Stopwatch()
    group = cfg.group_size
    kl_as_loss = method == "grpo" and not cfg.kl_in_reward
    clip = method == "grpo" or cfg.objective == "clip"
    with PeakMemory() as memory:
        tokenizer = load_tokenizer(config.model, init_path)
        policy = load_policy(config.model, device, init_path)
        reference = load_reference(config.model, device, policy, init_path)
        scorer = SequenceScorer(config, cfg, gold_reward, device, reward_model_dir)
        steps_per_iteration = updates_per_iteration(
            cfg, cfg.prompts_per_iteration // accelerator.num_processes * group, method
        )
        optimizer = build_optimizer(policy, cfg)
        scheduler = build_scheduler(optimizer, cfg, cfg.iterations * steps_per_iteration)
        model, optimizer, scheduler = accelerator.prepare(policy, optimizer, scheduler)
        temperature = config.generation.temperature
        chunk = config.generation.batch_size

        def loss_fn(
            model: torch.nn.Module, mb: dict[str, torch.Tensor]
        ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
            new = score_minibatch(model, mb, temperature)
            mask = mb["mask"].float()
            stats: dict[str, torch.Tensor] = {"policy/entropy": masked_mean(new.entropy, mask).detach()}
            if clip:
                token_advantages = mb["advantages"].unsqueeze(-1).expand_as(new.logprobs)
                pg = clipped_policy_loss(new.logprobs, mb["logprobs"], token_advantages, mask, cfg.clip_range)
                loss = pg.loss
                stats.update({"policy/clipfrac": pg.clipfrac, "policy/approx_kl": pg.approx_kl})
            else:
                loss = policy_gradient_loss(new.logprobs, mb["advantages"], mask)
            stats["loss/policy"] = loss.detach()
            if kl_as_loss:
                kl_term = masked_mean(kl_estimate(new.logprobs, mb["ref_logprobs"], "k3"), mask)
                loss = loss + cfg.kl_coef * kl_term
                stats["loss/kl"] = kl_term.detach()
            return loss, stats

        def iteration(index: int, batch_prompts: list[str], state: dict[str, Any]) -> tuple[dict[str, float], int]:
            unwrapped = accelerator.unwrap_model(model)
            with watch.phase("generation"):
                rollout = generate(unwrapped, tokenizer, batch_prompts, group, config, device)
                texts = decode(tokenizer, rollout)
            with watch.phase("scoring"):
                logprobs, _ = forward_in_chunks(model, rollout, temperature, chunk)
                ref_logprobs = reference_logprobs(unwrapped, reference, rollout, temperature, chunk)
                repeated_prompts = [p for p in batch_prompts for _ in range(group)]
                score, gold = scorer(rollout, repeated_prompts, texts, tokenizer.pad_token_id, chunk)
                mask = rollout.response_mask.float()
                seq_kl = sequence_kl(logprobs, ref_logprobs, mask)
                advantages = advantage_fn(score.view(-1, group).to(device), seq_kl.view(-1, group), cfg).flatten()
            with watch.phase("training"):
                batch = update_batch(rollout, logprobs=logprobs, ref_logprobs=ref_logprobs, advantages=advantages)
                stats, state["step"] = run_update_epochs(
                    accelerator, model, optimizer, scheduler, cfg, batch, loss_fn, state["step"]
                )
            metrics = {
                **rollout_metrics(rollout, score, gold),
                **stats,
                "objective/kl": float(seq_kl.mean()),
                "objective/kl_coef": cfg.kl_coef,
                "advantage/abs_mean": float(advantages.abs().mean()),
                "train/lr": scheduler.get_last_lr()[0],
                **{f"time/{k}": v for k, v in watch.totals.items()},
            }
            return metrics, int(rollout.prompt_mask.sum() + rollout.response_mask.sum())

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
    write_run_files(accelerator, out_dir, {"train": result.history}, summary)
    return summary


def train_grpo(
    config: ExperimentConfig,
    prompts: Sequence[str],
    gold_reward: Reward,
    out_dir: Path,
    seed: int,
    resume: bool = False,
    reward_model_dir: str | None = None,
    init_path: str | None = None,
) -> dict:
    """Train a policy with ``config.grpo``; save it under ``out_dir/model``."""
    return _train_value_free(
        "grpo",
        config.grpo,
        grpo_advantages,
        config,
        prompts,
        gold_reward,
        out_dir,
        seed,
        resume,
        reward_model_dir,
        init_path,
    )


def train_rloo(
    config: ExperimentConfig,
    prompts: Sequence[str],
    gold_reward: Reward,
    out_dir: Path,
    seed: int,
    resume: bool = False,
    reward_model_dir: str | None = None,
    init_path: str | None = None,
) -> dict:
    """Train a policy with ``config.rloo``; save it under ``out_dir/model``."""
    return _train_value_free(
        "rloo",
        config.rloo,
        rloo_advantages,
        config,
        prompts,
        gold_reward,
        out_dir,
        seed,
        resume,
        reward_model_dir,
        init_path,
    )
