"""alignlab's scores equal each decoder family's own forward.

alignlab never calls a causal LM's forward to score tokens: it runs the trunk and applies the LM
head only where a response token is scored (``scoring``), with position ids from the attention
mask. Each family below is built tiny and random, saved, and loaded through alignlab's loaders as
a user's checkpoint would be; its log-probs, entropies, KL, reward scores and critic values on a
left-padded batch must equal what the model's own forward gives for each row alone, unpadded
(the ground truth, whatever the family does with padding and positions), to 1e-5 in float32.

The logit transforms (Gemma 2's soft-cap, Granite's and Cohere's scales) are set large enough to
matter on random weights, and a family whose forward does something alignlab does not know is
caught when it loads (``scoring_check``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import (
    AutoModelForCausalLM,
    CohereConfig,
    Gemma2Config,
    Gemma3TextConfig,
    GPT2Config,
    GPT2LMHeadModel,
    GPT2Model,
    GraniteConfig,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    Olmo2Config,
    OPTConfig,
    Phi3Config,
    Qwen2Config,
    Qwen3Config,
    Qwen3MoeConfig,
    RecurrentGemmaConfig,
    SmolLM3Config,
)
from transformers.models.auto.modeling_auto import MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING

from alignlab import scoring
from alignlab.batch import Sequences, collate
from alignlab.config import ModelConfig
from alignlab.errors import ModelLoadError
from alignlab.models import load_causal_lm, load_reward_model
from alignlab.scoring import LogitTransform, PolicyForward, reference_statistics, sequence_scores

VOCAB = 96
PAD = 0
SHAPE = {
    "vocab_size": VOCAB,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 64,
    "pad_token_id": PAD,
    "bos_token_id": 1,
    "eos_token_id": 2,
    # Larger than the usual 0.02, so that random logits are large enough for a missing
    # transform (or a wrong position) to show.
    "initializer_range": 0.2,
}

FAMILIES = {
    "llama": LlamaConfig(**SHAPE),
    "mistral": MistralConfig(**SHAPE, sliding_window=8),
    "qwen2": Qwen2Config(**SHAPE),
    "qwen3": Qwen3Config(**SHAPE, head_dim=8),
    "qwen3_moe": Qwen3MoeConfig(**SHAPE, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32),
    # Soft-capped at 1: random logits of about 1 are bent well away from themselves.
    "gemma2": Gemma2Config(**SHAPE, head_dim=8, final_logit_softcapping=1.0, sliding_window=8),
    "gemma3_text": Gemma3TextConfig(**SHAPE, head_dim=8, final_logit_softcapping=1.0, sliding_window=8),
    "phi3": Phi3Config(**SHAPE),
    "gpt2": GPT2Config(
        vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=64, initializer_range=0.2, pad_token_id=PAD
    ),
    "opt": OPTConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        word_embed_proj_dim=32,
        ffn_dim=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=64,
        init_std=0.2,
        pad_token_id=PAD,
    ),
    "granite": GraniteConfig(**SHAPE, logits_scaling=4.0),
    "cohere": CohereConfig(**SHAPE, logit_scale=0.25),
    "olmo2": Olmo2Config(**SHAPE),
    "smollm3": SmolLM3Config(**SHAPE),
}
TRANSFORMED = {"gemma2", "gemma3_text", "granite", "cohere"}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """``saved(name)``: the directory of a tiny random checkpoint of the family, saved once as a
    user's would be."""
    paths: dict[str, Path] = {}

    def save(name: str) -> Path:
        if name not in paths:
            paths[name] = tmp_path_factory.mktemp(name)
            torch.manual_seed(0)
            AutoModelForCausalLM.from_config(FAMILIES[name]).save_pretrained(paths[name])
        return paths[name]

    return save


def left_padded_batch() -> Sequences:
    """Prompts of 5, 2 and 4 tokens (left-padded), responses of 3, 4 and 1 (right-padded); no
    token is the pad id, so a classifier's own forward finds the last real token."""
    generator = torch.Generator().manual_seed(1)
    ids = [torch.randint(3, VOCAB, (n,), generator=generator).tolist() for n in (5, 3, 2, 4, 4, 1)]
    return collate(ids[0::2], ids[1::2], PAD)


def rows_alone(batch: Sequences) -> list[tuple[list[int], list[int]]]:
    """(prompt, response) token ids of each row, without padding."""
    return [
        (p[pm.bool()].tolist(), r[rm.bool()].tolist())
        for p, pm, r, rm in zip(batch.prompt_ids, batch.prompt_mask, batch.response_ids, batch.response_mask)
    ]


