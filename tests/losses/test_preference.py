"""alignlab.losses.preference: the DPO family, SimPO, ORPO, KTO and Bradley-Terry, against values
worked out by hand (float64) and the properties the papers state."""

from __future__ import annotations

import inspect
import math

import pytest
import torch
import torch.nn.functional as F

from alignlab.losses import (
    bradley_terry_loss,
    dpo_loss,
    kto_loss,
    kto_reference_point,
    orpo_loss,
    simpo_loss,
    with_chosen_nll,
)


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def softplus(x: float) -> float:
    """-log sigma(-x) = log(1 + e^x)."""
    return math.log1p(math.exp(x))


# ---- DPO family ----


def test_dpo_losses_when_policy_equals_reference() -> None:
    logps = t(-4.0, -7.5)
    beta = 0.1
    # h = 0: sigmoid and robust -log sigma(0) = ln 2 (robust: (0.8 ln 2 - 0.2 ln 2) / 0.6 = ln 2);
    # ipo (0 - 1/(2 beta))^2 = 25; hinge max(0, 1 - 0) = 1.
    expected = {"sigmoid": math.log(2), "robust": math.log(2), "ipo": (1 / (2 * beta)) ** 2, "hinge": 1.0}
    for loss_type, value in expected.items():
        out = dpo_loss(logps, logps + 1.0, logps, logps + 1.0, beta, loss_type, label_smoothing=0.2)
        assert torch.allclose(out.losses, torch.full((2,), value, dtype=torch.float64)), loss_type
        assert out.chosen_rewards.abs().max() == 0 and out.rejected_rewards.abs().max() == 0


@pytest.mark.parametrize(
    ("loss_type", "smoothing", "expected"),
    [
        # h = (-1 - -2) - (-3 - -2) = 2, beta h = 1.
        ("sigmoid", 0.0, softplus(-1)),  # log(1 + e^-1) = 0.3132617
        ("sigmoid", 0.1, 0.9 * softplus(-1) + 0.1 * softplus(1)),  # 0.4132617
        ("robust", 0.1, (0.9 * softplus(-1) - 0.1 * softplus(1)) / 0.8),  # 0.1882617
        ("robust", 0.0, softplus(-1)),
        ("ipo", 0.0, (2 - 1 / (2 * 0.5)) ** 2),  # 1.0
        ("hinge", 0.0, 0.0),  # max(0, 1 - 1)
    ],
)
def test_dpo_losses_with_known_margins(loss_type: str, smoothing: float, expected: float) -> None:
    out = dpo_loss(t(-1.0), t(-3.0), t(-2.0), t(-2.0), beta=0.5, loss_type=loss_type, label_smoothing=smoothing)
    assert out.losses.item() == pytest.approx(expected, abs=1e-12)
    assert out.chosen_rewards.item() == pytest.approx(0.5)  # beta * (-1 - -2)
    assert out.rejected_rewards.item() == pytest.approx(-0.5)  # beta * (-3 - -2)


def test_dpo_ipo_by_hand_at_zero_margin_and_at_its_target() -> None:
    # beta = 0.1, h = 0: (0 - 5)^2 = 25. At h = 1/(2 beta) = 5 the loss and its gradient are 0.
    assert dpo_loss(t(-3.0), t(-3.0), t(-3.0), t(-3.0), 0.1, "ipo").losses.item() == pytest.approx(25.0)
    chosen = t(2.0).requires_grad_()
    out = dpo_loss(chosen, t(-3.0), t(0.0), t(0.0), 0.1, "ipo")
    out.losses.sum().backward()
    assert out.losses.item() == pytest.approx(0.0) and chosen.grad.item() == pytest.approx(0.0)


def test_dpo_hinge_has_no_gradient_beyond_the_margin() -> None:
    chosen = t(-1.0, -1.0).requires_grad_()
    # beta = 0.5; h = (3, 1): beta h = 1.5 (beyond the margin) and 0.5 (loss 0.5, gradient -beta).
    out = dpo_loss(chosen, t(-4.0, -2.0), t(0.0, 0.0), t(0.0, 0.0), 0.5, "hinge")
    out.losses.sum().backward()
    assert out.losses.tolist() == pytest.approx([0.0, 0.5])
    assert chosen.grad.tolist() == pytest.approx([0.0, -0.5])


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


