"""alignlab.losses.policy: KL estimators, the RLHF token reward, GAE, PPO's clipped surrogate and
value loss, the critic-free advantages (GRPO, RLOO, batch) and the token aggregations, against
values worked out by hand (float64) and the properties the papers state."""

from __future__ import annotations

import math

import pytest
import torch

from alignlab.losses import (
    adaptive_kl_coef,
    cispo_surrogate,
    clipped_surrogate,
    clipped_value_losses,
    explained_variance,
    gae_advantages,
    global_whiten,
    group_advantages,
    importance_weighted_kl,
    informative_groups,
    kl_estimate,
    last_token_index,
    leave_one_out_advantages,
    returns_to_go,
    sapo_surrogate,
    token_rewards,
    token_weights,
)


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def lengths_mask(lengths: list[int], width: int) -> torch.Tensor:
    return (torch.arange(width).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)).double()


# ---- KL ----


def test_kl_estimators_by_hand() -> None:
    # log pi = -1, log pi_ref = -2: log r = -1. k1 = 1, k2 = 1/2, k3 = (e^-1 - 1) + 1 = e^-1.
    # log pi = -2, log pi_ref = -1: log r = 1. k1 = -1, k2 = 1/2, k3 = (e - 1) - 1 = 0.7182818.
    logprobs, ref = t(-1.0, -2.0), t(-2.0, -1.0)
    assert kl_estimate(logprobs, ref, "k1").tolist() == pytest.approx([1.0, -1.0])
    assert kl_estimate(logprobs, ref, "k2").tolist() == pytest.approx([0.5, 0.5])
    assert kl_estimate(logprobs, ref, "k3").tolist() == pytest.approx([math.exp(-1), math.e - 2])
    assert kl_estimate(logprobs, logprobs, "k3").abs().max().item() == 0.0


def test_kl_estimators_recover_a_known_kl() -> None:
    p = t(0.6, 0.3, 0.1)
    q = t(0.2, 0.5, 0.3)
    exact = float((p * (p / q).log()).sum())  # 0.3961
    generator = torch.Generator().manual_seed(0)
    samples = torch.multinomial(p.float(), 200_000, replacement=True, generator=generator)
    logp, logq = p.log()[samples], q.log()[samples]
    assert kl_estimate(logp, logq, "k1").mean().item() == pytest.approx(exact, abs=6e-3)
    assert kl_estimate(logp, logq, "k3").mean().item() == pytest.approx(exact, abs=6e-3)
    # k2 is biased: E[k2] = sum p (log p/q)^2 / 2.
    expected_k2 = float((p * (p / q).log() ** 2).sum() / 2)
    assert kl_estimate(logp, logq, "k2").mean().item() == pytest.approx(expected_k2, abs=6e-3)
    # k3 is never negative, k1 sometimes is, and k3 varies less.
    assert (kl_estimate(logp, logq, "k3") >= 0).all() and (kl_estimate(logp, logq, "k1") < 0).any()
    assert kl_estimate(logp, logq, "k3").var() < kl_estimate(logp, logq, "k1").var()


def test_kl_estimate_rejects_an_unknown_estimator() -> None:
    with pytest.raises(ValueError, match="unknown KL estimator"):
        kl_estimate(t(0.0), t(0.0), "k4")


def test_adaptive_kl_controller() -> None:
    # KL above target by more than 20 %: the error is clipped to 0.2; 0.1 * (1 + 0.2 * 0.1) = 0.102.
    assert adaptive_kl_coef(0.1, observed_kl=12.0, target_kl=6.0, n_steps=100, horizon=1000) == pytest.approx(0.102)
    # KL at half the target: error -0.2 (clipped from -0.5).
    assert adaptive_kl_coef(0.1, observed_kl=3.0, target_kl=6.0, n_steps=100, horizon=1000) == pytest.approx(0.098)
    # Inside the clip: error 0.1; 0.1 * (1 + 0.1 * 0.5) = 0.105.
    assert adaptive_kl_coef(0.1, observed_kl=6.6, target_kl=6.0, n_steps=500, horizon=1000) == pytest.approx(0.105)
    assert adaptive_kl_coef(0.1, observed_kl=6.0, target_kl=6.0, n_steps=500, horizon=1000) == pytest.approx(0.1)


# ---- the RLHF token reward ----


def test_token_rewards_put_the_score_on_the_last_token() -> None:
    kl = t(0.5, -0.5, 0.0, 0.0, 0.0, 7.0).view(2, 3)  # the 7.0 is on padding
    mask = t(1, 1, 1, 1, 1, 0).view(2, 3)
    rewards = token_rewards(t(2.0, -1.0), kl, mask, kl_coef=0.1)
    # Row 0: -0.1 * (0.5, -0.5, 0) + (0, 0, 2). Row 1: last real token is index 1; padding stays 0.
    assert rewards.flatten().tolist() == pytest.approx([-0.05, 0.05, 2.0, 0.0, -1.0, 0.0])
    assert last_token_index(mask).tolist() == [2, 1]


