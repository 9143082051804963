"""What the online RL trainers (PPO, GRPO, RLOO) share: prompts per iteration, rollouts and their
scores, reference log-probs, minibatch update epochs, and the iteration loop with logging,
checkpoints and resume. Each algorithm supplies one iteration; see ``ppo.py`` for the pattern.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from torch import nn
from transformers import PreTrainedTokenizerBase

from alignlab.config import ExperimentConfig, OnlineTrainConfig
from alignlab.errors import AlignlabError
from alignlab.losses import masked_mean
from alignlab.models import load_reward_model, load_reward_normalization, reference_mode
from alignlab.progress import progress_task
from alignlab.rollout import (
    Rollout,
    TokenScores,
    decode_responses,
    reward_model_scores,
    sample,
    score_responses,
    tokenize_prompts,
)
from alignlab.tasks.rewards import Reward
from alignlab.trainers.common import Checkpointer, History, Stopwatch, backward_if_finite, finish_optimizer_step
from alignlab.trainers.loop import epoch_order


def iteration_prompts(prompts: Sequence[str], per_iteration: int, iteration: int, seed: int) -> list[str]:
    """The prompts of one iteration: consecutive slices of seeded permutations of ``prompts``,
    a fresh permutation each time the list is used up."""
    out: list[str] = []
    position = iteration * per_iteration
    while len(out) < per_iteration:
        epoch, offset = divmod(position, len(prompts))
        order = epoch_order(len(prompts), seed, epoch)
        take = order[offset : offset + per_iteration - len(out)]
        out += [prompts[i] for i in take]
        position += len(take)
    return out


class SequenceScorer:
    """Scores responses for an online trainer: with the reward model (standardised as saved with
    it) or with the task's gold reward; the gold reward is also reported for every iteration."""

    def __init__(
        self,
        config: ExperimentConfig,
        train_config: OnlineTrainConfig,
        gold: Reward,
        device: torch.device,
        reward_model_dir: str | None,
    ) -> None:
        self.gold = gold
        self.use_gold = train_config.reward_source == "gold"
        self.missing_eos_penalty = train_config.missing_eos_penalty
        self.reward_model = None
        if not self.use_gold:
            if reward_model_dir is None:
                raise AlignlabError("reward_source=reward_model needs a trained reward model (--reward-model DIR)")
            self.reward_model = load_reward_model(config.model, device, reward_model_dir)
            self.mean, self.std = load_reward_normalization(reward_model_dir)

    @property
    def models_in_memory(self) -> int:
        return 0 if self.reward_model is None else 1

    @torch.no_grad()
    def __call__(
        self, rollout: Rollout, prompts: Sequence[str], texts: Sequence[str], pad_token_id: int, batch_size: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(score used for training, gold reward), both ``(B,)``."""
        gold = torch.tensor(self.gold(list(prompts), list(texts)), dtype=torch.float32)
        if self.use_gold:
            score = gold.clone()
        else:
            parts = []
            for start in range(0, len(rollout), batch_size):
                part = rollout.select(slice(start, start + batch_size))
                parts.append(
                    reward_model_scores(
                        self.reward_model,
                        part.prompt_ids,
                        part.prompt_mask,
                        part.response_ids,
                        part.response_mask,
                        pad_token_id,
                    ).cpu()
                )
            score = (torch.cat(parts) - self.mean) / self.std
        if self.missing_eos_penalty:
            score = score + self.missing_eos_penalty * (~rollout.ended.cpu()).float()
        return score, gold


def generate(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    samples_per_prompt: int,
    config: ExperimentConfig,
    device: torch.device,
) -> Rollout:
    """``samples_per_prompt`` responses to each prompt (rows of one prompt are adjacent)."""
    ids, mask = tokenize_prompts(tokenizer, prompts, config.task.max_prompt_tokens)
    ids = ids.repeat_interleave(samples_per_prompt, dim=0)
    mask = mask.repeat_interleave(samples_per_prompt, dim=0)
    return sample(model, tokenizer, ids, mask, config.generation).to(device)


@torch.no_grad()
def forward_in_chunks(
    model: nn.Module, rollout: Rollout, temperature: float, batch_size: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-token log-probs (and values, for a model with a value head) of a whole rollout."""
    logprobs, values = [], []
    for start in range(0, len(rollout), batch_size):
        part = rollout.select(slice(start, start + batch_size))
        scores = score_responses(
            model, part.prompt_ids, part.prompt_mask, part.response_ids, part.response_mask, temperature
        )
        logprobs.append(scores.logprobs)
        if scores.values is not None:
            values.append(scores.values)
    return torch.cat(logprobs), (torch.cat(values) if values else None)


def update_batch(rollout: Rollout, **tensors: torch.Tensor) -> dict[str, torch.Tensor]:
    """What the update epochs cut into minibatches: the rollout's ids and masks (``mask`` is the
    response mask) beside the method's per-sequence or per-token ``tensors``."""
    return {
        "prompt_ids": rollout.prompt_ids,
        "prompt_mask": rollout.prompt_mask,
        "response_ids": rollout.response_ids,
        "mask": rollout.response_mask,
        **tensors,
    }


def score_minibatch(model: nn.Module, mb: dict[str, torch.Tensor], temperature: float) -> TokenScores:
    """Log-probs, entropy (and values) of a minibatch of ``update_batch``, with gradients."""
    return score_responses(
        model, mb["prompt_ids"], mb["prompt_mask"], mb["response_ids"], mb["mask"], temperature, with_entropy=True
    )


def reference_logprobs(
    policy: nn.Module, reference: nn.Module | None, rollout: Rollout, temperature: float, batch_size: int
) -> torch.Tensor:
    """log pi_ref of every response token: the frozen reference, or the policy with its adapter off."""
    with reference_mode(policy, reference) as ref_model:
        logprobs, _ = forward_in_chunks(ref_model, rollout, temperature, batch_size)
    return logprobs


def run_update_epochs(
    accelerator: Accelerator,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    config: OnlineTrainConfig,
    batch: dict[str, torch.Tensor],
    loss_fn: Callable[[nn.Module, dict[str, torch.Tensor]], tuple[torch.Tensor, dict[str, torch.Tensor]]],
    step: int,
) -> tuple[dict[str, float], int]:
    """``update_epochs`` passes over ``batch`` (tensors with the rows first) in shuffled
    minibatches of ``config.batch_size`` rows, each split into micro-batches for gradient
    accumulation. Returns the mean of ``loss_fn``'s statistics and the new optimizer step count."""
    rows = next(iter(batch.values())).shape[0]
    micro = config.batch_size // config.grad_accum_steps
    stats: dict[str, list[float]] = {}
    for _ in range(config.update_epochs):
        order = torch.randperm(rows)
        for start in range(0, rows - config.batch_size + 1, config.batch_size):
            healthy = True
            for micro_start in range(start, start + config.batch_size, micro):
                index = order[micro_start : micro_start + micro]
                minibatch = {k: v[index] for k, v in batch.items()}
                with accelerator.accumulate(model):
                    loss, loss_stats = loss_fn(model, minibatch)
                    healthy = backward_if_finite(accelerator, loss, healthy, step + 1, config.nan_policy)
                    for key, value in {"loss/total": loss.detach(), **loss_stats}.items():
                        stats.setdefault(key, []).append(float(value))
                    if accelerator.sync_gradients:
                        grad_norm = finish_optimizer_step(
                            accelerator, model, optimizer, scheduler, config, healthy, step + 1
                        )
                        stats.setdefault("train/grad_norm", []).append(grad_norm)
            step += 1
    return {k: sum(v) / len(v) for k, v in stats.items()}, step


def updates_per_iteration(config: OnlineTrainConfig, rows: int, name: str) -> int:
    if rows % config.batch_size:
        raise AlignlabError(
            f"{name}: the {rows} sequences of an iteration must split into minibatches of batch_size={config.batch_size}"
        )
    return config.update_epochs * rows // config.batch_size


def rollout_metrics(rollout: Rollout, score: torch.Tensor, gold: torch.Tensor) -> dict[str, float]:
    """Metrics every online method reports about its samples."""
    mask = rollout.response_mask.float()
    return {
        "reward/score": float(score.mean()),
        "reward/gold": float(gold.mean()),
        "rollout/response_length": float(mask.sum(-1).mean()),
        "rollout/ended_with_eos": float(rollout.ended.float().mean()),
    }


def sequence_kl(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """KL(pi || pi_ref) per sequence, summing the per-token k1 estimate: ``(B,)``."""
    return ((logprobs - ref_logprobs) * mask).sum(-1)


def mean_entropy(entropy: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return masked_mean(entropy, mask)


@dataclass
class OnlineResult:
    history: list[dict[str, float]]
    iterations: int
    tokens: int
    train_time_s: float
    timing: dict[str, float] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)


IterationFn = Callable[[int, list[str], dict[str, Any]], tuple[dict[str, float], int]]


def run_iterations(
    *,
    name: str,
    accelerator: Accelerator,
    config: OnlineTrainConfig,
    prompts: Sequence[str],
    seed: int,
    out_dir: Path,
    resume: bool,
    iteration_fn: IterationFn,
    state: dict[str, Any],
    watch: Stopwatch,
) -> OnlineResult:
    """Call ``iteration_fn(iteration, prompts, state) -> (metrics, tokens)`` for every
    iteration; log, checkpoint every ``checkpoint_every`` iterations and at the end, and resume
    from the last checkpoint. ``state`` is the algorithm's own JSON-able state (e.g. the
    adaptive KL coefficient); it is saved with checkpoints and restored on resume."""
    checkpointer = Checkpointer(accelerator, out_dir)
    history = History()
    iteration, tokens, elapsed = 0, 0, 0.0
    restored = checkpointer.restore() if resume else None
    if restored is not None:
        iteration, tokens, elapsed = restored["step"], restored["tokens"], restored["train_time_s"]
        history.rows = restored["history"]
        state.update(restored["extra"])
        watch.totals.update(restored.get("timing", {}))

    def save_checkpoint() -> None:
        checkpointer.save(
            iteration,
            {
                "step": iteration,
                "tokens": tokens,
                "train_time_s": elapsed,
                "history": history.rows,
                "extra": state,
                "timing": watch.totals,
            },
        )

    accelerator.init_trackers(name)
    with progress_task(name, config.iterations, enabled=accelerator.is_main_process) as advance:
        advance(iteration)
        while iteration < config.iterations:
            started = time.perf_counter()
            batch_prompts = iteration_prompts(prompts, config.prompts_per_iteration, iteration, seed)
            # Each process samples its share of the iteration's prompts; gradients meet in backward.
            shard = batch_prompts[accelerator.process_index :: accelerator.num_processes]
            metrics, iteration_tokens = iteration_fn(iteration, shard, state)
            duration = time.perf_counter() - started
            iteration += 1
            tokens += iteration_tokens
            elapsed += duration
            metrics["perf/tokens_per_s"] = iteration_tokens / duration
            metrics["perf/iteration_s"] = duration
            history.log(accelerator, iteration, metrics)
            if config.checkpoint_every and iteration % config.checkpoint_every == 0 and iteration < config.iterations:
                save_checkpoint()
            advance(1, gold=metrics["reward/gold"], kl=metrics.get("objective/kl", 0.0))
    save_checkpoint()
    accelerator.end_training()
    return OnlineResult(history.rows, iteration, tokens, elapsed, dict(watch.totals), state)


def decode(tokenizer: PreTrainedTokenizerBase, rollout: Rollout) -> list[str]:
    return decode_responses(tokenizer, rollout.response_ids, rollout.response_mask)