def own_log_softmax(model, batch: Sequences, temperature: float = 1.0) -> list[torch.Tensor]:
    """The model's own forward on each row alone: log-softmax ``(R_i, V)`` of the logits that
    predict its response tokens."""
    out = []
    with torch.no_grad():
        for prompt, response in rows_alone(batch):
            logits = model(input_ids=torch.tensor([prompt + response])).logits[0].float()
            out.append((logits[len(prompt) - 1 : len(prompt) - 1 + len(response)] / temperature).log_softmax(-1))
    return out


def padded(rows: list[torch.Tensor], batch: Sequences) -> torch.Tensor:
    """Per-row values ``(R_i,)`` laid out as ``(B, R)``, 0 on padding."""
    out = torch.zeros(batch.response_ids.shape)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def model_config(path: Path) -> ModelConfig:
    return ModelConfig(name_or_path=str(path), dtype="float32")


def at_labels(log_p: list[torch.Tensor], batch: Sequences) -> torch.Tensor:
    """log p(response token) ``(B, R)`` from per-row log-softmax rows ``(R_i, V)``."""
    labels = [torch.tensor(response) for _, response in rows_alone(batch)]
    return padded([lp.gather(-1, y[:, None])[:, 0] for lp, y in zip(log_p, labels)], batch)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_token_logprobs_entropy_and_kl_equal_the_models_own_forward(saved, name) -> None:
    cpu, batch, path = torch.device("cpu"), left_padded_batch(), saved(name)
    # The trainable policy (in training mode, as it is scored during training) and a frozen reference.
    policy = load_causal_lm(model_config(path), cpu, trainable=True)
    reference = load_causal_lm(model_config(path), cpu, trainable=False)
    with torch.no_grad():
        for param in policy.parameters():
            param.add_(torch.randn_like(param) * 0.05)
        scores = PolicyForward(policy)(batch, temperature=0.7, with_entropy=True)
        ref_logprobs, kl = reference_statistics(reference, policy, batch, temperature=0.7)
    own = own_log_softmax(policy.eval(), batch, 0.7)
    own_ref, own_ref_t = own_log_softmax(reference, batch), own_log_softmax(reference, batch, 0.7)

    assert torch.allclose(scores.logprobs, at_labels(own, batch), atol=1e-5)
    assert torch.allclose(scores.entropy, padded([-(lp.exp() * lp).sum(-1) for lp in own], batch), atol=1e-5)
    assert torch.allclose(ref_logprobs, at_labels(own_ref, batch), atol=1e-5)
    exact_kl = padded([(p.exp() * (p - q)).sum(-1) for p, q in zip(own, own_ref_t)], batch)
    assert torch.allclose(kl, exact_kl, atol=1e-5)
    assert not scoring.uses_own_forward(policy)