def test_token_rewards_of_an_empty_response_are_zero() -> None:
    rewards = token_rewards(t(5.0), t(1.0, 1.0).view(1, 2), torch.zeros(1, 2, dtype=torch.float64), 0.1)
    assert rewards.abs().max().item() == 0.0


# ---- returns and GAE ----


def test_returns_to_go_by_hand() -> None:
    # gamma 0.5, rewards (1, 2, 3): G3 = 3, G2 = 2 + 1.5 = 3.5, G1 = 1 + 1.75 = 2.75.
    rewards = t(1.0, 2.0, 3.0, 1.0, 2.0, 5.0).view(2, 3)
    mask = t(1, 1, 1, 1, 1, 0).view(2, 3)
    out = returns_to_go(rewards, mask, gamma=0.5)
    assert out.flatten().tolist() == pytest.approx([2.75, 3.5, 3.0, 2.0, 2.0, 0.0])
    # gamma 1: plain suffix sums; the padded 5 is never counted.
    assert returns_to_go(rewards, mask).flatten().tolist() == pytest.approx([6.0, 5.0, 3.0, 3.0, 2.0, 0.0])


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
    mask = lengths_mask([7, 1, 4, 9, 0], 9)
    rewards = torch.randn(5, 9, dtype=torch.float64) * mask
    values = torch.randn(5, 9, dtype=torch.float64)
    for gamma, lam in [(1.0, 0.95), (0.9, 0.5), (1.0, 1.0), (0.99, 0.0)]:
        advantages, returns = gae_advantages(rewards, values, mask, gamma, lam)
        ref_adv, ref_ret = plain_gae(rewards, values, mask, gamma, lam)
        assert torch.allclose(advantages, ref_adv)
        assert torch.allclose(returns, ref_ret)


def test_gae_by_hand() -> None:
    # gamma = 1, lam = 0.5; rewards (0, 1), values (0.5, 0.2), terminal after token 2:
    # delta_2 = 1 - 0.2 = 0.8, A_2 = 0.8; delta_1 = 0 + 0.2 - 0.5 = -0.3, A_1 = -0.3 + 0.5 * 0.8 = 0.1.
    advantages, returns = gae_advantages(t(0.0, 1.0).view(1, 2), t(0.5, 0.2).view(1, 2), t(1, 1).view(1, 2), 1.0, 0.5)
    assert advantages.flatten().tolist() == pytest.approx([0.1, 0.8])
    assert returns.flatten().tolist() == pytest.approx([0.6, 1.0])


def test_gae_with_gamma_and_lambda_one_is_returns_to_go_minus_values() -> None:
    torch.manual_seed(1)
    mask = lengths_mask([5, 2, 6, 0], 6)
    rewards = torch.randn(4, 6, dtype=torch.float64)
    values = torch.randn(4, 6, dtype=torch.float64) * 3
    advantages, returns = gae_advantages(rewards, values, mask, 1.0, 1.0)
    assert torch.allclose(advantages, (returns_to_go(rewards, mask) - values) * mask)
    assert torch.allclose(returns, returns_to_go(rewards, mask))  # the Monte-Carlo return


def test_gae_with_lambda_zero_is_the_one_step_td_error() -> None:
    # rewards (1, 2, 3), values (0.5, 1.5, 2.5), gamma 0.9; V after the last token is 0:
    # A = (1 + 0.9 * 1.5 - 0.5, 2 + 0.9 * 2.5 - 1.5, 3 - 2.5) = (1.85, 2.75, 0.5).
    advantages, _ = gae_advantages(t(1.0, 2.0, 3.0).view(1, 3), t(0.5, 1.5, 2.5).view(1, 3), torch.ones(1, 3), 0.9, 0.0)
    assert advantages.flatten().tolist() == pytest.approx([1.85, 2.75, 0.5])


def test_gae_padding_stays_zero_and_does_not_leak_back() -> None:
    # The padded reward and value (100, 100) must change nothing: the episode ends at token 2.
    rewards = t(0.0, 1.0, 100.0).view(1, 3)
    values = t(0.5, 0.2, 100.0).view(1, 3)
    advantages, returns = gae_advantages(rewards, values, t(1, 1, 0).view(1, 3), 1.0, 0.5)
    assert advantages.flatten().tolist() == pytest.approx([0.1, 0.8, 0.0])
    assert returns.flatten().tolist() == pytest.approx([0.6, 1.0, 0.0])


