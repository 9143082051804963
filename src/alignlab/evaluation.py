"""Held-out evaluation: the quality, closeness to the reference and diversity of a policy's samples.

Every method is judged on the same held-out prompts with the same sampling settings and seed:

- gold reward: mean and standard error over samples;
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

import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from alignlab.config import EvalConfig
from alignlab.losses import masked_sum
from alignlab.relevance import RelevanceScorer
from alignlab.rollout import Rollout, decode_responses, sample, tokenize_prompts
from alignlab.scoring import reference_statistics
from alignlab.tasks.rewards import Reward
from alignlab.text import text_units


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


def best_of_n_kl(n: int) -> float:
    """The analytical KL of best-of-n sampling, log n - (n - 1) / n (Stiennon et al. 2020,
    appendix G.3; an upper bound, Beirami et al. 2024)."""
    return math.log(n) - (n - 1) / n


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


# --------------------------------------------------------------------------------------------
# Text metrics (pure functions)
# --------------------------------------------------------------------------------------------


def _ngrams(units: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(units[i : i + n]) for i in range(len(units) - n + 1)]


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct n-grams over all n-grams of all texts (Li et al. 2016); units are words, or
    characters for CJK text. 0 when there are no n-grams."""
    grams = [g for text in texts for g in _ngrams(text_units(text), n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def bleu(hypothesis: Sequence[str], references: Sequence[Sequence[str]], max_n: int = 4) -> float:
    """Sentence BLEU (Papineni et al. 2002) of unit lists with multi-reference clipping, uniform
    weights up to ``max_n`` (capped at the hypothesis length) and the brevity penalty against the
    closest reference length. Zero matches of an order count as 0.1 (Chen & Cherry 2014,
    smoothing 1) so that short texts do not all score 0."""
    if not hypothesis or not references:
        return 0.0
    orders = min(max_n, len(hypothesis))
    log_precision = 0.0
    for n in range(1, orders + 1):
        hyp_counts = Counter(_ngrams(hypothesis, n))
        max_ref: Counter = Counter()
        for ref in references:
            for gram, count in Counter(_ngrams(ref, n)).items():
                max_ref[gram] = max(max_ref[gram], count)
        matches = sum(min(count, max_ref[gram]) for gram, count in hyp_counts.items())
        total = sum(hyp_counts.values())
        log_precision += math.log((matches if matches else 0.1) / total) / orders
    closest = min((abs(len(r) - len(hypothesis)), len(r)) for r in references)[1]
    brevity = 1.0 if len(hypothesis) > closest else math.exp(1 - closest / len(hypothesis))
    return brevity * math.exp(log_precision)


def self_bleu(texts: Sequence[str], max_n: int = 4) -> float:
    """Mean BLEU of each text against all the others as references (Zhu et al. 2018, Texygen):
    higher means less diverse. Equal to averaging ``bleu(text_i, others)`` over i, computed in
    time linear in the number of n-grams: for each n-gram only the largest and second-largest
    count over all texts are kept, so the clipping count "max over the other texts" is known."""
    units = [text_units(t) for t in texts]
    counts = [[Counter(_ngrams(u, n)) for n in range(1, max_n + 1)] for u in units]
    top: list[dict[tuple[str, ...], tuple[int, int, int]]] = [{} for _ in range(max_n)]  # gram -> (max, owner, second)
    for i, per_n in enumerate(counts):
        for n, counter in enumerate(per_n):
            for gram, c in counter.items():
                best, owner, second = top[n].get(gram, (0, -1, 0))
                top[n][gram] = (c, i, best) if c > best else (best, owner, max(second, c))
    lengths = sorted((len(u), i) for i, u in enumerate(units))
    scores = []
    for i, u in enumerate(units):
        if not u or len(units) < 2:
            continue
        orders = min(max_n, len(u))
        log_precision = 0.0
        for n in range(orders):
            matches = 0
            for gram, c in counts[i][n].items():
                best, owner, second = top[n][gram]
                matches += min(c, second if owner == i else best)
            total = len(u) - n
            log_precision += math.log((matches if matches else 0.1) / total) / orders
        closest = min((abs(length - len(u)), length) for length, j in lengths if j != i)[1]
        brevity = 1.0 if len(u) > closest else math.exp(1 - closest / len(u))
        scores.append(brevity * math.exp(log_precision))
    return sum(scores) / len(scores) if scores else 0.0


def win_rate(rewards: Sequence[float], reference_rewards: Sequence[float]) -> float:
    """Fraction of samples whose gold reward beats the reference sample of the same slot
    (same prompt, same sample index); ties count half."""
    wins = [1.0 if a > b else 0.5 if a == b else 0.0 for a, b in zip(rewards, reference_rewards)]
    return sum(wins) / len(wins) if wins else 0.0


def mean_and_stderr(values: Sequence[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    return mean, math.sqrt(var / n)


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
    relevance: RelevanceScorer | None = None,
) -> dict[str, float | None]:
    """Every metric of one set of samples drawn from ``policy``. Where the samples come from no
    single policy (best-of-n), pass ``policy=None`` and the KL in ``kl``. Without a relevance
    scorer the relevance metric is None."""
    rollout = samples.rollout
    mask = rollout.response_mask.float()
    ref_logprobs, token_kl = reference_statistics_in_chunks(reference, policy, rollout, temperature, batch_size)
    rewards = reward(samples.prompts, samples.texts)
    gold, gold_se = mean_and_stderr(rewards)
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
        "sample_length": [int(n) for n in mask.sum(-1).tolist()],
    }
