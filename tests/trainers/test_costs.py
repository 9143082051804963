"""The training-FLOPs estimate of a run's cost against what torch counts, with full fine-tuning
and with LoRA (whose frozen weights get no weight gradient)."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from alignlab.config import AdapterConfig, ModelConfig
from alignlab.models import count_parameters, load_policy
from alignlab.trainers.costs import Cost


def test_flops_estimate_is_six_flops_per_parameter_and_token_when_every_weight_trains() -> None:
    cost = Cost(wall_time_s=2.0, tokens=1_000, trainable_params=5_000, total_params=5_000).as_dict()
    assert cost["train_flops"] == 6 * 5_000 * 1_000 and cost["tokens_per_s"] == 500


def test_frozen_weights_cost_four_flops_per_parameter_and_token() -> None:
    cost = Cost(tokens=1_000, trainable_params=0, total_params=5_000)
    assert cost.train_flops == 4 * 5_000 * 1_000


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_flops_estimate_matches_torchs_count_of_a_training_pass(embedded_dir, lora: bool) -> None:
    config = ModelConfig(lora=AdapterConfig(enabled=lora, r=8, alpha=16))
    model = load_policy(config, torch.device("cpu"))
    trainable, total = count_parameters(model)
    assert (trainable < total / 10) == lora
    tokens = torch.randint(5, 4000, (8, 32), generator=torch.Generator().manual_seed(0))
    counter = FlopCounterMode(display=False)
    with counter:
        model(input_ids=tokens).logits.logsumexp(-1).sum().backward()
    estimate = Cost(tokens=tokens.numel(), trainable_params=trainable, total_params=total).train_flops
    # Matmuls of a forward and backward (attention scores aside).
    assert abs(counter.get_total_flops() / estimate - 1) < 0.1