def test_global_whiten_pools_every_masked_token_of_the_batch() -> None:
    values = t(1.0, 2.0, 9.0, 3.0, 4.0, -9.0).view(2, 3)
    mask = t(1, 1, 0, 1, 1, 0).view(2, 3)
    out = global_whiten(values, mask)
    # The tokens (1, 2, 3, 4): mean 2.5, unbiased variance 5/3; padding 0.
    expected = [(v - 2.5) / math.sqrt(5 / 3) for v in (1.0, 2.0, 3.0, 4.0)]
    assert out[mask.bool()].tolist() == pytest.approx(expected, rel=1e-6)
    assert out[~mask.bool()].abs().max().item() == 0.0


def test_global_whiten_of_equal_values_or_no_tokens_is_zero_not_nan() -> None:
    assert global_whiten(torch.full((2, 3), 4.0), torch.ones(2, 3)).abs().max().item() < 1e-3
    out = global_whiten(torch.ones(2, 3), torch.zeros(2, 3))
    assert torch.isfinite(out).all() and out.abs().max().item() == 0.0


# ---- PPO's clipped surrogate ----


def test_clipped_surrogate_hand_cases() -> None:
    old = torch.zeros(1, 4, dtype=torch.float64)
    ratios = t(1.5, 0.5, 1.5, 0.5)
    advantages = t(1.0, 1.0, -1.0, -1.0).view(1, 4)
    out = clipped_surrogate(ratios.log().view(1, 4), old, advantages, torch.ones(1, 4), clip_low=0.2)
    # Per token, -min(r A, clip(r) A): A>0,r=1.5 -> -1.2 (clipped); A>0,r=0.5 -> -0.5;
    # A<0,r=1.5 -> 1.5; A<0,r=0.5 -> 0.8 (clipped).
    assert out.losses.flatten().tolist() == pytest.approx([-1.2, -0.5, 1.5, 0.8])
    assert out.clipped.flatten().tolist() == [1.0, 0.0, 0.0, 1.0]
    # approx KL (k3 of pi_old vs pi): (r - 1) - log r.
    assert out.approx_kl.flatten().tolist() == pytest.approx(((ratios - 1) - ratios.log()).tolist())
    assert not out.approx_kl.requires_grad


def test_clipped_surrogate_asymmetric_clip_higher() -> None:
    """DAPO's clip-higher: [1 - 0.2, 1 + 0.28]. A ratio of 1.25 with A > 0 is clipped by the
    symmetric 0.2 bound but not by the raised one; the low side is unchanged."""
    old = torch.zeros(1, 5, dtype=torch.float64)
    logprobs = torch.log(t(1.25, 1.25, 0.75, 0.75, 1.3)).view(1, 5).requires_grad_()
    advantages = t(1.0, -1.0, 1.0, -1.0, 1.0).view(1, 5)
    mask = torch.ones(1, 5)
    symmetric = clipped_surrogate(logprobs, old, advantages, mask, 0.2)
    # -1.2 (clipped), 1.25, -0.75, 0.8 (clipped), -1.2 (clipped).
    assert symmetric.losses.flatten().tolist() == pytest.approx([-1.2, 1.25, -0.75, 0.8, -1.2])
    assert symmetric.clipped.flatten().tolist() == [1.0, 0.0, 0.0, 1.0, 1.0]
    raised = clipped_surrogate(logprobs, old, advantages, mask, 0.2, 0.28)
    # 1.25 is inside [0.8, 1.28] now; 1.3 is clipped to 1.28.
    assert raised.losses.flatten().tolist() == pytest.approx([-1.25, 1.25, -0.75, 0.8, -1.28])
    assert raised.clipped.flatten().tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]
    # A clipped token has no gradient; an unclipped one has d(-A r)/d log pi = -A r.
    (grad,) = torch.autograd.grad(raised.losses.sum(), logprobs)
    assert grad.flatten().tolist() == pytest.approx([-1.25, 1.25, -0.75, 0.0, 0.0])


def test_clipped_surrogate_at_ratio_one_is_minus_the_advantage_and_padding_is_zero() -> None:
    advantages = t(0.3, -1.2, 2.0).view(1, 3)
    out = clipped_surrogate(torch.zeros(1, 3), torch.zeros(1, 3), advantages, t(1, 1, 0).view(1, 3), 0.2)
    assert out.losses.flatten().tolist() == pytest.approx([-0.3, 1.2, 0.0])
    assert out.clipped.abs().max().item() == 0.0


def test_clipped_surrogate_broadcasts_sequence_advantages() -> None:
    torch.manual_seed(2)
    logprobs, old = torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
    mask = lengths_mask([4, 2, 3], 4)
    advantages = t(0.5, -1.0, 2.0)
    per_sequence = clipped_surrogate(logprobs, old, advantages, mask, 0.2)
    per_token = clipped_surrogate(logprobs, old, advantages.unsqueeze(1).expand(3, 4), mask, 0.2)
    assert all(torch.equal(a, b) for a, b in zip(per_sequence, per_token))
    assert (per_sequence.losses * (1 - mask)).abs().max().item() == 0.0


