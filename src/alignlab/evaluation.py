"""Held-out evaluation: the quality, closeness to the reference and diversity of a policy's samples.

Every method is judged on the same held-out prompts with the same sampling settings and seed:

- gold reward: mean over samples, and its standard error with the samples of one prompt as a
  cluster (they are not independent);
- win rate against the reference policy's own samples of the same prompts (ties count half);
- KL(pi || pi_ref) per sequence: over samples of pi, the sum along each response of the exact KL
  between the next-token distributions of pi and pi_ref (unbiased, never negative);
- fluency: perplexity of the completions under the reference model;
- diversity: distinct-1 and distinct-2 over all completions, and self-BLEU;
- relevance: cosine similarity of prompt and completion embeddings (see relevance.py), over
  the first completion of each prompt;
- mean length in tokens and the fraction of responses that ended with EOS.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from alignlab.config import EvalConfig, ExperimentConfig
from alignlab.layout import TrainingDir
from alignlab.losses import masked_sum
from alignlab.models import load_causal_lm, load_trained_policy
from alignlab.relevance import RelevanceMetric, load_relevance_metric
from alignlab.report.statistics import clustered_mean_and_stderr
from alignlab.reward_model import StandardizedRewardModel
from alignlab.rollout import Rollout, decode_responses, sample, tokenize_prompts
from alignlab.scoring import reference_statistics
from alignlab.tasks import Task
from alignlab.tasks.rewards import Reward
from alignlab.tasks.verifiable import VerifiableReward, mean_pass_at_k
from alignlab.text import distinct_n, self_bleu


@dataclass
class EvalSamples:
    """Completions of the held-out prompts: ``prompts[i]`` and ``texts[i]`` belong to row i of
    ``rollout``."""

    prompts: list[str]
    texts: list[str]
    rollout: Rollout


def sample_for_eval(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    config: EvalConfig,
    max_prompt_tokens: int,
    seed: int,
    samples_per_prompt: int | None = None,
) -> EvalSamples:
    """``samples_per_prompt`` completions of each prompt (adjacent rows), seeded so that every
    method is evaluated on the same random stream."""
    k = samples_per_prompt or config.samples_per_prompt
    ids, mask = tokenize_prompts(tokenizer, prompts, max_prompt_tokens)
    torch.manual_seed(seed)
    rollout = sample(model, tokenizer, ids.repeat_interleave(k, 0), mask.repeat_interleave(k, 0), config.generation)
    return EvalSamples(
        [p for p in prompts for _ in range(k)],
        decode_responses(tokenizer, rollout),
        rollout,
    )


def best_of_n(samples: EvalSamples, scores: torch.Tensor, n: int) -> EvalSamples:
    """From ``n * keep`` adjacent samples per prompt, keep the highest-scoring of each block of n."""
    best = scores.view(-1, n).argmax(-1) + torch.arange(0, len(samples.texts), n)
    return EvalSamples(
        [samples.prompts[i] for i in best.tolist()],
        [samples.texts[i] for i in best.tolist()],
        samples.rollout.select(best),
    )


@torch.no_grad()
def reference_statistics_in_chunks(
    reference: nn.Module, policy: nn.Module | None, rollout: Rollout, temperature: float, batch_size: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per response token of ``rollout``: log pi_ref at temperature 1 (for perplexity), and,
    given the policy that sampled it, the exact KL(pi || pi_ref) of the next-token distributions
    at the sampling temperature. Both ``(B, R)``, float32 on the CPU."""
    device = next(reference.parameters()).device
    logprobs, kls = [], []
    for part in rollout.chunks(batch_size):
        ref_logprobs, kl = reference_statistics(reference, policy, part.to(device), temperature)
        logprobs.append(ref_logprobs.cpu())
        if kl is not None:
            kls.append(kl.cpu())
    return torch.cat(logprobs), (torch.cat(kls) if policy is not None else None)


def win_rate(rewards: Sequence[float], reference_rewards: Sequence[float]) -> float:
    """Fraction of samples whose gold reward beats the reference sample of the same slot
    (same prompt, same sample index); ties count half."""
    wins = [1.0 if a > b else 0.5 if a == b else 0.0 for a, b in zip(rewards, reference_rewards)]
    return sum(wins) / len(wins) if wins else 0.0


