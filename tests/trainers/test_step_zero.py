"""Before its first update a policy and its reference are the same model, so the KL between them
is 0 and every DPO margin is 0, in each precision a run can train in: the reference is stored and
computed as the initial policy is (float32; bf16 autocast over float32 masters; LoRA, whose
reference is the adapter disabled; pure bf16). Frozen weights are bf16 here (``model.dtype``, as
``auto`` gives on a GPU): a reference stored so used to be 0.013 nats per 16-token response away
from a bf16-autocast policy, and DPO's own and shared reference passes 0.03 and 0.08 nats per
sequence (CPU, the embedded model)."""

from __future__ import annotations

import json
import math

import pytest

from alignlab.data import PreferencePair
from alignlab.layout import TrainingDir
from alignlab.tasks import load_task
from alignlab.trainers import TrainInputs, train
from alignlab.trainers.dpo import precompute_reference

# 'no' is quoted: unquoted, YAML reads it as false.
PRECISIONS = {
    "float32": ["model.dtype=bfloat16", "mixed_precision='no'"],
    "bf16 autocast, float32 masters": ["model.dtype=bfloat16", "mixed_precision=bf16"],
    "lora on a bf16 base": ["model.dtype=bfloat16", "mixed_precision=bf16", "model.lora.enabled=true"],
    "pure bf16": ["model.dtype=bfloat16", "model.trainable_dtype=bfloat16", "mixed_precision='no'"],
}


def settings(section: str, precision: str) -> list[str]:
    return [f"{section}.{s}" if s.startswith("mixed_precision") else s for s in PRECISIONS[precision]]


def first_row(out_dir) -> dict:
    return json.loads((out_dir / "history.json").read_text())["train"][0]


@pytest.mark.slow
@pytest.mark.parametrize("precision", PRECISIONS)
def test_online_kl_is_zero_before_the_first_update(embedded_dir, make_config, tmp_path, precision) -> None:
    config = make_config(
        *settings("grpo", precision),
        "grpo.reward_source=gold",
        "grpo.iterations=1",
        "grpo.prompts_per_iteration=4",
        "grpo.group_size=4",
        "grpo.batch_size=16",
        "generation.max_new_tokens=16",
    )
    task = load_task(config.task)
    train(TrainInputs("grpo", config, prompts=task.train_prompts, gold_reward=task.reward), TrainingDir(tmp_path))
    # The KL of the iteration's samples, taken before the iteration's update.
    assert first_row(tmp_path)["objective/kl"] == 0.0


# Responses of many lengths, so that the reference pass and the training step pad them differently.
WORDS = "the film was a quiet and moving story of two friends who grow apart".split()
PAIRS = [
    PreferencePair(f"Review {i}: I watched it", " " + " ".join(WORDS[: 2 + i % 11]), " " + " ".join(WORDS[i % 5 :]))
    for i in range(32)
]


@pytest.mark.slow
@pytest.mark.parametrize("precision", PRECISIONS)
def test_dpo_margins_are_zero_before_the_first_update(embedded_dir, make_config, tmp_path, precision) -> None:
    config = make_config(*settings("dpo", precision), "dpo.max_steps=1", "dpo.batch_size=16")
    # The comparison's shared reference pass (a model loaded for it) and a run's own (the policy).
    shared = tmp_path / "shared_reference.safetensors"
    precompute_reference(config, PAIRS, shared)
    for out, cache in ((tmp_path / "own", None), (tmp_path / "shared", shared)):
        train(TrainInputs("dpo", config, pairs=PAIRS, reference_cache=cache), TrainingDir(out))
        row = first_row(out)
        # Exact on a CPU although the reference pass pads the sequences to other widths (it
        # batches them by length, the step by the data order).
        assert row["train/rewards/chosen"] == 0.0 and row["train/rewards/rejected"] == 0.0
        assert row["train/rewards/margin"] == 0.0
        assert row["train/loss"] == pytest.approx(math.log(2), abs=1e-7)