def test_gspo_sequence_ratio_clips_all_tokens_of_a_sequence_together() -> None:
    """GSPO: one ratio per sequence, exp(mean token log-ratio) over the real tokens. Token
    log-ratios (0.3, 0, -0.06) and a padded 5.0: sequence ratio e^0.08 = 1.0833."""
    old = torch.zeros(1, 4, dtype=torch.float64)
    logprobs = t(0.3, 0.0, -0.06, 5.0).view(1, 4).requires_grad_()
    mask = t(1, 1, 1, 0).view(1, 4)
    advantages = t(1.0)
    s = math.exp(0.08)
    # clip 0.05: 1.0833 > 1.05, so every token is clipped together, loss -1.05 and no gradient.
    out = clipped_surrogate(logprobs, old, advantages, mask, 0.05, level="sequence")
    assert out.losses.flatten().tolist() == pytest.approx([-1.05, -1.05, -1.05, 0.0])
    assert out.clipped.flatten().tolist() == [1.0, 1.0, 1.0, 0.0]
    (grad,) = torch.autograd.grad(out.losses.sum(), logprobs)
    assert grad.abs().max().item() == 0.0
    # At token level only the first token (ratio e^0.3 = 1.35) is clipped.
    token = clipped_surrogate(logprobs, old, advantages, mask, 0.05)
    assert token.clipped.flatten().tolist() == [1.0, 0.0, 0.0, 0.0]
    # clip 0.2: inside; each token's loss is -A s, and the gradient of their sum is -A s for
    # every real token (d s / d log pi_t = s / 3, three tokens), 0 on padding.
    inside = clipped_surrogate(logprobs, old, advantages, mask, 0.2, level="sequence")
    assert inside.losses.flatten().tolist() == pytest.approx([-s, -s, -s, 0.0])
    (grad,) = torch.autograd.grad(inside.losses.sum(), logprobs)
    assert grad.flatten().tolist() == pytest.approx([-s, -s, -s, 0.0])


def test_clipped_surrogate_rejects_an_unknown_level() -> None:
    with pytest.raises(ValueError, match="importance sampling level"):
        clipped_surrogate(torch.zeros(1, 2), torch.zeros(1, 2), t(1.0), torch.ones(1, 2), 0.2, level="group")


# ---- CISPO: the clipped, detached importance weight ----


def test_cispo_hand_cases() -> None:
    """Token 1: pi 0.5, pi_old 0.25, r = 2 capped at 1.5, A = 2: loss -1.5 * 2 * ln 0.5 = 3 ln 2.
    Token 2: pi 0.25, pi_old 0.5, r = 0.5 (no lower bound), A = -1: loss -0.5 * -1 * ln 0.25 = -ln 2.
    Token 3: on-policy, pi 0.8, A = 1: loss -ln 0.8. Token 4 is padding."""
    logprobs = torch.log(t(0.5, 0.25, 0.8, 0.9)).view(1, 4).requires_grad_()
    old = torch.log(t(0.25, 0.5, 0.8, 0.1)).view(1, 4)
    advantages = t(2.0, -1.0, 1.0, 5.0).view(1, 4)
    mask = t(1, 1, 1, 0).view(1, 4)
    out = cispo_surrogate(logprobs, old, advantages, mask, max_ratio=1.5)
    ln2 = math.log(2.0)
    assert out.losses.flatten().tolist() == pytest.approx([3 * ln2, -ln2, -math.log(0.8), 0.0])
    assert out.clipped.flatten().tolist() == [1.0, 0.0, 0.0, 0.0]
    # The gradient is -weight * A per token: the capped token keeps its gradient (PPO's would be 0).
    (grad,) = torch.autograd.grad(out.losses.sum(), logprobs)
    assert grad.flatten().tolist() == pytest.approx([-3.0, 0.5, -1.0, 0.0])
    # approx KL (k3 of pi_old vs pi): (r - 1) - ln r: 1 - ln 2, -0.5 + ln 2, 0.
    assert out.approx_kl.flatten().tolist() == pytest.approx([1 - ln2, -0.5 + ln2, 0.0, 0.0])


