"""What the online trainers (PPO, the policy-gradient family, online DPO) share: the prompts of
an iteration, rollouts and their scores, the gather into one global batch, the minibatch update,
and the iteration loop with logging, checkpoints and resume.

Several processes: each one samples and scores its contiguous share of the iteration's prompts
(a prompt's whole group on one process), then every tensor is gathered so that each process
holds the same global batch. Everything the algorithm takes over the batch (advantage
whitening, group statistics, the KL controller, token counts of token-mean losses, logged
metrics) is therefore the single-process value. Minibatches come from one permutation seeded by
(seed, iteration, epoch) and are split into one contiguous part per process.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from torch import nn
from transformers import PreTrainedTokenizerBase

from alignlab import distributed
from alignlab.batch import Sequences, collate
from alignlab.config import ExperimentConfig, OnlineTrainConfig, SamplingConfig
from alignlab.errors import AlignlabError, ConfigError
from alignlab.models import ModelSource, load_reward_model, load_reward_normalization, load_tokenizer, reference_mode
from alignlab.progress import progress_task
from alignlab.rollout import Rollout, decode_responses, generate
from alignlab.scoring import TokenScorer, TokenScores, sequence_scores
from alignlab.tasks.rewards import Reward
from alignlab.tokens import encode_prompt, encode_response
from alignlab.trainers.common import (
    Checkpointer,
    History,
    Stopwatch,
    backward_if_finite,
    finish_optimizer_step,
    finish_trackers,
)
from alignlab.trainers.offline import epoch_order


def check_online_config(
    name: str, cfg: OnlineTrainConfig, sampling: SamplingConfig, processes: int, group_size: int = 1
) -> int:
    """Refuse, before anything runs, a configuration that would change the objective or split
    unevenly; returns the optimizer steps per iteration."""
    if sampling.top_k > 0 or sampling.top_p < 1.0:
        raise ConfigError(
            f"generation.top_k/top_p: {name} trains on its own samples, and its ratios and KL assume they come "
            "from the policy's full distribution; top-k/top-p sampling would silently change the objective "
            "(set generation.top_k: 0 and generation.top_p: 1.0; evaluation.generation may use them)"
        )
    if cfg.prompts_per_iteration % processes:
        raise ConfigError(
            f"{name}.prompts_per_iteration: {cfg.prompts_per_iteration} prompts do not split evenly over "
            f"{processes} processes"
        )
    rows = cfg.prompts_per_iteration * group_size
    if rows % cfg.batch_size:
        raise ConfigError(
            f"{name}.batch_size: the {rows} sequences of an iteration must split into minibatches of "
            f"batch_size={cfg.batch_size}"
        )
    if cfg.batch_size % (cfg.grad_accum_steps * processes):
        raise ConfigError(
            f"{name}.batch_size: {cfg.batch_size} does not split into grad_accum_steps={cfg.grad_accum_steps} x "
            f"{processes} process(es)"
        )
    return cfg.update_epochs * rows // cfg.batch_size


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


def my_share(items: Sequence[Any] | torch.Tensor) -> Any:
    """This process's contiguous part of rows that split evenly over the processes."""
    share = len(items) // distributed.world_size()
    start = distributed.rank() * share
    part = items[start : start + share]
    return part if isinstance(items, torch.Tensor) else list(part)


