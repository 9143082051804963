"""Token-level helpers: log-probs, entropy and KL from logits, and masked reductions.

Shapes: ``B`` sequences, ``T`` response tokens, ``V`` vocabulary (or ``N`` packed rows in place of
``B, T``). Masks are 1 for real response tokens and 0 for padding; every reduction is masked.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def logprobs_from_logits(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """log softmax(logits)[label] per position: ``(..., V), (...) -> (...)``.

    Through ``cross_entropy``, whose fused kernel runs forward and backward twice as fast on CPU
    as ``gather - logsumexp``.
    """
    return -F.cross_entropy(logits.flatten(0, -2), labels.flatten(), reduction="none").view_as(labels)


def logprobs_and_entropy(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(log softmax(logits)[label], entropy of softmax(logits)) per position: ``(..., V) -> (...)``."""
    log_p = logits.log_softmax(-1)
    return log_p.gather(-1, labels.unsqueeze(-1)).squeeze(-1), -(log_p.exp() * log_p).sum(-1)


def kl_from_logits(logits: torch.Tensor, ref_logits: torch.Tensor) -> torch.Tensor:
    """Exact KL(softmax(logits) || softmax(ref_logits)) per position: ``(..., V) -> (...)``.

    Summed along a sampled response, this estimates the sequence KL without bias, is never
    negative, and varies far less than summing per-token log-ratios (the next-token
    distributions are integrated exactly; only the prefixes are sampled)."""
    log_p = F.log_softmax(logits, dim=-1)
    log_q = F.log_softmax(ref_logits, dim=-1)
    return (log_p.exp() * (log_p - log_q)).sum(-1)


def masked_sum(values: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    return (values * mask).sum() if dim is None else (values * mask).sum(dim)


def masked_mean(values: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean over positions where ``mask`` is 1 (0 where there are none, never NaN)."""
    return masked_sum(values, mask, dim) / mask.sum(dim).clamp(min=1)


def masked_var(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Unbiased variance over masked positions (0 for fewer than two)."""
    mean = masked_mean(values, mask)
    n = mask.sum()
    return masked_sum((values - mean) ** 2, mask) / (n - 1).clamp(min=1)


def sequence_logprobs(token_logprobs: torch.Tensor, mask: torch.Tensor, average: bool = False) -> torch.Tensor:
    """log pi(y|x) of each response: the sum (or the per-token mean) over response tokens.
    ``(B, T), (B, T) -> (B,)``. Prompt and padding tokens must be 0 in ``mask``."""
    total = masked_sum(token_logprobs, mask, dim=-1)
    return total / mask.sum(-1).clamp(min=1) if average else total


def last_token_index(mask: torch.Tensor) -> torch.Tensor:
    """Index of the last real token of each right-padded row (0 for an empty row): ``(B, T) -> (B,)``."""
    return (mask.sum(-1) - 1).clamp(min=0).long()
