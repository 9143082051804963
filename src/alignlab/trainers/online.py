"""What the online trainers (PPO, the policy-gradient family, online DPO) share: the prompts of
an iteration, sampling and scoring over the global batch, and ``OnlineRun``, the plumbing of a
run (accelerator, optimizer, the iteration loop with logging, snapshots, checkpoints and resume,
the summary). Each algorithm's own steps stay in its file and read top to bottom there.

Several processes: each one samples and scores its contiguous share of the iteration's prompts
(a prompt's whole group on one process), then every tensor is gathered so that each process
holds the same global batch. Everything the algorithm takes over the batch (advantage
whitening, group statistics, the KL controller, token counts of token-mean losses, logged
metrics) is therefore the single-process value. Minibatches come from one permutation seeded by
(seed, iteration, epoch) and are split into one contiguous part per process.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from alignlab import distributed
from alignlab.batch import concat
from alignlab.config import OnlineTrainConfig, SamplingConfig
from alignlab.errors import ConfigError
from alignlab.layout import TrainingDir
from alignlab.models import (
    count_parameters,
    load_policy,
    load_reference,
    load_tokenizer,
    reference_mode,
    training_autocast,
)
from alignlab.optim import build_optimizer, build_scheduler, create_accelerator, finish_trackers
from alignlab.progress import progress_task
from alignlab.reward_model import TrainingReward
from alignlab.rollout import Rollout, decode_responses, generate
from alignlab.scoring import PolicyForward, TokenScores
from alignlab.tasks.verifiable import VerifiableReward
from alignlab.trainers import TrainInputs
from alignlab.trainers.checkpoints import Checkpointer, Snapshots
from alignlab.trainers.costs import Cost, PeakMemory, Stopwatch, trainable_dtypes
from alignlab.trainers.minibatches import LossFn, RowData, UpdateResult, WeighFn, update_policy
from alignlab.trainers.offline import epoch_order
from alignlab.trainers.outputs import History, save_policy, write_run_files


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


@torch.no_grad()
def score_in_chunks(model: nn.Module, rollout: Rollout, temperature: float, batch_size: int) -> TokenScores:
    """Per-token log-probs (and values, when ``model`` has a critic) of a whole rollout."""
    parts = [model(part, temperature) for part in rollout.chunks(batch_size)]
    values = [p.values for p in parts if p.values is not None]
    return TokenScores(logprobs=torch.cat([p.logprobs for p in parts]), values=torch.cat(values) if values else None)


def gather_rollout(rollout: Rollout, pad_token_id: int) -> Rollout:
    """Every process's rollout, in rank order, re-padded to the widest (the identity on one process)."""
    return Rollout(
        prompt_ids=distributed.gather_left_padded(rollout.prompt_ids, pad_token_id),
        prompt_mask=distributed.gather_left_padded(rollout.prompt_mask, 0),
        response_ids=distributed.gather_rows(rollout.response_ids, pad_token_id),
        response_mask=distributed.gather_rows(rollout.response_mask, 0),
        ended=distributed.gather_rows(rollout.ended),
    )


@dataclass
class ScoredRollout:
    """An iteration's samples over the global batch, on the CPU: the rollout, log pi_old and
    (with a critic) the values of its response tokens ``(B, R)``, log pi_ref ``(B, R)``, the
    score optimised and the gold reward ``(B,)``, and with a verifiable gold reward whether each
    answer is right ``(B,)``. log pi_old is None where the update's own forward gives it
    (``OnlineRun.update_sees_sampling_policy``)."""

    rollout: Rollout
    logprobs: torch.Tensor | None
    values: torch.Tensor | None
    ref_logprobs: torch.Tensor
    score: torch.Tensor
    gold: torch.Tensor
    correct: torch.Tensor | None = None

    @property
    def mask(self) -> torch.Tensor:
        return self.rollout.response_mask.float()

    def metrics(self) -> dict[str, float]:
        """What every online method reports about its samples (with a verifiable reward, also
        the accuracy and the lengths of right and of wrong answers)."""
        lengths = self.mask.sum(-1)
        metrics = {
            "reward/score": float(self.score.mean()),
            "reward/gold": float(self.gold.mean()),
            "rollout/response_length": float(lengths.mean()),
            "rollout/ended_with_eos": float(self.rollout.ended.float().mean()),
        }
        if self.correct is not None:
            metrics["rollout/accuracy"] = float(self.correct.float().mean())
            for name, rows in (("correct", self.correct), ("wrong", ~self.correct)):
                if rows.any():
                    metrics[f"rollout/length_{name}"] = float(lengths[rows].mean())
        return metrics

    def select(self, rows: torch.Tensor) -> ScoredRollout:
        return ScoredRollout(
            rollout=self.rollout.select(rows),
            logprobs=None if self.logprobs is None else self.logprobs[rows],
            values=None if self.values is None else self.values[rows],
            ref_logprobs=self.ref_logprobs[rows],
            score=self.score[rows],
            gold=self.gold[rows],
            correct=None if self.correct is None else self.correct[rows],
        )