class SequenceScorer:
    """Scores responses for an online trainer: with the reward model (standardised as saved with
    it) or with the task's gold reward; the gold reward is also reported for every iteration.
    A reward model with a tokenizer of its own gets the texts re-tokenised for it."""

    def __init__(
        self,
        config: ExperimentConfig,
        train_config: OnlineTrainConfig,
        gold: Reward,
        device: torch.device,
        reward_model_dir: ModelSource | None,
        policy_tokenizer: PreTrainedTokenizerBase,
    ) -> None:
        self.gold = gold
        self.use_gold = train_config.reward_source == "gold"
        self.missing_eos_penalty = train_config.missing_eos_penalty
        self.batch_size = config.generation.batch_size
        self.max_prompt_tokens = config.task.max_prompt_tokens
        self.reward_model = None
        self.reward_tokenizer: PreTrainedTokenizerBase | None = None
        if not self.use_gold:
            if reward_model_dir is None:
                raise AlignlabError("reward_source=reward_model needs a trained reward model (--reward-model DIR)")
            self.reward_model = load_reward_model(config.model, device, reward_model_dir)
            self.mean, self.std = load_reward_normalization(reward_model_dir)
            tokenizer = load_tokenizer(config.model, reward_model_dir)
            if tokenizer.get_vocab() != policy_tokenizer.get_vocab():
                self.reward_tokenizer = tokenizer

    @property
    def models_in_memory(self) -> int:
        return 0 if self.reward_model is None else 1

    def _reward_model_batch(self, rollout: Rollout, prompts: Sequence[str], texts: Sequence[str]) -> Sequences:
        if self.reward_tokenizer is None:
            return rollout
        tok = self.reward_tokenizer
        prompt_rows = [encode_prompt(tok, p, self.max_prompt_tokens) for p in prompts]
        response_rows = [encode_response(tok, t, bool(e))[0] for t, e in zip(texts, rollout.ended.tolist())]
        return collate(prompt_rows, response_rows, tok.pad_token_id)

    @torch.no_grad()
    def __call__(
        self, rollout: Rollout, prompts: Sequence[str], texts: Sequence[str]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(score used for training, gold reward), both ``(B,)`` on the CPU."""
        gold = torch.tensor(self.gold(list(prompts), list(texts)), dtype=torch.float32)
        if self.use_gold:
            score = gold.clone()
        else:
            batch = self._reward_model_batch(rollout, prompts, texts)
            device = next(self.reward_model.parameters()).device
            raw = torch.cat(
                [sequence_scores(self.reward_model, part.to(device)).cpu() for part in batch.chunks(self.batch_size)]
            )
            score = (raw - self.mean) / self.std
        if self.missing_eos_penalty:
            score = score + self.missing_eos_penalty * (~rollout.ended.cpu()).float()
        return score, gold


@torch.no_grad()
def score_in_chunks(model: nn.Module, rollout: Sequences, temperature: float, batch_size: int) -> TokenScores:
    """Per-token log-probs (and values, when ``model`` has a critic) of a whole rollout."""
    parts = [model(part, temperature) for part in rollout.chunks(batch_size)]
    values = [p.values for p in parts if p.values is not None]
    return TokenScores(logprobs=torch.cat([p.logprobs for p in parts]), values=torch.cat(values) if values else None)


def reference_logprobs(
    policy: nn.Module, reference: nn.Module | None, rollout: Sequences, temperature: float, batch_size: int
) -> torch.Tensor:
    """log pi_ref of every response token: the frozen reference, or the policy with its adapter off."""
    with reference_mode(policy, reference) as ref_model:
        return score_in_chunks(TokenScorer(ref_model), rollout, temperature, batch_size).logprobs


def gather_rollout(rollout: Rollout, pad_token_id: int) -> Rollout:
    """Every process's rollout, in rank order, re-padded to the widest (the identity on one process)."""
    return Rollout(
        prompt_ids=distributed.gather_left_padded(rollout.prompt_ids, pad_token_id),
        prompt_mask=distributed.gather_left_padded(rollout.prompt_mask, 0),
        response_ids=distributed.gather_rows(rollout.response_ids, pad_token_id),
        response_mask=distributed.gather_rows(rollout.response_mask, 0),
        ended=distributed.gather_rows(rollout.ended),
    )


def crop(batch: Sequences) -> Sequences:
    """Drop the prompt columns (left) and response columns (right) that are padding in every row."""
    prompt_width = int(batch.prompt_mask.sum(-1).max()) if len(batch) else 0
    response_width = int(batch.response_mask.sum(-1).max()) if len(batch) else 0
    cropped = {}
    for f in fields(batch):
        value = getattr(batch, f.name)
        if f.name.startswith("prompt_"):
            value = value[:, value.shape[1] - max(prompt_width, 1) :]
        elif f.name.startswith("response_"):
            value = value[:, : max(response_width, 1)]
        cropped[f.name] = value
    return type(batch)(**cropped)


@dataclass
class Minibatch:
    """One process's micro-batch of a minibatch: its sequences (cropped), its rows of every
    per-sequence / per-token tensor (``data``, cropped alike), the aggregation's token weights,
    and ``scale`` = 1 / the whole minibatch's unit count (over all micro-batches and processes)."""

    sequences: Rollout
    data: dict[str, torch.Tensor]
    weights: torch.Tensor
    scale: float

    @property
    def mask(self) -> torch.Tensor:
        return self.sequences.response_mask.float()


# (model, micro-batch) -> (loss already scaled to the minibatch, metric sums scaled likewise)
LossFn = Callable[[nn.Module, Minibatch], tuple[torch.Tensor, dict[str, torch.Tensor]]]
# (global minibatch rollout, its data) -> (token weights (B, T), units)
WeighFn = Callable[[Rollout, dict[str, torch.Tensor]], tuple[torch.Tensor, float]]


def token_mean_weights(rollout: Rollout, data: dict[str, torch.Tensor]) -> tuple[torch.Tensor, float]:
    mask = rollout.response_mask.float()
    return mask, float(mask.sum())


def update_policy(
    accelerator: Accelerator,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    cfg: OnlineTrainConfig,
    rollout: Rollout,
    data: dict[str, torch.Tensor],
    loss_fn: LossFn,
    weigh: WeighFn,
    step: int,
    seed: int,
    iteration: int,
    group: int = 1,
) -> tuple[dict[str, float], int, int]:
    """``update_epochs`` passes over the global batch in minibatches of ``cfg.batch_size`` rows
    (groups of ``group`` adjacent rows kept together). Returns the mean over minibatches of the
    loss statistics (each a global mean), the new optimizer step count, and the tokens that went
    through the training forward on all processes."""
    processes, device = accelerator.num_processes, accelerator.device
    share = cfg.batch_size // processes
    micro = share // cfg.grad_accum_steps
    groups = len(rollout) // group
    totals: dict[str, float] = {}
    minibatches, tokens = 0, 0
    for epoch in range(cfg.update_epochs):
        generator = torch.Generator().manual_seed(seed * 1_000_003 + iteration * 101 + epoch)
        order = (torch.randperm(groups, generator=generator)[:, None] * group + torch.arange(group)).flatten()
        for start in range(0, len(rollout) - cfg.batch_size + 1, cfg.batch_size):
            rows = order[start : start + cfg.batch_size]
            minibatch = rollout.select(rows)
            minibatch_data = {k: v[rows] for k, v in data.items()}
            weights, units = weigh(minibatch, minibatch_data)
            scale = 1.0 / max(units, 1e-12)
            mine = torch.arange(distributed.rank() * share, (distributed.rank() + 1) * share)
            stats: dict[str, torch.Tensor] = {}
            healthy = True
            for micro_start in range(0, share, micro):
                index = mine[micro_start : micro_start + micro]
                sequences = crop(minibatch.select(index))
                width = sequences.response_ids.shape[1]
                part = Minibatch(
                    sequences=sequences.to(device),
                    data={k: _crop_rows(v[index], width).to(device) for k, v in minibatch_data.items()},
                    weights=weights[index][:, :width].to(device),
                    scale=scale,
                )
                loss, loss_stats = loss_fn(model, part)
                last = micro_start + micro >= share
                # DDP averages gradients over processes: scale up so the step is the global sum.
                healthy = backward_if_finite(
                    accelerator, model, loss * processes, healthy, last, step + 1, cfg.nan_policy
                )
                for key, value in {"loss/total": loss.detach(), **loss_stats}.items():
                    stats[key] = stats.get(key, torch.zeros((), device=device)) + value.detach().float()
                tokens += int(sequences.attention_mask.sum())
            grad_norm = finish_optimizer_step(accelerator, model, optimizer, scheduler, cfg, healthy, step + 1)
            step += 1
            keys = sorted(stats)
            reduced = distributed.all_reduce_sum(torch.stack([stats[k] for k in keys]))
            for key, value in zip(keys, reduced.tolist()):
                totals[key] = totals.get(key, 0.0) + value
            totals["train/grad_norm"] = totals.get("train/grad_norm", 0.0) + grad_norm
            minibatches += 1
    tokens = int(distributed.all_reduce_sum(torch.tensor(tokens, dtype=torch.float64)))
    return {k: v / max(minibatches, 1) for k, v in totals.items()}, step, tokens


def _crop_rows(values: torch.Tensor, width: int) -> torch.Tensor:
    return values[:, :width] if values.dim() == 2 else values


def rollout_metrics(rollout: Rollout, score: torch.Tensor, gold: torch.Tensor) -> dict[str, float]:
    """Metrics every online method reports about its samples (over the global batch)."""
    mask = rollout.response_mask.float()
    return {
        "reward/score": float(score.mean()),
        "reward/gold": float(gold.mean()),
        "rollout/response_length": float(mask.sum(-1).mean()),
        "rollout/ended_with_eos": float(rollout.ended.float().mean()),
    }


def sample_and_score(
    policy: nn.Module,
    scorer_model: nn.Module,
    reference: nn.Module | None,
    tokenizer: PreTrainedTokenizerBase,
    sequence_scorer: SequenceScorer,
    prompts: Sequence[str],
    group: int,
    config: ExperimentConfig,
    watch: Stopwatch,
    seed: int,
    iteration: int,
) -> tuple[Rollout, TokenScores, torch.Tensor, torch.Tensor, torch.Tensor, list[str]]:
    """This process's share of ``prompts``: ``group`` samples each, then old log-probs (and
    values), reference log-probs and sequence scores; everything gathered into the global batch.
    The sampling draws are fixed by (seed, iteration) for the global batch, so a sample does not
    depend on the number of processes. Returns (rollout, old scores, reference log-probs, score,
    gold, texts), on the CPU."""
    temperature, chunk = config.generation.temperature, config.generation.batch_size
    device = next(policy.parameters()).device
    mine = my_share(prompts)
    generator = torch.Generator().manual_seed(seed * 1_000_003 + iteration)
    uniforms = torch.rand(len(prompts) * group, config.generation.max_new_tokens, generator=generator)
    with watch.phase("generation"):
        rollout = generate(
            policy, tokenizer, mine, group, config.generation, config.task.max_prompt_tokens, my_share(uniforms)
        )
        texts = decode_responses(tokenizer, rollout)
    with watch.phase("scoring"):
        on_device = rollout.to(device)
        old = score_in_chunks(scorer_model, on_device, temperature, chunk)
        ref = reference_logprobs(policy, reference, on_device, temperature, chunk)
        score, gold = sequence_scorer(rollout, [p for p in mine for _ in range(group)], texts)
    pad = tokenizer.pad_token_id
    values = None if old.values is None else distributed.gather_rows(old.values.cpu())
    old_all = TokenScores(logprobs=distributed.gather_rows(old.logprobs.cpu()), values=values)
    return (
        gather_rollout(rollout, pad),
        old_all,
        distributed.gather_rows(ref.cpu()),
        distributed.gather_rows(score),
        distributed.gather_rows(gold),
        texts,
    )


@dataclass
class OnlineResult:
    history: list[dict[str, float]]
    iterations: int
    tokens: int
    train_time_s: float
    timing: dict[str, float] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)


