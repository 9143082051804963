"""The Python API: train a method on data or prompts in memory, evaluate a policy, and read a
comparison's results as tables and figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import ttest_1samp

import alignlab
from alignlab.config import default_config_path, load_config
from alignlab.errors import ConfigError, DataError

SMALL = {"task": {"num_train_prompts": 32, "num_test_prompts": 8}, "evaluation": {"samples_per_prompt": 1}}


def test_train_dpo_on_pairs_in_memory_and_evaluate(embedded_dir, prefs_jsonl, tmp_path) -> None:
    from alignlab.data import read_preferences

    pairs = read_preferences(prefs_jsonl)
    policy = alignlab.train(
        "dpo", data=pairs[:64], out=tmp_path / "dpo", dpo={"max_steps": 2, "batch_size": 16}, **SMALL
    )
    assert len(policy.history) == 2 and "train/loss" in policy.history.columns
    assert policy.summary["steps"] == 2
    metrics = alignlab.evaluate(policy)
    assert 0.0 <= metrics["eos_fraction"] <= 1.0 and metrics["kl"] >= 0
    saved = policy.save(tmp_path / "saved")
    assert (saved / "config.json").is_file()


def test_train_grpo_with_a_python_reward_and_a_model_in_memory(embedded_dir, tmp_path) -> None:
    from alignlab.config import ModelConfig
    from alignlab.models import load_causal_lm

    model = load_causal_lm(ModelConfig(), torch.device("cpu"), trainable=False)

    def short_is_good(prompts, completions):
        return [-len(c) / 100 for c in completions]

    policy = alignlab.train(
        "grpo",
        model=model,
        prompts=["I watched this film", "The story follows", "As a fan of", "It was"] * 2,
        reward=short_is_good,
        out=tmp_path / "grpo",
        grpo={"reward_source": "gold", "iterations": 1, "prompts_per_iteration": 4, "batch_size": 16},
    )
    assert policy.history["reward/gold"].notna().all()
    # The model given stays as it was: training works on a copy.
    assert all(not p.requires_grad for p in model.parameters())


def test_unknown_settings_are_one_clear_error(embedded_dir, tmp_path) -> None:
    with pytest.raises(ConfigError, match="dpo.bta"):
        alignlab.train("dpo", data=[], out=tmp_path / "x", dpo={"bta": 1.0})


def test_settings_of_matches_the_loaded_config() -> None:
    settings = alignlab.settings_of(None)
    assert settings["dpo"] == load_config(default_config_path()).dpo.__dict__ | settings["dpo"]
    assert settings["name"] == "default"


def _preference_wins(policy, reference, tokenizer, pairs) -> np.ndarray:
    """Held-out preference wins per pair: 1 where the chosen response gains more log-likelihood
    against the reference than the rejected one (DPO's implicit reward), 0 where less, and 0.5 for
    a tie (so the reference itself wins half)."""
    from alignlab.data import collate_pairs, tokenize_pairs
    from alignlab.losses import sequence_logprobs
    from alignlab.scoring import PolicyForward

    tokenized, _ = tokenize_pairs(tokenizer, pairs, 64, 64)
    batch = collate_pairs(tokenized, tokenizer.pad_token_id)
    with torch.no_grad():
        gains = [
            sequence_logprobs(PolicyForward(model)(batch).logprobs, batch.response_mask)
            for model in (policy, reference)
        ]
    margin = (gains[0] - gains[1]).view(2, -1)
    return ((margin[0] > margin[1]).float() + 0.5 * (margin[0] == margin[1]).float()).numpy()


@pytest.mark.slow
def test_dpo_on_a_model_object_and_dicts_beats_the_base_on_held_out_pairs(embedded_dir, pairs, tmp_path) -> None:
    from alignlab.config import ModelConfig
    from alignlab.models import load_causal_lm, load_tokenizer

    base = load_causal_lm(ModelConfig(), torch.device("cpu"), trainable=False)
    tokenizer = load_tokenizer(ModelConfig())
    # Held out by prompt: no held-out pair shares its prompt (and completions) with a training pair.
    prompts = list(dict.fromkeys(p.prompt for p in pairs))
    held_out_prompts = set(prompts[-160:])
    held_out = [p for p in pairs if p.prompt in held_out_prompts]
    train = [p for p in pairs if p.prompt not in held_out_prompts]
    data = [{"prompt": p.prompt, "chosen": p.chosen, "rejected": p.rejected} for p in train]
    dpo = {"eval_fraction": 0.0, "lr": 1e-3, "warmup_ratio": 0.0, "max_steps": 48}
    policy = alignlab.train("dpo", model=base, data=data, out=tmp_path / "dpo", dpo=dpo, **SMALL)
    assert policy.summary["steps"] == 48  # batches of 32, over the pairs almost twice
    assert _preference_wins(base, base, tokenizer, held_out).mean() == 0.5
    # Pairs of one prompt are not independent: the test is over prompts (each prompt's share of
    # wins, one-sided against a half), at a level no difference in the last digits of floating
    # point (another CPU) can cross. Measured: 65% of held-out pairs won, p ~ 4e-10 (at 32 steps
    # 6e-5, too close).
    wins = _preference_wins(policy.model, base, tokenizer, held_out)
    by_prompt: dict[str, list[float]] = {}
    for pair, win in zip(held_out, wins, strict=True):
        by_prompt.setdefault(pair.prompt, []).append(float(win))
    shares = [np.mean(v) for v in by_prompt.values()]
    assert ttest_1samp(shares, 0.5, alternative="greater").pvalue < 1e-4, wins.mean()


def test_bad_pair_dicts_name_their_index(embedded_dir, tmp_path) -> None:
    with pytest.raises(DataError, match=r"data\[1\]: missing field 'rejected'"):
        alignlab.train("dpo", data=[{"prompt": "a", "chosen": "b", "rejected": "c"}, {"prompt": "a", "chosen": "b"}])


@pytest.mark.parametrize("method", ["ppo", "grpo", "rloo"])
def test_a_python_reward_is_what_online_methods_optimise(embedded_dir, tmp_path, method) -> None:
    calls = []

    def words(prompts, completions):
        calls.append(len(completions))
        return [len(c.split()) / 10 for c in completions]

    small = {"iterations": 1, "prompts_per_iteration": 8, "batch_size": 8 if method == "ppo" else 32}
    policy = alignlab.train(
        method,
        prompts=["I watched this film", "The story follows", "As a fan of", "It was"] * 2,
        reward=words,
        out=tmp_path / method,
        **{method: {**small, "missing_eos_penalty": 0.0}},
        **SMALL,
    )
    row = policy.history.iloc[0]
    # The callable is the score optimised (no reward model was given) and the gold reward reported.
    assert row["reward/score"] == pytest.approx(row["reward/gold"]) and calls == [8 * (1 if method == "ppo" else 4)]


@pytest.fixture(scope="module")
def foreign_reward_model(tmp_path_factory, embedded_dir) -> Path:
    """A reward model with a tokenizer of its own (embedded-zh's), randomly initialised."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, Qwen3Config

    from alignlab.models import resolve_model_path

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path("embedded-zh"))
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        num_labels=1,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("foreign-rm")
    AutoModelForSequenceClassification.from_config(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def test_a_reward_model_with_its_own_tokenizer_scores_the_texts_it_would_read(foreign_reward_model) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from alignlab.config import ModelConfig, SamplingConfig
    from alignlab.models import load_causal_lm, load_tokenizer
    from alignlab.reward_model import StandardizedRewardModel
    from alignlab.rollout import decode_responses, generate

    cpu, policy_tokenizer = torch.device("cpu"), load_tokenizer(ModelConfig())
    scorer = StandardizedRewardModel(ModelConfig(), cpu, str(foreign_reward_model), policy_tokenizer, 64, 8)
    assert scorer.own_tokenizer is not None
    prompts = ["I watched this film", "I watched this film", "The story follows", "The story follows"]
    policy = load_causal_lm(ModelConfig(), cpu, trainable=False)
    rollout = generate(policy, policy_tokenizer, prompts[::2], 2, SamplingConfig(max_new_tokens=12), None)
    texts = decode_responses(policy_tokenizer, rollout)
    scores = scorer(rollout, prompts, texts)
    # The same texts, tokenised by the reward model's own tokenizer and scored one at a time.
    model = AutoModelForSequenceClassification.from_pretrained(foreign_reward_model).eval()
    own = AutoTokenizer.from_pretrained(foreign_reward_model)
    for i, (prompt, text) in enumerate(zip(prompts, texts)):
        ids = own(prompt)["input_ids"] + own(text, add_special_tokens=False)["input_ids"]
        ids += [own.eos_token_id] if rollout.ended[i] else []
        with torch.no_grad():
            expected = model(input_ids=torch.tensor([ids])).logits[0, 0]
        assert float(scores[i]) == pytest.approx(float(expected), abs=1e-5)


def test_ppo_trains_on_a_reward_model_with_its_own_tokenizer(foreign_reward_model, tmp_path) -> None:
    policy = alignlab.train(
        "ppo",
        prompts=["I watched this film", "The story follows", "As a fan of", "It was"] * 2,
        reward_model=str(foreign_reward_model),
        out=tmp_path / "ppo",
        ppo={"iterations": 1, "prompts_per_iteration": 8, "batch_size": 8, "critic": "shared"},
        **SMALL,
    )
    assert policy.history["reward/score"].notna().all() and policy.summary["cost"]["models_in_memory"] == 3
