"""Reward model: Bradley-Terry training on the task's pairs, and the saved normalisation."""

from __future__ import annotations

import json

from scipy.stats import binomtest

from alignlab.models import load_reward_normalization


def test_reward_model_ranks_held_out_pairs(reward_model_dir) -> None:
    # The session's reward model: the default preset's settings on the default task's pairs,
    # judged on the pairs of held-out prompts (about 300, at an accuracy near 0.63). A one-sided
    # binomial test against chance, at a level a few pairs more or less (floating point on another
    # CPU) cannot cross.
    summary = json.loads((reward_model_dir.parent / "summary.json").read_text())
    n = summary["eval_pairs"]
    correct = round(summary["final_eval"]["eval/accuracy"] * n)
    assert binomtest(correct, n, 0.5, alternative="greater").pvalue < 1e-3, correct / n
    mean, std = load_reward_normalization(reward_model_dir)
    assert std > 0 and (mean, std) == (summary["normalization"]["mean"], summary["normalization"]["std"])
    assert (reward_model_dir / "config.json").is_file()


def test_a_lora_reward_model_trains_its_adapter_and_head_and_saves_them_merged(
    embedded_dir, pairs, make_config, tmp_path, monkeypatch
) -> None:
    """With ``reward_model.lora`` only the adapter and the score head train (in float32), with the
    model's gradient checkpointing as a LoRA policy has it, and the saved classifier, adapter
    merged, scores pairs as the trained adapter does (which the merge, made on a copy, leaves as
    it was)."""
    import torch

    from alignlab.data import collate_pairs, tokenize_pairs
    from alignlab.layout import TrainingDir
    from alignlab.models import load_reward_model, load_tokenizer
    from alignlab.scoring import base_model, sequence_scores
    from alignlab.trainers import TrainInputs, reward, train

    config = make_config(
        "reward_model.lora=true",
        "reward_model.max_steps=4",
        "reward_model.batch_size=16",
        "reward_model.normalize=false",
        "model.gradient_checkpointing=true",
    )
    tokenizer = load_tokenizer(config.model)
    tokenized, _ = tokenize_pairs(tokenizer, pairs[128:136], 64, 64)
    batch = collate_pairs(tokenized, tokenizer.pad_token_id)
    seen = {}
    make = reward.trainable_reward_model

    def recorded(*args):
        """The trainer's model, and the names of the parameters it trains."""
        model = make(*args)
        seen["model"], seen["trains"] = model, [name for name, p in model.named_parameters() if p.requires_grad]
        return model

    monkeypatch.setattr(reward, "trainable_reward_model", recorded)
    summary = train(TrainInputs("rm", config, pairs=pairs[:128], prompts=[]), TrainingDir(tmp_path))
    cost = summary["cost"]
    assert base_model(seen["model"]).is_activation_checkpointing
    trained = sum(p.numel() for p in seen["model"].parameters() if p.requires_grad)
    assert cost["trainable_params"] == trained < cost["total_params"] / 5 and summary["trainable_dtypes"] == ["float32"]
    assert all(any(part in name for part in ("lora_A", "lora_B", "score")) for name in seen["trains"])
    assert all(any(part in name for name in seen["trains"]) for part in ("lora_A", "lora_B", "score"))
    saved = load_reward_model(config.model, torch.device("cpu"), str(tmp_path / "model"))
    with torch.no_grad():
        torch.testing.assert_close(sequence_scores(saved, batch), sequence_scores(seen["model"].eval(), batch))