def test_dpo_rewards_are_detached() -> None:
    ref_chosen = t(-2.0).requires_grad_()
    out = dpo_loss(t(-1.0).requires_grad_(), t(-3.0), ref_chosen, t(-2.0), beta=0.5)
    assert not out.chosen_rewards.requires_grad and not out.rejected_rewards.requires_grad
    assert out.losses.requires_grad


def test_conservative_dpo_stops_at_a_finite_margin_robust_dpo_does_not() -> None:
    """cDPO (label smoothing eps) has its minimum at beta h = log((1 - eps) / eps): it stops
    pushing the margin there. rDPO's gradient in h is -beta ((1 - eps) sigma(-beta h) + eps
    sigma(beta h)) / (1 - 2 eps) < 0 everywhere: it keeps pushing, like DPO."""
    eps, beta = 0.1, 1.0
    h_star = math.log((1 - eps) / eps)  # ln 9 = 2.1972246
    for loss_type, expected_grad in [("sigmoid", 0.0), ("robust", -(0.9 * 0.1 + 0.1 * 0.9) / 0.8)]:  # -0.225
        chosen = t(h_star).requires_grad_()
        dpo_loss(chosen, t(0.0), t(0.0), t(0.0), beta, loss_type, eps).losses.sum().backward()
        assert chosen.grad.item() == pytest.approx(expected_grad, abs=1e-12), loss_type
    # Beyond h*, cDPO pulls the margin back (positive gradient); rDPO still pushes it up.
    for loss_type, sign in [("sigmoid", 1.0), ("robust", -1.0)]:
        chosen = t(h_star + 2.0).requires_grad_()
        dpo_loss(chosen, t(0.0), t(0.0), t(0.0), beta, loss_type, eps).losses.sum().backward()
        assert chosen.grad.item() * sign > 0, loss_type


def test_conservative_dpo_is_dpo_under_flipped_labels_robust_dpo_undoes_them() -> None:
    """With labels flipped at rate eps, the expected DPO loss is cDPO (Mitchell 2023), and the
    expected rDPO loss is the clean DPO loss (Chowdhury et al. 2024, Lemma 3.1: unbiased)."""
    torch.manual_seed(0)
    pc, pr, rc, rr = (torch.randn(8, dtype=torch.float64) * 3 for _ in range(4))
    beta, eps = 0.3, 0.2

    def loss(loss_type, flipped=False, smoothing=eps):
        args = (pr, pc, rr, rc) if flipped else (pc, pr, rc, rr)
        return dpo_loss(*args, beta, loss_type, smoothing).losses

    clean = loss("sigmoid", smoothing=0.0)
    assert torch.allclose((1 - eps) * clean + eps * loss("sigmoid", True, 0.0), loss("sigmoid"))
    assert torch.allclose((1 - eps) * loss("robust") + eps * loss("robust", True), clean)


def test_conservative_and_robust_dpo_equal_dpo_without_smoothing() -> None:
    torch.manual_seed(1)
    pc, pr, rc, rr = (torch.randn(5, dtype=torch.float64) for _ in range(4))
    plain = dpo_loss(pc, pr, rc, rr, 0.2).losses
    assert torch.allclose(dpo_loss(pc, pr, rc, rr, 0.2, "robust", 0.0).losses, plain)
    assert torch.allclose(dpo_loss(pc, pr, rc, rr, 0.2, "sigmoid", 0.0).losses, plain)
    assert torch.allclose(plain, -F.logsigmoid(0.2 * ((pc - rc) - (pr - rr))))


def test_dpo_rejects_an_unknown_loss_type() -> None:
    with pytest.raises(ValueError, match="unknown DPO loss type"):
        dpo_loss(t(0.0), t(0.0), t(0.0), t(0.0), 0.1, "exo")


# ---- SimPO ----