def test_cispo_caps_whatever_the_advantage_sign_and_no_cap_is_plain_importance_weighted_reinforce() -> None:
    torch.manual_seed(4)
    logprobs = (-torch.rand(3, 5, dtype=torch.float64) * 2).requires_grad_()
    old = logprobs.detach() + torch.randn(3, 5, dtype=torch.float64) * 0.7
    advantages = t(1.0, -2.0, 0.5)
    mask = lengths_mask([5, 3, 4], 5)
    ratio = (logprobs.detach() - old).exp()
    out = cispo_surrogate(logprobs, old, advantages, mask, max_ratio=1.2)
    assert torch.equal(out.clipped, ((ratio > 1.2).double() * mask))
    assert out.clipped[1].sum() > 0  # a capped token with a negative advantage
    # With a cap above every ratio the gradient is REINFORCE's, importance weighted: -r A.
    loose = cispo_surrogate(logprobs, old, advantages, mask, max_ratio=1e9)
    (grad,) = torch.autograd.grad(loose.losses.sum(), logprobs)
    assert torch.allclose(grad, -ratio * advantages.unsqueeze(1) * mask)


def test_cispo_sequence_level_caps_the_sequence_ratio() -> None:
    """Token log-ratios (0.3, 0, -0.06): sequence ratio e^0.08 = 1.083, capped at 1.05 on every token."""
    logprobs = t(0.3, 0.0, -0.06, 5.0).view(1, 4).requires_grad_()
    out = cispo_surrogate(
        logprobs, torch.zeros(1, 4, dtype=torch.float64), t(1.0), t(1, 1, 1, 0).view(1, 4), 1.05, "sequence"
    )
    assert out.clipped.flatten().tolist() == [1.0, 1.0, 1.0, 0.0]
    (grad,) = torch.autograd.grad(out.losses.sum(), logprobs)
    assert grad.flatten().tolist() == pytest.approx([-1.05, -1.05, -1.05, 0.0])


def test_cispo_rejects_a_cap_that_is_not_positive() -> None:
    with pytest.raises(ValueError, match="max_ratio"):
        cispo_surrogate(torch.zeros(1, 2), torch.zeros(1, 2), t(1.0), torch.ones(1, 2), max_ratio=0.0)


# ---- SAPO: the soft gate ----


def test_sapo_hand_cases() -> None:
    """On-policy (r = 1): sigmoid(0) = 1/2, loss -(4 / tau) * 1/2 * A = -2 A / tau, gate weight 1.
    r = 2, tau 1, A = 1: sigmoid(1) = 0.7310586, loss -4 * 0.7310586 = -2.9242344; gate weight
    4 * 0.7310586 * 0.2689414 = 0.7864477, gradient d/d log pi = -A * w * r = -1.5728954.
    r = 0.5, tau_neg 2, A = -1: sigmoid(-1) = 0.2689414, loss (4 / 2) * 0.2689414 = 0.5378828; w =
    0.7864477, gradient -A * w * r = 0.3932239."""
    logprobs = torch.log(t(1.0, 1.0, 2.0, 0.5, 3.0)).view(1, 5).requires_grad_()
    old = torch.zeros(1, 5, dtype=torch.float64)
    advantages = t(1.0, -1.0, 1.0, -1.0, 1.0).view(1, 5)
    mask = t(1, 1, 1, 1, 0).view(1, 5)
    out = sapo_surrogate(logprobs, old, advantages, mask, temperature_pos=1.0, temperature_neg=2.0)
    assert out.losses.flatten().tolist() == pytest.approx([-2.0, 1.0, -2.9242344, 0.5378828, 0.0])
    assert out.clipped.flatten().tolist() == pytest.approx([0.0, 0.0, 1 - 0.7864477, 1 - 0.7864477, 0.0])
    (grad,) = torch.autograd.grad(out.losses.sum(), logprobs)
    # On-policy the gradient is the plain policy gradient -A (the gate's weight is 1).
    assert grad.flatten().tolist() == pytest.approx([-1.0, 1.0, -1.5728954, 0.3932239, 0.0])


def test_sapo_gate_fades_smoothly_where_ppo_cuts() -> None:
    """PPO (clip 0.2) gives r = 1.25 with A > 0 no gradient at all; SAPO keeps most of it, and less
    the further the ratio is from 1, and less for a larger temperature."""
    ratios = t(1.0, 1.1, 1.25, 1.5, 2.0, 4.0)
    logprobs = ratios.log().view(1, 6).requires_grad_()
    old, mask, advantages = torch.zeros(1, 6, dtype=torch.float64), torch.ones(1, 6), t(1.0)
    (ppo_grad,) = torch.autograd.grad(clipped_surrogate(logprobs, old, advantages, mask, 0.2).losses.sum(), logprobs)
    assert ppo_grad[0, 2].item() == 0.0
    weights = {}
    for tau in (1.0, 4.0):
        out = sapo_surrogate(logprobs, old, advantages, mask, temperature_pos=tau)
        weights[tau] = 1 - out.clipped.flatten()
        assert all(a > b for a, b in zip(weights[tau], weights[tau][1:]))
    assert (weights[4.0][1:] < weights[1.0][1:]).all()
    assert weights[1.0][2].item() > 0.9


