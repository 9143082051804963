"""alignlab.losses.tokens: log-probs, entropy and KL from logits, masked reductions, against
values worked out by hand (float64)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from alignlab.losses import (
    kl_from_logits,
    last_token_index,
    logprobs_and_entropy,
    logprobs_from_logits,
    masked_mean,
    masked_sum,
    masked_var,
    sequence_logprobs,
)


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


# ---- log-probs and entropy ----


def test_logprobs_from_logits_by_hand() -> None:
    # logits log(1, 2, 3): p = (1/6, 2/6, 3/6) whatever the shift of the logits.
    logits = (torch.log(t(1.0, 2.0, 3.0)) + 5.0).view(1, 1, 3).expand(1, 3, 3)
    labels = torch.tensor([[0, 1, 2]])
    out = logprobs_from_logits(logits, labels)
    assert out.shape == (1, 3)
    assert out.flatten().tolist() == pytest.approx([math.log(1 / 6), math.log(1 / 3), math.log(1 / 2)])


def test_logprobs_from_logits_matches_log_softmax_in_every_shape() -> None:
    torch.manual_seed(0)
    for shape in [(3, 5), (17,), (2, 3, 4)]:  # (B, T), packed (N,), and more leading dims
        logits = torch.randn(*shape, 11, dtype=torch.float64)
        labels = torch.randint(0, 11, shape)
        expected = F.log_softmax(logits, -1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
        out = logprobs_from_logits(logits, labels)
        assert out.shape == shape and torch.allclose(out, expected)


def test_logprobs_from_logits_gradient_is_onehot_minus_softmax() -> None:
    logits = torch.log(t(0.5, 0.25, 0.25)).view(1, 3).requires_grad_()
    logprobs_from_logits(logits, torch.tensor([0])).sum().backward()
    # d log p_0 / d z = e_0 - p.
    assert logits.grad.flatten().tolist() == pytest.approx([0.5, -0.25, -0.25])


def test_entropy_of_uniform_and_peaked_distributions() -> None:
    labels = torch.zeros(1, 1, dtype=torch.long)
    logps, entropy = logprobs_and_entropy(torch.zeros(1, 1, 8, dtype=torch.float64), labels)
    assert entropy.item() == pytest.approx(math.log(8))
    assert logps.item() == pytest.approx(-math.log(8))
    # p = (0.5, 0.25, 0.25): H = 0.5 ln 2 + 2 * 0.25 ln 4 = 1.5 ln 2 = 1.0397208.
    peaked = torch.log(t(0.5, 0.25, 0.25)).view(1, 1, 3)
    logps, entropy = logprobs_and_entropy(peaked, torch.tensor([[1]]))
    assert entropy.item() == pytest.approx(1.5 * math.log(2))
    assert logps.item() == pytest.approx(math.log(0.25))


def test_entropy_of_a_one_hot_distribution_is_zero_not_nan() -> None:
    logits = t(0.0, -1e4, -1e4).view(1, 3)
    logps, entropy = logprobs_and_entropy(logits, torch.tensor([0]))
    assert torch.isfinite(entropy).all() and entropy.item() == pytest.approx(0.0, abs=1e-12)
    assert logps.item() == pytest.approx(0.0, abs=1e-12)


def test_logprobs_and_entropy_agree_with_logprobs_from_logits() -> None:
    torch.manual_seed(1)
    logits = torch.randn(4, 6, 9, dtype=torch.float64) * 4
    labels = torch.randint(0, 9, (4, 6))
    logps, entropy = logprobs_and_entropy(logits, labels)
    assert torch.allclose(logps, logprobs_from_logits(logits, labels))
    assert (entropy >= 0).all() and (entropy <= math.log(9) + 1e-12).all()


# ---- KL ----


def test_kl_from_logits_by_hand() -> None:
    # p = (1/2, 1/2), q = (1/4, 3/4): KL = 1/2 ln 2 + 1/2 ln(2/3) = 1/2 ln(4/3) = 0.1438410.
    p, q = torch.log(t(0.5, 0.5)), torch.log(t(0.25, 0.75))
    assert kl_from_logits(p.view(1, 2), q.view(1, 2)).item() == pytest.approx(0.5 * math.log(4 / 3))
    # The reverse direction differs: 1/4 ln(1/2) + 3/4 ln(3/2) = 0.1308867.
    assert kl_from_logits(q.view(1, 2), p.view(1, 2)).item() == pytest.approx(
        0.25 * math.log(0.5) + 0.75 * math.log(1.5)
    )


def test_kl_from_logits_is_exact_non_negative_and_shift_invariant() -> None:
    p, q = t(0.6, 0.3, 0.1), t(0.2, 0.5, 0.3)
    exact = float((p * (p / q).log()).sum())  # 0.3961
    assert kl_from_logits(p.log().view(1, 1, 3), (q.log() + 3.0).view(1, 1, 3)).item() == pytest.approx(exact)
    torch.manual_seed(2)
    logits, ref = torch.randn(2, 5, 7, dtype=torch.float64), torch.randn(2, 5, 7, dtype=torch.float64)
    kl = kl_from_logits(logits, ref)
    assert kl.shape == (2, 5) and (kl >= 0).all()
    assert kl_from_logits(logits, logits - 2.0).abs().max().item() < 1e-12


# ---- masked reductions ----


def test_masked_sum_and_mean_ignore_padding() -> None:
    values = t(1.0, 2.0, 3.0, 100.0)
    mask = t(1, 1, 1, 0)
    assert masked_sum(values, mask).item() == 6.0
    assert masked_mean(values, mask).item() == pytest.approx(2.0)


def test_masked_mean_along_a_dim_with_an_empty_row() -> None:
    values = t(1.0, 3.0, 7.0, 9.0).view(2, 2)
    mask = t(1, 1, 0, 0).view(2, 2)
    assert masked_sum(values, mask, dim=-1).tolist() == [4.0, 0.0]
    out = masked_mean(values, mask, dim=-1)
    assert out.tolist() == [2.0, 0.0] and torch.isfinite(out).all()


def test_masked_reductions_of_an_empty_mask_are_zero_not_nan() -> None:
    values = t(1.0, 2.0, 3.0, 4.0)
    empty = torch.zeros(4, dtype=torch.float64)
    assert masked_mean(values, empty).item() == 0.0
    assert masked_var(values, empty).item() == 0.0


def test_masked_mean_gives_padding_no_gradient() -> None:
    values = t(1.0, 2.0, 3.0).requires_grad_()
    masked_mean(values, t(1, 0, 1)).backward()
    assert values.grad.tolist() == [0.5, 0.0, 0.5]


def test_masked_var_is_unbiased() -> None:
    # (1, 2, 3, 4): mean 2.5, squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5, / (4 - 1) = 5/3.
    values = t(1.0, 2.0, 3.0, 4.0, -50.0)
    assert masked_var(values, t(1, 1, 1, 1, 0)).item() == pytest.approx(5 / 3)
    # A single value has no spread: 0 (not 0/0).
    assert masked_var(values, t(0, 1, 0, 0, 0)).item() == 0.0


# ---- sequence log-probs and the last token ----


def test_sequence_logprobs_sum_and_average_over_response_tokens() -> None:
    token_logps = t(-1.0, -2.0, -3.0, -9.0, -4.0, -8.0, -8.0, -8.0).view(2, 4)
    mask = t(1, 1, 1, 0, 1, 0, 0, 0).view(2, 4)
    assert sequence_logprobs(token_logps, mask).tolist() == [-6.0, -4.0]
    assert sequence_logprobs(token_logps, mask, average=True).tolist() == [-2.0, -4.0]


def test_sequence_logprobs_of_an_empty_response_is_zero() -> None:
    token_logps = t(-1.0, -2.0).view(1, 2)
    empty = torch.zeros(1, 2, dtype=torch.float64)
    for average in (False, True):
        out = sequence_logprobs(token_logps, empty, average=average)
        assert out.item() == 0.0 and torch.isfinite(out).all()


def test_sequence_logprobs_ignores_prompt_tokens_marked_zero() -> None:
    # A prompt token (mask 0) before the response counts for nothing.
    token_logps = t(-5.0, -1.0, -1.5).view(1, 3)
    assert sequence_logprobs(token_logps, t(0, 1, 1).view(1, 3)).item() == -2.5


def test_last_token_index() -> None:
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]])
    out = last_token_index(mask)
    assert out.tolist() == [2, 0, 3, 0] and out.dtype == torch.long