# (iteration, the iteration's global prompts, state) -> (metrics, tokens trained on)
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
    after_iteration: Callable[[int], None] | None = None,
) -> OnlineResult:
    """Call ``iteration_fn(iteration, prompts, state) -> (metrics, tokens)`` for every
    iteration; log, checkpoint every ``checkpoint_every`` iterations and at the end, and resume
    from the last checkpoint. ``state`` is the algorithm's own JSON-able state (e.g. the
    adaptive KL coefficient); it is saved with checkpoints and restored on resume.
    ``after_iteration(iteration)`` runs after each completed iteration (e.g. ``Snapshots``)."""
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
            metrics, iteration_tokens = iteration_fn(iteration, batch_prompts, state)
            duration = time.perf_counter() - started
            iteration += 1
            tokens += iteration_tokens
            elapsed += duration
            metrics["perf/tokens_per_s"] = iteration_tokens / duration
            metrics["perf/iteration_s"] = duration
            metrics.update({f"time/{k}": v for k, v in watch.totals.items()})
            history.log(accelerator, iteration, metrics)
            if after_iteration is not None:
                after_iteration(iteration)
            if config.checkpoint_every and iteration % config.checkpoint_every == 0 and iteration < config.iterations:
                save_checkpoint()
            advance(1, gold=metrics["reward/gold"], kl=metrics.get("objective/kl", 0.0))
    save_checkpoint()
    finish_trackers(accelerator)
    return OnlineResult(history.rows, iteration, tokens, elapsed, dict(watch.totals), state)