def test_sapo_zero_advantage_takes_the_negative_temperature_and_rejects_bad_temperatures() -> None:
    # A = 0: the loss is 0 whatever tau; the attenuation at r = 2 tells which tau was used.
    logprobs, old = torch.log(t(2.0)).view(1, 1), torch.zeros(1, 1, dtype=torch.float64)
    out = sapo_surrogate(logprobs, old, t(0.0), torch.ones(1, 1), temperature_pos=1.0, temperature_neg=3.0)
    s = 1 / (1 + math.exp(-3.0))
    assert out.losses.item() == 0.0 and out.clipped.item() == pytest.approx(1 - 4 * s * (1 - s))
    with pytest.raises(ValueError, match="temperatures"):
        sapo_surrogate(logprobs, old, t(1.0), torch.ones(1, 1), temperature_neg=0.0)


# ---- the importance-weighted KL ----


def test_importance_weighted_kl_hand_case() -> None:
    """pi 0.5, pi_old 0.25 (r = 2), pi_ref 0.25: k3 = 0.5 - 1 - ln 0.5 = ln 2 - 0.5 = 0.1931472,
    times 2 = 0.3862944. On-policy the value is plain k3; padding 0."""
    logprobs = torch.log(t(0.5, 0.5, 0.9)).view(1, 3)
    old = torch.log(t(0.25, 0.5, 0.1)).view(1, 3)
    ref = torch.log(t(0.25, 0.25, 0.2)).view(1, 3)
    kl = importance_weighted_kl(logprobs, old, ref, t(1, 1, 0).view(1, 3))
    assert kl.flatten().tolist() == pytest.approx([2 * (math.log(2) - 0.5), math.log(2) - 0.5, 0.0])


def test_importance_weighted_kl_is_the_exact_reverse_kl_in_expectation_over_pi_old() -> None:
    """Tokens drawn from pi_old: the pi_old-expectation of the estimate is KL(pi || pi_ref) of the
    current policy exactly, and so is its gradient; plain k3 is biased once pi != pi_old. Exact
    expectations over a 4-token vocabulary (every token weighted by pi_old)."""
    logits = torch.tensor([0.3, -1.0, 1.2, 0.0], dtype=torch.float64, requires_grad=True)
    old = torch.log_softmax(torch.tensor([1.0, 0.0, -0.5, 0.2], dtype=torch.float64), -1)
    ref = torch.log_softmax(torch.tensor([0.0, 0.5, 0.5, -1.0], dtype=torch.float64), -1)
    logprobs = torch.log_softmax(logits, -1)
    pi = logprobs.exp()
    exact = (pi * (logprobs - ref)).sum()
    per_token = importance_weighted_kl(logprobs.view(1, 4), old.view(1, 4), ref.view(1, 4), torch.ones(1, 4))
    expected_estimate = (old.exp() * per_token.flatten()).sum()
    assert expected_estimate.item() == pytest.approx(exact.item(), abs=1e-12)
    (ours,) = torch.autograd.grad(expected_estimate, logits, retain_graph=True)
    (truth,) = torch.autograd.grad(exact, logits, retain_graph=True)
    assert torch.allclose(ours, truth, atol=1e-12)
    plain = (old.exp() * kl_estimate(logprobs, ref, "k3")).sum()
    assert abs(plain.item() - exact.item()) > 1e-2


# ---- the value loss and its diagnostics ----


def test_clipped_value_losses_hand_cases() -> None:
    # old 0, new 1, return 1: unclipped error 0, clipped (0.2 - 1)^2 = 0.64 -> max 0.64, half 0.32.
    # old 0, new 0.1, return 1: inside the clip: error 0.81 both ways, half 0.405. Padding 0.
    values, old, returns = t(1.0, 0.1, 5.0).view(1, 3), t(0.0, 0.0, 0.0).view(1, 3), t(1.0, 1.0, 0.0).view(1, 3)
    losses, clipped = clipped_value_losses(values, old, returns, t(1, 1, 0).view(1, 3), clip_range=0.2)
    assert losses.flatten().tolist() == pytest.approx([0.32, 0.405, 0.0])
    assert clipped.flatten().tolist() == [1.0, 0.0, 0.0]


def test_explained_variance() -> None:
    returns = t(1.0, 2.0, 3.0, 4.0).view(1, 4)
    mask = torch.ones(1, 4, dtype=torch.float64)
    assert explained_variance(returns, returns, mask).item() == pytest.approx(1.0)
    assert explained_variance(torch.full((1, 4), 2.5, dtype=torch.float64), returns, mask).item() == pytest.approx(0.0)
    # Errors (0.5, -0.5, 0.5, -0.5): Var = 1/3; Var(R) = 5/3; 1 - 1/5 = 0.8.
    values = returns + t(-0.5, 0.5, -0.5, 0.5).view(1, 4)
    assert explained_variance(values, returns, mask).item() == pytest.approx(0.8)