def verifiable_metrics(reward: VerifiableReward, samples: EvalSamples, lengths: Sequence[int]) -> dict[str, Any]:
    """With a verifiable gold reward: accuracy, the share of well-formed answers, pass@k for k up
    to the samples per prompt (Chen et al.'s unbiased estimator; each prompt's samples are
    adjacent), and the mean length of right and of wrong answers (None where there are none)."""
    verdicts = reward.verdicts(samples.prompts, samples.texts)
    correct = [v.correct for v in verdicts]
    n = len(list(next(itertools.groupby(samples.prompts))[1]))
    counts = [sum(correct[start : start + n]) for start in range(0, len(correct), n)]
    right = [length for length, ok in zip(lengths, correct) if ok]
    wrong = [length for length, ok in zip(lengths, correct) if not ok]
    return {
        "accuracy": sum(correct) / len(correct),
        "format_rate": sum(v.format_ok for v in verdicts) / len(verdicts),
        "pass_at_k": {str(k): mean_pass_at_k(counts, n, k) for k in sorted({1, 2, 4, 8, 16, n}) if k <= n},
        "length_correct": sum(right) / len(right) if right else None,
        "length_wrong": sum(wrong) / len(wrong) if wrong else None,
    }


# --------------------------------------------------------------------------------------------
# All metrics of one policy
# --------------------------------------------------------------------------------------------


def evaluate_samples(
    samples: EvalSamples,
    policy: nn.Module | None,
    reference: nn.Module,
    reward: Reward,
    reference_rewards: Sequence[float],
    temperature: float,
    batch_size: int,
    kl: float | None = None,
    relevance: RelevanceMetric | None = None,
) -> dict[str, float | None]:
    """Every metric of one set of samples drawn from ``policy``. Where the samples come from no
    single policy (best-of-n), pass ``policy=None`` and the KL in ``kl``. Without a relevance
    metric, relevance is None. A verifiable reward adds accuracy, format rate and pass@k."""
    rollout = samples.rollout
    mask = rollout.response_mask.float()
    ref_logprobs, token_kl = reference_statistics_in_chunks(reference, policy, rollout, temperature, batch_size)
    rewards = reward(samples.prompts, samples.texts)
    gold, gold_se = clustered_mean_and_stderr(rewards, samples.prompts)
    tokens = mask.sum().clamp(min=1)
    if token_kl is not None:
        kl = float(masked_sum(token_kl, mask, dim=-1).mean())
    started = time.perf_counter()
    relevance_value = None
    if relevance is not None:
        # One completion per prompt: the embedder is larger than the policy, and a second sample
        # of the same prompt adds little to a mean over prompts.
        firsts = [i for i, p in enumerate(samples.prompts) if i == 0 or p != samples.prompts[i - 1]]
        scores = relevance([samples.prompts[i] for i in firsts], [samples.texts[i] for i in firsts])
        relevance_value = sum(scores) / len(scores)
    relevance_time = time.perf_counter() - started
    lengths = [int(n) for n in mask.sum(-1).tolist()]
    verifiable = verifiable_metrics(reward, samples, lengths) if isinstance(reward, VerifiableReward) else {}
    return {
        "gold_reward": gold,
        "gold_reward_se": gold_se,
        "win_rate": win_rate(rewards, reference_rewards),
        "kl": kl,
        "perplexity": float(torch.exp(-masked_sum(ref_logprobs, mask) / tokens)),
        "distinct_1": distinct_n(samples.texts, 1),
        "distinct_2": distinct_n(samples.texts, 2),
        "self_bleu": self_bleu(samples.texts),
        "relevance": relevance_value,
        "relevance_time_s": relevance_time,
        "mean_length": float(mask.sum(-1).mean()),
        "eos_fraction": float(rollout.ended.float().mean()),
        # Per sample, for the length-controlled reward and paired statistics of the report.
        "sample_gold": [float(r) for r in rewards],
        "sample_length": lengths,
        **verifiable,
    }


# --------------------------------------------------------------------------------------------
# The held-out evaluation of a comparison
# --------------------------------------------------------------------------------------------

# Evaluation streams: the reference's samples (for win rates) and every policy's samples are
# drawn with seeds of their own, the same for every method of a seed.
REFERENCE_SAMPLE_SEED = 50_000
POLICY_SAMPLE_SEED = 60_000


