"""The training-FLOPs estimate of a run's cost against what torch counts."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from alignlab.config import ModelConfig
from alignlab.models import count_parameters, load_causal_lm
from alignlab.trainers.costs import Cost


def test_flops_estimate_is_six_flops_per_parameter_and_token() -> None:
    cost = Cost(wall_time_s=2.0, tokens=1_000, total_params=5_000).as_dict()
    assert cost["train_flops"] == 6 * 5_000 * 1_000 and cost["tokens_per_s"] == 500


def test_flops_estimate_matches_torchs_count_of_a_training_pass(embedded_dir) -> None:
    model = load_causal_lm(ModelConfig(), torch.device("cpu"), trainable=True)
    _, total = count_parameters(model)
    tokens = torch.randint(5, 4000, (8, 32), generator=torch.Generator().manual_seed(0))
    counter = FlopCounterMode(display=False)
    with counter:
        model(input_ids=tokens).logits.logsumexp(-1).sum().backward()
    estimate = Cost(tokens=tokens.numel(), total_params=total).train_flops
    # Matmuls of a forward and backward (attention scores aside): 6 per parameter and token.
    assert abs(counter.get_total_flops() / estimate - 1) < 0.1