def concat_scored(parts: Sequence[ScoredRollout], pad_token_id: int) -> ScoredRollout:
    """Several rounds of samples as one batch, re-padded to the widest response."""
    if len(parts) == 1:
        return parts[0]
    width = max(p.logprobs.shape[1] for p in parts)

    def right(values: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat([F.pad(v, (0, width - v.shape[1])) for v in values])

    return ScoredRollout(
        rollout=concat([p.rollout for p in parts], pad_token_id),
        logprobs=None if parts[0].logprobs is None else right([p.logprobs for p in parts]),
        values=None if parts[0].values is None else right([p.values for p in parts]),
        ref_logprobs=right([p.ref_logprobs for p in parts]),
        score=torch.cat([p.score for p in parts]),
        gold=torch.cat([p.gold for p in parts]),
        correct=None if parts[0].correct is None else torch.cat([p.correct for p in parts]),
    )


class OnlineRun:
    """The plumbing of one online training run; the algorithm is the caller's::

        with OnlineRun(inputs, run) as online:
            online.prepare(model)                        # optimizer, schedule, accelerate
            for iteration, prompts in online.iterations(state):   # resumes where a checkpoint left off
                batch = online.sample_and_score(prompts, iteration)
                ...advantages...
                update = online.update(loss_fn, batch.rollout, data, weigh, iteration)
                online.end_iteration({**metrics, **update.stats}, update)   # logs, snapshots, checkpoints
            return online.finish({"method": "ppo"}, extra_models=1)

    The run's settings are its method's config section; it samples ``group`` completions per
    prompt. ``state`` is the algorithm's own typed state (a dataclass of JSON-able fields, e.g.
    PPO's adaptive KL coefficient): saved with every checkpoint and restored on resume.
    """

    def __init__(self, inputs: TrainInputs, run: TrainingDir, group: int = 1) -> None:
        self.name, self.config, self.run, self.group = inputs.method, inputs.config, run, group
        self.cfg: OnlineTrainConfig = getattr(inputs.config, inputs.spec.section)
        self.prompts, self.gold_reward = list(inputs.require_prompts()), inputs.require_gold_reward()
        self.seed, self.init, self.reward_model_source = inputs.seed, inputs.init, inputs.reward_model
        self.accelerator = create_accelerator(self.cfg, run.path, self.seed)
        self.device = self.accelerator.device
        self.steps_per_iteration = check_online_config(
            self.name, self.cfg, self.config.generation, self.accelerator.num_processes, group
        )
        self.memory = PeakMemory()
        self.watch = Stopwatch()
        self.history = History()
        self.checkpointer = Checkpointer(self.accelerator, run)
        self.iteration, self.optimizer_steps, self.train_time_s = 0, 0, 0.0
        # Trained tokens and sequences (through a gradient pass), and samples scored (gold-reward
        # calls when the gold reward is what the run optimises).
        self.tokens, self.sequences, self.samples_scored = 0, 0, 0

    def __enter__(self) -> OnlineRun:
        self.memory.__enter__()
        self.tokenizer = load_tokenizer(self.config.model, self.init)
        self.scorer = TrainingReward(
            self.config, self.cfg, self.gold_reward, self.device, self.reward_model_source, self.tokenizer
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self.memory.stop()

    # ------------------------------------------------------------------ models

    def load_policy(self) -> nn.Module:
        """The trainable policy (with LoRA: the frozen base wrapped with an adapter)."""
        return load_policy(self.config.model, self.device, self.init)

    def prepare(self, model: PolicyForward) -> nn.Module:
        """Optimizer and schedule for ``model`` (the policy, and the critic if any), everything
        through ``accelerator.prepare``, and the reference: a frozen copy of the base, or with
        LoRA the policy with its adapter off. Returns the prepared model."""
        self.optimizer = build_optimizer(model, self.cfg)
        self.scheduler = build_scheduler(self.optimizer, self.cfg, self.cfg.iterations * self.steps_per_iteration)
        self.model, self.optimizer, self.scheduler = self.accelerator.prepare(model, self.optimizer, self.scheduler)
        self.policy = self.accelerator.unwrap_model(self.model).policy
        self.reference = load_reference(self.config.model, self.device, self.policy, self.init)
        self.snapshots = Snapshots(
            self.accelerator,
            self.model,
            self.tokenizer,
            self.run,
            self.cfg.iterations,
            self.config.evaluation.checkpoints,
        )
        return self.model

    # ------------------------------------------------------------------ the loop

    def iterations(self, state: Any = None) -> Iterator[tuple[int, list[str]]]:
        """(iteration, its prompts) for every iteration not yet done, after restoring the last
        checkpoint when resuming; the final checkpoint is written when the loop ends."""
        self.state = state
        restored = self.checkpointer.restore() if self.run.resume else None
        if restored is not None:
            self.iteration, self.optimizer_steps = restored["iteration"], restored["optimizer_steps"]
            self.tokens, self.sequences = restored["tokens"], restored["sequences"]
            self.samples_scored, self.train_time_s = restored["samples_scored"], restored["train_time_s"]
            self.history.rows = restored["history"]
            self.watch.totals.update(restored["timing"])
            for name, value in restored["state"].items():
                setattr(state, name, value)
        self.accelerator.init_trackers(self.name)
        main = self.accelerator.is_main_process
        with progress_task(self.name, self.cfg.iterations, enabled=main) as advance:
            advance(self.iteration)
            while self.iteration < self.cfg.iterations:
                self._started = time.perf_counter()
                yield (
                    self.iteration,
                    iteration_prompts(self.prompts, self.cfg.prompts_per_iteration, self.iteration, self.seed),
                )
                last = self.history.rows[-1]
                advance(1, gold=last["reward/gold"], kl=last.get("objective/kl", 0.0))
        # No checkpoint after the last iteration: finish() writes the run's files at once, and a
        # run killed before that resumes from its last periodic checkpoint.
        finish_trackers(self.accelerator)

    @property
    def update_sees_sampling_policy(self) -> bool:
        """Whether the update's forward passes run on the policy that sampled: one optimizer
        step an iteration (one epoch, one minibatch; its micro-batches all come before the step).
        Then log pi_old is that forward's, detached, and its no-grad pass can be skipped, as TRL
        does with ``num_iterations=1``."""
        return self.steps_per_iteration == 1

    def more_prompts(self, iteration: int, round_: int) -> list[str]:
        """The prompts of an extra sampling round of ``iteration`` (DAPO's dynamic sampling): a
        draw of the training prompts of their own, fixed by (seed, round, iteration)."""
        return iteration_prompts(self.prompts, self.cfg.prompts_per_iteration, iteration, self.seed + 7_919 * round_)

    def sample_and_score(
        self, prompts: list[str], iteration: int, round_: int = 0, old_logprobs: bool = True
    ) -> ScoredRollout:
        """This process's share of ``prompts``: ``group`` samples each, then old log-probs (and
        values; none with ``old_logprobs=False``), reference log-probs and sequence scores;
        everything gathered into the global batch. The sampling draws are fixed by (seed,
        iteration, round) for the global batch, so a sample does not depend on the number of
        processes."""
        generation, chunk = self.config.generation, self.config.generation.batch_size
        temperature = generation.temperature
        mine = my_share(prompts)
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + iteration + 100_003 * round_)
        uniforms = torch.rand(len(prompts) * self.group, generation.max_new_tokens, generator=generator)
        with self.watch.phase("generation"):
            rollout = generate(
                self.policy,
                self.tokenizer,
                mine,
                self.group,
                generation,
                self.config.task.max_prompt_tokens,
                my_share(uniforms),
            )
            texts = decode_responses(self.tokenizer, rollout)
        with self.watch.phase("scoring"):
            on_device = rollout.to(self.device)
            old = score_in_chunks(self.model, on_device, temperature, chunk) if old_logprobs else None
            # Under the policy's autocast: before the first update the two give the same log-probs.
            with (
                reference_mode(self.policy, self.reference) as reference,
                training_autocast(self.cfg.mixed_precision, self.device),
            ):
                ref = score_in_chunks(PolicyForward(reference), on_device, temperature, chunk).logprobs
            rows = [p for p in mine for _ in range(self.group)]
            score, gold = self.scorer(rollout, rows, texts)
            correct = None
            if isinstance(self.gold_reward, VerifiableReward):
                correct = torch.tensor([v.correct for v in self.gold_reward.verdicts(rows, texts)])
        self.samples_scored += len(prompts) * self.group
        return ScoredRollout(
            rollout=gather_rollout(rollout, self.tokenizer.pad_token_id),
            logprobs=None if old is None else distributed.gather_rows(old.logprobs.cpu()),
            values=None if old is None or old.values is None else distributed.gather_rows(old.values.cpu()),
            ref_logprobs=distributed.gather_rows(ref.cpu()),
            score=distributed.gather_rows(score),
            gold=distributed.gather_rows(gold),
            correct=None if correct is None else distributed.gather_rows(correct),
        )

    def update(self, loss_fn: LossFn, rollout: Rollout, data: RowData, weigh: WeighFn, iteration: int) -> UpdateResult:
        """``update_epochs`` passes of minibatches over the global batch: the loss statistics (with
        the learning rate), the optimizer step count after it, and the tokens trained on."""
        with self.watch.phase("training"):
            result = update_policy(
                self.accelerator,
                self.model,
                self.optimizer,
                self.scheduler,
                self.cfg,
                rollout,
                data,
                loss_fn,
                weigh,
                self.optimizer_steps,
                self.seed * 1_000_003 + iteration * 101,
                self.group,
            )
        self.optimizer_steps = result.step
        result.stats["train/lr"] = self.scheduler.get_last_lr()[0]
        return result

    def end_iteration(self, metrics: dict[str, float], update: UpdateResult) -> None:
        """Log the iteration's metrics and throughput; take a snapshot or a checkpoint if due."""
        duration = time.perf_counter() - self._started
        self.iteration += 1
        self.tokens += update.tokens
        self.sequences += update.sequences
        self.train_time_s += duration
        metrics = {**metrics, "perf/tokens_per_s": update.tokens / duration, "perf/iteration_s": duration}
        metrics.update({f"time/{k}": v for k, v in self.watch.totals.items()})
        self.history.log(self.accelerator, self.iteration, metrics)
        self.snapshots(self.iteration)
        every = self.cfg.checkpoint_every
        if every and self.iteration % every == 0 and self.iteration < self.cfg.iterations:
            self._save_checkpoint()

    def _save_checkpoint(self) -> None:
        self.checkpointer.save(
            self.iteration,
            {
                "iteration": self.iteration,
                "optimizer_steps": self.optimizer_steps,
                "tokens": self.tokens,
                "sequences": self.sequences,
                "samples_scored": self.samples_scored,
                "train_time_s": self.train_time_s,
                "history": self.history.rows,
                "timing": self.watch.totals,
                "state": dataclasses.asdict(self.state) if self.state is not None else {},
            },
        )

    # ------------------------------------------------------------------ the end

    def finish(self, summary: dict[str, Any], extra_models: int = 0) -> dict[str, Any]:
        """Save the policy and the run files; the summary with the last iteration's metrics and
        the costs (``extra_models``: models in memory besides policy, reference and scorer)."""
        # The peak of training: the merged float32 copy that saving a LoRA policy makes is not part of it.
        self.memory.stop()
        save_policy(self.accelerator, self.model, self.tokenizer, self.run.model)
        trainable, total = count_parameters(self.model)
        models = 1 + (self.reference is not None) + self.scorer.models_in_memory + extra_models
        cost = Cost(self.train_time_s, self.tokens, self.memory.peak_mb, models, trainable, total, self.sequences)
        summary = {
            **summary,
            "iterations": self.iteration,
            "samples_scored": self.samples_scored,
            "final": self.history.rows[-1] if self.history.rows else {},
            "timing": dict(self.watch.totals),
            "cost": cost.as_dict(),
            "trainable_dtypes": trainable_dtypes(self.model),
        }
        write_run_files(self.accelerator, self.run, {"train": self.history.rows, "eval": []}, summary)
        return summary