def test_simpo_by_hand() -> None:
    # beta 2, gamma 0.5, mean log-probs -1 and -1.5: z = -2 + 3 - 0.5 = 0.5, loss log(1 + e^-0.5) = 0.4740770.
    out = simpo_loss(t(-1.0), t(-1.5), beta=2.0, gamma=0.5)
    assert out.losses.item() == pytest.approx(softplus(-0.5))
    assert out.chosen_rewards.item() == pytest.approx(-2.0) and out.rejected_rewards.item() == pytest.approx(-3.0)
    # Equal responses still pay for the target margin gamma: log(1 + e^0.5) = 0.9740770 > ln 2.
    assert simpo_loss(t(-1.0), t(-1.0), 2.0, 0.5).losses.item() == pytest.approx(softplus(0.5))


def test_simpo_has_no_reference() -> None:
    """No reference model in the signature; with gamma = 0 SimPO is DPO with pi_ref = 1 on the
    mean log-probs."""
    assert list(inspect.signature(simpo_loss).parameters) == ["policy_chosen", "policy_rejected", "beta", "gamma"]
    torch.manual_seed(2)
    chosen, rejected = -torch.rand(6, dtype=torch.float64) * 3, -torch.rand(6, dtype=torch.float64) * 3
    zero = torch.zeros(6, dtype=torch.float64)
    assert torch.allclose(simpo_loss(chosen, rejected, 2.5, 0.0).losses, dpo_loss(chosen, rejected, zero, zero, 2.5)[0])


def test_simpo_gamma_is_a_target_margin() -> None:
    """-log sigma(beta m - gamma): the loss at margin m with gamma equals the loss at m - gamma / beta."""
    beta, gamma = 2.0, 1.0
    a = simpo_loss(t(-1.0), t(-2.0), beta, gamma).losses
    b = simpo_loss(t(-1.0), t(-1.5), beta, 0.0).losses
    assert torch.allclose(a, b)


# ---- ORPO ----


def test_orpo_by_hand() -> None:
    # P_w = 0.5, P_l = 0.2: odds 1 and 1/4, log odds ratio ln 4, -log sigma(ln 4) = -ln(4/5) = 0.2231436.
    # With the chosen NLL 0.7 and lambda 0.1: 0.7 + 0.1 * 0.2231436 = 0.7223144.
    out = orpo_loss(torch.log(t(0.5)), torch.log(t(0.2)), t(0.7), lam=0.1)
    assert out.losses.item() == pytest.approx(0.7 + 0.1 * math.log(1.25))
    assert out.chosen_rewards.item() == pytest.approx(0.1 * math.log(0.5))  # -0.0693147
    assert out.rejected_rewards.item() == pytest.approx(0.1 * math.log(0.2))  # -0.1609438


def test_orpo_uses_log_odds_not_log_probabilities() -> None:
    """The odds ratio contrasts more than the probability ratio: ln 4 against ln(0.5/0.2) = ln 2.5
    above; the loss and its gradient equal those of the literal log(p / (1 - p)) formula."""
    torch.manual_seed(3)
    chosen = (-torch.rand(8, dtype=torch.float64) * 2 - 0.01).requires_grad_()
    rejected = (-torch.rand(8, dtype=torch.float64) * 2 - 0.01).requires_grad_()
    nll = torch.rand(8, dtype=torch.float64)
    out = orpo_loss(chosen, rejected, nll, lam=0.5)
    pw, pl = chosen.exp(), rejected.exp()
    literal = nll - 0.5 * F.logsigmoid(torch.log(pw / (1 - pw)) - torch.log(pl / (1 - pl)))
    assert torch.allclose(out.losses, literal)
    grads = torch.autograd.grad(out.losses.sum(), (chosen, rejected))
    expected = torch.autograd.grad(literal.sum(), (chosen, rejected))
    assert all(torch.allclose(g, e) for g, e in zip(grads, expected))
    # The NLL enters with weight 1 and no reference model appears.
    assert "reference" not in " ".join(inspect.signature(orpo_loss).parameters)


