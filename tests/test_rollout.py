"""The shared sampler: masks after any EOS id, the policy's own distribution, reproducibility."""

from __future__ import annotations

import torch

from alignlab.batch import positions_from_mask
from alignlab.config import ModelConfig, SamplingConfig
from alignlab.models import load_causal_lm, load_tokenizer
from alignlab.rollout import decode_responses, sample, tokenize_prompts
from alignlab.tokenization import response_mask_from_ids

PROMPTS = ["I watched this film", "The story follows", "So I finally sat down to watch it", "As"]


def test_response_mask_stops_after_the_first_of_any_stop_id() -> None:
    stops, pad = [2, 3], 0
    ids = torch.tensor([[5, 6, 2, 0, 0], [5, 3, 7, 2, 0], [5, 6, 7, 8, 9], [2, 0, 0, 0, 0]])
    expected = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
    assert torch.equal(response_mask_from_ids(ids, stops, pad), expected)
    # pad is itself a stop id (Qwen3 pads with <|endoftext|>): the first one still ends the response.
    assert torch.equal(response_mask_from_ids(torch.tensor([[5, 2, 2, 2]]), [3, 2], 2), torch.tensor([[1, 1, 0, 0]]))


def test_positions_ignore_left_padding() -> None:
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    assert positions_from_mask(mask).tolist() == [[0, 0, 0, 1, 2], [0, 1, 2, 3, 4]]


def test_prompts_are_left_padded_with_bos(embedded_dir) -> None:
    tokenizer = load_tokenizer(ModelConfig())
    ids, mask = tokenize_prompts(tokenizer, PROMPTS)
    assert (mask[:, -1] == 1).all()
    lengths = mask.sum(-1)
    for row, length in zip(ids, lengths):
        assert row[-length] == tokenizer.bos_token_id
        assert (row[: ids.shape[1] - length] == tokenizer.pad_token_id).all()


def test_rollouts_mask_after_eos_and_mark_ended(embedded_dir) -> None:
    config = ModelConfig()
    tokenizer = load_tokenizer(config)
    model = load_causal_lm(config, torch.device("cpu"), trainable=False)
    ids, mask = tokenize_prompts(tokenizer, PROMPTS * 4)
    torch.manual_seed(0)
    rollout = sample(model, tokenizer, ids, mask, SamplingConfig(max_new_tokens=48, temperature=0.9, batch_size=7))
    assert rollout.response_ids.shape[0] == len(PROMPTS) * 4
    for ids_row, mask_row, ended in zip(rollout.response_ids, rollout.response_mask, rollout.ended):
        n = int(mask_row.sum())
        assert mask_row[:n].all() and not mask_row[n:].any()
        assert bool(ended) == (ids_row[n - 1].item() == tokenizer.eos_token_id)
        assert (ids_row[n:] == tokenizer.pad_token_id).all()
    assert rollout.ended.any()
    texts = decode_responses(tokenizer, rollout)
    assert len(texts) == len(rollout) and all(tokenizer.eos_token not in t for t in texts)


def test_sampling_is_reproducible_with_a_seed(embedded_dir) -> None:
    config = ModelConfig()
    tokenizer = load_tokenizer(config)
    model = load_causal_lm(config, torch.device("cpu"), trainable=False)
    ids, mask = tokenize_prompts(tokenizer, PROMPTS)
    gen = SamplingConfig(max_new_tokens=12)
    torch.manual_seed(3)
    first = sample(model, tokenizer, ids, mask, gen)
    torch.manual_seed(3)
    second = sample(model, tokenizer, ids, mask, gen)
    assert torch.equal(first.response_ids, second.response_ids)


def first_token_distribution(
    model, tokenizer, gen: SamplingConfig, n: int = 20000
) -> tuple[torch.Tensor, torch.Tensor]:
    """(empirical frequencies of n sampled first tokens, the policy's probabilities)."""
    ids, mask = tokenize_prompts(tokenizer, ["I watched this film"])
    torch.manual_seed(0)
    rollout = sample(model, tokenizer, ids.repeat(n, 1), mask.repeat(n, 1), gen)
    with torch.no_grad():
        probs = torch.softmax(model(input_ids=ids).logits[0, -1] / gen.temperature, -1)
    return torch.bincount(rollout.response_ids[:, 0], minlength=probs.shape[0]).float() / n, probs


def test_samples_follow_the_policy_distribution(embedded_dir) -> None:
    config = ModelConfig()
    tokenizer = load_tokenizer(config)
    model = load_causal_lm(config, torch.device("cpu"), trainable=False)
    # A checkpoint's own generation defaults must not leak into sampling.
    model.generation_config.top_k, model.generation_config.repetition_penalty = 1, 5.0
    empirical, probs = first_token_distribution(
        model, tokenizer, SamplingConfig(max_new_tokens=1, temperature=0.8, batch_size=8000), n=8000
    )
    assert 0.5 * (empirical - probs).abs().sum() < 0.035  # total variation; sampling noise is ~0.015


def test_top_k_restricts_the_support(embedded_dir) -> None:
    config = ModelConfig()
    tokenizer = load_tokenizer(config)
    model = load_causal_lm(config, torch.device("cpu"), trainable=False)
    empirical, probs = first_token_distribution(
        model, tokenizer, SamplingConfig(max_new_tokens=1, top_k=3, batch_size=5000), n=5000
    )
    top = probs.topk(3).indices
    assert empirical[top].sum() == 1.0
    renormalised = probs[top] / probs[top].sum()
    assert torch.allclose(empirical[top], renormalised, atol=0.03)
