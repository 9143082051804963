"""PPO for language models: RLHF on a reward model (Ziegler et al. 2019; Ouyang et al. 2022), or on
the gold reward itself (PPO-GT, the upper bound of the DPO paper's sentiment experiment).

One iteration, following "The N+ implementation details of RLHF with PPO" (Huang et al. 2024):

1. sample a response to each of ``prompts_per_iteration`` prompts (batched, KV cache);
2. one no-grad forward of policy + value head gives the old log-probs and values; one forward
   of the reference gives its log-probs (with LoRA: the same weights, adapter disabled);
3. score each response (reward model, standardised, or gold reward), add the missing-EOS
   penalty, and build per-token rewards: the score at the last token minus kl_coef * (log pi -
   log pi_ref) at every token;
4. GAE(gamma, lambda) over response tokens, advantages whitened over the batch;
5. ``update_epochs`` passes of shuffled minibatches: clipped policy ratio, clipped value loss,
   entropy bonus, gradient clipping;
6. with ``adaptive_kl``, move kl_coef towards ``target_kl``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from alignlab.config import ExperimentConfig
from alignlab.log import logger
from alignlab.losses import (
    adaptive_kl_coef,
    clipped_policy_loss,
    clipped_value_loss,
    explained_variance,
    gae_advantages,
    masked_mean,
    masked_whiten,
    ppo_token_rewards,
)
from alignlab.models import (
    PolicyAndCritic,
    PolicyWithValue,
    ValueHead,
    count_parameters,
    hidden_size_of,
    load_policy,
    load_reference,
    load_reward_model,
    load_reward_normalization,
    load_tokenizer,
)
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


def build_actor_critic(
    config: ExperimentConfig, device: torch.device, reward_model_dir: str | None, init_path: str | None
) -> torch.nn.Module:
    """Policy plus critic: a value head on the policy's trunk (``critic: shared``) or a separate
    critic model (``critic: separate``), initialised from the reward model or from scratch."""
    cfg = config.ppo
    policy = load_policy(config.model, device, init_path)
    from_rm = cfg.value_init == "reward_model" and reward_model_dir is not None
    if cfg.value_init == "reward_model" and reward_model_dir is None:
        logger.info("PPO: no reward model to initialise the critic from; starting it from scratch")
    if cfg.critic == "separate":
        critic = load_reward_model(
            config.model,
            device,
            reward_model_dir if from_rm else (init_path or config.model.name_or_path),
            trainable=True,
        )
        return PolicyAndCritic(policy, critic)
    value_head = ValueHead(hidden_size_of(policy)).to(device)
    if from_rm:
        reward_model = load_reward_model(config.model, device, reward_model_dir)
        value_head.init_from_score_head(reward_model.score, *load_reward_normalization(reward_model_dir))
        del reward_model
    return PolicyWithValue(policy, value_head)


def train_ppo(
    config: ExperimentConfig,
    prompts: Sequence[str],
    gold_reward: Reward,
    out_dir: Path,
    seed: int,
    resume: bool = False,
    reward_model_dir: str | None = None,
    init_path: str | None = None,
) -> dict:
    """Train a policy with ``config.ppo`` on ``prompts``; save it (and its value head) under
    ``out_dir/model``. Returns the summary (last iteration's metrics and costs)."""
    cfg = config.ppo
    accelerator = create_accelerator(cfg, out_dir, seed)
    device = accelerator.device
    watch = Stopwatch()
    with PeakMemory() as memory:
        tokenizer = load_tokenizer(config.model, init_path)
        model = build_actor_critic(config, device, reward_model_dir, init_path)
        reference = load_reference(config.model, device, model.policy, init_path)
        scorer = SequenceScorer(config, cfg, gold_reward, device, reward_model_dir)
        steps_per_iteration = updates_per_iteration(cfg, cfg.prompts_per_iteration // accelerator.num_processes, "ppo")
        optimizer = build_optimizer(model, cfg)
        scheduler = build_scheduler(optimizer, cfg, cfg.iterations * steps_per_iteration)
        model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
        temperature = config.generation.temperature
        chunk = config.generation.batch_size

        def loss_fn(
            model: torch.nn.Module, mb: dict[str, torch.Tensor]
        ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
            new = score_minibatch(model, mb, temperature)
            mask = mb["mask"].float()
            pg = clipped_policy_loss(new.logprobs, mb["logprobs"], mb["advantages"], mask, cfg.clip_range)
            vf_loss, vf_clipfrac = clipped_value_loss(
                new.values, mb["values"], mb["returns"], mask, cfg.value_clip_range
            )
            entropy = masked_mean(new.entropy, mask)
            loss = pg.loss + cfg.vf_coef * vf_loss - cfg.entropy_coef * entropy
            return loss, {
                "loss/policy": pg.loss.detach(),
                "loss/value": vf_loss.detach(),
                "policy/entropy": entropy.detach(),
                "policy/clipfrac": pg.clipfrac,
                "policy/approx_kl": pg.approx_kl,
                "value/clipfrac": vf_clipfrac,
            }

        def iteration(index: int, batch_prompts: list[str], state: dict[str, Any]) -> tuple[dict[str, float], int]:
            unwrapped = accelerator.unwrap_model(model)
            with watch.phase("generation"):
                rollout = generate(unwrapped.policy, tokenizer, batch_prompts, 1, config, device)
                texts = decode(tokenizer, rollout)
            with watch.phase("scoring"):
                logprobs, values = forward_in_chunks(model, rollout, temperature, chunk)
                ref_logprobs = reference_logprobs(unwrapped.policy, reference, rollout, temperature, chunk)
                score, gold = scorer(rollout, batch_prompts, texts, tokenizer.pad_token_id, chunk)
                mask = rollout.response_mask.float()
                rewards, kl = ppo_token_rewards(score.to(device), logprobs, ref_logprobs, mask, state["kl_coef"])
                advantages, returns = gae_advantages(rewards, values, mask, cfg.gamma, cfg.lam)
                if cfg.whiten_advantages:
                    advantages = masked_whiten(advantages, mask)
            with watch.phase("training"):
                batch = update_batch(rollout, logprobs=logprobs, values=values, advantages=advantages, returns=returns)
                stats, state["step"] = run_update_epochs(
                    accelerator, model, optimizer, scheduler, cfg, batch, loss_fn, state["step"]
                )
            seq_kl = sequence_kl(logprobs, ref_logprobs, mask)
            metrics = {
                **rollout_metrics(rollout, score, gold),
                **stats,
                "objective/kl": float(seq_kl.mean()),
                "objective/kl_coef": state["kl_coef"],
                "objective/non_score_reward": float((-state["kl_coef"] * kl).sum(-1).mean()),
                "value/explained_variance": float(explained_variance(values, returns, mask)),
                "train/lr": scheduler.get_last_lr()[0],
                **{f"time/{k}": v for k, v in watch.totals.items()},
            }
            if cfg.adaptive_kl:
                state["kl_coef"] = adaptive_kl_coef(
                    state["kl_coef"], float(seq_kl.mean()), cfg.target_kl, len(rollout), cfg.kl_horizon
                )
            tokens = int(rollout.prompt_mask.sum() + rollout.response_mask.sum())
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
    write_run_files(accelerator, out_dir, {"train": result.history}, summary)
    return summary