# ---- critic-free advantages ----


def test_group_advantages_by_hand() -> None:
    rewards = t(1.0, 2.0, 3.0, 5.0, 5.0, 5.0).view(2, 3)
    centred = group_advantages(rewards, scale=False)
    assert centred.flatten().tolist() == pytest.approx([-1.0, 0.0, 1.0, 0.0, 0.0, 0.0])
    scaled = group_advantages(rewards, scale=True, eps=1e-4)
    # Group std (unbiased) of (1, 2, 3) is 1; the equal group has std 0 and advantage 0.
    assert scaled.flatten().tolist() == pytest.approx([-1 / 1.0001, 0.0, 1 / 1.0001, 0.0, 0.0, 0.0])
    assert torch.isfinite(scaled).all()
    assert scaled[1].abs().max().item() == 0.0


def test_group_advantages_sum_to_zero_per_group() -> None:
    torch.manual_seed(3)
    rewards = torch.randn(5, 8, dtype=torch.float64)
    for scale in (True, False):
        assert group_advantages(rewards, scale).sum(1).abs().max().item() < 1e-12


def test_leave_one_out_advantages_by_hand() -> None:
    rewards = t(1.0, 2.0, 3.0, 4.0, 4.0, 4.0).view(2, 3)
    # Baselines of the first prompt: (2+3)/2, (1+3)/2, (1+2)/2.
    assert leave_one_out_advantages(rewards).flatten().tolist() == pytest.approx([-1.5, 0.0, 1.5, 0.0, 0.0, 0.0])
    # Equivalent form: k/(k-1) * (r - mean).
    torch.manual_seed(0)
    random_rewards = torch.randn(4, 5, dtype=torch.float64)
    expected = 5 / 4 * (random_rewards - random_rewards.mean(1, keepdim=True))
    assert torch.allclose(leave_one_out_advantages(random_rewards), expected)


def test_informative_groups() -> None:
    rewards = t(1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 2.0, 2.0, 2.0).view(3, 3)
    assert informative_groups(rewards).tolist() == [False, True, False]


# ---- token aggregation ----

AGG_MASK = t(1, 1, 1, 1, 1, 0, 0, 0).view(2, 4)  # a 4-token response and a 1-token response
AGG_LOSSES = t(1.0, 2.0, 3.0, 4.0, 10.0, 99.0, 99.0, 99.0).view(2, 4)  # 99 on padding


def aggregate(losses: torch.Tensor, mask: torch.Tensor, aggregation: str, max_length: int) -> torch.Tensor:
    """A batch's loss on its own: ``token_weights``' weighted sum over its units."""
    weights, units = token_weights(mask, aggregation, max_length)
    return (losses * weights).sum() / max(units, 1.0)


def test_token_weights_by_hand() -> None:
    for aggregation in ("token_mean", "dapo"):
        weights, units = token_weights(AGG_MASK, aggregation, max_length=8)
        assert torch.equal(weights, AGG_MASK.float()) and units == 5.0
    weights, units = token_weights(AGG_MASK, "grpo", max_length=8)
    assert weights.flatten().tolist() == [0.25, 0.25, 0.25, 0.25, 1.0, 0.0, 0.0, 0.0] and units == 2.0
    weights, units = token_weights(AGG_MASK, "dr_grpo", max_length=8)
    assert weights.flatten().tolist() == [0.125] * 5 + [0.0] * 3 and units == 2.0


@pytest.mark.parametrize(
    ("aggregation", "expected"),
    [
        ("token_mean", 4.0),  # (1 + 2 + 3 + 4 + 10) / 5
        ("dapo", 4.0),
        ("grpo", 6.25),  # (mean(1, 2, 3, 4) + 10) / 2 = (2.5 + 10) / 2
        ("dr_grpo", 1.25),  # (10 + 10) / 8 / 2
    ],
)
def test_aggregate_by_hand(aggregation: str, expected: float) -> None:
    assert aggregate(AGG_LOSSES, AGG_MASK, aggregation, max_length=8).item() == pytest.approx(expected)


def test_left_out_rows_carry_no_weight_and_are_no_units() -> None:
    """DAPO's dynamic sampling: a row left out neither carries gradient nor dilutes the mean; an
    empty response of a row that counts is still a sequence."""
    mask = t(1, 1, 1, 1, 1, 0, 1, 0, 0).view(3, 3)  # 3, 2 and 1 tokens
    active = t(1.0, 0.0, 1.0)
    for aggregation, units in (("token_mean", 4.0), ("grpo", 2.0), ("dr_grpo", 2.0)):
        weights, n = token_weights(mask, aggregation, max_length=3, active=active)
        assert n == units and weights[1].abs().sum().item() == 0.0
    weights, n = token_weights(t(1, 0, 0, 0).view(2, 2), "grpo", max_length=2, active=t(1.0, 1.0))
    assert n == 2.0 and weights.flatten().tolist() == [1.0, 0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="max_length"):
        token_weights(mask, "dr_grpo")


