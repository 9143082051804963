"""The online update phase: a minibatch's loss is normalised once by the whole minibatch's unit
count, so gradient accumulation never re-weights micro-batches (a micro-batch of short
responses weighs by its tokens, not as much as one of long responses)."""

from __future__ import annotations

import copy
from functools import partial

import torch

from alignlab.batch import collate
from alignlab.config import ModelConfig, PolicyGradientConfig
from alignlab.models import load_policy
from alignlab.optim import build_scheduler, create_accelerator
from alignlab.rollout import Rollout
from alignlab.scoring import PolicyForward
from alignlab.trainers.minibatches import update_policy
from alignlab.trainers.policy_gradient import PolicyGradientData, loss_weights, policy_gradient_loss


def _rollout() -> Rollout:
    # Short responses first, long ones last: micro-batches of very different token counts.
    responses = [[5, 6], [7], [8, 9], [10]] + [list(range(11, 11 + n)) for n in (9, 12, 10, 11)]
    batch = collate([[1, 2, 3]] * 8, responses, 0)
    return Rollout(**vars(batch), ended=torch.ones(8, dtype=torch.bool))


def _update(policy, cfg: PolicyGradientConfig, tmp_path, data) -> dict[str, torch.Tensor]:
    model = PolicyForward(copy.deepcopy(policy))
    accelerator = create_accelerator(cfg, tmp_path, seed=0)
    # Plain SGD: the step is the gradient itself (AdamW's first step is its sign, which float noise
    # in near-zero gradients flips).
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    scheduler = build_scheduler(optimizer, cfg, 1)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    update_policy(
        accelerator,
        model,
        optimizer,
        scheduler,
        cfg,
        _rollout(),
        data,
        partial(policy_gradient_loss, cfg, 1.0),
        partial(loss_weights, cfg, 16),
        step=0,
        order_seed=0,
    )
    return {n: p.detach().clone() for n, p in accelerator.unwrap_model(model).named_parameters()}


def test_accumulation_gives_the_one_micro_batch_step(embedded_dir, tmp_path) -> None:
    policy = load_policy(ModelConfig(), torch.device("cpu"))
    rollout = _rollout()
    with torch.no_grad():
        old = PolicyForward(policy)(rollout).logprobs
    advantages = torch.tensor([1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 1.5, -1.5])
    data = PolicyGradientData(logprobs=old, ref_logprobs=old, advantages=advantages, active=torch.ones(8))
    settings = dict(
        group_size=4, prompts_per_iteration=2, batch_size=8, update_epochs=1, lr=1e-2, kl_coef=0.0, loss_type="dapo"
    )
    whole = _update(policy, PolicyGradientConfig(**settings, grad_accum_steps=1), tmp_path / "one", data)
    accumulated = _update(policy, PolicyGradientConfig(**settings, grad_accum_steps=4), tmp_path / "four", data)
    assert all(torch.allclose(whole[n], accumulated[n], atol=1e-7) for n in whole)
    assert any(not torch.equal(whole[f"policy.{n}"], p) for n, p in policy.named_parameters())
