"""The optimisation primitives: AdamW's parameter groups, the schedules, the micro-batch split
and the optimizer step guarded against non-finite values; bf16 priced on a CPU without bf16 kernels."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from alignlab.config import TrainConfig
from alignlab.errors import AlignlabError, NumericalError
from alignlab.optim import build_optimizer, build_scheduler, create_accelerator, finish_optimizer_step, micro_batches


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 1))


def test_weight_decay_spares_biases_and_norms() -> None:
    model = tiny_model()
    model[0].bias.requires_grad_(False)  # frozen parameters are left out of the optimizer
    optimizer = build_optimizer(model, TrainConfig(weight_decay=0.1, lr=0.01))
    decayed, plain = optimizer.param_groups
    assert decayed["weight_decay"] == 0.1 and {p.ndim for p in decayed["params"]} == {2}
    assert plain["weight_decay"] == 0.0 and {p.ndim for p in plain["params"]} == {1}
    assert len(decayed["params"]) + len(plain["params"]) == len([p for p in model.parameters() if p.requires_grad])


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        # 10 steps, warmup ceil(0.2 * 10) = 2: lr rises 0 -> 1 over two steps, then follows the schedule.
        ("constant", [0.0, 0.5, 1.0, 1.0, 1.0]),
        ("linear", [0.0, 0.5, 1.0, 0.875, 0.75]),
        ("cosine", [0.0, 0.5, 1.0, 0.9619, 0.8536]),
    ],
)
def test_schedules_warm_up_then_decay(schedule: str, expected: list[float]) -> None:
    optimizer = torch.optim.SGD(tiny_model().parameters(), lr=1.0)
    scheduler = build_scheduler(optimizer, TrainConfig(lr_schedule=schedule, warmup_ratio=0.2), 10)
    lrs = []
    for _ in range(5):
        lrs.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    assert lrs == pytest.approx(expected, abs=1e-4)


def test_micro_batches_split_evenly_or_refuse() -> None:
    assert micro_batches(32, TrainConfig(batch_size=32, grad_accum_steps=4), 2, "dpo") == 4
    with pytest.raises(AlignlabError, match="does not split evenly"):
        micro_batches(30, TrainConfig(batch_size=32, grad_accum_steps=4), 2, "dpo")


def make_step(tmp_path, config: TrainConfig, grad: float):
    accelerator = create_accelerator(config, tmp_path, seed=0)
    model = tiny_model()
    optimizer = build_optimizer(model, config)
    scheduler = build_scheduler(optimizer, config, 10)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    for p in model.parameters():
        p.grad = torch.full_like(p, grad)
    before = [p.detach().clone() for p in model.parameters()]
    return accelerator, model, optimizer, scheduler, before


def test_a_finite_step_clips_steps_and_zeroes_the_gradients(tmp_path) -> None:
    config = TrainConfig(lr=0.1, warmup_ratio=0.0, max_grad_norm=1.0)
    accelerator, model, optimizer, scheduler, before = make_step(tmp_path, config, 1.0)
    norm = finish_optimizer_step(accelerator, model, optimizer, scheduler, config, healthy=True, step=1)
    # 12 + 4 (first layer) + 4 + 4 (norm) + 4 + 1 (last layer) = 29 gradient entries of 1: the norm
    # before clipping is sqrt(29).
    assert norm == pytest.approx(29**0.5)
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.parameters())


# The skipped step advances the schedule without an optimizer step, which torch warns about.
@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before:UserWarning")
def test_a_non_finite_gradient_stops_or_skips_the_step(tmp_path) -> None:
    stop = TrainConfig(nan_policy="stop")
    accelerator, model, optimizer, scheduler, _ = make_step(tmp_path / "stop", stop, float("nan"))
    with pytest.raises(NumericalError, match="gradient norm at step 3"):
        finish_optimizer_step(accelerator, model, optimizer, scheduler, stop, healthy=True, step=3)
    skip = TrainConfig(nan_policy="skip", lr=0.1, warmup_ratio=0.0)
    accelerator, model, optimizer, scheduler, before = make_step(tmp_path / "skip", skip, float("inf"))
    finish_optimizer_step(accelerator, model, optimizer, scheduler, skip, healthy=True, step=3)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert scheduler.scheduler.last_epoch == 1  # the schedule moves on: a skipped step still counts


# Asks for (train.mixed_precision, model.dtype) = (argv[1], argv[3]) twice each; stderr shows the warnings.
BF16_PROBE = """
import logging, sys
from pathlib import Path
import torch
from alignlab.config import ModelConfig, TrainConfig
from alignlab.models import frozen_dtype
from alignlab.optim import cpu_has_bf16, create_accelerator
logging.basicConfig(stream=sys.stderr)
print("bf16 kernels:", cpu_has_bf16())
for _ in range(2):
    create_accelerator(TrainConfig(mixed_precision=sys.argv[1]), Path(sys.argv[2]), seed=0)
    frozen_dtype(ModelConfig(dtype=sys.argv[3]), torch.device("cpu"))
"""


@pytest.mark.parametrize(
    ("mixed_precision", "dtype", "warned"),
    [("bf16", "bfloat16", True), ("no", "bfloat16", True), ("no", "float32", False)],
)
def test_bf16_on_a_cpu_without_bf16_kernels_is_priced_once(tmp_path, mixed_precision, dtype, warned) -> None:
    """oneDNN limited to AVX2 is a CPU without bf16 kernels (as the slower CI machine is)."""
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2"}
    arguments = [sys.executable, "-c", BF16_PROBE, mixed_precision, str(tmp_path), dtype]
    done = subprocess.run(arguments, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "bf16 kernels: False" in done.stdout
    assert done.stderr.count("two orders of magnitude slower than in float32") == (1 if warned else 0), done.stderr