def test_orpo_with_equal_responses_is_nll_plus_lambda_ln2() -> None:
    out = orpo_loss(t(-0.3, -2.0), t(-0.3, -2.0), t(1.0, 2.0), lam=0.2)
    assert out.losses.tolist() == pytest.approx([1.0 + 0.2 * math.log(2), 2.0 + 0.2 * math.log(2)])


# ---- KTO ----


def test_kto_loss_by_hand() -> None:
    # beta 2, z0 0.5, r = log pi - log pi_ref = 1 for both:
    # desirable 1 - sigma(2 (1 - 0.5)) = 1 - sigma(1) = 0.2689414, times lambda_D 1.5 = 0.4034121;
    # undesirable 1 - sigma(2 (0.5 - 1)) = 1 - sigma(-1) = 0.7310586, times lambda_U 0.5 = 0.3655293.
    sigma1 = 1 / (1 + math.exp(-1))
    losses, rewards = kto_loss(t(-1.0, -2.0), t(-2.0, -3.0), torch.tensor([True, False]), t(0.5), 2.0, 1.5, 0.5)
    assert losses.tolist() == pytest.approx([1.5 * (1 - sigma1), 0.5 * sigma1])
    assert rewards.tolist() == pytest.approx([2.0, 2.0])
    assert not rewards.requires_grad


def test_kto_desirable_and_undesirable_mirror_each_other_about_z0() -> None:
    z0, d = t(0.3), 0.8
    desirable, _ = kto_loss(t(z0.item() + d), t(0.0), torch.tensor([True]), z0, 0.5)
    undesirable, _ = kto_loss(t(z0.item() - d), t(0.0), torch.tensor([False]), z0, 0.5)
    assert desirable.item() == pytest.approx(undesirable.item())
    # Desirable completions are pushed up, undesirable ones down.
    policy = t(-1.0, -1.0).requires_grad_()
    losses, _ = kto_loss(policy, t(-1.2, -1.2), torch.tensor([True, False]), t(0.1), 1.0)
    losses.sum().backward()
    assert policy.grad[0] < 0 < policy.grad[1]


def test_kto_reference_point_is_the_clamped_detached_mean_kl() -> None:
    # Per-pair log-ratios (2, -1): mean 0.5. (1, -1): 0. (-1, -1): -1, clamped to 0.
    policy_kl = t(-2.0, -5.0).requires_grad_()
    z0 = kto_reference_point(policy_kl, t(-4.0, -4.0))
    assert z0.item() == pytest.approx(0.5) and z0.dim() == 0
    assert not z0.requires_grad  # the paper backpropagates through z0 not at all
    assert kto_reference_point(t(-3.0, -5.0), t(-4.0, -4.0)).item() == 0.0
    assert kto_reference_point(t(-5.0, -5.0), t(-4.0, -4.0)).item() == 0.0


# ---- Bradley-Terry ----


def test_bradley_terry_loss_on_a_hand_worked_pair() -> None:
    assert bradley_terry_loss(t(2.0), t(0.0)).item() == pytest.approx(softplus(-2))  # 0.126928
    assert bradley_terry_loss(t(0.0), t(0.0)).item() == pytest.approx(math.log(2))
    # Only the score difference matters.
    assert bradley_terry_loss(t(5.0, -1.0), t(3.0, -3.0)).tolist() == pytest.approx([softplus(-2)] * 2)


def test_rpo_adds_alpha_times_the_chosen_nll_per_token_and_keeps_the_rewards() -> None:
    # DPO at margin 0 is log 2 a pair; chosen responses at -2 and -0.5 nats a token.
    out = dpo_loss(torch.zeros(2), torch.zeros(2), torch.zeros(2), torch.zeros(2), beta=0.1)
    rpo = with_chosen_nll(out, torch.tensor([-2.0, -0.5]), alpha=0.5)
    assert rpo.losses.tolist() == pytest.approx([math.log(2) + 1.0, math.log(2) + 0.25])
    assert torch.equal(rpo.chosen_rewards, out.chosen_rewards) and torch.equal(
        rpo.rejected_rewards, out.rejected_rewards
    )
    assert torch.equal(with_chosen_nll(out, torch.tensor([-2.0, -0.5]), alpha=0.0).losses, out.losses)
