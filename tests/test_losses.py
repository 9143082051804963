"""The math of losses.py against values worked out by hand or by plain reference code."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from alignlab.losses import (
    adaptive_kl_coef,
    bradley_terry_loss,
    clipped_policy_loss,
    clipped_value_loss,
    dpo_loss,
    entropy_from_logits,
    explained_variance,
    gae_advantages,
    group_advantages,
    kl_estimate,
    kl_from_logits,
    last_token_index,
    leave_one_out_advantages,
    logprobs_from_logits,
    masked_mean,
    masked_whiten,
    policy_gradient_loss,
    ppo_token_rewards,
    sequence_logprobs,
)


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


# ---- token-level helpers ----


def test_logprobs_from_logits_matches_log_softmax() -> None:
    torch.manual_seed(0)
    logits = torch.randn(3, 5, 11, dtype=torch.float64)
    labels = torch.randint(0, 11, (3, 5))
    expected = F.log_softmax(logits, -1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(logprobs_from_logits(logits, labels), expected)


def test_entropy_of_uniform_and_peaked_distributions() -> None:
    uniform = torch.zeros(1, 1, 8, dtype=torch.float64)
    assert entropy_from_logits(uniform).item() == pytest.approx(math.log(8))
    # p = (0.5, 0.25, 0.25): H = 0.5 ln 2 + 2 * 0.25 ln 4 = 1.5 ln 2.
    peaked = torch.log(t(0.5, 0.25, 0.25)).view(1, 1, 3)
    assert entropy_from_logits(peaked).item() == pytest.approx(1.5 * math.log(2))


def test_masked_mean_ignores_padding_and_survives_empty_masks() -> None:
    values = t(1.0, 2.0, 3.0, 100.0)
    mask = t(1, 1, 1, 0)
    assert masked_mean(values, mask).item() == pytest.approx(2.0)
    assert masked_mean(values, torch.zeros(4, dtype=torch.float64)).item() == 0.0


def test_masked_whiten_gives_zero_mean_unit_variance_and_zero_padding() -> None:
    values = t(1.0, 2.0, 3.0, 4.0, 50.0).view(1, 5)
    mask = t(1, 1, 1, 1, 0).view(1, 5)
    out = masked_whiten(values, mask)
    real = out[0, :4]
    assert real.mean().item() == pytest.approx(0.0, abs=1e-9)
    assert real.var().item() == pytest.approx(1.0, rel=1e-6)
    assert out[0, 4].item() == 0.0


def test_masked_whiten_of_constant_values_is_zero_not_nan() -> None:
    out = masked_whiten(torch.full((2, 3), 0.7), torch.ones(2, 3))
    assert torch.isfinite(out).all() and out.abs().max().item() == 0.0


def test_sequence_logprobs_sum_and_average_over_response_tokens() -> None:
    token_logps = t(-1.0, -2.0, -3.0, -9.0).view(1, 4)
    mask = t(1, 1, 1, 0).view(1, 4)
    assert sequence_logprobs(token_logps, mask).item() == pytest.approx(-6.0)
    assert sequence_logprobs(token_logps, mask, average=True).item() == pytest.approx(-2.0)


# ---- DPO family ----


def test_dpo_losses_when_policy_equals_reference() -> None:
    logps = t(-4.0, -7.5)
    beta = 0.1
    expected = {"sigmoid": math.log(2), "robust": math.log(2), "ipo": (1 / (2 * beta)) ** 2, "hinge": 1.0}
    for loss_type, value in expected.items():
        out = dpo_loss(logps, logps + 1.0, logps, logps + 1.0, beta, loss_type, label_smoothing=0.2)
        assert torch.allclose(out.losses, torch.full((2,), value, dtype=torch.float64)), loss_type
        assert out.chosen_rewards.abs().max() == 0 and out.rejected_rewards.abs().max() == 0


@pytest.mark.parametrize(
    ("loss_type", "smoothing", "expected"),
    [
        # h = (-1 - -2) - (-3 - -2) = 2, beta h = 1.
        ("sigmoid", 0.0, math.log(1 + math.exp(-1))),  # 0.3132617
        ("sigmoid", 0.1, 0.9 * math.log(1 + math.exp(-1)) + 0.1 * math.log(1 + math.exp(1))),  # 0.4132617
        ("robust", 0.1, (0.9 * math.log(1 + math.exp(-1)) - 0.1 * math.log(1 + math.exp(1))) / 0.8),  # 0.1882617
        ("ipo", 0.0, (2 - 1 / (2 * 0.5)) ** 2),  # 1.0
        ("hinge", 0.0, 0.0),  # max(0, 1 - 1)
    ],
)
def test_dpo_losses_with_known_margins(loss_type: str, smoothing: float, expected: float) -> None:
    out = dpo_loss(t(-1.0), t(-3.0), t(-2.0), t(-2.0), beta=0.5, loss_type=loss_type, label_smoothing=smoothing)
    assert out.losses.item() == pytest.approx(expected, abs=1e-7)
    assert out.chosen_rewards.item() == pytest.approx(0.5)
    assert out.rejected_rewards.item() == pytest.approx(-0.5)


def test_dpo_gradient_flows_through_chosen_and_rejected() -> None:
    chosen = t(-1.0, -2.0).requires_grad_()
    rejected = t(-3.0, -1.0).requires_grad_()
    beta = 0.5
    out = dpo_loss(chosen, rejected, t(-2.0, -2.0), t(-2.0, -2.0), beta=beta)
    out.losses.sum().backward()
    h = (chosen - rejected).detach()  # the reference terms cancel here
    # d/dchosen -log sigma(beta h) = -beta sigma(-beta h); the rejected gradient is its negative.
    expected = -beta * torch.sigmoid(-beta * h)
    assert torch.allclose(chosen.grad, expected)
    assert torch.allclose(rejected.grad, -expected)
    assert (chosen.grad < 0).all() and (rejected.grad > 0).all()


def test_bradley_terry_loss_on_a_hand_worked_pair() -> None:
    assert bradley_terry_loss(t(2.0), t(0.0)).item() == pytest.approx(math.log(1 + math.exp(-2)))  # 0.126928
    assert bradley_terry_loss(t(0.0), t(0.0)).item() == pytest.approx(math.log(2))


# ---- KL ----


def test_kl_estimators_recover_a_known_kl() -> None:
    p = t(0.6, 0.3, 0.1)
    q = t(0.2, 0.5, 0.3)
    exact = float((p * (p / q).log()).sum())  # 0.3961...
    generator = torch.Generator().manual_seed(0)
    samples = torch.multinomial(p.float(), 400_000, replacement=True, generator=generator)
    logp, logq = p.log()[samples], q.log()[samples]
    assert kl_estimate(logp, logq, "k1").mean().item() == pytest.approx(exact, abs=5e-3)
    assert kl_estimate(logp, logq, "k3").mean().item() == pytest.approx(exact, abs=5e-3)
    # k2 is biased; for these distributions E[k2] = sum p (log p/q)^2 / 2.
    expected_k2 = float((p * (p / q).log() ** 2).sum() / 2)
    assert kl_estimate(logp, logq, "k2").mean().item() == pytest.approx(expected_k2, abs=5e-3)
    assert (kl_estimate(logp, logq, "k3") >= 0).all()
    assert kl_estimate(logp, logp, "k1").abs().max().item() == 0.0


def test_kl_from_logits_is_the_exact_kl() -> None:
    p, q = t(0.6, 0.3, 0.1), t(0.2, 0.5, 0.3)
    exact = float((p * (p / q).log()).sum())
    value = kl_from_logits(p.log().view(1, 1, 3), (q.log() + 3.0).view(1, 1, 3))
    assert value.item() == pytest.approx(exact)


def test_adaptive_kl_controller() -> None:
    # KL above target by more than 20 %: the error is clipped to 0.2.
    assert adaptive_kl_coef(0.1, observed_kl=12.0, target_kl=6.0, n_steps=100, horizon=1000) == pytest.approx(0.102)
    # KL at half the target: error -0.2 (clipped from -0.5).
    assert adaptive_kl_coef(0.1, observed_kl=3.0, target_kl=6.0, n_steps=100, horizon=1000) == pytest.approx(0.098)
    assert adaptive_kl_coef(0.1, observed_kl=6.6, target_kl=6.0, n_steps=500, horizon=1000) == pytest.approx(0.105)


# ---- PPO ----


def plain_gae(rewards, values, mask, gamma, lam):
    """A direct transcription of GAE for one sequence at a time, for comparison."""
    advantages = torch.zeros_like(rewards)
    for b in range(rewards.shape[0]):
        length = int(mask[b].sum())
        last = 0.0
        for step in reversed(range(length)):
            next_value = values[b, step + 1] if step + 1 < length else 0.0
            delta = rewards[b, step] + gamma * next_value - values[b, step]
            last = delta + gamma * lam * last
            advantages[b, step] = last
    return advantages, (advantages + values) * mask


def test_gae_matches_a_plain_reference_implementation() -> None:
    torch.manual_seed(0)
    lengths = torch.tensor([7, 1, 4, 9, 0])
    mask = (torch.arange(9).unsqueeze(0) < lengths.unsqueeze(1)).double()
    rewards = torch.randn(5, 9, dtype=torch.float64) * mask
    values = torch.randn(5, 9, dtype=torch.float64)
    for gamma, lam in [(1.0, 0.95), (0.9, 0.5), (1.0, 1.0), (0.99, 0.0)]:
        advantages, returns = gae_advantages(rewards, values, mask, gamma, lam)
        ref_adv, ref_ret = plain_gae(rewards, values, mask, gamma, lam)
        assert torch.allclose(advantages, ref_adv, atol=1e-6)
        assert torch.allclose(returns, ref_ret, atol=1e-6)


def test_gae_by_hand() -> None:
    # gamma = 1, lam = 0.5; rewards (0, 1), values (0.5, 0.2), terminal after token 2:
    # delta_2 = 1 - 0.2 = 0.8, A_2 = 0.8; delta_1 = 0 + 0.2 - 0.5 = -0.3, A_1 = -0.3 + 0.5 * 0.8 = 0.1.
    advantages, returns = gae_advantages(t(0.0, 1.0).view(1, 2), t(0.5, 0.2).view(1, 2), t(1, 1).view(1, 2), 1.0, 0.5)
    assert advantages.flatten().tolist() == pytest.approx([0.1, 0.8])
    assert returns.flatten().tolist() == pytest.approx([0.6, 1.0])


def test_ppo_token_rewards_put_the_score_on_the_last_token() -> None:
    logprobs = t(-1.0, -1.0, -1.0, 0.0, -2.0, -2.0).view(2, 3)
    ref = t(-1.5, -0.5, -1.0, 0.0, -2.0, -2.5).view(2, 3)
    mask = t(1, 1, 1, 1, 1, 0).view(2, 3)
    rewards, kl = ppo_token_rewards(t(2.0, -1.0), logprobs, ref, mask, kl_coef=0.1)
    assert kl.flatten().tolist() == pytest.approx([0.5, -0.5, 0.0, 0.0, 0.0, 0.0])
    assert rewards.flatten().tolist() == pytest.approx([-0.05, 0.05, 2.0, 0.0, -1.0, 0.0])
    assert last_token_index(mask).tolist() == [2, 1]


def test_clipped_policy_loss_hand_cases() -> None:
    old = torch.zeros(1, 4, dtype=torch.float64)
    ratios = t(1.5, 0.5, 1.5, 0.5)
    advantages = t(1.0, 1.0, -1.0, -1.0).view(1, 4)
    out = clipped_policy_loss(ratios.log().view(1, 4), old, advantages, torch.ones(1, 4), clip_range=0.2)
    # Per token, -min(r A, clip(r) A): A>0,r=1.5 -> -1.2 (clipped); A>0,r=0.5 -> -0.5;
    # A<0,r=1.5 -> 1.5; A<0,r=0.5 -> 0.8 (clipped). Mean = 0.15.
    assert out.loss.item() == pytest.approx((-1.2 - 0.5 + 1.5 + 0.8) / 4)
    assert out.clipfrac.item() == pytest.approx(0.5)
    # approx KL (k3 of pi_old vs pi): mean of (r - 1) - log r.
    expected_kl = float(((ratios - 1) - ratios.log()).mean())
    assert out.approx_kl.item() == pytest.approx(expected_kl)


def test_clipped_policy_loss_at_ratio_one_is_minus_the_mean_advantage() -> None:
    advantages = t(0.3, -1.2, 2.0).view(1, 3)
    out = clipped_policy_loss(torch.zeros(1, 3), torch.zeros(1, 3), advantages, t(1, 1, 0).view(1, 3), 0.2)
    assert out.loss.item() == pytest.approx(-(0.3 - 1.2) / 2)
    assert out.clipfrac.item() == 0.0


def test_clipped_value_loss_hand_cases() -> None:
    # old 0, new 1, return 1: unclipped error 0, clipped (0.2 - 1)^2 = 0.64 -> max 0.64.
    # old 0, new 0.1, return 1: inside the clip: error 0.81 both ways.
    values, old, returns = t(1.0, 0.1).view(1, 2), t(0.0, 0.0).view(1, 2), t(1.0, 1.0).view(1, 2)
    loss, clipfrac = clipped_value_loss(values, old, returns, torch.ones(1, 2), clip_range=0.2)
    assert loss.item() == pytest.approx(0.5 * (0.64 + 0.81) / 2)
    assert clipfrac.item() == pytest.approx(0.5)


def test_explained_variance() -> None:
    returns = t(1.0, 2.0, 3.0, 4.0).view(1, 4)
    mask = torch.ones(1, 4, dtype=torch.float64)
    assert explained_variance(returns, returns, mask).item() == pytest.approx(1.0)
    assert explained_variance(torch.zeros(1, 4, dtype=torch.float64) + 2.5, returns, mask).item() == pytest.approx(0.0)


# ---- value-free ----


def test_group_advantages_by_hand() -> None:
    rewards = t(1.0, 2.0, 3.0, 5.0, 5.0, 5.0).view(2, 3)
    centred = group_advantages(rewards, scale=False)
    assert centred.flatten().tolist() == pytest.approx([-1.0, 0.0, 1.0, 0.0, 0.0, 0.0])
    scaled = group_advantages(rewards, scale=True, eps=1e-4)
    # Group std (unbiased) of (1, 2, 3) is 1; the equal group has std 0 and advantage 0.
    assert scaled.flatten().tolist() == pytest.approx([-1 / 1.0001, 0.0, 1 / 1.0001, 0.0, 0.0, 0.0])
    assert torch.isfinite(scaled).all()


def test_leave_one_out_advantages_by_hand() -> None:
    rewards = t(1.0, 2.0, 3.0, 4.0, 4.0, 4.0).view(2, 3)
    # Baselines of the first prompt: (2+3)/2, (1+3)/2, (1+2)/2.
    assert leave_one_out_advantages(rewards).flatten().tolist() == pytest.approx([-1.5, 0.0, 1.5, 0.0, 0.0, 0.0])
    # Equivalent form: k/(k-1) * (r - mean).
    torch.manual_seed(0)
    random_rewards = torch.randn(4, 5, dtype=torch.float64)
    expected = 5 / 4 * (random_rewards - random_rewards.mean(1, keepdim=True))
    assert torch.allclose(leave_one_out_advantages(random_rewards), expected)


def test_policy_gradient_loss_by_hand() -> None:
    logprobs = t(-1.0, -2.0, -5.0, -0.5, -0.5, -0.5).view(2, 3)
    mask = t(1, 1, 0, 1, 1, 1).view(2, 3)
    # -(A_1 * (-3) + A_2 * (-1.5)) / 2 with A = (1, -2): -(-3 + 3) / 2 = 0.
    assert policy_gradient_loss(logprobs, t(1.0, -2.0), mask).item() == pytest.approx(0.0)
    assert policy_gradient_loss(logprobs, t(2.0, 0.0), mask).item() == pytest.approx(3.0)