def max_difference(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    return max(float((x - y).abs().max()) for x, y in zip(a, b))


@pytest.mark.parametrize("name", sorted(TRANSFORMED))
def test_without_its_logit_transform_a_family_would_be_scored_wrongly(saved, name, monkeypatch) -> None:
    """What makes the equality above hold for these families is the transform."""
    batch = left_padded_batch()
    model = load_causal_lm(model_config(saved(name)), torch.device("cpu"), trainable=False)
    monkeypatch.setattr(scoring, "logit_transform", lambda config: LogitTransform())
    with torch.no_grad():
        states, head = scoring.response_features(model, batch)
        untransformed = [head(rows[mask.bool()]).log_softmax(-1) for rows, mask in zip(states, batch.response_mask)]
    assert max_difference(untransformed, own_log_softmax(model, batch)) > 0.05


@pytest.mark.parametrize("name", ["gpt2", "opt"])
def test_learned_positions_skip_the_left_padding(saved, name) -> None:
    """GPT-2 and OPT learn a vector per absolute position: a left-padded row must start at
    position 0, as alone. Shifted by its padding, the row would be scored differently."""
    batch = left_padded_batch()
    model = load_causal_lm(model_config(saved(name)), torch.device("cpu"), trainable=False)
    trunk, head = scoring.causal_lm_parts(model)
    truth = own_log_softmax(model, batch)
    with torch.no_grad():
        hidden = trunk(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
        by_column = trunk(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            position_ids=torch.arange(batch.input_ids.shape[1]).expand_as(batch.input_ids),
        ).last_hidden_state
        from_mask = scoring.trunk_hidden(trunk, batch)
    rows = [
        [head(r[m.bool()]).log_softmax(-1) for r, m in zip(scoring.predicting_states(h, batch), batch.response_mask)]
        for h in (hidden, by_column, from_mask)
    ]
    assert max_difference(rows[1], truth) > 0.05
    assert max_difference(rows[2], truth) < 1e-5
    # OPT derives positions from the attention mask when given none; GPT-2 counts columns.
    assert (max_difference(rows[0], truth) < 1e-5) == (name == "opt")


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_reward_scores_and_critic_values_equal_the_classifiers_own_forward(saved, name) -> None:
    if type(FAMILIES[name]) not in MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING:
        pytest.skip(f"transformers has no sequence classifier for {name}")
    cpu, batch, path = torch.device("cpu"), left_padded_batch(), saved(name)
    classifier = load_reward_model(model_config(path), cpu, str(path))
    policy = load_causal_lm(model_config(path), cpu, trainable=False)
    with torch.no_grad():
        scores = sequence_scores(classifier, batch)
        values = PolicyForward(policy, critic=classifier)(batch).values
        for i, (prompt, response) in enumerate(rows_alone(batch)):
            whole = classifier(input_ids=torch.tensor([prompt + response])).logits[0, 0]
            assert float(scores[i]) == pytest.approx(float(whole), abs=1e-5)
            # The value of response position t: the score of the prompt and response[:t].
            for t in range(len(response)):
                prefix = classifier(input_ids=torch.tensor([prompt + response[:t]])).logits[0, 0]
                assert float(values[i, t]) == pytest.approx(float(prefix), abs=1e-5)
    assert (values[batch.response_mask == 0] == 0).all()


class ScaledLogitsLlama(LlamaForCausalLM):
    """A family alignlab does not know: its forward triples the head's logits."""

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, **kwargs):
        out = super().forward(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, **kwargs)
        out.logits = out.logits * 3.0
        return out


class ColumnPositionsGPT2Model(GPT2Model):
    """A trunk that places tokens by their column, whatever position ids it is given."""

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, **kwargs):
        return super().forward(input_ids=input_ids, attention_mask=attention_mask, **kwargs)


class PaddingBlindGPT2(GPT2LMHeadModel):
    def __init__(self, config: GPT2Config) -> None:
        super().__init__(config)
        self.transformer = ColumnPositionsGPT2Model(config)


def test_an_unknown_logit_transform_is_scored_through_the_models_own_forward(alignlab_log) -> None:
    torch.manual_seed(0)
    user_model = ScaledLogitsLlama(FAMILIES["llama"])
    policy = load_causal_lm(ModelConfig(dtype="float32"), torch.device("cpu"), source=user_model)
    assert scoring.uses_own_forward(policy)
    assert "ScaledLogitsLlama: alignlab's packed LM head does not reproduce" in alignlab_log.text
    batch = left_padded_batch()
    with torch.no_grad():
        scores = PolicyForward(policy, value_head=scoring.ValueHead(32))(batch, with_entropy=True)
        ref_logprobs, kl = reference_statistics(policy, policy, batch, temperature=1.0)
    expected = at_labels(own_log_softmax(policy.eval(), batch), batch)
    assert torch.allclose(scores.logprobs, expected, atol=1e-5) and torch.allclose(ref_logprobs, expected, atol=1e-5)
    assert kl.abs().max() < 1e-6 and scores.values.shape == batch.response_ids.shape


def test_a_family_that_misplaces_left_padded_tokens_is_refused() -> None:
    torch.manual_seed(0)
    user_model = PaddingBlindGPT2(FAMILIES["gpt2"])
    with pytest.raises(ModelLoadError, match="PaddingBlindGPT2 scores a left-padded row differently"):
        load_causal_lm(ModelConfig(dtype="float32"), torch.device("cpu"), source=user_model)


def test_recurrent_gemma_whose_state_carries_the_left_padding_is_refused() -> None:
    """RecurrentGemma's recurrent blocks run over the padding too: its state keeps what the pad
    tokens wrote, little at initialisation, much with trained weights (here perturbed ones)."""
    config = RecurrentGemmaConfig(
        **{k: v for k, v in SHAPE.items() if k != "max_position_embeddings"},
        block_types=("recurrent", "attention"),
        lru_width=32,
        attention_window_size=8,
    )
    torch.manual_seed(0)
    user_model = AutoModelForCausalLM.from_config(config)
    with torch.no_grad():
        for param in user_model.parameters():
            param.add_(torch.randn_like(param) * 0.05)
    with pytest.raises(ModelLoadError, match="RecurrentGemmaForCausalLM scores a left-padded row differently"):
        load_causal_lm(ModelConfig(dtype="float32"), torch.device("cpu"), source=user_model)
