"""Online DPO (Guo et al. 2024, "Direct language model alignment from online AI feedback").

One iteration:
1. sample two completions of each of ``prompts_per_iteration`` prompts from the current policy;
2. score both (the reward model, or the gold reward) and label the better one chosen; a pair
   whose two scores are equal carries no preference and is left out;
3. no-grad forward of the fixed reference gives its sequence log-probs;
4. ``update_epochs`` passes of minibatches of pairs with the DPO (or IPO) loss, the mean over
   the minibatch's labelled pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from alignlab.config import ExperimentConfig, OnlineDPOConfig
from alignlab.losses import dpo_loss, sequence_logprobs
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

PAIR = 2


def pair_labels(score: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For adjacent rows (a, b) of each prompt: (1 where a is chosen, else 0) per row, and 1 for
    rows of pairs with a preference (different scores). ``(2N,) -> (2N,), (2N,)``."""
    a, b = score.view(-1, PAIR).unbind(-1)
    first_chosen = (a > b).float().repeat_interleave(PAIR)
    labelled = (a != b).float().repeat_interleave(PAIR)
    return first_chosen, labelled


def online_dpo_loss(
    cfg: OnlineDPOConfig, temperature: float, model: nn.Module, mb: Minibatch
) -> tuple[torch.Tensor, dict]:
    """The DPO loss of the micro-batch's pairs (adjacent rows), summed and scaled to the mean
    over the minibatch's labelled pairs."""
    new = model(mb.sequences, temperature)
    logps = sequence_logprobs(new.logprobs, mb.mask).view(-1, PAIR)
    ref = mb.data["ref_sequence_logprobs"].view(-1, PAIR)
    first = mb.data["first_chosen"].view(-1, PAIR)[:, 0].bool()
    labelled = mb.data["labelled"].view(-1, PAIR)[:, 0]
    chosen, rejected = torch.where(first, logps[:, 0], logps[:, 1]), torch.where(first, logps[:, 1], logps[:, 0])
    ref_chosen, ref_rejected = torch.where(first, ref[:, 0], ref[:, 1]), torch.where(first, ref[:, 1], ref[:, 0])
    out = dpo_loss(chosen, rejected, ref_chosen, ref_rejected, beta=cfg.beta, loss_type=cfg.loss_type)
    w = labelled * mb.scale
    margin = out.chosen_rewards - out.rejected_rewards
    return (out.losses * w).sum(), {
        "loss/policy": (out.losses * w).sum().detach(),
        "rewards/margin": (margin * w).sum(),
        "rewards/accuracy": ((margin > 0).float() * w).sum(),
    }


def labelled_pairs(rollout: Rollout, data: dict[str, torch.Tensor]) -> tuple[torch.Tensor, float]:
    return rollout.response_mask.float(), float(data["labelled"].sum()) / PAIR


def train_online_dpo(
    config: ExperimentConfig,
    prompts: Sequence[str],
    gold_reward: Reward,
    out_dir: Path,
    seed: int,
    resume: bool = False,
    reward_model_dir: ModelSource | None = None,
    init: ModelSource | None = None,
) -> dict:
    """Train a policy with ``config.online_dpo`` on ``prompts``; save it under ``out_dir/model``."""
    cfg = config.online_dpo
    accelerator = create_accelerator(cfg, out_dir, seed)
    steps_per_iteration = check_online_config("online_dpo", cfg, config.generation, accelerator.num_processes, PAIR)
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
                policy, model, reference, tokenizer, scorer, batch_prompts, PAIR, config, watch, seed, index
            )
            mask = rollout.response_mask.float()
            first_chosen, labelled = pair_labels(score)
            with watch.phase("training"):
                data = {
                    "ref_sequence_logprobs": sequence_logprobs(ref_logprobs, mask),
                    "first_chosen": first_chosen,
                    "labelled": labelled,
                }
                stats, state["step"], tokens = update_policy(
                    accelerator,
                    model,
                    optimizer,
                    scheduler,
                    cfg,
                    rollout,
                    data,
                    lambda m, mb: online_dpo_loss(cfg, temperature, m, mb),
                    labelled_pairs,
                    state["step"],
                    seed,
                    index,
                    PAIR,
                )
            metrics = {
                **rollout_metrics(rollout, score, gold),
                **stats,
                "objective/kl": float(((old.logprobs - ref_logprobs) * mask).sum(-1).mean()),
                "rollout/labelled_fraction": float(labelled.mean()),
                "train/lr": scheduler.get_last_lr()[0],
            }
            return metrics, tokens

        result = run_iterations(
            name="online_dpo",
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
        "method": "online-dpo",
        "beta": cfg.beta,
        "iterations": result.iterations,
        "final": result.history[-1] if result.history else {},
        "timing": result.timing,
        "cost": Cost(result.train_time_s, result.tokens, memory.peak_mb, models, trainable).as_dict(),
    }
    write_run_files(accelerator, out_dir, {"train": result.history, "eval": []}, summary)
    return summary