class Evaluator:
    """Held-out metrics of any policy on the task's eval prompts, against the reference (the
    base policy, loaded on first use and released with ``release_reference``): every policy of a
    seed is sampled with the same random stream, and its win rate is taken against the
    reference's own samples of that stream."""

    def __init__(self, config: ExperimentConfig, task: Task, tokenizer: PreTrainedTokenizerBase, device) -> None:
        self.config, self.task, self.tokenizer, self.device = config, task, tokenizer, device
        self._reference: nn.Module | None = None
        self._reference_rewards: dict[tuple[str, int], list[float]] = {}
        self._relevance: RelevanceMetric | None = None
        self.relevance_note: str | None = None

    @property
    def reference(self) -> nn.Module:
        """The base policy, frozen: reference for KL and perplexity, and the sampler of best-of-n."""
        if self._reference is None:
            self._reference = load_causal_lm(self.config.model, self.device, trainable=False)
        return self._reference

    def release_reference(self) -> None:
        self._reference = None

    @property
    def relevance(self) -> RelevanceMetric | None:
        """The relevance metric, loaded on first use; None (with ``relevance_note``) if unavailable."""
        if self._relevance is None and self.relevance_note is None:
            self._relevance, self.relevance_note = load_relevance_metric(
                self.config.evaluation.relevance_model, self.task.language
            )
        return self._relevance

    def sample(
        self, model: nn.Module, seed: int, stream: int, per_prompt: int | None = None, split: str = "test"
    ) -> EvalSamples:
        """Samples of the held-out prompts of ``split`` (test, or validation for a tuning search)."""
        return sample_for_eval(
            model,
            self.tokenizer,
            self.task.prompts(split),
            self.config.evaluation,
            self.config.task.max_prompt_tokens,
            stream + seed,
            per_prompt,
        )

    def reference_rewards(self, seed: int, split: str = "test") -> list[float]:
        """Gold rewards of the reference's own samples of the held-out prompts (for win rates)."""
        if (split, seed) not in self._reference_rewards:
            samples = self.sample(self.reference, seed, REFERENCE_SAMPLE_SEED, split=split)
            self._reference_rewards[split, seed] = self.task.reward(samples.prompts, samples.texts)
        return self._reference_rewards[split, seed]

    def reward_model_scores(self, samples: EvalSamples, model_dir: Path) -> torch.Tensor:
        """The reward model's standardised scores of ``samples`` (the scale PPO trains on)."""
        scorer = StandardizedRewardModel(
            self.config.model,
            self.device,
            str(model_dir),
            self.tokenizer,
            self.config.task.max_prompt_tokens,
            self.config.evaluation.generation.batch_size,
        )
        return scorer(samples.rollout, samples.prompts, samples.texts)

    def evaluate_policy(
        self,
        model: nn.Module | None,
        seed: int,
        kl: float | None = None,
        samples: EvalSamples | None = None,
        proxy: Path | None = None,
        with_relevance: bool = True,
        split: str = "test",
    ) -> dict[str, Any]:
        """Held-out metrics of ``model``'s samples of the ``split`` prompts (or of given
        ``samples`` with a known ``kl``); with ``proxy`` (a reward model directory), also the
        mean standardised proxy score."""
        started = time.perf_counter()
        samples = samples or self.sample(model, seed, POLICY_SAMPLE_SEED, split=split)
        metrics = evaluate_samples(
            samples,
            model,
            self.reference,
            self.task.reward,
            self.reference_rewards(seed, split),
            self.config.evaluation.generation.temperature,
            self.config.evaluation.generation.batch_size,
            kl=kl,
            relevance=self.relevance if with_relevance else None,
        )
        metrics["proxy_score"] = float(self.reward_model_scores(samples, proxy).mean()) if proxy else None
        metrics["eval_time_s"] = time.perf_counter() - started
        k = self.config.evaluation.samples_per_prompt
        n_examples = self.config.evaluation.report_examples
        metrics["examples"] = [
            {
                "prompt": samples.prompts[i * k],
                "completion": samples.texts[i * k],
                "gold": metrics["sample_gold"][i * k],
            }
            for i in range(min(n_examples, len(samples.texts) // k))
        ]
        return metrics

    def evaluate_run(self, run: TrainingDir, seed: int, proxy: Path | None, split: str = "test") -> dict[str, Any]:
        """Held-out metrics of a trained run's final policy on the ``split`` prompts, with
        ``checkpoints``: the same metrics (no examples) of each snapshot taken during training, in
        training order. A validation run of a tuning search is judged by its final policy only."""
        model = load_trained_policy(self.config.model, self.device, run)
        result = self.evaluate_policy(model, seed, proxy=proxy, split=split)
        del model
        if split != "test":
            return result
        checkpoints = []
        for step, directory in run.snapshots():
            snapshot = load_causal_lm(self.config.model, self.device, str(directory), trainable=False)
            # The checkpoint curves plot reward, KL, length and proxy: no relevance (its embedder
            # is the slowest metric).
            metrics = self.evaluate_policy(snapshot, seed, proxy=proxy, with_relevance=False)
            del snapshot
            metrics.pop("examples", None)
            checkpoints.append({"step": step, **metrics})
        result["checkpoints"] = checkpoints
        result["checkpoint_eval_time_s"] = sum(c["eval_time_s"] for c in checkpoints)
        return result
