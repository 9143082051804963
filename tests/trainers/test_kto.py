"""KTO: desirable and undesirable examples from the pairs, the reference point, and learning."""

from __future__ import annotations

import json

from alignlab.data import TokenizedPair
from alignlab.layout import TrainingDir
from alignlab.trainers import TrainInputs, train
from alignlab.trainers.kto import kto_examples


def test_examples_split_pairs_and_never_mismatch_with_themselves() -> None:
    pairs = [TokenizedPair([1, i], [10 + i], [20 + i]) for i in range(5)]
    examples = kto_examples(pairs, seed=0)
    assert sum(e.desirable for e in examples) == 5 and len(examples) == 10
    assert all(e.mismatched != e.completion for e in examples)
    assert sorted(tuple(e.mismatched) for e in examples) == sorted(tuple(e.completion) for e in examples)


def test_kto_trains_and_separates_desirable_from_undesirable(embedded_dir, pairs, make_config, tmp_path) -> None:
    config = make_config("kto.lr=3e-4", "kto.batch_size=16", "kto.max_steps=12", "kto.beta=0.5")
    summary = train(TrainInputs("kto", config, pairs=pairs[:160]), TrainingDir(tmp_path))
    history = json.loads((tmp_path / "history.json").read_text())["train"]
    first, last = history[0]["train/loss"], sum(r["train/loss"] for r in history[-3:]) / 3
    assert last < first
    # On the examples it trains on, KTO's implicit reward separates desirable from undesirable
    # completions (held-out prompts are another question: test_learning asks it of the gold reward).
    late = history[-3:]
    assert sum(r["train/rewards/desirable"] - r["train/rewards/undesirable"] for r in late) > 0
    assert summary["cost"]["models_in_memory"] == 1