def test_grpo_counts_an_empty_response_as_a_sequence() -> None:
    # As GRPO's mean over sequences (and TRL's): (mean(1, 3) + 0) / 2 = 1; token_mean ignores the row.
    losses, mask = t(1.0, 3.0, 5.0, 5.0).view(2, 2), t(1, 1, 0, 0).view(2, 2)
    assert aggregate(losses, mask, "grpo", max_length=4).item() == pytest.approx(1.0)
    assert aggregate(losses, mask, "token_mean", max_length=4).item() == pytest.approx(2.0)


def per_token_gradient(aggregation: str, advantages: torch.Tensor) -> torch.Tensor:
    """d loss / d log pi per token of the on-policy surrogate (ratio 1) under ``aggregation``."""
    logprobs = torch.zeros(2, 4, dtype=torch.float64, requires_grad=True)
    out = clipped_surrogate(logprobs, torch.zeros(2, 4, dtype=torch.float64), advantages, AGG_MASK, 0.2)
    (grad,) = torch.autograd.grad(aggregate(out.losses, AGG_MASK, aggregation, max_length=8), logprobs)
    return grad


def test_grpo_weighs_a_short_sequences_tokens_more() -> None:
    """GRPO's per-sequence mean: each token of the 4-token response weighs 1/(2 * 4), the single
    token of the short one 1/2. With A > 0 (correct) the short answer is pushed four times as
    hard per token; with A < 0 (wrong) the long answer is penalised four times less (Liu et al.
    2025, sec. 3.1)."""
    grad = per_token_gradient("grpo", t(1.0, 1.0))
    assert grad[0, :4].tolist() == pytest.approx([-1 / 8] * 4)
    assert grad[1].tolist() == pytest.approx([-1 / 2, 0.0, 0.0, 0.0])
    wrong = per_token_gradient("grpo", t(-1.0, -1.0))
    assert abs(wrong[0, 0].item()) * 4 == pytest.approx(abs(wrong[1, 0].item()))


@pytest.mark.parametrize(("aggregation", "weight"), [("dr_grpo", 1 / 16), ("dapo", 1 / 5), ("token_mean", 1 / 5)])
def test_dr_grpo_and_dapo_have_no_length_bias(aggregation: str, weight: float) -> None:
    """Every real token weighs the same whatever its response's length: 1 / (B * max_length) for
    Dr. GRPO, 1 / (active tokens) for DAPO."""
    grad = per_token_gradient(aggregation, t(1.0, 1.0))
    assert grad[AGG_MASK.bool()].tolist() == pytest.approx([-weight] * 5)
    assert grad[~AGG_MASK.bool()].abs().max().item() == 0.0


def test_dr_grpo_divides_by_the_configured_max_length_not_the_padded_width() -> None:
    a = aggregate(AGG_LOSSES, AGG_MASK, "dr_grpo", max_length=8)
    b = aggregate(AGG_LOSSES, AGG_MASK, "dr_grpo", max_length=16)
    assert a.item() == pytest.approx(2 * b.item())


@pytest.mark.parametrize("aggregation", ["token_mean", "grpo", "dr_grpo", "dapo"])
def test_aggregate_of_an_empty_mask_is_zero_not_nan(aggregation: str) -> None:
    out = aggregate(AGG_LOSSES, torch.zeros(2, 4, dtype=torch.float64), aggregation, max_length=8)
    assert torch.isfinite(out) and out.item() == 0.0


@pytest.mark.parametrize("aggregation", ["token_mean", "grpo", "dr_grpo", "dapo"])
def test_micro_batches_summed_before_dividing_give_the_big_batch_loss(aggregation: str) -> None:
    """The trainer's gradient accumulation: sum ``losses * weights`` and the units over
    micro-batches (of unequal sizes and lengths), divide once: exactly the one-batch loss."""
    torch.manual_seed(4)
    mask = lengths_mask([6, 1, 3, 0, 5], 6)
    losses = torch.randn(5, 6, dtype=torch.float64) * mask
    whole = aggregate(losses, mask, aggregation, max_length=10)
    total, units = 0.0, 0.0
    for part in (slice(0, 2), slice(2, 5)):
        weights, n = token_weights(mask[part], aggregation, max_length=10)
        total, units = total + (losses[part] * weights).sum(), units + n
    assert (total / units).item() == pytest.approx(whole.item(), rel=1e-6)


def test_token_weights_reject_an_unknown_aggregation() -> None:
    with pytest.raises(ValueError, match="unknown loss aggregation"):
        token_weights(AGG_MASK, "seq_mean", max_length=8)
