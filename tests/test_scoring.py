"""The packed, chunked LM head against the plain full-logits path: values and gradients."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from alignlab import scoring
from alignlab.batch import collate
from alignlab.config import ModelConfig
from alignlab.models import load_causal_lm, load_reward_model, load_tokenizer
from alignlab.scoring import PolicyForward, ValueHead, reference_statistics, sequence_scores


def _batch(tokenizer):
    prompts = [tokenizer(t)["input_ids"] for t in ("I watched this film", "So", "The story follows a man who")]
    responses = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in (" and it was", " great fun to", " x")]
    responses[0].append(tokenizer.eos_token_id)
    return collate(prompts, responses, tokenizer.pad_token_id)


def _plain_logits(model, batch, temperature=1.0):
    """Full (B, P + R, V) logits of the concatenated rows, the response positions sliced out."""
    positions = scoring.positions_from_mask(batch.attention_mask)
    out = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, position_ids=positions)
    p = batch.prompt_ids.shape[1]
    return out.logits[:, p - 1 : p - 1 + batch.response_ids.shape[1]].float() / temperature


@pytest.fixture(scope="module")
def model_and_batch(embedded_dir):
    config = ModelConfig()
    tokenizer = load_tokenizer(config)
    model = load_causal_lm(config, torch.device("cpu"), trainable=True)
    return model, _batch(tokenizer), tokenizer


@pytest.mark.parametrize(("chunk", "recompute"), [(1, True), (4, True), (4, False), (10_000, False)])
def test_packed_logprobs_and_gradients_equal_the_plain_path(model_and_batch, monkeypatch, chunk, recompute) -> None:
    model, batch, _ = model_and_batch
    monkeypatch.setattr(scoring, "MIN_CHUNK_ROWS", chunk)
    monkeypatch.setitem(scoring.LOGITS_PER_CHUNK, "cpu", 1)
    monkeypatch.setattr(scoring, "STORE_LOGITS_BYTES", 0 if recompute else 2**40)
    mask = batch.response_mask.float()
    head_calls = []
    hook = model.get_output_embeddings().register_forward_hook(lambda *args: head_calls.append(1))

    model.zero_grad()
    scores = PolicyForward(model)(batch, temperature=0.7, with_entropy=True)
    (scores.logprobs * mask).sum().backward()
    hook.remove()
    # Recomputing in backward runs the head a second time on every chunk.
    chunks = -(-int(mask.sum()) // chunk)
    assert len(head_calls) == chunks * (2 if recompute else 1)
    packed_grads = {n: p.grad.clone() for n, p in model.named_parameters()}

    model.zero_grad()
    log_p = F.log_softmax(_plain_logits(model, batch, 0.7), -1)
    plain = log_p.gather(-1, batch.response_ids.unsqueeze(-1)).squeeze(-1) * mask
    plain.sum().backward()
    entropy = -(log_p.exp() * log_p).sum(-1) * mask

    assert torch.allclose(scores.logprobs, plain.detach(), atol=1e-5)
    assert torch.allclose(scores.entropy, entropy.detach(), atol=1e-5)
    assert (scores.logprobs[mask == 0] == 0).all()
    for name, param in model.named_parameters():
        # Equal to float32 summation order: 1e-5 of the gradient's scale.
        scale = max(1.0, float(param.grad.abs().max()))
        assert float((packed_grads[name] - param.grad).abs().max()) <= 1e-5 * scale, name


def test_value_head_and_critic_values_are_masked(model_and_batch, embedded_dir) -> None:
    model, batch, _ = model_and_batch
    scorer = PolicyForward(model, value_head=ValueHead(128))
    values = scorer(batch).values
    assert values.shape == batch.response_ids.shape and (values[batch.response_mask == 0] == 0).all()
    critic = load_reward_model(ModelConfig(), torch.device("cpu"), str(embedded_dir), trainable=True)
    critic_values = PolicyForward(model, critic=critic)(batch).values
    assert critic_values.shape == batch.response_ids.shape
    # The value at response position t is the critic's score of the prefix before token t (the
    # state the token is chosen in): at t = 1, the score of prompt + first response token.
    first_token = collate(
        [r[m.bool()].tolist() for r, m in zip(batch.prompt_ids, batch.prompt_mask)],
        [r[:1].tolist() for r in batch.response_ids],
        pad_token_id=0,
    )
    assert torch.allclose(critic_values[:, 1], sequence_scores(critic, first_token), atol=1e-5)


def test_sequence_scores_do_not_depend_on_the_pad_id(model_and_batch, embedded_dir) -> None:
    _, batch, tokenizer = model_and_batch
    critic = load_reward_model(ModelConfig(), torch.device("cpu"), str(embedded_dir))
    first = sequence_scores(critic, batch)
    repadded = collate(
        [r[m.bool()].tolist() for r, m in zip(batch.prompt_ids, batch.prompt_mask)],
        [r[m.bool()].tolist() for r, m in zip(batch.response_ids, batch.response_mask)],
        pad_token_id=7,
    )
    assert torch.allclose(first, sequence_scores(critic, repadded), atol=1e-5)


def test_reference_statistics_equal_the_plain_kl(model_and_batch, embedded_dir) -> None:
    model, batch, _ = model_and_batch
    model = copy.deepcopy(model)
    reference = load_causal_lm(ModelConfig(), torch.device("cpu"), trainable=False)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.01)
        ref_logprobs, kl = reference_statistics(reference, model, batch, temperature=0.8)
        mask = batch.response_mask.float()
        ref_logits = _plain_logits(reference, batch)
        expected_ref = F.log_softmax(ref_logits, -1).gather(-1, batch.response_ids.unsqueeze(-1)).squeeze(-1) * mask
        log_p = F.log_softmax(_plain_logits(model, batch, 0.8), -1)
        log_q = F.log_softmax(ref_logits / 0.8, -1)
        expected_kl = (log_p.exp() * (log_p - log_q)).sum(-1) * mask
    assert torch.allclose(ref_logprobs, expected_ref, atol=1e-5)
    assert torch.allclose(kl, expected_kl, atol=1e-5) and (kl >= -1e-7).all()
